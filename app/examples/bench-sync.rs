//! The client side of `cargo xtask bench sync`: against a running server, pulls every
//! incident into an empty store, then pushes N reports drafted offline, and prints one
//! JSON line with the two wall times and this process's peak RSS.
//!
//! `bench-sync <server URL> <reports>`

use std::time::Instant;

use chrono::{TimeDelta, Utc};
use vigil_app::{DraftInput, Server, Store, sync};
use vigil_sync::Location;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(reports)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: bench-sync <server URL> <reports>");
    };
    let reports: u32 = reports.parse()?;
    let user = format!("bench{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let mut server = Server::new(&url, None)?;
    server.register(&user, "bench password 1234").await?;
    server.login(&user, "bench password 1234").await?;
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(&dir.path().join("vigil.db"))?;

    let started = Instant::now();
    let pulled = sync::pull_changes(&mut store, &server).await?;
    let pull = started.elapsed();

    let now = Utc::now();
    for i in 0..reports {
        let draft = store.new_draft(
            DraftInput {
                category: Some("theft".into()),
                occurred_at: Some(
                    (now - TimeDelta::minutes(i64::from(i % 1000) + 1))
                        .fixed_offset()
                        .to_rfc3339(),
                ),
                location: Some(Location {
                    lat: 43.6 + f64::from(i % 300) * 0.0007,
                    lon: -79.5 + f64::from(i / 300) * 0.0007,
                    accuracy_m: Some(10.0),
                }),
                place: None,
                description: format!("Offline report {i}: bike taken from the rack"),
                anonymous: false,
            },
            now,
        )?;
        store.submit(&draft.id, now)?;
    }
    let started = Instant::now();
    let pushed = sync::push_outbox(&mut store, &server).await?;
    let push = started.elapsed();
    anyhow::ensure!(
        pushed.sent == reports as usize,
        "sent {} of {reports}",
        pushed.sent
    );

    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({
            "pulled": pulled,
            "pull_s": pull.as_secs_f64(),
            "pushed": pushed.sent,
            "push_s": push.as_secs_f64(),
            "peak_rss_kb": peak_kb,
        })
    );
    Ok(())
}
