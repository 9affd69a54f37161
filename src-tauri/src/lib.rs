//! Vigil's desktop shell.
//!
//! This crate only wires Tauri to `vigil-app`: it opens the window, serves the
//! Leptos UI and exposes thin commands that delegate to the client core. It
//! holds no business logic; anything a command needs to decide belongs in
//! `vigil-app` (or `vigil-sync`), where it can be tested without a webview.
//!
//! The UI reaches these commands through `ui/src/invoke.rs`; keep the two in
//! step when adding a command or changing what one returns.

use vigil_app::AppInfo;

/// Describes this client build: version, sync protocol and report categories.
#[tauri::command]
fn app_info() -> AppInfo {
    vigil_app::app_info()
}

/// Builds and runs the Tauri application until its last window closes.
///
/// # Panics
///
/// Panics if Tauri cannot start (for example, no display or no webview
/// runtime), since the shell has nothing useful to do without one.
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![app_info])
        .run(tauri::generate_context!())
        .expect("error while running the Vigil desktop shell");
}
