//! Vigil's client core, shared by the desktop shell and (later) the headless CLI.
//!
//! Today it only answers what the shell needs to show who it is; the offline
//! SQLite store, drafts, outbox and sync client arrive with the client-core work.

use serde::Serialize;
use vigil_sync::Category;

/// What the shell shows about the client it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppInfo {
    /// The client core's version (the workspace version).
    pub version: &'static str,
    /// The sync protocol version this client speaks.
    pub protocol: u32,
    /// The report categories, in display order, as `(wire code, label)`.
    pub categories: Vec<(&'static str, &'static str)>,
}

/// Describes this client build.
pub fn app_info() -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION"),
        protocol: vigil_sync::PROTOCOL_VERSION,
        categories: Category::ALL
            .iter()
            .map(|c| (c.as_str(), c.label()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_lists_every_category_once() {
        let info = app_info();
        assert_eq!(info.categories.len(), Category::ALL.len());
        assert_eq!(info.categories[0], ("assault", "Assault"));
        assert_eq!(info.protocol, 1);
    }
}
