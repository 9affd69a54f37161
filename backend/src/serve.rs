//! `vigil serve`: opens the store, binds the API and shuts down gracefully.

use std::time::Duration;

use anyhow::Context;
use tokio::{net::TcpListener, sync::watch};

use crate::{
    api::{AppState, router},
    config::{Config, redact_url},
    db::Db,
    events::{DEAD_LETTER_TOPIC, INCIDENT_TOPIC},
    log::FileLog,
    relay::Relay,
    speed::{SharedViews, Speed},
};

/// How often an idle relay looks for new changes.
const RELAY_IDLE: Duration = Duration::from_millis(200);

/// Opens the embedded incident topic under `data_dir/log/`.
pub fn open_event_log(config: &Config) -> anyhow::Result<FileLog> {
    let dir = config.data_dir.join("log").join(INCIDENT_TOPIC);
    FileLog::open(&dir, config.events.partitions)
        .with_context(|| format!("cannot open the event log in {}", dir.display()))
}

/// Opens the embedded dead-letter topic for records the consumers cannot read.
pub fn open_dead_letters(config: &Config) -> anyhow::Result<FileLog> {
    let dir = config.data_dir.join("log").join(DEAD_LETTER_TOPIC);
    FileLog::open(&dir, 1)
        .with_context(|| format!("cannot open the dead-letter log in {}", dir.display()))
}

/// Runs the relay until Ctrl-C or SIGTERM.
pub async fn relay(config: Config) -> anyhow::Result<()> {
    let db = open_store(&config).await?;
    let log = open_event_log(&config)?;
    tracing::info!(store = db.engine(), topic = INCIDENT_TOPIC, "relay running");
    Relay::new(db.clone(), log, "incidents")
        .run(RELAY_IDLE, shutdown_signal())
        .await;
    db.close().await;
    Ok(())
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

/// Serves the API until Ctrl-C or SIGTERM, then drains open requests.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let db = open_store(&config).await?;
    let state = AppState::new(db.clone(), config.api());
    let listener = TcpListener::bind(config.listen).await.with_context(|| {
        format!(
            "cannot listen on {}; is another server using that port? Pass --listen",
            config.listen
        )
    })?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, store = db.engine(), data_dir = %config.data_dir.display(), "vigil listening on http://{addr}");
    // Embedded, one process plays every role: the relay and the speed layer run beside
    // the API, sharing one handle to the log so the consumer wakes on every append.
    let (stop, stopped) = watch::channel(());
    let stop_signal = |mut rx: watch::Receiver<()>| async move {
        let _ = rx.changed().await;
    };
    let mut tasks = Vec::new();
    let mut state = state;
    if config.database.url.is_none() {
        let log = open_event_log(&config)?;
        let dead_letters = open_dead_letters(&config)?;
        let views = SharedViews::default();
        state = state.with_views(views.clone());
        let metrics = state.metrics.pipeline.clone();
        let relay = Relay::new(db.clone(), log.clone(), "incidents").with_metrics(metrics.clone());
        tasks.push(tokio::spawn(
            relay.run(RELAY_IDLE, stop_signal(stopped.clone())),
        ));
        let speed = Speed::new(log, dead_letters, views).with_metrics(metrics);
        tasks.push(tokio::spawn(
            speed.run(RELAY_IDLE, stop_signal(stopped.clone())),
        ));
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    let _ = stop.send(());
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
