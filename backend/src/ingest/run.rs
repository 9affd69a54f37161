//! Running sources: page by page into the store with their checkpoints, once or on their
//! schedules, each on its own so one failing source never stops the others.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    time::{Duration, Instant},
};

use anyhow::Context;
use chrono::Utc;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::Value;
use tokio::sync::watch;

use super::{
    FeedRecord, IntoIncident, Page,
    arcgis::{self, ArcGis},
    config::{IngestConfig, Kind, SourceConfig},
    files::{self, CsvSource},
    http::{Http, RetryPolicy},
    json_feed::{self, JsonFeed},
    metrics::IngestMetrics,
    police_uk::{self, PoliceUk},
    socrata::{self, Socrata},
    taxonomy::{Mapped, Unmapped},
};
use crate::db::{Db, FeedOutcome};

/// One source's connector (one per run, so its size does not matter).
#[allow(clippy::large_enum_variant)]
enum Connector {
    Socrata(Socrata),
    ArcGis(ArcGis),
    PoliceUk(PoliceUk),
    Csv(CsvSource),
    Json(JsonFeed),
}

fn position<T: serde::de::DeserializeOwned>(source: &str, value: Value) -> anyhow::Result<T> {
    serde_json::from_value(value).with_context(|| {
        format!(
            "the checkpoint of source {source:?} is not one this kind of source writes; \
             run `vigil ingest --reset {source}` to start it again from the beginning"
        )
    })
}

impl Connector {
    fn new(config: &SourceConfig) -> anyhow::Result<Connector> {
        let page = config.page_size;
        Ok(match config.kind()? {
            Kind::Socrata => Connector::Socrata(Socrata::new(
                config.socrata.clone().context("socrata")?,
                page,
            )),
            Kind::ArcGis => {
                Connector::ArcGis(ArcGis::new(config.arcgis.clone().context("arcgis")?, page))
            }
            Kind::PoliceUk => Connector::PoliceUk(PoliceUk::new(
                config.police_uk.clone().context("police_uk")?,
            )),
            Kind::Csv => Connector::Csv(CsvSource::new(
                config.csv.clone().context("csv")?,
                &config.name,
                page,
            )),
            Kind::Json => Connector::Json(JsonFeed::new(
                config.json.clone().context("json")?,
                &config.name,
            )?),
        })
    }

    async fn page(&mut self, source: &str, http: &Http, at: Value) -> anyhow::Result<Page> {
        Ok(match self {
            Connector::Socrata(c) => {
                c.page(http, position::<socrata::Position>(source, at)?)
                    .await?
            }
            Connector::ArcGis(c) => {
                c.page(http, position::<arcgis::Position>(source, at)?)
                    .await?
            }
            Connector::PoliceUk(c) => {
                c.page(http, position::<police_uk::Position>(source, at)?)
                    .await?
            }
            Connector::Csv(c) => c.page(position::<files::Position>(source, at)?).await?,
            Connector::Json(c) => {
                position::<json_feed::Position>(source, at)?;
                c.page(http).await?
            }
        })
    }
}

/// What one run of one source did.
#[derive(Debug, Clone, Default)]
pub struct SourceSummary {
    pub name: String,
    pub kind: &'static str,
    pub pages: u64,
    /// Records (rows) read from the source.
    pub read: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Refused records by reason: how many, and the first record's id.
    pub rejected: BTreeMap<String, (u64, String)>,
    pub unmapped: Unmapped,
    pub took: Duration,
    /// Why the run stopped early; what was stored before stays stored.
    pub error: Option<String>,
}

impl SourceSummary {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().map(|(n, _)| n).sum()
    }
}

/// What a run of every source did.
#[derive(Debug, Clone, Default)]
pub struct IngestSummary {
    pub sources: Vec<SourceSummary>,
}

impl IngestSummary {
    pub fn failed(&self) -> Vec<&SourceSummary> {
        self.sources.iter().filter(|s| s.error.is_some()).collect()
    }
}

impl fmt::Display for SourceSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<20} {:<9} {:>6} {:>9} {:>9} {:>8} {:>9} {:>8} {:>8} {:>7.1}s  {}",
            self.name,
            self.kind,
            self.pages,
            self.read,
            self.inserted,
            self.updated,
            self.unchanged,
            self.rejected_total(),
            self.unmapped.total(),
            self.took.as_secs_f64(),
            match &self.error {
                None => "ok".to_owned(),
                Some(e) => format!("FAILED: {e}"),
            }
        )?;
        for (reason, (n, first)) in &self.rejected {
            writeln!(f, "    rejected {n:>7} × {reason} (first: {first})")?;
        }
        for (scheme, label, n) in self.unmapped.by_count() {
            writeln!(
                f,
                "    unmapped {n:>7} × {label:?} ({scheme}; stored as other)"
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for IngestSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<20} {:<9} {:>6} {:>9} {:>9} {:>8} {:>9} {:>8} {:>8} {:>8}  status",
            "source",
            "kind",
            "pages",
            "read",
            "new",
            "updated",
            "unchanged",
            "rejected",
            "unmapped",
            "time"
        )?;
        for s in &self.sources {
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

/// What the sources share: the store, one HTTP connection pool, metrics, progress.
#[derive(Clone)]
pub struct Runner {
    pub db: Db,
    pub client: reqwest::Client,
    pub metrics: IngestMetrics,
    pub progress: MultiProgress,
}

impl Runner {
    pub fn new(
        db: Db,
        config: &IngestConfig,
        metrics: IngestMetrics,
        progress: bool,
    ) -> anyhow::Result<Runner> {
        let client = reqwest::Client::builder()
            .user_agent(&config.user_agent)
            .timeout(Duration::from_secs(config.timeout_seconds.max(1).into()))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("cannot build the HTTP client")?;
        let progress = if progress {
            MultiProgress::new()
        } else {
            MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden())
        };
        Ok(Runner {
            db,
            client,
            metrics,
            progress,
        })
    }
}

