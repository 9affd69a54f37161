//! `cargo xtask bench sync`: the client core against an embedded `vigil serve` (release):
//! the time to pull the first N rows of the Toronto file (as incidents) into an empty
//! client, the time to push M reports drafted offline, and the client's peak RSS.
//!
//! The client side is `app/examples/bench-sync.rs`, a process of its own, so its RSS is the
//! client's alone.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use flate2::read::GzDecoder;

use super::stats::median;
use crate::util::{human_duration, output};
use crate::vigil::{self, Profile, STARTUP_TIMEOUT, ServeConfig, Server};

/// Options of `cargo xtask bench sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Toronto Police MCI export (.csv.gz) [default:
    /// ../shared/data/toronto_mci_2014_2020.csv.gz].
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,

    /// Rows of the file the server holds (the client pulls them all).
    #[arg(long, default_value_t = 50_000)]
    incidents: usize,

    /// Reports drafted offline, then pushed.
    #[arg(long, default_value_t = 10_000)]
    reports: u32,

    /// How many runs, each against a fresh server; the medians are printed too.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
}

#[derive(Debug, serde::Deserialize)]
struct Figures {
    pulled: u64,
    pull_s: f64,
    pushed: u64,
    push_s: f64,
    peak_rss_kb: u64,
}

/// Writes the header and the first `rows` rows of the gzipped CSV `from` to `to`.
fn subset(from: &Path, to: &Path, rows: usize) -> Result<()> {
    let reader = BufReader::new(GzDecoder::new(
        File::open(from).with_context(|| format!("cannot open {}", from.display()))?,
    ));
    let mut out = std::io::BufWriter::new(File::create(to)?);
    for line in reader.lines().take(rows + 1) {
        writeln!(out, "{}", line?)?;
    }
    out.flush()?;
    Ok(())
}

pub fn run_bench(args: &SyncArgs) -> Result<()> {
    let data = super::toronto_file(args.data.as_deref())?;
    let exe = vigil::build(Profile::Release)?;
    vigil::build_targets(Profile::Release, &["--example", "bench-sync"])
        .context("could not build the client benchmark")?;
    let client = vigil::target_dir()?.join("release/examples/bench-sync");
    let scratch = tempfile::Builder::new()
        .prefix("vigil-bench-sync-")
        .tempdir()?;
    let csv = scratch.path().join("subset.csv");
    subset(&data, &csv, args.incidents)?;

    let mut runs = Vec::new();
    for n in 1..=args.runs {
        let data_dir = scratch.path().join(format!("run{n}"));
        std::fs::create_dir(&data_dir)?;
        let started = Instant::now();
        output(
            Command::new(&exe)
                .arg("--data-dir")
                .arg(&data_dir)
                .args(["import", "toronto-mci", "--quiet"])
                .arg(&csv)
                .env_remove("VIGIL_DATABASE__URL"),
        )
        .context("the import failed")?;
        eprintln!(
            "==> run {n}: imported in {}",
            human_duration(started.elapsed())
        );
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, vigil::free_port()?));
        let log = data_dir.join("serve.log");
        let mut server = Server::spawn(&ServeConfig {
            exe: &exe,
            data_dir: &data_dir,
            listen,
            log_file: Some(&log),
            embedded: true,
            env: super::UNLIMITED,
        })?;
        server.wait_healthy(STARTUP_TIMEOUT)?;
        let json =
            output(Command::new(&client).args([server.base_url(), &args.reports.to_string()]))
                .context("the client benchmark failed")?;
        let f: Figures = serde_json::from_str(json.trim())
            .with_context(|| format!("unexpected output from bench-sync: {json}"))?;
        println!(
            "run {n}/{}: pulled {} changes into an empty client in {:.2} s; pushed {} offline reports in {:.2} s; client peak RSS {:.0} MB",
            args.runs,
            f.pulled,
            f.pull_s,
            f.pushed,
            f.push_s,
            f.peak_rss_kb as f64 / 1024.0
        );
        runs.push(f);
    }
    if runs.len() > 1 {
        let mut pull: Vec<f64> = runs.iter().map(|f| f.pull_s).collect();
        let mut push: Vec<f64> = runs.iter().map(|f| f.push_s).collect();
        let mut rss: Vec<f64> = runs.iter().map(|f| f.peak_rss_kb as f64 / 1024.0).collect();
        println!(
            "median of {} runs: pull {:.2} s, push {:.2} s, client peak RSS {:.0} MB",
            runs.len(),
            median(&mut pull),
            median(&mut push),
            median(&mut rss)
        );
    }
    Ok(())
}
