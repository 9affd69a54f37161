//! `cargo xtask fuzz`: runs the sync protocol's cargo-fuzz targets (`sync/fuzz`) for a
//! while each and reports executions and findings.
//!
//! The targets build on the stable toolchain: `RUSTC_BOOTSTRAP=1` lets cargo-fuzz pass its
//! flags, and `--sanitizer none` needs no sanitizer runtime (the targets are safe Rust;
//! what they look for are panics and broken round trips). The corpus grows in
//! `$VIGIL_CACHE/fuzz/corpus/<target>`, seeded from `sync/fuzz/seeds/<target>`; a crashing
//! input is saved under `$VIGIL_CACHE/fuzz/artifacts/<target>/` and fails the run.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{cache_dir, display, find_executable, project_root};

/// The fuzz targets, in `sync/fuzz/fuzz_targets/`.
pub const TARGETS: [&str; 4] = [
    "push_request",
    "edit_request",
    "pull_response",
    "watch_area",
];

/// What one target's run did.
#[derive(Debug)]
pub struct FuzzRun {
    pub target: String,
    pub executions: u64,
    pub corpus: usize,
}

/// Runs each of `targets` (all when empty) for `seconds`.
pub fn run(seconds: u64, targets: &[String]) -> Result<Vec<FuzzRun>> {
    let tools = cache_dir().join("tools").join("bin");
    let cargo_fuzz = find_executable("cargo-fuzz", std::slice::from_ref(&tools)).context(
        "cargo-fuzz is missing: `cargo install cargo-fuzz --version 0.13.2 --locked --root ~/.cache/vigil/tools`",
    )?;
    let chosen: Vec<String> = if targets.is_empty() {
        TARGETS.iter().map(|t| (*t).to_owned()).collect()
    } else {
        targets.to_vec()
    };
    for t in &chosen {
        if !TARGETS.contains(&t.as_str()) {
            bail!(
                "no fuzz target {t:?}; the targets are {}",
                TARGETS.join(", ")
            );
        }
    }
    let sync = project_root().join("sync");
    let fuzz = cache_dir().join("fuzz");
    let mut runs = Vec::new();
    for target in chosen {
        let corpus = fuzz.join("corpus").join(&target);
        let artifacts = fuzz.join("artifacts").join(&target);
        std::fs::create_dir_all(&corpus)?;
        std::fs::create_dir_all(&artifacts)?;
        let mut cmd = Command::new(&cargo_fuzz);
        cmd.current_dir(&sync)
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", &target])
            .arg(&corpus)
            .arg(sync.join("fuzz/seeds").join(&target))
            .args(["--fuzz-dir", "fuzz", "--sanitizer", "none", "--target-dir"])
            .arg(fuzz.join("target"))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-dict={}", sync.join("fuzz/json.dict").display()))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg("-print_final_stats=1");
        eprintln!("==> {}", display(&cmd));
        let out = cmd
            .output()
            .with_context(|| format!("could not run {}", cargo_fuzz.display()))?;
        let log = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "fuzz target {target} failed ({}); the input that failed is in {}:\n{}",
                out.status,
                artifacts.display(),
                tail.join("\n")
            );
        }
        let executions = log
            .lines()
            .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
            .and_then(|n| n.trim().parse().ok())
            .context("libFuzzer printed no stat::number_of_executed_units")?;
        let corpus_size = std::fs::read_dir(&corpus)?.count();
        eprintln!("    {target}: {executions} executions, corpus {corpus_size} inputs, no crash");
        runs.push(FuzzRun {
            target,
            executions,
            corpus: corpus_size,
        });
    }
    Ok(runs)
}