/// Runs one source from its checkpoint to the end of what it has now.
pub async fn run_source(ctx: &Runner, config: &SourceConfig) -> SourceSummary {
    let start = Instant::now();
    let mut summary = SourceSummary {
        name: config.name.clone(),
        kind: config.kind().map(|k| k.as_str()).unwrap_or("?"),
        ..SourceSummary::default()
    };
    let bar = ctx.progress.add(ProgressBar::new_spinner());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix:<20} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_prefix(config.name.clone());
    bar.enable_steady_tick(Duration::from_millis(200));
    let result = pages(ctx, config, &mut summary, &bar).await;
    bar.finish_and_clear();
    summary.took = start.elapsed();
    ctx.metrics
        .run(&config.name, result.is_ok(), Utc::now().timestamp());
    if let Err(error) = result {
        let message = format!("{error:#}");
        tracing::error!(source = %config.name, error = %message, "ingest run failed; the next run resumes from the checkpoint");
        summary.error = Some(message);
    } else {
        tracing::info!(
            source = %config.name,
            pages = summary.pages,
            read = summary.read,
            inserted = summary.inserted,
            updated = summary.updated,
            rejected = summary.rejected_total(),
            "ingest run done"
        );
    }
    summary
}

async fn pages(
    ctx: &Runner,
    config: &SourceConfig,
    summary: &mut SourceSummary,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let name = config.name.as_str();
    let mut connector = Connector::new(config)?;
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = config.socrata.as_ref().and_then(|s| s.app_token.as_deref()) {
        headers.insert(
            "X-App-Token",
            token
                .parse()
                .context("socrata.app_token is not a valid header value")?,
        );
    }
    let http = Http::new(
        ctx.client.clone(),
        name,
        config.requests_per_second,
        RetryPolicy {
            retries: config.retries,
            backoff: Duration::from_millis(config.backoff_ms),
        },
        headers,
        ctx.metrics.clone(),
    );
    let stored = ctx
        .db
        .checkpoint(name)
        .await
        .context("cannot read the checkpoint")?;
    let mut at: Value = match stored {
        Some(text) => serde_json::from_str(&text).with_context(|| {
            format!(
                "the checkpoint of source {name:?} is not JSON; run `vigil ingest --reset {name}`"
            )
        })?,
        None => Value::Object(Default::default()),
    };
    loop {
        bar.set_message(format!(
            "page {}: {} read, {} new, {} updated",
            summary.pages + 1,
            summary.read,
            summary.inserted,
            summary.updated
        ));
        let page = connector.page(name, &http, at).await?;
        at = page.next.clone();
        let done = page.done;
        store_page(ctx, name, page, summary).await?;
        summary.pages += 1;
        if done {
            return Ok(());
        }
    }
}

