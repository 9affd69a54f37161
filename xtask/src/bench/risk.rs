//! `cargo xtask bench risk`: the on-device risk hints. Builds and runs
//! `app/examples/bench-risk.rs`, which trains the devices' model on the Toronto file,
//! prints the model's size and the cached cells' size, and times `risk_hint`; with
//! `--validate` it also runs the 2019 and 2020 validation against the count map.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Result;

use crate::util::run as run_command;
use crate::vigil::{self, Profile};

/// Options of `cargo xtask bench risk`.
#[derive(Debug, clap::Args)]
pub struct RiskArgs {
    /// Toronto Police MCI export (.csv.gz) [default:
    /// ../shared/data/toronto_mci_2014_2020.csv.gz].
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,

    /// Rounds of hint timing; the medians are printed too.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,

    /// Hints per round.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(100..))]
    hints: u64,

    /// Also train until 2019-01-01 and 2020-01-01 on the 250 m grid and evaluate each
    /// week of the next year against the count map (PAI and hit rate at 1% and 5%).
    #[arg(long)]
    validate: bool,

    /// Build with the dev profile (dependencies optimised, Vigil's own code not).
    #[arg(long)]
    dev: bool,
}

pub fn run(args: &RiskArgs) -> Result<()> {
    let data = super::toronto_file(args.data.as_deref())?;
    let profile = if args.dev {
        Profile::Dev
    } else {
        Profile::Release
    };
    vigil::build_targets(profile, &["--example", "bench-risk"])?;
    let exe = vigil::target_dir()?
        .join(profile.subdir())
        .join("examples/bench-risk");
    eprintln!(
        "==> bench risk ({} profile): {} rounds of {} hints",
        if args.dev { "dev" } else { "release" },
        args.runs,
        args.hints
    );
    let mut cmd = Command::new(exe);
    cmd.arg("--data")
        .arg(&data)
        .args(["--runs", &args.runs.to_string()])
        .args(["--hints", &args.hints.to_string()]);
    if args.validate {
        cmd.arg("--validate");
    }
    run_command(&mut cmd)
}
