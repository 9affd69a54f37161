//! `cargo xtask bench serve`: the serving layer's latency under a fixed request rate.
//!
//! Setup, once: `vigil import toronto-mci` into an embedded data directory; `vigil serve`
//! until its in-process archive has written every incident to the local lake; `vigil
//! batch` to compute the batch views; `vigil serve` again, and a push of fresh reports so
//! that the speed layer's delta is not empty and every answer is a real merge.
//!
//! Then, per run and per endpoint, an open-loop load: request `i` is due at `i / rate`
//! seconds and its latency is counted from when it was due, not from when a worker got to
//! send it, so a slow server cannot hide its queueing (no coordinated omission). The
//! queries are drawn from a seeded generator: boxes from a neighbourhood to the whole
//! city, ranges from a month to all the history, every resolution, granularity and
//! category, and areas from the city down to single cells.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use chrono::{NaiveDate, TimeDelta, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::blocking::Client;
use reqwest::header::AUTHORIZATION;
use serde::Deserialize;

use super::stats::{median, percentile};
use super::workload::{self, CATEGORIES, LAT, LON, Rng};
use super::{client, toronto_file};
use crate::util::{human_duration, output};
use crate::vigil::{self, Profile, STARTUP_TIMEOUT, ServeConfig, Server};

/// How long the archive may take to write the imported history to the lake.
const ARCHIVE_TIMEOUT: Duration = Duration::from_secs(900);

/// Options of `cargo xtask bench serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Toronto Police MCI export (.csv or .csv.gz) [default:
    /// ../shared/data/toronto_mci_2014_2020.csv.gz].
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,

    /// Requests per second sent to each endpoint, whatever the answers' speed.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=2000))]
    rate: u64,

    /// Seconds of load per endpoint and run.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,

    /// Runs over the same data; the medians are printed too.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,

    /// Fresh reports pushed after the batch, for the speed layer's side of the merge.
    #[arg(long, default_value_t = 2_000)]
    fresh: u64,

    /// Requests in flight at most; a request due while all are busy waits, and its wait
    /// counts in its latency.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=512))]
    workers: u64,

    /// Seed of the query generator.
    #[arg(long, default_value_t = 7)]
    seed: u64,

    /// Use the dev profile instead of release (builds faster, runs slower).
    #[arg(long)]
    dev: bool,
}

/// The endpoints under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Heatmap,
    Trends,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Heatmap => "heatmap",
            Endpoint::Trends => "trends",
        }
    }
}

/// What one endpoint's load in one run measured.
#[derive(Debug)]
struct LoadStats {
    endpoint: Endpoint,
    /// Latency of every request from when it was due, sorted ascending.
    latencies: Vec<Duration>,
    /// First due time to last answer.
    wall: Duration,
    /// Answers other than 200, with the first one's status and body.
    errors: usize,
    first_error: Option<String>,
}

impl LoadStats {
    fn p50(&self) -> Duration {
        percentile(&self.latencies, 0.50)
    }
    fn p99(&self) -> Duration {
        percentile(&self.latencies, 0.99)
    }
}

impl std::fmt::Display for LoadStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} requests in {} ({:.1}/s answered); latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} errors",
            self.endpoint.name(),
            self.latencies.len(),
            human_duration(self.wall),
            self.latencies.len() as f64 / self.wall.as_secs_f64().max(f64::EPSILON),
            ms(self.p50()),
            ms(self.p99()),
            ms(self.latencies.last().copied().unwrap_or_default()),
            self.errors,
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn run(args: &ServeArgs) -> Result<()> {
    let data = toronto_file(args.data.as_deref())?;
    let exe = vigil::build(if args.dev {
        Profile::Dev
    } else {
        Profile::Release
    })?;
    let scratch = tempfile::Builder::new()
        .prefix("vigil-bench-serve-")
        .tempdir()?;
    let data_dir = scratch.path().join("data");
    std::fs::create_dir(&data_dir)?;

    let imported = import(&exe, &data_dir, &data)?;
    archive_all(&exe, &data_dir, scratch.path(), imported)?;
    let started = Instant::now();
    output(vigil_command(&exe, &data_dir).args(["batch", "--quiet"]))
        .context("`vigil batch` failed")?;
    eprintln!(
        "==> batch views computed in {}",
        human_duration(started.elapsed())
    );

    let log = scratch.path().join("serve.log");
    let mut server = spawn(&exe, &data_dir, &log)?;
    server.wait_healthy(STARTUP_TIMEOUT)?;
    let result = load_runs(args, &server);
    if result.is_err()
        && let Some(tail) = server.log_tail(4000)
    {
        eprintln!("---- end of the server log ----\n{}", tail.trim_end());
    }
    result
}

