//! `vigil-client`: the client core without a window, for scripts, tests and people who
//! live in a terminal. It makes the same calls the desktop app's commands make.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Parser, Subcommand};
use vigil_app::alerts::AreaState;
use vigil_app::{
    Backoff, DraftInput, EditState, OutboxState, Server, Session, Store, session::TokenPlace, sync,
};
use vigil_sync::{
    Category, Location,
    watch::{AlertBody, QuietHours, Shape, WatchAreaSpec},
};

/// Vigil's client without a window: draft reports offline, submit, sync, look around.
///
/// Everything lives in one data directory (--data-dir, VIGIL_CLIENT_DIR, default the
/// user's data dir + /vigil-client): the store `vigil.db` and the session. The session
/// token goes to the OS keyring where there is one (VIGIL_CLIENT_KEYRING=off keeps it in
/// the data directory instead, readable by you alone).
#[derive(Debug, Parser)]
#[command(
    name = "vigil-client",
    version,
    propagate_version = true,
    after_help = "Example:\n  \
        vigil-client login --server http://127.0.0.1:8080 --username alice\n  \
        vigil-client draft new --category theft --lat 43.6535 --lon -79.384 --description 'Bike taken'\n  \
        vigil-client submit --all && vigil-client sync\n  \
        vigil-client incidents near --lat 43.6535 --lon -79.384 --radius-m 500"
)]
struct Cli {
    #[arg(long, global = true, env = "VIGIL_CLIENT_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign in (creating the account with --register); the password comes from
    /// VIGIL_PASSWORD or the first line of standard input.
    Login {
        #[arg(long)]
        server: String,
        #[arg(long)]
        username: String,
        /// Create the account first.
        #[arg(long)]
        register: bool,
    },
    /// Forget the session's token.
    Logout,
    /// Write, change and list drafts (saved at once; nothing leaves the device).
    #[command(subcommand)]
    Draft(DraftCommand),
    /// Move drafts to the outbox (checked with the server's rules first).
    Submit {
        /// Draft ids.
        ids: Vec<String>,
        /// Every draft.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
    /// Change a submitted report: before moderation the change is shown; after it, the
    /// change is kept for the moderators. Sent on the next sync.
    Edit {
        /// The report's id (as printed by `submit` and `status`).
        id: String,
        #[command(flatten)]
        fields: DraftFields,
    },
    /// Submitted reports and what happened to their edits.
    Reports,
    /// Push the outbox and edits, pull new changes, retrying with backoff while offline.
    Sync {
        /// Attempts before giving up (the reports stay in the outbox).
        #[arg(long, default_value_t = 6)]
        attempts: u32,
    },
    /// Cached incidents.
    #[command(subcommand)]
    Incidents(IncidentsCommand),
    /// Watch areas.
    #[command(subcommand)]
    Areas(AreasCommand),
    /// The alerts inbox, newest first (pulled by `sync`).
    Alerts {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// How a place compares with the rest of the city at an hour of the week, from past
    /// reports: computed here, offline, from the risk model and the cells of your watch
    /// areas (fetched by `sync`). Nothing about the place is sent anywhere.
    ///
    /// Example: vigil-client hint --lat 43.6561 --lon -79.3802 --at 2026-11-27T22:30:00-05:00
    Hint {
        #[arg(long, allow_hyphen_values = true)]
        lat: f64,
        #[arg(long, allow_hyphen_values = true)]
        lon: f64,
        /// The time, RFC 3339 with its offset [default: now, in this computer's zone].
        #[arg(long, value_name = "TIME")]
        at: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// The session, drafts, outbox and cache at a glance.
    Status,
}

#[derive(Debug, Args)]
struct DraftFields {
    /// Category code (assault, break_and_enter, theft, ...).
    #[arg(long)]
    category: Option<String>,
    /// When it happened, RFC 3339 [default for new drafts: now].
    #[arg(long)]
    at: Option<String>,
    #[arg(long, requires = "lon", allow_negative_numbers = true)]
    lat: Option<f64>,
    #[arg(long, requires = "lat", allow_negative_numbers = true)]
    lon: Option<f64>,
    /// A place name or address.
    #[arg(long)]
    place: Option<String>,
    #[arg(long)]
    description: Option<String>,
}

#[derive(Debug, Subcommand)]
enum DraftCommand {
    /// Start a draft; prints its id.
    New(DraftFields),
    /// Change fields of a draft.
    Edit {
        id: String,
        #[command(flatten)]
        fields: DraftFields,
    },
    /// List drafts, with the server's reason for any it refused.
    List,
    /// Delete a draft.
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
enum IncidentsCommand {
    /// Incidents within a radius, nearest first.
    Near {
        #[arg(long, allow_negative_numbers = true)]
        lat: f64,
        #[arg(long, allow_negative_numbers = true)]
        lon: f64,
        #[arg(long, default_value_t = 1000.0)]
        radius_m: f64,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// The newest incidents.
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
enum AreasCommand {
    /// Watch a circle; sent to the server on the next sync. Prints the area's id.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long, allow_negative_numbers = true)]
        lat: f64,
        #[arg(long, allow_negative_numbers = true)]
        lon: f64,
        /// 50 to 20,000 metres.
        #[arg(long, default_value_t = 500.0)]
        radius_m: f64,
        /// Category codes to watch [default: all].
        #[arg(long, value_delimiter = ',')]
        categories: Vec<String>,
        /// Alert only at or above this severity: 1 everything, 2 serious, 3 violent.
        #[arg(long, default_value_t = 1)]
        min_severity: u8,
        /// Quiet hours, local `HH:MM-HH:MM` (e.g. 22:00-07:00): alerts then wait for a
        /// digest.
        #[arg(long, value_name = "HH:MM-HH:MM", requires = "time_zone")]
        quiet: Option<String>,
        /// The quiet hours' IANA time zone, e.g. America/Toronto.
        #[arg(long)]
        time_zone: Option<String>,
    },
    /// The watch areas and whether the server has them.
    List,
    /// Stop watching an area (removed on the server at the next sync).
    Delete { id: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn apply(input: &mut DraftInput, fields: DraftFields) {
    if fields.category.is_some() {
        input.category = fields.category;
    }
    if fields.at.is_some() {
        input.occurred_at = fields.at;
    }
    if let (Some(lat), Some(lon)) = (fields.lat, fields.lon) {
        input.location = Some(Location {
            lat,
            lon,
            accuracy_m: None,
        });
    }
    if fields.place.is_some() {
        input.place = fields.place;
    }
    if let Some(d) = fields.description {
        input.description = d;
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let dir = cli
        .data_dir
        .or_else(|| dirs::data_dir().map(|d| d.join("vigil-client")))
        .context("no data directory: pass --data-dir")?;
    let mut store = Store::open(&dir.join("vigil.db"))?;
    let now = Utc::now();
    match cli.command {
        Command::Login {
            server,
            username,
            register,
        } => {
            let password = match std::env::var("VIGIL_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let mut client = Server::new(&server, None)?;
            if register {
                client.register(&username, &password).await?;
            }
            let token = client.login(&username, &password).await?;
            let place = Session {
                server,
                username: username.clone(),
                token,
            }
            .save(&dir)?;
            println!("signed in as {username}");
            match place {
                TokenPlace::Keyring(_) => println!("token kept in the OS keyring"),
                TokenPlace::File { why } => println!(
                    "token kept in {} (readable by you alone): {why}",
                    dir.join("session.json").display()
                ),
            }
        }
        Command::Logout => {
            Session::clear(&dir)?;
            println!("signed out");
        }
        Command::Draft(DraftCommand::New(fields)) => {
            let mut input = DraftInput {
                occurred_at: Some(now.fixed_offset().to_rfc3339()),
                ..DraftInput::default()
            };
            apply(&mut input, fields);
            let draft = store.new_draft(input, now)?;
            println!("{}", draft.id);
        }
        Command::Draft(DraftCommand::Edit { id, fields }) => {
            let mut input = store.draft(&id)?.input;
            apply(&mut input, fields);
            store.save_draft(&id, &input, now)?;
            println!("saved {id}");
        }
        Command::Draft(DraftCommand::List) => {
            for d in store.drafts()? {
                let what = d.input.category.as_deref().unwrap_or("(no category)");
                let note = d
                    .rejected
                    .map(|(f, r)| format!("  REFUSED {f}: {r}"))
                    .unwrap_or_default();
                println!("{}  {what}  {}{note}", d.id, d.input.description);
            }
        }
        Command::Draft(DraftCommand::Delete { id }) => {
            store.delete_draft(&id)?;
            println!("deleted {id}");
        }
        Command::Submit { ids, all } => {
            let ids = if all {
                store.drafts()?.into_iter().map(|d| d.id).collect()
            } else {
                ids
            };
            anyhow::ensure!(!ids.is_empty(), "name draft ids, or pass --all");
            let mut failed = 0;
            for id in ids {
                match store.submit(&id, now) {
                    Ok(_) => println!("queued {id}"),
                    Err(e) => {
                        failed += 1;
                        eprintln!("not queued {id}: {e}");
                    }
                }
            }
            anyhow::ensure!(
                failed == 0,
                "{failed} drafts were not queued; fix them and submit again"
            );
        }
        Command::Sync { attempts } => {
            let session = Session::load(&dir)?
                .context("not signed in: run `vigil-client login --server URL --username NAME`")?;
            let server = Server::new(&session.server, Some(session.token))?;
            let backoff = Backoff {
                attempts: attempts.max(1),
                ..Backoff::default()
            };
            match sync::sync(&mut store, &server, backoff).await {
                Ok(s) => {
                    println!(
                        "sent {}, refused {} (back among the drafts), pulled {} changes, {} new alerts",
                        s.sent,
                        s.rejected,
                        s.pulled,
                        s.alerts.len()
                    );
                    let a = &s.areas;
                    if a.saved + a.deleted + a.refused > 0 {
                        println!(
                            "watch areas: {} saved, {} deleted, {} refused (see `areas list`)",
                            a.saved, a.deleted, a.refused
                        );
                    }
                    if let Some(version) = &s.risk.model {
                        println!("risk model {version} fetched for offline hints");
                    }
                    if s.risk.cells > 0 {
                        println!(
                            "risk data cached for {} cells of your watch areas",
                            s.risk.cells
                        );
                    }
                    let e = &s.edits;
                    if e.applied + e.kept + e.rejected > 0 {
                        println!(
                            "edits: {} applied, {} kept for the moderators, {} refused (see `reports`)",
                            e.applied, e.kept, e.rejected
                        );
                    }
                }
                Err(e) => {
                    let pending = store.outbox(Some(OutboxState::Pending))?.len();
                    anyhow::bail!("{e} ({pending} reports not sent yet)");
                }
            }
        }
        Command::Edit { id, fields } => {
            let mut input = DraftInput::from_submission(&store.current_report(&id)?);
            apply(&mut input, fields);
            let edit = store.edit_report(&id, &input, now)?;
            println!("queued edit {} of {id}", edit.edit_id);
            if let Some(note) = edit.note {
                println!("note: {note}");
            }
        }
        Command::Reports => {
            for o in store.outbox(None)? {
                let state = match o.state {
                    OutboxState::Pending => "not sent yet",
                    OutboxState::Sent => "sent",
                };
                println!(
                    "{}  {}  {}  {}",
                    o.id, o.report.category, state, o.report.occurred_at
                );
                for e in store.edits(Some(&o.id))? {
                    let what = match (e.state, &e.rejected) {
                        (EditState::Pending, _) => "edit not sent yet".to_owned(),
                        (EditState::Applied, _) => {
                            format!("edit applied (version {})", e.version.unwrap_or_default())
                        }
                        (EditState::KeptAsRevision, _) => {
                            "edit kept for the moderators (the report had been moderated)".into()
                        }
                        (EditState::Rejected, Some((field, reason))) => {
                            format!("edit refused: {field} {reason}")
                        }
                        (EditState::Rejected, None) => "edit refused".into(),
                    };
                    println!("    {}  {what}", e.edit_id);
                }
            }
        }
        Command::Incidents(IncidentsCommand::Near {
            lat,
            lon,
            radius_m,
            limit,
        }) => {
            let centre = Location {
                lat,
                lon,
                accuracy_m: None,
            };
            for (d, i) in store.incidents_near(&centre, radius_m, limit)? {
                println!(
                    "{:>7.0} m  {}  {}  {}  {}",
                    d,
                    i.occurred_at.to_rfc3339(),
                    i.category.as_str(),
                    i.status.as_str(),
                    i.id
                );
            }
        }
        Command::Incidents(IncidentsCommand::List { limit }) => {
            for i in store.incidents(limit)? {
                println!(
                    "{}  {}  {}  {:.5},{:.5}  {}",
                    i.occurred_at.to_rfc3339(),
                    i.category.as_str(),
                    i.status.as_str(),
                    i.location.lat,
                    i.location.lon,
                    i.id
                );
            }
        }
        Command::Areas(AreasCommand::Add {
            name,
            lat,
            lon,
            radius_m,
            categories,
            min_severity,
            quiet,
            time_zone,
        }) => {
            let categories = categories
                .iter()
                .map(|c| c.parse::<Category>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("--categories: {e}"))?;
            let quiet_hours = match quiet {
                None => None,
                Some(q) => {
                    let (start, end) = q.split_once('-').context(
                        "--quiet: give the start and end as HH:MM-HH:MM, e.g. 22:00-07:00",
                    )?;
                    Some(QuietHours {
                        start: start.trim().to_owned(),
                        end: end.trim().to_owned(),
                        time_zone: time_zone.unwrap_or_default(),
                    })
                }
            };
            let spec = WatchAreaSpec {
                name,
                shape: Shape::Circle { lat, lon, radius_m },
                categories,
                min_severity,
                quiet_hours,
            };
            let area = store.save_area(None, spec, now)?;
            println!("{}", area.id);
        }
        Command::Areas(AreasCommand::List) => {
            for a in store.watch_areas()? {
                let shape = match &a.spec.shape {
                    Shape::Circle { lat, lon, radius_m } => {
                        format!("{lat:.5},{lon:.5} r={radius_m} m")
                    }
                    Shape::Polygon { points } => format!("polygon of {} points", points.len()),
                };
                let categories = if a.spec.categories.is_empty() {
                    "all categories".to_owned()
                } else {
                    let codes: Vec<&str> = a.spec.categories.iter().map(|c| c.as_str()).collect();
                    codes.join(",")
                };
                let state = match (&a.state, &a.last_error) {
                    (_, Some(why)) => why.clone(),
                    (AreaState::Synced, None) => "on the server".to_owned(),
                    (AreaState::Pending, None) => "sent on the next sync".to_owned(),
                };
                println!("{}  {}  {shape}  {categories}  {state}", a.id, a.spec.name);
            }
        }
        Command::Areas(AreasCommand::Delete { id }) => store.delete_area(&id, now)?,
        Command::Alerts { limit } => {
            for item in store.inbox(limit)? {
                let alert = &item.alert;
                let what = match &alert.body {
                    AlertBody::Incident { incident, areas } => format!(
                        "{} near {}: {}",
                        incident.category.label(),
                        areas.join(", "),
                        incident.place.as_deref().unwrap_or(&incident.summary)
                    ),
                    AlertBody::Digest {
                        incidents, areas, ..
                    } => format!("{} incidents near {}", incidents.len(), areas.join(", ")),
                    AlertBody::Retraction { incident_id } => {
                        format!("withdrawn: incident {incident_id}")
                    }
                };
                let flags = match (item.read, item.retracted) {
                    (_, true) => " (withdrawn)",
                    (false, false) => " (new)",
                    (true, false) => "",
                };
                println!("{:>5}  {}  {what}{flags}", alert.id, alert.at.to_rfc3339());
            }
        }
        Command::Hint { lat, lon, at } => {
            let hints = store.risk_hints()?.ok_or(vigil_app::HintError::NoModel)?;
            let at = at.unwrap_or_else(|| chrono::Local::now().fixed_offset());
            let hint = hints.hint(lat, lon, at)?;
            println!("{}: {}", hint.level.label(), hint.reason);
            println!(
                "(expected {:.2} reports a week in this cell; {:.1}× the city's typical place at this hour; model {})",
                hint.expected, hint.ratio, hint.model_version
            );
        }
        Command::Status => {
            match Session::load(&dir)? {
                Some(s) => println!("signed in as {} on {}", s.username, s.server),
                None => println!("not signed in"),
            }
            let outbox = store.outbox(None)?;
            let pending: Vec<_> = outbox
                .iter()
                .filter(|o| o.state == OutboxState::Pending)
                .collect();
            println!("drafts: {}", store.drafts()?.len());
            println!(
                "outbox: {} not sent yet, {} sent",
                pending.len(),
                outbox.len() - pending.len()
            );
            if let Some(why) = pending.iter().find_map(|o| o.last_error.as_deref()) {
                println!("  last attempt: {why}");
            }
            println!("cached incidents: {}", store.incident_count()?);
            println!("data: {}", store.path().display());
        }
    }
    Ok(())
}
