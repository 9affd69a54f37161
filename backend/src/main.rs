//! `vigil`: the backend's command line.

use std::{net::SocketAddr, path::PathBuf, time::Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};
use vigil_backend::{
    batch,
    config::{Config, LogFormat},
    import, serve,
};

/// Vigil backend: neighbourhood safety reports, synced and served.
///
/// With no configuration it runs embedded: everything in SQLite and files under the data
/// directory, one process. Scale out with PostgreSQL (database.url), Kafka (kafka.brokers)
/// and Redis (redis.url), running `vigil serve`, `vigil relay`, `vigil speed` and `vigil
/// archive` apart; keep the lake on S3 (lake.s3.bucket).
#[derive(Debug, Parser)]
#[command(name = "vigil", version, propagate_version = true)]
struct Cli {
    /// TOML configuration file (see README.md for every key).
    #[arg(long, short, global = true, env = "VIGIL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory for the embedded store (overrides data_dir and VIGIL_DATA_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (default 127.0.0.1:8080).
    Serve {
        /// Address to listen on, e.g. 0.0.0.0:8080 (overrides listen and VIGIL_LISTEN).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Publish the store's change feed to the incident topic: Kafka when kafka.brokers is
    /// set, else the embedded log in the data directory (`vigil serve` then runs it
    /// in-process). Serves /metrics on relay.metrics_listen (default 127.0.0.1:9101).
    Relay,
    /// Keep the real-time views in Redis (redis.url) from the incident topic, as a member
    /// of consumer group speed.group. Serves /metrics on speed.metrics_listen (default
    /// 127.0.0.1:9102).
    Speed {
        /// First clear the views and rewind the consumer group, then rebuild everything
        /// from the topic (after Redis lost its data). Stop the group's other members first.
        #[arg(long)]
        rebuild: bool,
    },
    /// Write every incident change to the data lake as Parquet (lake.s3.bucket, else
    /// lake.dir), as a member of consumer group archive.group. Serves /metrics on
    /// archive.metrics_listen (default 127.0.0.1:9103). Embedded, `vigil serve` runs it
    /// in-process.
    Archive,
    /// Recompute every batch view from the whole lake (DataFusion), store them under a new
    /// batch id with its watermark and switch serving to them once all are written.
    Batch {
        /// No progress bars (they are also hidden when stderr is not a terminal).
        #[arg(long)]
        quiet: bool,
    },
    /// Run read-only SQL over the lake: the table `incidents` has one row per incident
    /// change (see ARCHITECTURE.md), with functions such as h3_parent(cell, resolution).
    ///
    /// Example: vigil sql "SELECT category, COUNT(*) AS n FROM incidents WHERE kind =
    /// 'upsert' GROUP BY category ORDER BY n DESC"
    Sql {
        /// One SELECT (or WITH, EXPLAIN, SHOW, DESCRIBE) statement.
        query: String,
        /// `table` for people, `csv` for scripts and spreadsheets.
        #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
        format: SqlFormat,
        #[arg(long)]
        quiet: bool,
    },
    /// Read the public crime feeds configured as [[ingest.sources]] (Socrata, ArcGIS,
    /// police.uk, CSV, JSON) into the store, on their schedules, each from its checkpoint.
    /// Records keep their source's id, so reading one again adds nothing and a record
    /// changed at the source becomes a new version. Serves /metrics on
    /// ingest.metrics_listen (default 127.0.0.1:9104) unless --once.
    ///
    /// Example: vigil ingest --once --source chicago
    Ingest {
        /// Run each source once, print a summary per source and exit (non-zero if any
        /// source failed; the others still run).
        #[arg(long)]
        once: bool,
        /// Only this source (repeat for several); default every enabled source.
        #[arg(long = "source", value_name = "NAME")]
        sources: Vec<String>,
        /// Forget this source's checkpoint first, so it is read again from the beginning
        /// (nothing is stored twice). Repeat for several.
        #[arg(long, value_name = "NAME")]
        reset: Vec<String>,
        /// No progress display (it is also hidden when stderr is not a terminal).
        #[arg(long)]
        quiet: bool,
    },
    /// Import a public data file into the store. Re-importing a file adds nothing twice.
    #[command(subcommand)]
    Import(ImportSource),
    /// The risk model behind the devices' hints: train it, score a grid, evaluate it
    /// against the plain count map. Reads a Toronto Police MCI CSV; `vigil batch` trains
    /// the devices' model on the lake by itself.
    #[command(subcommand)]
    Risk(RiskCommand),
    /// Print the effective configuration (passwords hidden) and exit.
    Config,
}

#[derive(Debug, Subcommand)]
enum RiskCommand {
    /// Train the model on the incidents before --until and save it in --out
    /// (model.safetensors and manifest.json).
    ///
    /// Example: vigil risk train --incidents toronto_mci_2014_2020.csv.gz --until 2019-01-01 --out model-2019
    Train {
        /// The incidents (Toronto Police MCI CSV, plain or .gz).
        #[arg(long, value_name = "FILE")]
        incidents: PathBuf,
        /// First day not read (YYYY-MM-DD): training uses only incidents before it.
        #[arg(long, value_name = "DATE", value_parser = vigil_backend::risk::parse_date)]
        until: chrono::NaiveDate,
        /// Directory to write the model to (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The square grid's box, MINLON,MINLAT,MAXLON,MAXLAT [default: the incidents'
        /// extent, rounded out to 0.01°].
        #[arg(long, value_name = "BOX", value_parser = vigil_backend::risk::parse_bbox, allow_hyphen_values = true)]
        bbox: Option<[f64; 4]>,
        /// Cell size in metres.
        #[arg(long, value_name = "M", default_value_t = 250.0)]
        cell_m: f64,
        /// The period one prediction covers.
        #[arg(long, value_name = "DAYS", default_value = "7d", value_parser = vigil_backend::risk::parse_horizon)]
        horizon: u32,
        /// Training windows before --until (156 weeks: three years).
        #[arg(long, value_name = "N", default_value_t = 156)]
        windows: u32,
        /// No progress bars (they are also hidden when stderr is not a terminal).
        #[arg(long)]
        quiet: bool,
    },
    /// Write `lat,lon,score` for the centre of every cell of a square grid: the expected
    /// incidents in [--from, --to), from the incidents before --from only.
    ///
    /// Example: vigil risk grid --model model-2019 --incidents mci.csv.gz --from 2019-01-01 --to 2019-01-08 --bbox=-79.64,43.58,-79.11,43.86 --cell-m 250 --out grid.csv
    Grid {
        #[command(flatten)]
        scored: Scored,
        /// MINLON,MINLAT,MAXLON,MAXLAT.
        #[arg(long, value_name = "BOX", value_parser = vigil_backend::risk::parse_bbox, allow_hyphen_values = true)]
        bbox: [f64; 4],
        /// Cell size in metres [default: the model's].
        #[arg(long, value_name = "M")]
        cell_m: Option<f64>,
        /// The CSV to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[arg(long)]
        quiet: bool,
    },
    /// Roll through [--from, --to) one horizon at a time, scoring every cell from the
    /// incidents before each window, and print hit rate and PAI (hit rate / area share)
    /// at 1% and 5% of the area for the model and for the all-history count map.
    ///
    /// Example: vigil risk eval --model model-2019 --incidents mci.csv.gz --from 2019-01-01 --to 2020-01-01 --horizon 7d
    Eval {
        #[command(flatten)]
        scored: Scored,
        /// Window length [default: the model's].
        #[arg(long, value_name = "DAYS", value_parser = vigil_backend::risk::parse_horizon)]
        horizon: Option<u32>,
        /// The grid's box [default: the model's training box].
        #[arg(long, value_name = "BOX", value_parser = vigil_backend::risk::parse_bbox, allow_hyphen_values = true)]
        bbox: Option<[f64; 4]>,
        /// Cell size in metres [default: the model's].
        #[arg(long, value_name = "M")]
        cell_m: Option<f64>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[arg(long)]
        quiet: bool,
    },
}

/// What `vigil risk grid` and `eval` score: a model over a file's incidents in a period.
#[derive(Debug, clap::Args)]
struct Scored {
    /// A directory written by `vigil risk train`.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// The incidents (Toronto Police MCI CSV, plain or .gz).
    #[arg(long, value_name = "FILE")]
    incidents: PathBuf,
    /// The period's first day (YYYY-MM-DD); scores use only incidents before it.
    #[arg(long, value_name = "DATE", value_parser = vigil_backend::risk::parse_date)]
    from: chrono::NaiveDate,
    /// The first day after the period.
    #[arg(long, value_name = "DATE", value_parser = vigil_backend::risk::parse_date)]
    to: chrono::NaiveDate,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SqlFormat {
    Table,
    Csv,
}

#[derive(Debug, Subcommand)]
enum ImportSource {
    /// The Toronto Police Major Crime Indicators CSV export (.csv or .csv.gz).
    TorontoMci {
        /// The CSV file.
        file: PathBuf,
        /// No progress bar (it is also hidden when stderr is not a terminal).
        #[arg(long)]
        quiet: bool,
    },
}

fn init_logging(config: &Config) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.filter));
    let registry = tracing_subscriber::registry().with(filter);
    match config.log.format {
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .init(),
        LogFormat::Text => registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .init(),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let Err(error) = runtime.block_on(run(cli)) else {
        return std::process::ExitCode::SUCCESS;
    };
    // Printed by hand: anyhow's own report adds a backtrace whenever RUST_BACKTRACE is set,
    // which buries the line that says what to do.
    eprintln!("error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    std::process::ExitCode::FAILURE
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
    }
    init_logging(&config);
    match cli.command {
        Command::Serve { listen } => {
            if let Some(addr) = listen {
                config.listen = addr;
            }
            serve::serve(config).await
        }
        Command::Relay => serve::relay(config).await,
        Command::Speed { rebuild } => serve::speed(config, rebuild).await,
        Command::Archive => serve::archive(config).await,
        Command::Batch { quiet } => {
            let lake = config.lake()?;
            let store = config.batch_store().await?;
            let progress = !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
            let summary = batch::run(&lake, &store, config.batch.on_corrupt, progress)
                .await
                .with_context(|| format!("batch over the lake at {} failed", lake.describe()))?;
            store.close().await;
            println!("{summary}");
            Ok(())
        }
        Command::Sql {
            query,
            format,
            quiet,
        } => {
            let lake = config.lake()?;
            let progress = !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
            let loaded = batch::load_lake(&lake, config.batch.on_corrupt, progress).await?;
            let batches = batch::query(&loaded.ctx, &query).await.context(
                "the query failed; the table is `incidents` (vigil sql \"DESCRIBE incidents\" lists its columns)",
            )?;
            match format {
                SqlFormat::Table => {
                    println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);
                }
                SqlFormat::Csv => {
                    let mut writer = arrow::csv::Writer::new(std::io::stdout().lock());
                    for b in &batches {
                        writer.write(b)?;
                    }
                }
            }
            Ok(())
        }
        Command::Config => {
            let mut shown = config.clone();
            shown.database.url = shown
                .database
                .url
                .as_deref()
                .map(vigil_backend::config::redact_url);
            shown.redis.url = shown
                .redis
                .url
                .as_deref()
                .map(vigil_backend::config::redact_url);
            if !shown.lake.s3.secret_access_key.is_empty() {
                shown.lake.s3.secret_access_key = "***".into();
            }
            print!(
                "{}",
                toml::to_string_pretty(&shown).context("cannot print the configuration")?
            );
            Ok(())
        }
        Command::Ingest {
            once,
            sources,
            reset,
            quiet,
        } => {
            let progress = !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
            serve::ingest(
                config,
                serve::IngestOptions {
                    once,
                    sources,
                    reset,
                    progress,
                },
            )
            .await
        }
        Command::Risk(command) => risk(command),
        Command::Import(ImportSource::TorontoMci { file, quiet }) => {
            let db = serve::open_store(&config).await?;
            let start = Instant::now();
            let progress = !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
            let summary = import::import_toronto_mci(&db, &file, progress).await?;
            db.close().await;
            println!("{summary}wall time: {:.1} s", start.elapsed().as_secs_f64());
            Ok(())
        }
    }
}