/// Stores one page's incidents and the source's next position in one transaction.
async fn store_page(
    ctx: &Runner,
    source: &str,
    page: Page,
    summary: &mut SourceSummary,
) -> anyhow::Result<()> {
    let fetched_at = Utc::now();
    let now_ms = fetched_at.timestamp_millis();
    let mut tx = ctx.db.begin_write().await?;
    let mut items = Vec::with_capacity(page.records.len());
    let mut slot = HashMap::with_capacity(page.records.len());
    let mut rejected: Vec<(String, String)> = Vec::new();
    let mut unmapped = Unmapped::default();
    let read = page.records.len() as u64;
    for record in page.records {
        let record = match record {
            Ok(r) => r,
            Err(rej) => {
                rejected.push((rej.reason, rej.record_id.unwrap_or_else(|| "?".into())));
                continue;
            }
        };
        let record = match record.part_id.clone() {
            Some(part) => {
                // A row that is not a valid incident on its own is rejected, not kept as a
                // part of its record.
                if let Err(reason) = record.clone().into_incident(source, &page.url, fetched_at) {
                    rejected.push((reason, record.record_id.clone()));
                    continue;
                }
                let body = serde_json::to_string(&record)?;
                let bodies = tx
                    .put_feed_part(source, &record.record_id, &part, &body)
                    .await?;
                let parts: Vec<FeedRecord> = bodies
                    .iter()
                    .filter_map(|b| serde_json::from_str(b).ok())
                    .collect();
                FeedRecord::merge(parts).unwrap_or(record)
            }
            None => record,
        };
        let record_id = record.record_id.clone();
        let label = record.unmapped_in.clone().zip(Some(record.label.clone()));
        match record.into_incident(source, &page.url, fetched_at) {
            Ok(item) => {
                if let Some((scheme, label)) = label {
                    unmapped.note(
                        &scheme,
                        &Mapped {
                            category: item.incident.category,
                            label,
                            known: false,
                        },
                    );
                }
                // A record twice in one page (rows of one event): the last state counts.
                match slot.get(&item.incident.id) {
                    Some(&i) => items[i] = item,
                    None => {
                        slot.insert(item.incident.id, items.len());
                        items.push(item);
                    }
                }
            }
            Err(reason) => rejected.push((reason, record_id)),
        }
    }
    let outcomes = tx.store_feed_records(&items, now_ms).await?;
    tx.save_checkpoint(source, &page.next.to_string(), now_ms)
        .await?;
    tx.commit().await?;
    // Counted only once durable.
    summary.read += read;
    let m = &ctx.metrics;
    for outcome in outcomes {
        let (count, name) = match outcome {
            FeedOutcome::Inserted => (&mut summary.inserted, "inserted"),
            FeedOutcome::Updated => (&mut summary.updated, "updated"),
            FeedOutcome::Unchanged => (&mut summary.unchanged, "unchanged"),
        };
        *count += 1;
        m.records(source, name, 1);
    }
    m.records(source, "rejected", rejected.len() as u64);
    m.records(source, "unmapped", unmapped.total());
    for (reason, first) in rejected {
        summary.rejected.entry(reason).or_insert((0, first)).0 += 1;
    }
    summary.unmapped.merge(&unmapped);
    Ok(())
}

/// The enabled sources, or only those named (an unknown name is an error).
fn chosen<'a>(config: &'a IngestConfig, only: &[String]) -> anyhow::Result<Vec<&'a SourceConfig>> {
    for name in only {
        anyhow::ensure!(
            config.sources.iter().any(|s| &s.name == name),
            "no ingest source is named {name:?}; configured: {}",
            config
                .sources
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let sources: Vec<&SourceConfig> = config
        .sources
        .iter()
        .filter(|s| {
            if only.is_empty() {
                s.enabled
            } else {
                only.contains(&s.name)
            }
        })
        .collect();
    anyhow::ensure!(
        !sources.is_empty(),
        "no ingest sources to run: add [[ingest.sources]] to the config file (see README.md)"
    );
    Ok(sources)
}

/// Runs every chosen source once, side by side, and sums up.
pub async fn run_once(
    ctx: &Runner,
    config: &IngestConfig,
    only: &[String],
) -> anyhow::Result<IngestSummary> {
    let sources = chosen(config, only)?;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, source) in sources.iter().enumerate() {
        let ctx = ctx.clone();
        let source = (*source).clone();
        ctx.metrics.known_source(&source.name);
        tasks.spawn(async move {
            let summary = run_source(&ctx, &source).await;
            (i, summary)
        });
    }
    let mut out: Vec<Option<SourceSummary>> = vec![None; sources.len()];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, summary)) => out[i] = Some(summary),
            Err(e) => tracing::error!(error = %e, "an ingest task panicked"),
        }
    }
    Ok(IngestSummary {
        sources: out
            .into_iter()
            .zip(&sources)
            .map(|(s, c)| {
                s.unwrap_or_else(|| SourceSummary {
                    name: c.name.clone(),
                    error: Some("the run panicked (see the log)".into()),
                    ..SourceSummary::default()
                })
            })
            .collect(),
    })
}

/// Runs every chosen source on its schedule until `stop` fires. Each source runs in its
/// own task, at start and then every `every` after the previous run began.
pub async fn run_scheduled(
    ctx: &Runner,
    config: &IngestConfig,
    only: &[String],
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let sources = chosen(config, only)?;
    let mut tasks = tokio::task::JoinSet::new();
    for source in sources {
        let every = source.every()?;
        let ctx = ctx.clone();
        let source = source.clone();
        let mut stop = stop.clone();
        ctx.metrics.known_source(&source.name);
        tasks.spawn(async move {
            loop {
                let began = tokio::time::Instant::now();
                // Stopping mid-page is safe: the page's transaction rolls back and the
                // next start resumes from the checkpoint.
                // (run_source logs and counts what the run did.)
                tokio::select! {
                    _ = run_source(&ctx, &source) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                    let next = began + every;
                tracing::info!(source = %source.name, next_in_s = next.saturating_duration_since(tokio::time::Instant::now()).as_secs(), "next run scheduled");
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            tracing::error!(error = %e, "an ingest source task panicked; the others go on");
        }
    }
    Ok(())
}
