//! `cargo xtask bench ...`: load generators that print figures (never timed assertions).
//!
//! `bench push` measures `POST /v1/sync/push` end to end: a fresh `vigil serve` with the
//! embedded engines in a temporary directory for each run, one user, batches sent one after
//! another from a single connection, every report required to come back `accepted`.
//!
//! `bench stream` measures the scale-out streaming path; see [`stream`]. `bench sync` the
//! client core; `bench batch` the batch layer's full recompute; `bench ingest` the feed
//! connectors on the Toronto file; `bench alerts` the alert path under load; `bench risk`
//! the on-device risk hints.

mod alerts;
mod batch;
mod client;
mod ingest;
mod risk;
mod serve;
mod stats;
mod stream;
mod sync;
mod workload;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A load generator is one address and a few accounts: benchmarks measure the server
/// without its per-address and per-account rate limits.
pub const UNLIMITED: &[(&str, &str)] = &[
    ("VIGIL_SECURITY__PER_ADDRESS_PER_MINUTE", "0"),
    ("VIGIL_SECURITY__PER_ACCOUNT_PER_MINUTE", "0"),
];

use anyhow::{Context, Result, bail};
use reqwest::blocking::Client;

use crate::util::human_duration;
use crate::vigil::{self, Profile, STARTUP_TIMEOUT, ServeConfig, Server};
use stats::RunStats;
use workload::Batch;

/// The Toronto file a bench reads: `data`, or the shared copy beside the checkout.
fn toronto_file(data: Option<&Path>) -> Result<PathBuf> {
    let data = data.map_or_else(
        || crate::util::project_root().join("../shared/data/toronto_mci_2014_2020.csv.gz"),
        Path::to_path_buf,
    );
    if !data.is_file() {
        bail!(
            "{} is missing; pass --data with a Toronto MCI export (.csv.gz)",
            data.display()
        );
    }
    Ok(data)
}

/// The largest batch the backend accepts.
const MAX_BATCH: usize = 500;

/// The benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// Pushes N generated reports through `POST /v1/sync/push` and prints reports/s and
    /// the p50/p99 latency of a batch.
    Push(PushArgs),

    /// Replays the Toronto file through PostgreSQL, `vigil relay`, Kafka, `vigil speed` and
    /// Redis; prints events/s end to end and the p50/p99 delay from commit to visibility.
    /// Starts PostgreSQL, Redis and Kafka (as `services up`) first.
    Stream(stream::StreamArgs),

    /// The client core against an embedded server: pull N incidents into an empty client,
    /// push M reports drafted offline; prints both times and the client's peak RSS.
    Sync(sync::SyncArgs),

    /// The batch layer's full recompute over a lake of the Toronto file, and over a lake
    /// with a ten-fold synthetic copy; prints each run's time and the medians.
    Batch(batch::BatchArgs),

    /// The serving layer under load: the Toronto history archived, batched and served
    /// embedded, plus fresh reports in the speed layer; heatmap and trends queries at a
    /// fixed request rate (open loop); prints p50/p99 latency per run and the medians.
    Serve(serve::ServeArgs),

    /// Public-feed ingestion of the Toronto file: the CSV connector mapping every record
    /// (nothing stored), then `vigil ingest --once` into a fresh embedded store; prints
    /// records/s per run and the medians.
    Ingest(ingest::IngestArgs),

    /// Real-time alerts on PostgreSQL, Kafka and Redis: 100,000 watch areas, a steady
    /// 1,000 incidents/s pushed through the API; prints p50/p99 from push accepted to alert
    /// received on the WebSocket, and that no alert went missing or came twice.
    Alerts(alerts::AlertsArgs),

    /// On-device risk hints: trains the devices' model on the Toronto file, prints the
    /// model's size and the p50/p99 latency of `risk_hint`; with --validate, PAI and hit
    /// rate against the count map for 2019 and 2020.
    Risk(risk::RiskArgs),
}

/// Options of `cargo xtask bench push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// How many reports to push in each run.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    reports: u64,

    /// Reports per request (1 to 500).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=500))]
    batch: u64,

    /// How many runs, each against a fresh server; the median across runs is printed too.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,

    /// Seed for the generated content, so runs and machines push the same reports.
    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// Use the dev profile instead of release (builds faster, runs slower).
    #[arg(long, conflicts_with = "vigil")]
    dev: bool,

    /// Benchmark this `vigil` executable instead of building one (e.g. from another commit).
    #[arg(long, value_name = "FILE")]
    vigil: Option<PathBuf>,
}

/// Runs a benchmark.
pub fn run(bench: Bench) -> Result<()> {
    match bench {
        Bench::Push(args) => push(&args),
        Bench::Stream(args) => stream::run(&args),
        Bench::Sync(args) => sync::run_bench(&args),
        Bench::Batch(args) => batch::run(&args),
        Bench::Serve(args) => serve::run(&args),
        Bench::Ingest(args) => ingest::run(&args),
        Bench::Alerts(args) => alerts::run(&args),
        Bench::Risk(args) => risk::run(&args),
    }
}

fn push(args: &PushArgs) -> Result<()> {
    let reports = usize::try_from(args.reports)?;
    let batch = usize::try_from(args.batch)?.min(MAX_BATCH);
    let exe = match &args.vigil {
        Some(exe) if !exe.is_file() => bail!("--vigil {}: no such file", exe.display()),
        Some(exe) => exe.clone(),
        None if args.dev => vigil::build(Profile::Dev)?,
        None => vigil::build(Profile::Release)?,
    };

    eprintln!("==> generating {reports} reports (seed {})", args.seed);
    let batches = workload::batches(reports, batch, args.seed)?;
    let client = client::client()?;

    let mut runs = Vec::new();
    for n in 1..=args.runs {
        let stats = one_run(&exe, &client, &batches, reports)
            .with_context(|| format!("bench push: run {n} of {} failed", args.runs))?;
        println!("run {n}/{}: {stats}", args.runs);
        runs.push(stats);
    }
    if runs.len() > 1 {
        println!("{}", stats::summary(&runs));
    }
    Ok(())
}

/// Starts a fresh server, pushes every batch, and stops the server (also on error).
fn one_run(exe: &Path, client: &Client, batches: &[Batch], reports: usize) -> Result<RunStats> {
    // Declared before the server so it is deleted after the server is killed.
    let scratch = tempfile::Builder::new()
        .prefix("vigil-bench-")
        .tempdir()
        .context("could not create a temporary directory")?;
    let data_dir = scratch.path().join("data");
    std::fs::create_dir(&data_dir)?;
    let log_file = scratch.path().join("serve.log");
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, vigil::free_port()?));

    let started = Instant::now();
    let mut server = Server::spawn(&ServeConfig {
        exe,
        data_dir: &data_dir,
        listen,
        log_file: Some(&log_file),
        embedded: true,
        env: UNLIMITED,
    })?;
    server.wait_healthy(STARTUP_TIMEOUT)?;
    eprintln!(
        "==> vigil serve ready on {} in {}",
        server.base_url(),
        human_duration(started.elapsed())
    );

    let base = server.base_url();
    let result = client::login(client, base)
        .and_then(|token| client::push_all(client, base, &token, batches, reports));
    if result.is_err()
        && let Some(tail) = server.log_tail(4000)
    {
        eprintln!("---- end of the server log ----\n{}", tail.trim_end());
    }
    result
}
