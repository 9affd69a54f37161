//! `cargo xtask bench stream`: the Toronto file through the scale-out streaming path.
//!
//! Each run gets a fresh PostgreSQL database, Kafka topic, consumer group and Redis key
//! prefix. It starts `vigil relay` and `vigil speed` as their own processes, then runs
//! `vigil import toronto-mci` into PostgreSQL (each import batch commits its incidents and
//! their outbox rows). When the views have every incident, it reads back from Redis when
//! each change was committed (`at`) and when it became visible (`seen`) and prints:
//! - events/s end to end: incidents / (last visible - first committed);
//! - the p50 and p99 delay from commit to visibility in Redis.
//!
//! The views keep 10,000 days here, so the 2014-2020 incidents are not dropped as too old.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;

use super::stats::{median, percentile};
use crate::services::{self, KAFKA_TEST_BROKERS, POSTGRES_TEST_URL, REDIS_TEST_URL};
use crate::util::{display, human_duration, output, project_root};
use crate::vigil::{self, Profile};

/// How long the views may take to catch up after the import ends.
const CATCH_UP: Duration = Duration::from_secs(600);

/// Options of `cargo xtask bench stream`.
#[derive(Debug, clap::Args)]
pub struct StreamArgs {
    /// Toronto Police MCI export (.csv or .csv.gz) [default:
    /// ../shared/data/toronto_mci_2014_2020.csv.gz].
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,

    /// How many runs, each on fresh databases, topic and keys; the medians are printed too.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,

    /// Use the dev profile instead of release (builds faster, runs slower).
    #[arg(long)]
    dev: bool,
}

/// What one run measured.
#[derive(Debug)]
struct StreamStats {
    events: usize,
    import_wall: Duration,
    /// First commit to last visibility.
    span: Duration,
    delays: Vec<Duration>,
}

impl StreamStats {
    fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.span.as_secs_f64().max(f64::EPSILON)
    }
}

impl std::fmt::Display for StreamStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} incidents; import {}; first commit to last visible {} = {:.0} events/s; \
             commit-to-visible delay p50 {} ms, p99 {} ms",
            self.events,
            human_duration(self.import_wall),
            human_duration(self.span),
            self.events_per_sec(),
            percentile(&self.delays, 0.5).as_millis(),
            percentile(&self.delays, 0.99).as_millis(),
        )
    }
}

/// Runs the benchmark.
pub fn run(args: &StreamArgs) -> Result<()> {
    let data = match &args.data {
        Some(f) if !f.is_file() => bail!("--data {}: no such file", f.display()),
        Some(f) => f.clone(),
        None => project_root().join("../shared/data/toronto_mci_2014_2020.csv.gz"),
    };
    if !data.is_file() {
        bail!(
            "{} is missing; pass --data with a Toronto MCI export",
            data.display()
        );
    }
    services::up(&["postgres", "redis", "kafka"].map(str::to_owned))?;
    let exe = vigil::build(if args.dev {
        Profile::Dev
    } else {
        Profile::Release
    })?;
    let mut runs = Vec::new();
    for n in 1..=args.runs {
        let stats = one_run(&exe, &data)
            .with_context(|| format!("bench stream: run {n} of {} failed", args.runs))?;
        println!("run {n}/{}: {stats}", args.runs);
        runs.push(stats);
    }
    if runs.len() > 1 {
        let mut rates: Vec<f64> = runs.iter().map(StreamStats::events_per_sec).collect();
        let mut p50: Vec<f64> = runs
            .iter()
            .map(|r| percentile(&r.delays, 0.5).as_secs_f64() * 1000.0)
            .collect();
        let mut p99: Vec<f64> = runs
            .iter()
            .map(|r| percentile(&r.delays, 0.99).as_secs_f64() * 1000.0)
            .collect();
        println!(
            "median of {} runs: {:.0} events/s; commit-to-visible delay p50 {:.0} ms, p99 {:.0} ms",
            runs.len(),
            median(&mut rates),
            median(&mut p50),
            median(&mut p99)
        );
    }
    Ok(())
}

