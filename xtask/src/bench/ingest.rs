//! `cargo xtask bench ingest`: public-feed ingestion of the Toronto file.
//!
//! Two figures, each a median over `--runs`:
//! - **map**: the CSV connector reading the file and mapping every record to a validated
//!   incident, nothing stored (`backend/examples/bench-ingest.rs`).
//! - **store**: `vigil ingest --once` with the file as a CSV source into a fresh embedded
//!   store, each page committed with its checkpoint: records/s from process start to exit.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::stats::median;
use crate::util::{output, run as run_command};
use crate::vigil::{self, Profile};

/// Options of `cargo xtask bench ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Toronto Police MCI export (.csv.gz) [default:
    /// ../shared/data/toronto_mci_2014_2020.csv.gz].
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,

    /// Runs of each stage; the median is printed too.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,

    /// Records per page (rows per committed transaction) in the store stage.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=50_000))]
    page_size: u64,

    /// Build with the dev profile (dependencies optimised, Vigil's own code not).
    #[arg(long)]
    dev: bool,
}

pub fn run(args: &IngestArgs) -> Result<()> {
    let data = super::toronto_file(args.data.as_deref())?;
    let profile = if args.dev {
        Profile::Dev
    } else {
        Profile::Release
    };
    vigil::build_targets(profile, &["--bin", "vigil", "--example", "bench-ingest"])?;
    let dir = vigil::target_dir()?.join(profile.subdir());
    eprintln!(
        "==> bench ingest ({} profile): {} runs per stage",
        if args.dev { "dev" } else { "release" },
        args.runs
    );
    run_command(
        Command::new(dir.join("examples/bench-ingest"))
            .arg("--data")
            .arg(&data)
            .args(["--runs", &args.runs.to_string()]),
    )?;

    let mut rates = Vec::new();
    for run in 0..args.runs {
        let scratch = tempfile::tempdir()?;
        let config = scratch.path().join("vigil.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = {:?}\n[log]\nfilter = \"warn\"\n[[ingest.sources]]\nname = \"toronto-mci\"\npage_size = {}\n[ingest.sources.csv]\npath = {:?}\nlayout = \"toronto_mci\"\n",
                scratch.path().join("data"),
                args.page_size,
                data.canonicalize()?
            ),
        )?;
        let started = Instant::now();
        let summary = output(
            Command::new(dir.join("vigil"))
                .arg("--config")
                .arg(&config)
                .args(["ingest", "--once", "--quiet"]),
        )
        .context("vigil ingest --once failed")?;
        let seconds = started.elapsed().as_secs_f64();
        let Some(line) = summary.lines().find(|l| l.starts_with("toronto-mci")) else {
            bail!("no summary line for toronto-mci in:\n{summary}");
        };
        let cols: Vec<&str> = line.split_whitespace().collect();
        let read: f64 = cols
            .get(3)
            .and_then(|c| c.parse().ok())
            .context("read column")?;
        let new: u64 = cols
            .get(4)
            .and_then(|c| c.parse().ok())
            .context("new column")?;
        let rate = read / seconds;
        println!(
            "{{\"stage\":\"store\",\"run\":{run},\"records\":{read},\"new\":{new},\"seconds\":{seconds:.3},\"records_per_s\":{rate:.0}}}"
        );
        rates.push(rate);
    }
    println!(
        "{{\"stage\":\"store\",\"median_records_per_s\":{:.0},\"runs\":{}}}",
        median(&mut rates),
        args.runs
    );
    Ok(())
}
