//! The long-running roles: `vigil serve`, `vigil relay`, `vigil speed` and `vigil archive`.
//! Each opens the engines its configuration names and shuts down gracefully on Ctrl-C or
//! SIGTERM.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{Router, http::header, routing::get};
use tokio::{net::TcpListener, sync::watch};

use crate::{
    alerts::{Matcher, notify::Notifier},
    api::{AppState, metrics::Metrics, router},
    archive::{Archive, ArchiveOptions},
    config::{Config, redact_url},
    db::Db,
    log::{EventLog, FileLog, KafkaConsumer, KafkaLog, LogConsumer, Start, kafka::rewind_group},
    push::{Push, Pusher},
    relay::Relay,
    speed::{SharedViews, Speed, SpeedOptions, ViewStore, redis::RedisViews},
};

/// How often an idle relay looks for new changes, and how long an idle consumer waits.
const IDLE: Duration = Duration::from_millis(200);

/// The incident topic the config names: Kafka when `kafka.brokers` is set, else the
/// embedded log under `data_dir/log/`.
pub fn open_event_log(config: &Config) -> anyhow::Result<EventLog> {
    let topic = &config.events.topic;
    if config.kafka.brokers.is_some() {
        return Ok(EventLog::Kafka(
            KafkaLog::new(&config.kafka, topic, config.events.partitions).context(
                "cannot set up the Kafka producer; check kafka.brokers and kafka.client",
            )?,
        ));
    }
    Ok(EventLog::File(open_file_log(config)?))
}

/// The embedded incident topic under `data_dir/log/`.
pub fn open_file_log(config: &Config) -> anyhow::Result<FileLog> {
    let dir = config.data_dir.join("log").join(&config.events.topic);
    FileLog::open(&dir, config.events.partitions)
        .with_context(|| format!("cannot open the event log in {}", dir.display()))
}

/// The dead-letter topic for records the consumers cannot read (one partition).
pub fn open_dead_letters(config: &Config) -> anyhow::Result<EventLog> {
    let topic = config.events.dead_letter_topic();
    if config.kafka.brokers.is_some() {
        return Ok(EventLog::Kafka(
            KafkaLog::new(&config.kafka, &topic, 1)
                .context("cannot set up the Kafka producer for the dead-letter topic")?,
        ));
    }
    let dir = config.data_dir.join("log").join(&topic);
    Ok(EventLog::File(FileLog::open(&dir, 1).with_context(
        || format!("cannot open the dead-letter log in {}", dir.display()),
    )?))
}

/// The Redis views the config names, if any.
pub fn open_redis_views(config: &Config) -> anyhow::Result<Option<ViewStore>> {
    let Some(url) = &config.redis.url else {
        return Ok(None);
    };
    let views = RedisViews::open(url, &config.redis.key_prefix)
        .with_context(|| format!("redis.url {} is not a valid Redis URL", redact_url(url)))?;
    Ok(Some(ViewStore::redis(views, config.retention())))
}

/// The alert wake-ups the config names: through Redis when `redis.url` is set (the
/// matcher and the streams may be in different processes), else within this process.
pub fn open_notifier(config: &Config) -> anyhow::Result<Notifier> {
    match &config.redis.url {
        Some(url) => Notifier::with_redis(url, &config.redis.key_prefix)
            .with_context(|| format!("redis.url {} is not a valid Redis URL", redact_url(url))),
        None => Ok(Notifier::local()),
    }
}

/// The push providers and their worker, when `push.enabled`.
fn open_push(
    config: &Config,
    db: &Db,
    metrics: &crate::alerts::metrics::AlertMetrics,
) -> anyhow::Result<Option<(Arc<Push>, crate::push::PushQueue, Pusher)>> {
    if !config.push.enabled {
        return Ok(None);
    }
    let push = Arc::new(Push::from_config(&config.push, &config.data_dir).context("[push]")?);
    let (queue, pusher) = Pusher::new(db.clone(), push.clone());
    Ok(Some((push, queue, pusher.with_metrics(metrics.clone()))))
}

/// Opens the store the config names: PostgreSQL when `database.url` is set, else the
/// embedded SQLite store in `data_dir`.
pub async fn open_store(config: &Config) -> anyhow::Result<Db> {
    match &config.database.url {
        Some(url) => Db::open_postgres(url, config.database.max_connections)
            .await
            .with_context(|| {
                format!(
                    "cannot open PostgreSQL at {}; is it running and is the URL right?",
                    redact_url(url)
                )
            }),
        None => Db::open_sqlite(&config.data_dir).await.with_context(|| {
            format!(
                "cannot open the embedded store in {}; check the directory's permissions",
                config.data_dir.display()
            )
        }),
    }
}