/// `vigil` with the embedded engines on `data_dir`, whatever the caller's environment says.
fn vigil_command(exe: &Path, data_dir: &Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg("--data-dir")
        .arg(data_dir)
        .env_remove("VIGIL_DATABASE__URL");
    cmd
}

fn spawn(exe: &Path, data_dir: &Path, log: &Path) -> Result<Server> {
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, vigil::free_port()?));
    Server::spawn(&ServeConfig {
        exe,
        data_dir,
        listen,
        log_file: Some(log),
        embedded: true,
        // Roll lake objects every second, so the archive is done soon after the last row.
        env: &[
            ("VIGIL_ARCHIVE__MAX_SECONDS", "1"),
            (super::UNLIMITED[0].0, super::UNLIMITED[0].1),
            (super::UNLIMITED[1].0, super::UNLIMITED[1].1),
        ],
    })
}

/// Imports the Toronto file; returns how many incidents the store took.
fn import(exe: &Path, data_dir: &Path, data: &Path) -> Result<u64> {
    let started = Instant::now();
    let summary = output(
        vigil_command(exe, data_dir)
            .args(["import", "toronto-mci", "--quiet"])
            .arg(data),
    )
    .context("the import failed")?;
    let imported = summary
        .lines()
        .find_map(|line| line.strip_prefix("imported:"))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .with_context(|| format!("no `imported:` line in the import's summary:\n{summary}"))?;
    eprintln!(
        "==> imported {imported} incidents in {}",
        human_duration(started.elapsed())
    );
    Ok(imported)
}

/// Runs `vigil serve` until its archive has stored `rows` changes in the lake.
fn archive_all(exe: &Path, data_dir: &Path, scratch: &Path, rows: u64) -> Result<()> {
    let log = scratch.join("archive.log");
    let mut server = spawn(exe, data_dir, &log)?;
    server.wait_healthy(STARTUP_TIMEOUT)?;
    let http = Client::builder().timeout(Duration::from_secs(10)).build()?;
    let metrics = format!("{}/metrics", server.base_url());
    let progress = ProgressBar::new(rows).with_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} changes in the lake ({eta} left)",
        )?
        .progress_chars("=> "),
    );
    let started = Instant::now();
    loop {
        let text = http.get(&metrics).send()?.error_for_status()?.text()?;
        let stored = counter(&text, "vigil_archive_rows_total").unwrap_or(0);
        progress.set_position(stored.min(rows));
        if stored >= rows {
            break;
        }
        if started.elapsed() > ARCHIVE_TIMEOUT {
            progress.abandon();
            bail!(
                "the archive stored {stored} of {rows} changes in {} s; see {}",
                ARCHIVE_TIMEOUT.as_secs(),
                log.display()
            );
        }
        thread::sleep(Duration::from_millis(500));
    }
    progress.finish_and_clear();
    eprintln!(
        "==> archived {rows} changes to the lake in {}",
        human_duration(started.elapsed())
    );
    Ok(())
}

/// The value of a counter in Prometheus text format.
fn counter(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (metric, value) = line.split_once(' ')?;
            (metric == name).then(|| value.trim().parse::<f64>().ok())?
        })
        .map(|v| v as u64)
}

