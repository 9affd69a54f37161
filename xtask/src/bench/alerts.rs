//! `cargo xtask bench alerts`: push accepted → alert received on the WebSocket, with
//! 100,000 watch areas and a steady 1,000 incidents/s, on PostgreSQL, Kafka and Redis.
//!
//! Each run gets a fresh PostgreSQL database, Kafka topic, consumer groups and Redis key
//! prefix, and starts `vigil serve` (the API and the alert streams), `vigil relay` and
//! `vigil speed` (the views and the alert matcher) as their own processes. The load and
//! the measurement are `backend/examples/bench-alerts.rs`. The per-person rate limit is
//! lifted for the run: the figure is the delivery path, not the digest rule.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use anyhow::{Context, Result};
use serde::Deserialize;

use super::stats::median;
use super::stream::{Role, Scratch, psql};
use crate::services;
use crate::util::output;
use crate::vigil::{self, Profile};

/// Options of `cargo xtask bench alerts`.
#[derive(Debug, clap::Args)]
pub struct AlertsArgs {
    /// Watch areas in all.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(100..))]
    areas: u64,

    /// People with an open alert stream (each watching a 2 km circle in Toronto).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
    watchers: u64,

    /// Incidents pushed per second.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(10..))]
    rate: u64,

    /// Seconds of load per run.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,

    /// Runs, each on fresh databases, topic and keys; the medians are printed too.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,

    /// Build with the dev profile (dependencies optimised, Vigil's own code not).
    #[arg(long)]
    dev: bool,
}

/// What one run printed.
#[derive(Debug, Deserialize)]
struct RunFigures {
    incidents: u64,
    push_rate: f64,
    alerts_expected: u64,
    alerts_received: u64,
    missing: u64,
    repeated: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

pub fn run(args: &AlertsArgs) -> Result<()> {
    services::up(&["postgres", "redis", "kafka"].map(str::to_owned))?;
    let profile = if args.dev {
        Profile::Dev
    } else {
        Profile::Release
    };
    vigil::build_targets(profile, &["--bin", "vigil", "--example", "bench-alerts"])?;
    let dir = vigil::target_dir()?.join(profile.subdir());
    eprintln!(
        "==> bench alerts ({} profile): {} areas, {} watchers, {} incidents/s for {} s, {} runs",
        if args.dev { "dev" } else { "release" },
        args.areas,
        args.watchers,
        args.rate,
        args.seconds,
        args.runs
    );
    let mut runs = Vec::new();
    for n in 1..=args.runs {
        let figures = one_run(&dir, args)
            .with_context(|| format!("bench alerts: run {n} of {} failed", args.runs))?;
        println!(
            "run {n}/{}: {} incidents at {:.0}/s; alerts {} of {} received, {} missing, {} repeated; \
             push accepted → alert received p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            args.runs,
            figures.incidents,
            figures.push_rate,
            figures.alerts_received,
            figures.alerts_expected,
            figures.missing,
            figures.repeated,
            figures.p50_ms,
            figures.p99_ms,
            figures.max_ms
        );
        runs.push(figures);
    }
    if runs.len() > 1 {
        let mut p50: Vec<f64> = runs.iter().map(|r| r.p50_ms).collect();
        let mut p99: Vec<f64> = runs.iter().map(|r| r.p99_ms).collect();
        let mut rate: Vec<f64> = runs.iter().map(|r| r.push_rate).collect();
        println!(
            "median of {} runs: {:.0} incidents/s; push accepted → alert received p50 {:.0} ms, p99 {:.0} ms",
            runs.len(),
            median(&mut rate),
            median(&mut p50),
            median(&mut p99)
        );
    }
    Ok(())
}

fn one_run(dir: &std::path::Path, args: &AlertsArgs) -> Result<RunFigures> {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let scratch = Scratch {
        db: format!("vigil_bench_{id}"),
        prefix: format!("bench:{id}:"),
    };
    psql(&format!("CREATE DATABASE {}", scratch.db))?;
    let data = tempfile::Builder::new().prefix("vigil-bench-").tempdir()?;
    let port = |_| -> Result<SocketAddr> {
        Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, vigil::free_port()?)))
    };
    let (api, relay_metrics, speed_metrics) = (port(())?, port(())?, port(())?);
    let db_url = scratch.db_url();
    let command = |args: &[&str]| {
        let mut cmd = scratch.command(&dir.join("vigil"), args, data.path(), &id);
        cmd.env("VIGIL_LISTEN", api.to_string())
            .env("VIGIL_ALERTS__RATE_LIMIT", "1000000")
            .env("VIGIL_RELAY__METRICS_LISTEN", relay_metrics.to_string())
            .env("VIGIL_SPEED__METRICS_LISTEN", speed_metrics.to_string());
        cmd
    };
    let mut serve = Role::spawn("serve", command(&["serve"]), data.path().join("serve.log"))?;
    serve.wait_ready(api)?;
    let mut relay = Role::spawn("relay", command(&["relay"]), data.path().join("relay.log"))?;
    relay.wait_ready(relay_metrics)?;
    let mut speed = Role::spawn("speed", command(&["speed"]), data.path().join("speed.log"))?;
    speed.wait_ready(speed_metrics)?;
    let printed = output(
        Command::new(dir.join("examples/bench-alerts"))
            .args(["--api", &format!("http://{api}")])
            .args(["--db", &db_url])
            .args([
                "--matcher-metrics",
                &format!("http://{speed_metrics}/metrics"),
            ])
            .args(["--areas", &args.areas.to_string()])
            .args(["--watchers", &args.watchers.to_string()])
            .args(["--rate", &args.rate.to_string()])
            .args(["--seconds", &args.seconds.to_string()]),
    );
    for role in [&mut serve, &mut relay, &mut speed] {
        role.check_running()?;
    }
    let printed = printed?;
    let line = printed
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .context("bench-alerts printed no figures")?;
    drop((serve, relay, speed));
    serde_json::from_str(line).with_context(|| format!("bench-alerts printed {line}"))
}
