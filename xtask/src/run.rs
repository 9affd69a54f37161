//! `cargo xtask run`: the backend on this machine with the Toronto data, and the desktop
//! app against it, for trying things.
//!
//! The data directory defaults to `<repo>/.vigil` (gitignored), so state survives between
//! runs; the Toronto import happens once per data file, remembered in a marker file there.

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::e2e;
use crate::util::{self, human_duration, project_root};
use crate::vigil::{self, Profile, STARTUP_TIMEOUT, ServeConfig, Server};

/// Lists the data files already imported into a data directory, one absolute path a line.
const IMPORT_MARKER: &str = ".xtask-imported";

/// Where the product owner keeps the Toronto export, relative to the repository root.
const DEFAULT_DATA: &str = "../shared/data/toronto_mci_2014_2020.csv.gz";

/// Options of `cargo xtask run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Toronto Police MCI export (.csv or .csv.gz) to import before serving [default:
    /// ../shared/data/toronto_mci_2014_2020.csv.gz when it exists].
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,

    /// Data directory for the embedded engines [default: <repo>/.vigil].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Address for the HTTP API (the desktop app's default server).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Serve only; do not build the UI or open the desktop app (also when there is no
    /// display: neither DISPLAY nor WAYLAND_DISPLAY is set).
    #[arg(long)]
    no_app: bool,
}

/// Builds the backend, imports the data once, serves until the server exits (Ctrl-C).
pub fn run(args: RunArgs) -> Result<()> {
    vigil::ensure_free(args.listen)?;
    let exe = vigil::build(Profile::Dev)?;

    let data_dir = args
        .data_dir
        .unwrap_or_else(|| project_root().join(".vigil"));
    fs::create_dir_all(&data_dir)
        .with_context(|| format!("could not create the data directory {}", data_dir.display()))?;

    let data_file = match args.data {
        Some(file) if !file.is_file() => bail!("--data {}: no such file", file.display()),
        Some(file) => Some(file),
        None => Some(project_root().join(DEFAULT_DATA)).filter(|f| f.is_file()),
    };
    match data_file {
        Some(file) => import_once(&exe, &data_dir, &file)?,
        None => eprintln!("==> no data file given and {DEFAULT_DATA} is absent; not importing"),
    }

    let mut server = Server::spawn(&ServeConfig {
        exe: &exe,
        data_dir: &data_dir,
        listen: args.listen,
        log_file: None,
        embedded: false,
        env: &[],
    })?;
    server.wait_healthy(STARTUP_TIMEOUT)?;
    let base = server.base_url().to_owned();
    eprintln!();
    eprintln!("Vigil is running (data in {}):", data_dir.display());
    eprintln!("  API base      {base}/v1");
    eprintln!("  health        {base}/healthz");
    eprintln!("  metrics       {base}/metrics");
    eprintln!("  OpenAPI       {base}/v1/openapi.json");
    eprintln!("Press Ctrl-C to stop.");
    eprintln!();

    let has_display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if args.no_app || !has_display {
        if !args.no_app {
            eprintln!("(no display: not opening the desktop app; serving only)");
        }
        let status = server.wait()?;
        if !status.success() {
            bail!("`vigil serve` exited with {status}");
        }
        return Ok(());
    }

    // The desktop app: the debug shell loads the UI from its dev URL, served from here.
    e2e::build_ui()?;
    e2e::serve_ui()?;
    let app = vigil::target_dir()?.join("debug/vigil-desktop");
    let app_dir = data_dir.join("desktop");
    eprintln!(
        "==> opening the desktop app (its store in {}); sign in under Settings to {base}",
        app_dir.display()
    );
    let mut window = Command::new(&app)
        .env("VIGIL_DESKTOP_DATA_DIR", &app_dir)
        .spawn()
        .with_context(|| format!("could not start {}", app.display()))?;
    // Whichever ends first ends the run: closing the window stops the server.
    loop {
        if let Some(status) = window.try_wait()? {
            eprintln!("<== the app closed ({status}); stopping the server");
            return Ok(());
        }
        if let Some(status) = server.try_wait()? {
            let _ = window.kill();
            bail!("`vigil serve` exited with {status}");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Imports `file` unless the marker in `data_dir` says it already was.
fn import_once(exe: &Path, data_dir: &Path, file: &Path) -> Result<()> {
    let file = file
        .canonicalize()
        .with_context(|| format!("could not resolve {}", file.display()))?;
    let marker = data_dir.join(IMPORT_MARKER);
    let done = fs::read_to_string(&marker).unwrap_or_default();
    if is_listed(&done, &file) {
        eprintln!(
            "==> {} already imported (remove {} to import again)",
            file.display(),
            marker.display()
        );
        return Ok(());
    }

    eprintln!("==> importing {}", file.display());
    let started = Instant::now();
    util::run(
        Command::new(exe)
            .args(["import", "toronto-mci"])
            .arg(&file)
            .arg("--data-dir")
            .arg(data_dir),
    )
    .context("the Toronto import failed")?;
    eprintln!("<== imported in {}", human_duration(started.elapsed()));

    let mut out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&marker)
        .with_context(|| format!("could not write {}", marker.display()))?;
    writeln!(out, "{}", file.display())?;
    Ok(())
}

fn is_listed(marker_text: &str, file: &Path) -> bool {
    marker_text.lines().any(|line| Path::new(line) == file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_matches_whole_lines_only() {
        let text = "/data/a.csv.gz\n/data/b.csv\n";
        assert!(is_listed(text, Path::new("/data/b.csv")));
        assert!(!is_listed(text, Path::new("/data/a.csv")));
        assert!(!is_listed("", Path::new("/data/a.csv.gz")));
    }
}
