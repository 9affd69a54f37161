//! Vigil's developer tasks, run as `cargo xtask <command>` (an alias in `.cargo/config.toml`).
//!
//! Tasks are Rust rather than shell so they work the same on every machine and CI; `.ci/run`
//! only installs system packages and tools, then calls `cargo xtask services up` and
//! `cargo xtask test`.

mod bench;
mod dist;
mod e2e;
mod fuzz;
mod run;
mod schemathesis;
mod services;
mod test;
mod util;
mod vigil;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    about = "Vigil's developer tasks: checks, dev services, a local server, benchmarks.",
    after_help = "Examples:\n  \
        cargo xtask test                       # what CI runs\n  \
        cargo xtask test -- -E 'package(vigil-sync)'\n  \
        cargo xtask services up                # PostgreSQL, Redis, Kafka, Cassandra, Garage\n  \
        cargo xtask services up kafka          # just one\n  \
        cargo xtask run                        # the backend on http://127.0.0.1:8080\n  \
        cargo xtask bench push --reports 20000 --runs 3"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs every check CI runs, stopping at the first failure.
    ///
    /// In order: cargo fmt --check; cargo clippy --workspace --all-targets -D warnings;
    /// cargo check of vigil-sync and vigil-ui for wasm32-unknown-unknown; PostgreSQL, Redis
    /// and Kafka up (as `services up`); cargo nextest run --workspace --no-fail-fast with
    /// VIGIL_TEST_POSTGRES_URL, VIGIL_TEST_REDIS_URL (database 15, emptied first) and
    /// VIGIL_TEST_KAFKA_BROKERS set; then, when no NEXTEST_ARGS are given, the fault tests
    /// (backend/tests/faults.rs) one at a time, since they stop and restart Kafka, and the
    /// desktop app end to end (as `cargo xtask e2e`). Needs
    /// cargo-nextest on PATH or in $VIGIL_CACHE/tools/bin (default ~/.cache/vigil/tools/bin).
    Test {
        /// Extra arguments for `cargo nextest run`, after `--` (e.g. `-- -E 'test(sync)'`).
        #[arg(last = true, value_name = "NEXTEST_ARGS")]
        nextest_args: Vec<String>,
    },

    /// Starts, stops or shows the development services: postgres, redis, kafka, cassandra,
    /// garage.
    ///
    /// Each service runs on loopback. `up` is idempotent: it installs what is missing (into
    /// $VIGIL_CACHE, default ~/.cache/vigil), starts what is down, waits until it answers and
    /// provisions it. PostgreSQL: postgres://vigil:vigil@127.0.0.1:5432/postgres (role with
    /// CREATEDB). Redis: 127.0.0.1:6379, no persistence. Kafka (KRaft, one node):
    /// 127.0.0.1:9092. Cassandra: CQL on 127.0.0.1:9042. Garage (S3): http://127.0.0.1:3900,
    /// region `garage`, bucket `vigil-lake`, fixed key in $VIGIL_CACHE/run/garage/credentials.env.
    /// Data and logs: $VIGIL_CACHE/run/<service>/.
    Services {
        #[command(subcommand)]
        action: ServicesAction,
    },

    /// Builds the backend and serves it locally, importing the Toronto data on first run,
    /// then builds the UI and opens the desktop app against it (unless --no-app or there
    /// is no display).
    ///
    /// Uses the embedded engines unless VIGIL_DATABASE__URL is set. Closing the app, or
    /// Ctrl-C, stops it.
    Run(run::RunArgs),

    /// The desktop app in a real window: builds the UI with trunk, opens the debug build of
    /// vigil-desktop under Xvfb through tauri-driver and WebKitWebDriver, checks each screen
    /// and saves screenshots under target/e2e/.
    E2e,

    /// The desktop app's release bundle: `cargo tauri build --bundles deb` (the UI built
    /// with trunk --release and embedded); prints the .deb's path and size. Needs tauri-cli
    /// (`cargo install tauri-cli --version 2.12.4 --locked`).
    Dist,

    /// Runs the fuzz targets (sync/fuzz: the sync protocol's parsers; backend/feeds/fuzz:
    /// the feed connectors' mappers; cargo-fuzz with libFuzzer) for a while each; prints executions and fails on a crash, saving the input under
    /// $VIGIL_CACHE/fuzz/artifacts/<target>/. Needs cargo-fuzz (`cargo install cargo-fuzz
    /// --version 0.13.2 --locked --root ~/.cache/vigil/tools`); builds on stable.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Targets to run [default: all]: push_request, edit_request, pull_response,
        /// watch_area, connector_mappers.
        targets: Vec<String>,
    },

    /// Tests the HTTP API against its OpenAPI document with Schemathesis: a fresh embedded
    /// server, every operation, no 5xx and no answer outside its schema.
    Schemathesis {
        /// Examples per operation and phase.
        #[arg(long, default_value_t = 25)]
        max_examples: u32,
        /// A fixed seed, to repeat a run [default: a new one].
        #[arg(long)]
        seed: Option<u64>,
    },

    /// Load generators that print figures.
    Bench {
        #[command(subcommand)]
        bench: bench::Bench,
    },
}

#[derive(Debug, Subcommand)]
enum ServicesAction {
    /// Installs (or says how to), starts and provisions services; waits until they answer.
    Up {
        /// Services to start [default: all]. Known: postgres, redis, kafka, cassandra, garage.
        names: Vec<String>,
    },
    /// Stops services that run.
    Down {
        /// Services to stop [default: all].
        names: Vec<String>,
    },
    /// Shows whether each service runs; exits non-zero if one does not.
    Status {
        /// Services to show [default: all].
        names: Vec<String>,
    },
}

fn main() -> ExitCode {
    let Err(error) = dispatch(Cli::parse()) else {
        return ExitCode::SUCCESS;
    };
    // Printed by hand: anyhow's own report adds a backtrace whenever RUST_BACKTRACE is set,
    // which buries the one line that says what to do.
    eprintln!("error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    ExitCode::FAILURE
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Test { nextest_args } => test::run(&nextest_args),
        Command::Services { action } => match action {
            ServicesAction::Up { names } => services::up(&names),
            ServicesAction::Down { names } => services::down(&names),
            ServicesAction::Status { names } => services::status(&names),
        },
        Command::Run(args) => run::run(args),
        Command::Bench { bench } => bench::run(bench),
        Command::E2e => e2e::run(),
        Command::Dist => dist::run(),
        Command::Fuzz { seconds, targets } => fuzz::run(seconds, &targets).map(|_| ()),
        Command::Schemathesis { max_examples, seed } => {
            schemathesis::run(max_examples, seed).map(|_| ())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn services_listed_in_help_exist() {
        assert_eq!(
            services::names(),
            ["postgres", "redis", "kafka", "cassandra", "garage"]
        );
    }

    #[test]
    fn nextest_args_come_after_double_dash() {
        let cli = Cli::try_parse_from(["xtask", "test", "--", "-E", "test(x)"]).unwrap();
        let Command::Test { nextest_args } = cli.command else {
            panic!("parsed as another command");
        };
        assert_eq!(nextest_args, ["-E", "test(x)"]);
    }
}