/// The `/metrics` and `/healthz` endpoints of a role without the API.
struct MetricsServer {
    metrics: Arc<Metrics>,
    stop: watch::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    async fn start(addr: SocketAddr) -> anyhow::Result<MetricsServer> {
        let metrics = Arc::new(Metrics::default());
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("cannot serve metrics on {addr}; is the port taken? Set metrics_listen")
        })?;
        let app = Router::new()
            .route(
                "/metrics",
                get(
                    |axum::extract::State(m): axum::extract::State<Arc<Metrics>>| async move {
                        (
                            [(
                                header::CONTENT_TYPE,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )],
                            m.render(),
                        )
                    },
                ),
            )
            .route("/healthz", get(|| async { "ok\n" }))
            .with_state(metrics.clone());
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "metrics on http://{addr}/metrics");
        let (stop, stopped) = watch::channel(());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(wait_for(stopped))
                .await;
        });
        Ok(MetricsServer {
            metrics,
            stop,
            task,
        })
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Runs the relay until Ctrl-C or SIGTERM.
pub async fn relay(config: Config) -> anyhow::Result<()> {
    let db = open_store(&config).await?;
    let log = open_event_log(&config)?;
    let server = MetricsServer::start(config.relay.metrics_listen).await?;
    tracing::info!(store = db.engine(), log = log.engine(), topic = %config.events.topic, "relay running");
    Relay::new(db.clone(), log.clone(), "incidents")
        .with_batch(config.relay.batch)
        .with_metrics(server.metrics.pipeline.clone())
        .run(IDLE, shutdown_signal())
        .await;
    if let EventLog::Kafka(k) = &log {
        let _ = k.flush(Duration::from_secs(5));
    }
    server.stop().await;
    db.close().await;
    Ok(())
}

/// What `vigil ingest` should do.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Run each source once, print the summary and return (else run on schedules).
    pub once: bool,
    /// Only these sources (else every enabled one).
    pub sources: Vec<String>,
    /// Forget these sources' checkpoints first.
    pub reset: Vec<String>,
    pub progress: bool,
}