/// A `vigil` role as a child process, killed on drop.
pub(super) struct Role {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Role {
    pub(super) fn spawn(name: &'static str, mut cmd: Command, log: PathBuf) -> Result<Role> {
        let file = File::create(&log)?;
        cmd.stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        let shown = display(&cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("could not start `{shown}`"))?;
        Ok(Role { name, child, log })
    }

    pub(super) fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let tail = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail = &tail[tail.len().saturating_sub(3000)..];
            bail!(
                "vigil {} exited ({status}); its log ends:\n{tail}",
                self.name
            );
        }
        Ok(())
    }

    /// Waits until its metrics endpoint answers.
    pub(super) fn wait_ready(&mut self, metrics: SocketAddr) -> Result<()> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let started = Instant::now();
        loop {
            self.check_running()?;
            if client
                .get(format!("http://{metrics}/healthz"))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!(
                    "vigil {} did not answer on {metrics} within 60 s",
                    self.name
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn psql(sql: &str) -> Result<String> {
    output(Command::new("psql").args([POSTGRES_TEST_URL, "-XAtq", "-c", sql]))
}

/// A database for one run, dropped afterwards.
pub(super) struct Scratch {
    pub(super) db: String,
    pub(super) prefix: String,
}

impl Scratch {
    /// The URL of this run's database.
    pub(super) fn db_url(&self) -> String {
        POSTGRES_TEST_URL.replace("/postgres", &format!("/{}", self.db))
    }

    /// `vigil ARGS` on this run's database, a topic and groups named after `id`, the Redis
    /// prefix and `data_dir`, logging warnings only.
    pub(super) fn command(&self, exe: &Path, args: &[&str], data_dir: &Path, id: &str) -> Command {
        let mut cmd = Command::new(exe);
        cmd.args(args)
            .env("VIGIL_DATA_DIR", data_dir)
            .env("VIGIL_DATABASE__URL", self.db_url())
            .env("VIGIL_KAFKA__BROKERS", KAFKA_TEST_BROKERS)
            .env("VIGIL_REDIS__URL", format!("{REDIS_TEST_URL}/0"))
            .env("VIGIL_REDIS__KEY_PREFIX", &self.prefix)
            .env("VIGIL_EVENTS__TOPIC", format!("vigil.bench.{id}"))
            .env("VIGIL_SPEED__GROUP", format!("bench-speed-{id}"))
            .env("VIGIL_ALERTS__GROUP", format!("bench-alerts-{id}"))
            .env("VIGIL_LOG__FILTER", "warn")
            .env_remove("VIGIL_CONFIG")
            .env_remove("RUST_LOG");
        cmd
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db));
        if let Ok(mut redis) = redis_connection() {
            let _ = clear_prefix(&mut redis, &self.prefix);
        }
    }
}

fn redis_connection() -> Result<redis::Connection> {
    let client = redis::Client::open(format!("{REDIS_TEST_URL}/0"))?;
    client
        .get_connection()
        .context("cannot connect to Redis on 127.0.0.1:6379")
}

fn clear_prefix(redis: &mut redis::Connection, prefix: &str) -> Result<()> {
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query(redis)?;
    for chunk in keys.chunks(1000) {
        let _: u64 = redis::cmd("UNLINK").arg(chunk).query(redis)?;
    }
    Ok(())
}

