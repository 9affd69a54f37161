//! Vigil's client core, shared by the desktop shell and the headless `vigil-client` CLI.
//!
//! - [`store`]: the offline SQLite store (drafts, outbox, cached incidents and their
//!   cursor, watch areas, alerts, settings).
//! - [`edits`]: edits of submitted reports, queued offline.
//! - [`alerts`]: watch areas sent to the server, and the alerts inbox (live stream and pull).
//! - [`photos`]: photos attached to reports, resized on the device, uploaded once sent.
//! - [`online`]: what needs the server at the time: the dashboard's statistics and the
//!   export of one's data.
//! - [`risk`]: on-device risk hints from the cached model and cells of the watch areas.
//! - [`sync`]: the sync client (push the outbox, pull changes, backoff with jitter).
//! - [`session`]: the signed-in account.

pub mod alerts;
pub mod edits;
pub mod groups;
pub mod online;
pub mod photos;
pub mod risk;
pub mod session;
pub mod store;
pub mod sync;

use serde::Serialize;
use vigil_sync::Category;

pub use alerts::{AreaItem, AreaState, AreasSent, InboxItem};
pub use edits::{EditItem, EditState, EditsApplied};
pub use photos::{PhotoItem, PhotosSent};
pub use risk::{HintError, RiskHints};
pub use session::Session;
pub use store::{Draft, DraftInput, OutboxItem, OutboxState, Place, Store, StoreError};
pub use sync::{Backoff, Server, SyncError, SyncSummary};

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