/// `vigil ingest`: the configured public feeds into the store (and from there, by the
/// relay, onto the incident topic). With `once`, prints the per-source summary and fails
/// if any source failed; otherwise runs every source on its schedule until Ctrl-C or
/// SIGTERM, serving /metrics on ingest.metrics_listen.
pub async fn ingest(config: Config, options: IngestOptions) -> anyhow::Result<()> {
    use crate::ingest::{Runner, run_once, run_scheduled};
    let db = open_store(&config).await?;
    for name in &options.reset {
        anyhow::ensure!(
            config.ingest.sources.iter().any(|s| &s.name == name),
            "--reset {name}: no ingest source has that name"
        );
        let had = db.reset_checkpoint(name).await?;
        tracing::info!(source = %name, had_checkpoint = had, "checkpoint reset");
    }
    if options.once {
        let runner = Runner::new(
            db.clone(),
            &config.ingest,
            Default::default(),
            options.progress,
        )?;
        let summary = run_once(&runner, &config.ingest, &options.sources).await;
        db.close().await;
        let summary = summary?;
        print!("{summary}");
        let failed = summary.failed();
        anyhow::ensure!(
            failed.is_empty(),
            "{} of {} sources failed ({}); what they stored before failing stays, and the next run resumes from their checkpoints",
            failed.len(),
            summary.sources.len(),
            failed
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(());
    }
    let server = MetricsServer::start(config.ingest.metrics_listen).await?;
    let runner = Runner::new(
        db.clone(),
        &config.ingest,
        server.metrics.ingest.clone(),
        options.progress,
    )?;
    let (stop, stopped) = watch::channel(false);
    let signal = tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    tracing::info!(
        store = db.engine(),
        sources = config.ingest.sources.len(),
        "ingest running"
    );
    let result = run_scheduled(&runner, &config.ingest, &options.sources, stopped).await;
    signal.abort();
    server.stop().await;
    db.close().await;
    result
}

/// Joins consumer group `group` on the incident topic, retrying while Kafka is unreachable.
async fn join_group(config: &Config, group: &str) -> anyhow::Result<LogConsumer> {
    if config.kafka.brokers.is_none() {
        let log = open_file_log(config)?;
        return Ok(LogConsumer::file(log, group, Start::Committed)?);
    }
    let mut backoff = Duration::from_millis(500);
    loop {
        match KafkaConsumer::join(
            &config.kafka,
            &config.events.topic,
            config.events.partitions,
            group,
        )
        .await
        {
            Ok(c) => return Ok(LogConsumer::Kafka(c)),
            Err(error) => {
                tracing::warn!(%error, retry_in = ?backoff, "cannot join the consumer group yet");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// `vigil speed [--rebuild]`: keeps the Redis views until Ctrl-C or SIGTERM. With
/// `rebuild`, first rewinds the consumer group and clears the views, so they are rebuilt
/// from the whole topic.
pub async fn speed(config: Config, rebuild: bool) -> anyhow::Result<()> {
    let views = open_redis_views(&config)?.context(
        "vigil speed keeps its views in Redis: set redis.url (VIGIL_REDIS__URL). \
         Embedded, `vigil serve` keeps the views in process instead",
    )?;
    if rebuild {
        match &config.kafka.brokers {
            Some(_) => rewind_group(
                &config.kafka,
                &config.events.topic,
                config.events.partitions,
                &config.speed.group,
            )
            .await
            .context("cannot rewind the speed layer's consumer group")?,
            None => {
                let log = open_file_log(&config)?;
                log.commit(&config.speed.group, &vec![0; log.partitions() as usize])?;
            }
        }
        let cleared = views
            .clear()
            .await
            .context("cannot clear the views in Redis; is it running?")?;
        tracing::info!(
            cleared,
            "views cleared; rebuilding from the start of the topic"
        );
    }
    let server = MetricsServer::start(config.speed.metrics_listen).await?;
    let consumer = tokio::select! {
        c = join_group(&config, &config.speed.group) => c?,
        () = shutdown_signal() => return Ok(()),
    };
    let dead_letters = open_dead_letters(&config)?;
    tracing::info!(views = views.engine(), group = %config.speed.group, topic = %config.events.topic, "speed layer running");
    let options = SpeedOptions {
        batch: config.speed.batch as usize,
        idle: IDLE,
        commit: true,
    };
    let speed = Speed::new(consumer, dead_letters, views, options)
        .with_metrics(server.metrics.pipeline.clone())
        .run(shutdown_signal());
    if config.alerts.enabled {
        let db = open_store(&config).await?;
        let consumer = tokio::select! {
            c = join_group(&config, &config.alerts.group) => c?,
            () = shutdown_signal() => return Ok(()),
        };
        tracing::info!(store = db.engine(), group = %config.alerts.group, "alert matcher running");
        let mut matcher = Matcher::new(
            consumer,
            db.clone(),
            open_notifier(&config)?,
            config.alert_options(),
        )
        .with_metrics(server.metrics.alerts.clone());
        let pusher = match open_push(&config, &db, &server.metrics.alerts)? {
            Some((_, queue, pusher)) => {
                matcher = matcher.with_push(queue);
                Some(tokio::spawn(pusher.run(shutdown_signal())))
            }
            None => None,
        };
        tokio::join!(speed, matcher.run(shutdown_signal()));
        if let Some(task) = pusher {
            task.abort();
        }
        db.close().await;
    } else {
        speed.await;
    }
    server.stop().await;
    Ok(())
}

fn archive_options(config: &Config) -> ArchiveOptions {
    ArchiveOptions {
        batch: 5_000,
        idle: IDLE,
        max_rows: config.archive.max_rows as usize,
        max_age: Duration::from_secs(u64::from(config.archive.max_seconds)),
    }
}

/// `vigil archive`: writes every incident change to the lake until Ctrl-C or SIGTERM.
pub async fn archive(config: Config) -> anyhow::Result<()> {
    let lake = config.lake()?;
    let server = MetricsServer::start(config.archive.metrics_listen).await?;
    let consumer = tokio::select! {
        c = join_group(&config, &config.archive.group) => c?,
        () = shutdown_signal() => return Ok(()),
    };
    tracing::info!(lake = %lake.describe(), group = %config.archive.group, topic = %config.events.topic, "archive running");
    Archive::new(consumer, lake, archive_options(&config))
        .with_metrics(server.metrics.pipeline.clone())
        .run(shutdown_signal())
        .await;
    server.stop().await;
    Ok(())
}

async fn wait_for(mut rx: watch::Receiver<()>) {
    let _ = rx.changed().await;
}

/// Serves the API until Ctrl-C or SIGTERM, then drains open requests.
/// The retention policy for raw reports: every hour, residents' reports older than `days`
/// lose their precise location, typed place and reporter link (`Db::coarsen_reports`).
async fn retention(db: Db, days: u32, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let now = chrono::Utc::now();
        let cutoff = (now - chrono::TimeDelta::days(i64::from(days))).timestamp_millis();
        loop {
            match db
                .coarsen_reports(cutoff, 500, now.timestamp_millis())
                .await
            {
                Ok(0) => break,
                Ok(n) => tracing::info!(reports = n, days, "retention: coarsened old reports"),
                Err(error) => {
                    tracing::warn!(%error, "retention: cannot coarsen old reports; trying again in an hour");
                    break;
                }
            }
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(Duration::from_secs(3_600)) => {}
        }
    }
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let db = open_store(&config).await?;
    let batch = config.batch_store().await?;
    let mut state = AppState::new(db.clone(), config.api()).with_batch(batch);
    state.risk = crate::risk::publish::RiskServing::new(config.lake()?);
    let listener = TcpListener::bind(config.listen).await.with_context(|| {
        format!(
            "cannot listen on {}; is another server using that port? Pass --listen",
            config.listen
        )
    })?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, store = db.engine(), data_dir = %config.data_dir.display(), "vigil listening on http://{addr}");
    let (stop, stopped) = watch::channel(());
    let mut tasks = Vec::new();
    if config.privacy.raw_report_days > 0 {
        tasks.push(tokio::spawn(retention(
            db.clone(),
            config.privacy.raw_report_days,
            wait_for(stopped.clone()),
        )));
    }
    let redis_views = open_redis_views(&config)?;
    if let Some(views) = &redis_views {
        state = state.with_views(views.clone());
    }
    let notifier = open_notifier(&config)?;
    state = state.with_notifier(notifier.clone());
    let push = open_push(&config, &db, &state.metrics.alerts)?;
    if let Some((push, ..)) = &push {
        state.vapid_public_key = Some(push.vapid_public_key().into());
    }
    // Scale-out, the matcher runs in `vigil speed`: its wake-ups arrive through Redis.
    let listener_task = (config.kafka.brokers.is_some() && config.redis.url.is_some())
        .then(|| tokio::spawn(notifier.clone().listen()));
    // With the embedded log, this process plays the relay, the speed layer and the archive
    // too, sharing one handle to the log so the consumers wake on every append. With Kafka,
    // `vigil relay`, `vigil speed` and `vigil archive` run as their own processes.
    if config.kafka.brokers.is_none() {
        let file = open_file_log(&config)?;
        let dead_letters = open_dead_letters(&config)?;
        let metrics = state.metrics.pipeline.clone();
        let relay = Relay::new(db.clone(), EventLog::File(file.clone()), "incidents")
            .with_batch(config.relay.batch)
            .with_metrics(metrics.clone());
        tasks.push(tokio::spawn(relay.run(IDLE, wait_for(stopped.clone()))));
        // Views in Redis survive restarts, so the consumer resumes from its commits; views
        // in memory are rebuilt from the start of the log.
        let (views, consumer, commit) = match redis_views {
            Some(views) => (
                views,
                LogConsumer::file(file.clone(), &config.speed.group, Start::Committed)?,
                true,
            ),
            None => {
                let views = ViewStore::memory(SharedViews::default(), config.retention());
                state = state.with_views(views.clone());
                (
                    views,
                    LogConsumer::file(file.clone(), &config.speed.group, Start::Beginning)?,
                    false,
                )
            }
        };
        let options = SpeedOptions {
            batch: config.speed.batch as usize,
            idle: IDLE,
            commit,
        };
        let speed =
            Speed::new(consumer, dead_letters, views, options).with_metrics(metrics.clone());
        tasks.push(tokio::spawn(speed.run(wait_for(stopped.clone()))));
        let archive = Archive::new(
            LogConsumer::file(file.clone(), &config.archive.group, Start::Committed)?,
            config.lake()?,
            archive_options(&config),
        )
        .with_metrics(metrics);
        tasks.push(tokio::spawn(archive.run(wait_for(stopped.clone()))));
        if config.alerts.enabled {
            let mut matcher = Matcher::new(
                LogConsumer::file(file.clone(), &config.alerts.group, Start::Committed)?,
                db.clone(),
                notifier.clone(),
                config.alert_options(),
            )
            .with_metrics(state.metrics.alerts.clone());
            if let Some((_, queue, pusher)) = push {
                matcher = matcher.with_push(queue);
                tasks.push(tokio::spawn(pusher.run(wait_for(stopped.clone()))));
            }
            tasks.push(tokio::spawn(matcher.run(wait_for(stopped.clone()))));
        }
    }
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    let _ = stop.send(());
    if let Some(task) = listener_task {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
    db.close().await;
    tracing::info!("vigil stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