fn load_runs(args: &ServeArgs, server: &Server) -> Result<()> {
    let base = server.base_url();
    let http = client::client()?;
    let token = client::login(&http, base)?;
    if args.fresh > 0 {
        let fresh = usize::try_from(args.fresh)?;
        let batches = workload::batches(fresh, 500, args.seed)?;
        client::push_all(&http, base, &token, &batches, fresh)?;
        eprintln!("==> pushed {fresh} fresh reports for the speed layer");
    }
    let areas = areas(&http, base, &token)?;
    eprintln!(
        "==> {} res-6 cells to draw trend areas from; {} req/s per endpoint for {} s, {} workers",
        areas.len(),
        args.rate,
        args.seconds,
        args.workers
    );

    let mut runs: Vec<Vec<LoadStats>> = Vec::new();
    for n in 1..=args.runs {
        let mut stats = Vec::new();
        for endpoint in [Endpoint::Heatmap, Endpoint::Trends] {
            let mut rng = Rng::new(args.seed ^ (n << 8) ^ endpoint as u64);
            let count = usize::try_from(args.rate * args.seconds)?;
            let paths: Vec<String> = (0..count)
                .map(|_| query(endpoint, &mut rng, &areas))
                .collect();
            let s = load(args, base, &token, endpoint, &paths)?;
            println!("run {n}/{}: {s}", args.runs);
            if let Some(first) = &s.first_error {
                bail!("{} of {} requests failed; first: {first}", s.errors, count);
            }
            stats.push(s);
        }
        runs.push(stats);
    }
    if runs.len() > 1 {
        for (i, endpoint) in [Endpoint::Heatmap, Endpoint::Trends].iter().enumerate() {
            let mut p50: Vec<f64> = runs.iter().map(|r| ms(r[i].p50())).collect();
            let mut p99: Vec<f64> = runs.iter().map(|r| ms(r[i].p99())).collect();
            println!(
                "median of {} runs: {} at {} req/s: p50 {:.1} ms, p99 {:.1} ms",
                runs.len(),
                endpoint.name(),
                args.rate,
                median(&mut p50),
                median(&mut p99)
            );
        }
    }
    Ok(())
}

/// The resolution-6 cells that have incidents (trend areas to draw from).
fn areas(http: &Client, base: &str, token: &str) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Cell {
        cell: String,
    }
    #[derive(Deserialize)]
    struct Heatmap {
        cells: Vec<Cell>,
    }
    let url = format!(
        "{base}/v1/stats/heatmap?bbox={},{},{},{}&res=6",
        LON.0, LAT.0, LON.1, LAT.1
    );
    let answer = http
        .get(&url)
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()?;
    let status = answer.status();
    let body = answer.text()?;
    ensure!(status.is_success(), "GET {url} answered {status}: {body}");
    let heatmap: Heatmap =
        serde_json::from_str(&body).with_context(|| format!("unexpected heatmap: {body}"))?;
    ensure!(
        !heatmap.cells.is_empty(),
        "the heatmap of the city is empty: did the batch run?"
    );
    Ok(heatmap.cells.into_iter().map(|c| c.cell).collect())
}

/// The first day of the Toronto history.
fn history_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2014, 1, 1).expect("a valid date")
}

/// A random `from..to` of one month to all the history (half-open, whole days).
fn range(rng: &mut Rng) -> (NaiveDate, NaiveDate) {
    let end = Utc::now().date_naive() + TimeDelta::days(1);
    let all = (end - history_start()).num_days();
    let days = match rng.below(4) {
        0 => 30,
        1 => 365,
        2 => 3 * 365,
        _ => all,
    }
    .min(all);
    let from = history_start() + TimeDelta::days(rng.below((all - days + 1) as u64) as i64);
    (from, from + TimeDelta::days(days))
}

