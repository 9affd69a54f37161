//! `cargo xtask bench batch`: the batch layer's full recompute (`vigil batch` without the
//! process around it), over a local lake built from the Toronto file as the archive writes
//! it, and over a lake with ten copies of every incident. The work is
//! `backend/examples/bench-batch.rs`; this builds and runs it and passes its lines on.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Result;

use crate::util::run as run_command;
use crate::vigil::{self, Profile};

/// Options of `cargo xtask bench batch`.
#[derive(Debug, clap::Args)]
pub struct BatchArgs {
    /// Toronto Police MCI export (.csv.gz) [default:
    /// ../shared/data/toronto_mci_2014_2020.csv.gz].
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,

    /// Runs per lake; the median is printed too.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,

    /// Copies of every incident in the larger lake.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=100))]
    copies: u64,

    /// Build with the dev profile (dependencies optimised, Vigil's own code not), which
    /// builds in minutes instead of the release build's quarter hour on two cores.
    #[arg(long)]
    dev: bool,
}

pub fn run(args: &BatchArgs) -> Result<()> {
    let data = super::toronto_file(args.data.as_deref())?;
    let profile = if args.dev {
        Profile::Dev
    } else {
        Profile::Release
    };
    vigil::build_targets(profile, &["--example", "bench-batch"])?;
    let exe = vigil::target_dir()?
        .join(profile.subdir())
        .join("examples/bench-batch");
    eprintln!(
        "==> bench batch ({} profile): {} runs per lake",
        if args.dev { "dev" } else { "release" },
        args.runs
    );
    run_command(
        Command::new(exe)
            .arg("--data")
            .arg(&data)
            .args(["--runs", &args.runs.to_string()])
            .args(["--copies", &args.copies.to_string()]),
    )
}
