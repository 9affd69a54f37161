//! `cargo xtask fuzz`: runs the cargo-fuzz targets (the sync protocol's parsers in
//! `sync/fuzz`, the feed connectors' mappers in `backend/feeds/fuzz`) for a while each and
//! reports executions and findings.
//!
//! The targets build on the stable toolchain: `RUSTC_BOOTSTRAP=1` lets cargo-fuzz pass its
//! flags, and `--sanitizer none` needs no sanitizer runtime (the targets are safe Rust;
//! what they look for are panics and broken round trips). The corpus grows in
//! `$VIGIL_CACHE/fuzz/corpus/<target>`, seeded from `<crate>/fuzz/seeds/<target>`; a crashing
//! input is saved under `$VIGIL_CACHE/fuzz/artifacts/<target>/` and fails the run.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{cache_dir, display, find_executable, project_root};

/// The fuzz targets and the crate whose `fuzz/fuzz_targets/` holds each.
pub const TARGETS: [(&str, &str); 5] = [
    ("sync", "push_request"),
    ("sync", "edit_request"),
    ("sync", "pull_response"),
    ("sync", "watch_area"),
    ("backend/feeds", "connector_mappers"),
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
    let names: Vec<&str> = TARGETS.iter().map(|(_, t)| *t).collect();
    for t in targets {
        if !names.contains(&t.as_str()) {
            bail!("no fuzz target {t:?}; the targets are {}", names.join(", "));
        }
    }
    let fuzz = cache_dir().join("fuzz");
    let mut runs = Vec::new();
    for (dir, target) in TARGETS {
        if !targets.is_empty() && !targets.iter().any(|t| t == target) {
            continue;
        }
        let target = target.to_owned();
        let crate_dir = project_root().join(dir);
        let corpus = fuzz.join("corpus").join(&target);
        let artifacts = fuzz.join("artifacts").join(&target);
        std::fs::create_dir_all(&corpus)?;
        std::fs::create_dir_all(&artifacts)?;
        let mut cmd = Command::new(&cargo_fuzz);
        cmd.current_dir(&crate_dir)
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", &target])
            .arg(&corpus)
            .arg(crate_dir.join("fuzz/seeds").join(&target))
            .args(["--fuzz-dir", "fuzz", "--sanitizer", "none", "--target-dir"])
            .arg(fuzz.join("target"))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!(
                "-dict={}",
                project_root().join("sync/fuzz/json.dict").display()
            ))
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