fn one_run(exe: &Path, data: &Path) -> Result<StreamStats> {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let scratch = Scratch {
        db: format!("vigil_bench_{id}"),
        prefix: format!("bench:{id}:"),
    };
    psql(&format!("CREATE DATABASE {}", scratch.db))?;
    let dir = tempfile::Builder::new().prefix("vigil-bench-").tempdir()?;
    let (relay_metrics, speed_metrics) = (
        SocketAddr::from((Ipv4Addr::LOCALHOST, vigil::free_port()?)),
        SocketAddr::from((Ipv4Addr::LOCALHOST, vigil::free_port()?)),
    );
    let db_url = scratch.db_url();
    let command = |args: &[&str]| {
        let mut cmd = scratch.command(exe, args, dir.path(), &id);
        cmd.env("VIGIL_SPEED__RETENTION_DAYS", "10000")
            .env("VIGIL_RELAY__METRICS_LISTEN", relay_metrics.to_string())
            .env("VIGIL_SPEED__METRICS_LISTEN", speed_metrics.to_string());
        cmd
    };

    let mut relay = Role::spawn("relay", command(&["relay"]), dir.path().join("relay.log"))?;
    relay.wait_ready(relay_metrics)?;
    let mut speed = Role::spawn("speed", command(&["speed"]), dir.path().join("speed.log"))?;
    speed.wait_ready(speed_metrics)?;
    eprintln!("==> relay and speed running; importing {}", data.display());

    let started = Instant::now();
    let mut import = command(&["import", "toronto-mci", "--quiet"]);
    import.arg(data);
    let summary = output(&mut import)?;
    let import_wall = started.elapsed();
    eprintln!(
        "==> import done in {}: {}",
        human_duration(import_wall),
        summary.lines().next().unwrap_or("")
    );
    let events: u64 = output(Command::new("psql").args([
        db_url.as_str(),
        "-XAtq",
        "-c",
        "SELECT count(*) FROM incidents",
    ]))?
    .trim()
    .parse()
    .context("psql did not print a count of the imported incidents")?;

    let mut redis = redis_connection()?;
    let bar = ProgressBar::new(events).with_style(
        ProgressStyle::with_template("    views {bar:40} {pos}/{len} ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let wait_started = Instant::now();
    loop {
        let seen: Option<u64> = redis::cmd("GET")
            .arg(format!("{}seen", scratch.prefix))
            .query(&mut redis)?;
        let seen = seen.unwrap_or(0);
        bar.set_position(seen);
        if seen >= events {
            break;
        }
        relay.check_running()?;
        speed.check_running()?;
        if wait_started.elapsed() > CATCH_UP {
            bail!("the views have {seen} of {events} incidents after {CATCH_UP:?}");
        }
        thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
    let delays = read_delays(&mut redis, &scratch.prefix)?;
    drop((relay, speed));
    Ok(delays.into_stats(import_wall))
}

/// What the views recorded of each incident.
#[derive(Deserialize)]
struct Record {
    at: i64,
    seen: i64,
}

struct Delays {
    first_at: i64,
    last_seen: i64,
    delays: Vec<Duration>,
}

impl Delays {
    fn into_stats(mut self, import_wall: Duration) -> StreamStats {
        self.delays.sort_unstable();
        StreamStats {
            events: self.delays.len(),
            import_wall,
            span: Duration::from_millis((self.last_seen - self.first_at).max(0) as u64),
            delays: self.delays,
        }
    }
}

fn read_delays(redis: &mut redis::Connection, prefix: &str) -> Result<Delays> {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}inc:*"))
        .query(redis)?;
    let mut out = Delays {
        first_at: i64::MAX,
        last_seen: i64::MIN,
        delays: Vec::with_capacity(keys.len()),
    };
    for chunk in keys.chunks(2000) {
        let values: Vec<Option<String>> = redis::cmd("MGET").arg(chunk).query(redis)?;
        for raw in values.into_iter().flatten() {
            let r: Record = serde_json::from_str(&raw)
                .with_context(|| format!("unexpected record in Redis: {raw}"))?;
            out.first_at = out.first_at.min(r.at);
            out.last_seen = out.last_seen.max(r.seen);
            out.delays
                .push(Duration::from_millis((r.seen - r.at).max(0) as u64));
        }
    }
    Ok(out)
}
