//! Vigil's user interface, compiled to wasm by Trunk and shown by the desktop
//! shell (`src-tauri/`). This file only installs the panic hook and mounts
//! [`app::App`]; the shell is reached solely through [`invoke`].

mod app;
mod area;
mod charts;
mod filter;
mod form;
mod invoke;
mod map;
mod photo;
mod text;

fn main() {
    // Panics show up in the webview's console with a message, not just
    // "unreachable executed".
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