/// One request path of `endpoint`.
fn query(endpoint: Endpoint, rng: &mut Rng, areas: &[String]) -> String {
    let (from, to) = range(rng);
    let category = if rng.below(3) == 0 {
        format!("&category={}", rng.pick(&CATEGORIES))
    } else {
        String::new()
    };
    match endpoint {
        Endpoint::Heatmap => {
            // From about 2 km across to the whole city.
            let width = rng.range((0.02, LON.1 - LON.0));
            let height = rng.range((0.015, LAT.1 - LAT.0));
            let lon = rng.range((LON.0, LON.1 - width));
            let lat = rng.range((LAT.0, LAT.1 - height));
            let res = if rng.below(2) == 0 { 8 } else { 6 };
            format!(
                "/v1/stats/heatmap?bbox={lon:.5},{lat:.5},{:.5},{:.5}&from={from}&to={to}&res={res}{category}",
                lon + width,
                lat + height
            )
        }
        Endpoint::Trends => {
            let area = match rng.below(3) {
                0 => "city".to_owned(),
                _ => areas[rng.below(areas.len() as u64) as usize].clone(),
            };
            let by = rng.pick(&["month", "week", "hour_of_week"]);
            format!("/v1/stats/trends?area={area}&from={from}&to={to}&by={by}{category}")
        }
    }
}

/// Sends `paths` at `args.rate` per second; request `i` is due at `i / rate`.
fn load(
    args: &ServeArgs,
    base: &str,
    token: &str,
    endpoint: Endpoint,
    paths: &[String],
) -> Result<LoadStats> {
    let http = Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(args.workers as usize)
        .build()?;
    let bearer = format!("Bearer {token}");
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(Duration, Option<String>)>> =
        Mutex::new(Vec::with_capacity(paths.len()));
    let progress = ProgressBar::new(paths.len() as u64).with_style(
        ProgressStyle::with_template(&format!(
            "{{elapsed_precise}} [{{wide_bar}}] {{human_pos}}/{{human_len}} {} requests",
            endpoint.name()
        ))?
        .progress_chars("=> "),
    );
    let start = Instant::now() + Duration::from_millis(100);
    thread::scope(|scope| {
        for _ in 0..args.workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { break };
                    let due = start + interval * u32::try_from(i).unwrap_or(u32::MAX);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        thread::sleep(wait);
                    }
                    let error = match http
                        .get(format!("{base}{path}"))
                        .header(AUTHORIZATION, &bearer)
                        .send()
                    {
                        Ok(response) if response.status().is_success() => {
                            // Read the whole body: the answer is not served until then.
                            response.bytes().err().map(|e| format!("{path}: {e}"))
                        }
                        Ok(response) => {
                            let status = response.status();
                            Some(format!(
                                "{path}: {status}: {}",
                                response.text().unwrap_or_default()
                            ))
                        }
                        Err(e) => Some(format!("{path}: {e}")),
                    };
                    let latency = Instant::now().saturating_duration_since(due);
                    results
                        .lock()
                        .expect("no worker panics")
                        .push((latency, error));
                    progress.inc(1);
                }
            });
        }
    });
    let wall = start.elapsed();
    progress.finish_and_clear();
    let results = results.into_inner().expect("no worker panics");
    let errors = results.iter().filter(|(_, e)| e.is_some()).count();
    let first_error = results.iter().find_map(|(_, e)| e.clone());
    let mut latencies: Vec<Duration> = results.into_iter().map(|(l, _)| l).collect();
    latencies.sort_unstable();
    Ok(LoadStats {
        endpoint,
        latencies,
        wall,
        errors,
        first_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_counter_from_prometheus_text() {
        let text = "# HELP vigil_archive_rows Rows stored.\n\
                    # TYPE vigil_archive_rows counter\n\
                    vigil_archive_rows_total 211901\n\
                    vigil_archive_rows_total_other 3\n";
        assert_eq!(counter(text, "vigil_archive_rows_total"), Some(211_901));
        assert_eq!(counter(text, "vigil_archive_objects_total"), None);
    }

    #[test]
    fn ranges_stay_inside_the_history() {
        let mut rng = Rng::new(1);
        let end = Utc::now().date_naive() + TimeDelta::days(1);
        for _ in 0..1_000 {
            let (from, to) = range(&mut rng);
            assert!(
                from >= history_start() && to <= end && from < to,
                "{from}..{to}"
            );
        }
    }
}