fn show_progress(quiet: bool) -> bool {
    !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())
}

fn risk(command: RiskCommand) -> anyhow::Result<()> {
    use vigil_backend::risk;
    match command {
        RiskCommand::Train {
            incidents,
            until,
            out,
            bbox,
            cell_m,
            horizon,
            windows,
            quiet,
        } => {
            risk::train_cmd(risk::TrainArgs {
                incidents,
                until,
                out,
                bbox,
                cell_m,
                horizon_days: horizon,
                windows,
                progress: show_progress(quiet),
            })?;
        }
        RiskCommand::Grid {
            scored,
            bbox,
            cell_m,
            out,
            quiet,
        } => {
            let cells = risk::grid_cmd(
                &scored.model,
                &scored.incidents,
                scored.from,
                scored.to,
                bbox,
                cell_m,
                &out,
                show_progress(quiet),
            )?;
            println!("wrote {cells} cells to {}", out.display());
        }
        RiskCommand::Eval {
            scored,
            horizon,
            bbox,
            cell_m,
            json,
            quiet,
        } => {
            let e = risk::eval_cmd(
                &scored.model,
                &scored.incidents,
                scored.from,
                scored.to,
                horizon,
                bbox,
                cell_m,
                show_progress(quiet),
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&e)?);
            } else {
                print!("{}", risk::format_evaluation(&e, scored.from, scored.to));
            }
        }
    }
    Ok(())
}
