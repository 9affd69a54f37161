//! `cargo xtask dist`: the desktop app's release bundle (`.deb`).
//!
//! Installs the UI's npm libraries, then runs `cargo tauri build --bundles deb` in
//! `src-tauri/`, whose `beforeBuildCommand` builds the UI with `trunk build --release` and
//! whose release build embeds it (`custom-protocol`). Prints where the `.deb` is and its
//! size. AppImage is not built: its bundler downloads tools from outside the registries.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{self, cache_dir, find_executable, project_root};
use crate::vigil;

pub fn run() -> Result<()> {
    let root = project_root();
    let tools = cache_dir().join("tools/bin");
    let find = |name: &str, hint: &str| {
        find_executable(name, std::slice::from_ref(&tools))
            .with_context(|| format!("{name} is not installed: {hint}"))
    };
    let cargo_tauri = find(
        "cargo-tauri",
        "cargo install tauri-cli --version 2.12.4 --locked --root ~/.cache/vigil/tools",
    )?;
    find(
        "trunk",
        "cargo install trunk --version 0.21.14 --locked --root ~/.cache/vigil/tools",
    )?;
    let npm = find("npm", "apt-get install npm")?;
    let path = std::env::join_paths(std::iter::once(tools.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;

    eprintln!("==> npm ci (ui/node_modules)");
    util::run(
        Command::new(npm)
            .args(["ci", "--no-audit", "--no-fund", "--prefer-offline"])
            .current_dir(root.join("ui")),
    )?;
    eprintln!("==> cargo tauri build --bundles deb (release; builds the UI first)");
    util::run(
        Command::new(cargo_tauri)
            .args(["build", "--bundles", "deb"])
            .current_dir(root.join("src-tauri"))
            .env("PATH", &path)
            .env("NO_COLOR", "true"),
    )
    .context("cargo tauri build failed")?;

    let bundles = vigil::target_dir()?.join("release/bundle/deb");
    let deb = std::fs::read_dir(&bundles)
        .with_context(|| format!("no bundle directory {}", bundles.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
    let Some(deb) = deb else {
        bail!(
            "cargo tauri build finished but {} holds no .deb",
            bundles.display()
        );
    };
    let size = deb.metadata()?.len();
    println!(
        "{} ({:.1} MiB)",
        deb.display(),
        size as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}
