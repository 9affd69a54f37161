//! The `vigil-desktop` executable; everything lives in [`vigil_desktop_lib`]
//! so that mobile targets can share the same entry point.

// Prevents an extra console window on Windows in release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    vigil_desktop_lib::run();
}
