//! `cargo xtask test`: everything CI checks, in order, stopping at the first failing step.
//!
//! Steps: tools present, `cargo fmt --check`, clippy with `-D warnings`, the wasm32 check of
//! the crates the UI shares, PostgreSQL, Redis, Kafka, Garage (S3) and Cassandra up (Redis
//! test database 15 emptied), `cargo nextest run`, then the fault tests alone (they stop and
//! restart engines), Schemathesis against the OpenAPI document (`cargo xtask
//! schemathesis`), the fuzz targets (sync parsers, feed mappers) for 30 s each (`cargo xtask fuzz`), and
//! the desktop app end to end under Xvfb (`cargo xtask e2e`).
//! Each step prints its wall time; a summary closes the run.
//!
//! Doc tests are not run: nextest cannot run them, and `cargo test --doc` unifies features
//! differently and rebuilt most dependencies (about 10 minutes on 2 cores). The workspace
//! keeps its examples in tests instead.

use std::env;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::services::{self, KAFKA_TEST_BROKERS, POSTGRES_TEST_URL, REDIS_TEST_URL};
use crate::util::{self, cache_dir, cargo, find_executable, human_duration};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The engines the tests talk to (`services up` starts them).
const TEST_ENGINES: [&str; 5] = ["postgres", "redis", "kafka", "garage", "cassandra"];
/// Seconds each fuzz target runs in `cargo xtask test`.
const FUZZ_SECONDS: u64 = 30;
/// The Redis database the tests use, emptied before each run; 0 is left for `cargo xtask run`.
const REDIS_TEST_DB: u8 = 15;

