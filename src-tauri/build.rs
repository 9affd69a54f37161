//! Build script: lets `tauri-build` read `tauri.conf.json` and `capabilities/`,
//! generate the ACL schemas under `gen/` and, on Windows, embed the icon.

fn main() {
    tauri_build::build();
}