/// Runs every step; `nextest_args` go to `cargo nextest run` after the defaults.
pub fn run(nextest_args: &[String]) -> Result<()> {
    let mut steps = Steps::new();

    let nextest_dir = steps.run("tools", "", preflight)?;

    steps.run("fmt", "run `cargo fmt --all` to format the code", || {
        util::run(cargo().args(["fmt", "--all", "--check"]))
    })?;

    steps.run("clippy", "fix the warnings above", || {
        util::run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;

    steps.run(
        "wasm32 check",
        "vigil-sync and vigil-ui must build for the browser: keep I/O-only dependencies \
         behind a feature or a `cfg(not(target_arch = \"wasm32\"))`",
        || {
            util::run(cargo().args([
                "check",
                "-p",
                "vigil-sync",
                "-p",
                "vigil-ui",
                "--target",
                WASM_TARGET,
            ]))
        },
    )?;

    steps.run(
        "engines",
        "see `cargo xtask services status` and the logs in $VIGIL_CACHE/run/",
        || services::up(&TEST_ENGINES.map(str::to_owned)),
    )?;

    steps.run("redis test db", "is Redis up?", || {
        services::redis::flush_db(REDIS_TEST_DB)
    })?;

    // The fault tests call back into this binary. A later step's `cargo build --workspace`
    // relinks target/debug/xtask (other features unify there), which would pull the file
    // from under a running test: they get a copy of their own.
    let xtask_copy = cache_dir().join("run").join("xtask-for-tests");
    std::fs::create_dir_all(cache_dir().join("run"))?;
    std::fs::copy(std::env::current_exe()?, &xtask_copy)
        .context("could not copy the xtask binary for the fault tests")?;
    let nextest = |args: &[&str], extra: &[String]| -> Result<()> {
        let mut cmd = cargo();
        cmd.args(["nextest", "run", "--no-fail-fast"])
            .args(args)
            .args(extra)
            .env("VIGIL_TEST_POSTGRES_URL", POSTGRES_TEST_URL)
            .env("VIGIL_TEST_KAFKA_BROKERS", KAFKA_TEST_BROKERS)
            .env(
                "VIGIL_TEST_REDIS_URL",
                format!("{REDIS_TEST_URL}/{REDIS_TEST_DB}"),
            )
            .env("VIGIL_TEST_XTASK", &xtask_copy)
            .envs(services::s3_test_env())
            .env("VIGIL_TEST_CASSANDRA_NODES", services::CASSANDRA_TEST_NODES);
        if let Some(dir) = &nextest_dir {
            cmd.env("PATH", prepend_path(dir)?);
        }
        util::run(&mut cmd)
    };

    steps.run("nextest", "see the failing tests above", || {
        nextest(&["--workspace"], nextest_args)
    })?;

    if nextest_args.is_empty() {
        steps.run(
            "schemathesis",
            "an operation answered 5xx or outside its documented schema; see above",
            || {
                let s = crate::schemathesis::run(25, None)?;
                eprintln!("    schemathesis: {}; {}", s.operations, s.cases);
                Ok(())
            },
        )?;
        steps.run(
            "fuzz",
            "a fuzz target crashed; the input is under $VIGIL_CACHE/fuzz/artifacts/",
            || {
                for r in crate::fuzz::run(FUZZ_SECONDS, &[])? {
                    eprintln!(
                        "    fuzz {}: {} executions in {FUZZ_SECONDS} s, corpus {} inputs, no crash",
                        r.target, r.executions, r.corpus
                    );
                }
                Ok(())
            },
        )?;
    }

    steps.run(
        "desktop e2e",
        "see the step above; screenshots of the screens reached are in target/e2e/",
        || {
            if nextest_args.is_empty() {
                crate::e2e::run()
            } else {
                eprintln!("skipped: NEXTEST_ARGS narrow the run");
                Ok(())
            }
        },
    )?;

    // The fault tests stop and start engines, so they run alone, one at a time, after the
    // rest (`.config/nextest.toml` leaves them out of the default run).
    if nextest_args.is_empty() {
        steps.run("fault tests", "see the failing tests above", || {
            nextest(
                // --workspace, like the run before, so cargo unifies features the same
                // way and reuses every artifact instead of rebuilding half the tree.
                &[
                    "--workspace",
                    "--ignore-default-filter",
                    "-E",
                    "package(vigil-backend) & binary(faults)",
                    "--test-threads",
                    "1",
                ],
                &[],
            )
        })?;
    }

    steps.summary();
    Ok(())
}

/// Checks the tools the later steps need, so a missing one fails in seconds, not minutes.
///
/// Returns the folder holding `cargo-nextest` when it is not already on PATH.
fn preflight() -> Result<Option<PathBuf>> {
    let tools_bin = cache_dir().join("tools").join("bin");
    let cargo_bin = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|home| home.join("bin"));
    let on_path = find_executable("cargo-nextest", &[]).is_some();
    let nextest_dir = if on_path {
        None
    } else {
        let extra: Vec<PathBuf> = std::iter::once(tools_bin.clone())
            .chain(cargo_bin)
            .collect();
        let found = find_executable("cargo-nextest", &extra).with_context(|| {
            format!(
                "cargo-nextest is not on PATH nor in {}; install it with \
                 `cargo install cargo-nextest --locked --root {}` (.ci/run does this)",
                tools_bin.display(),
                tools_bin.parent().unwrap_or(&tools_bin).display()
            )
        })?;
        found.parent().map(PathBuf::from)
    };

    if find_executable("cargo-fuzz", std::slice::from_ref(&tools_bin)).is_none() {
        bail!(
            "cargo-fuzz is missing; install it with `cargo install cargo-fuzz --version 0.13.2 \
             --locked --root {}` (.ci/run does this)",
            tools_bin.parent().unwrap_or(&tools_bin).display()
        );
    }
    let st_venv = cache_dir().join("tools").join("schemathesis").join("bin");
    if find_executable("st", &[st_venv]).is_none() {
        bail!(
            "Schemathesis is missing; install it with `python3 -m venv {dir} && {dir}/bin/pip \
             install schemathesis=={}` (.ci/run does this)",
            crate::schemathesis::VERSION,
            dir = cache_dir().join("tools").join("schemathesis").display()
        );
    }

    let sysroot = util::output(Command::new("rustc").args(["--print", "sysroot"]))?;
    let wasm_lib = PathBuf::from(sysroot.trim())
        .join("lib/rustlib")
        .join(WASM_TARGET);
    if !wasm_lib.is_dir() {
        bail!("the {WASM_TARGET} target is not installed; run `rustup target add {WASM_TARGET}`");
    }
    Ok(nextest_dir)
}

/// `PATH` with `dir` in front, for a child process.
fn prepend_path(dir: &std::path::Path) -> Result<OsString> {
    let rest = env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(dir.to_path_buf()).chain(env::split_paths(&rest));
    env::join_paths(dirs).context("PATH holds a folder name that cannot be joined")
}

/// The steps run so far, with their wall times, for the summary.
struct Steps {
    started: Instant,
    done: Vec<(&'static str, Duration, bool)>,
}

impl Steps {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            done: Vec::new(),
        }
    }

    /// Runs one step; on failure prints the summary and names the step in the error.
    fn run<T>(
        &mut self,
        name: &'static str,
        hint: &str,
        step: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        eprintln!("\n==> {name}");
        let started = Instant::now();
        let result = step();
        let took = started.elapsed();
        self.done.push((name, took, result.is_ok()));
        match result {
            Ok(value) => {
                eprintln!("<== {name}: ok in {}", human_duration(took));
                Ok(value)
            }
            Err(error) => {
                eprintln!("<== {name}: FAILED after {}", human_duration(took));
                self.summary();
                let message = if hint.is_empty() {
                    format!("step `{name}` failed")
                } else {
                    format!("step `{name}` failed; {hint}")
                };
                Err(error.context(message))
            }
        }
    }

    fn summary(&self) {
        eprintln!("\nSummary:");
        for (name, took, ok) in &self.done {
            let verdict = if *ok { "ok" } else { "FAILED" };
            eprintln!("  {name:<14} {verdict:<7} {:>12}", human_duration(*took));
        }
        eprintln!(
            "  {:<14} {:<7} {:>12}",
            "total",
            "",
            human_duration(self.started.elapsed())
        );
    }
}
