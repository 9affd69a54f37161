//! Faults that must lose nothing, on the real engines: Kafka stopped while reports are
//! pushed, `vigil speed` killed mid-run and restarted, Redis views flushed and rebuilt,
//! S3 stopped while the archive runs, Cassandra stopped under queries and a batch.
//!
//! These stop and restart shared engines, so `cargo xtask test` runs them on their own,
//! one at a time, after the other tests (see `.config/nextest.toml`).

mod common;

use std::{
    collections::BTreeSet,
    process::{Child, Command},
    time::{Duration, Instant},
};

use chrono::NaiveDate;
use chrono::{TimeDelta, Utc};
use common::{
    Engine,
    pipeline::{
        LogKind, Pipeline, ViewKind, cassandra_store, consume, kafka_config, redis_url, s3_lake,
        unique,
    },
    report,
};
use serde_json::Value;
use tokio::sync::watch;
use vigil_backend::{
    archive::{Archive, ArchiveOptions},
    batch,
    config::OnCorrupt,
    lake::{INCIDENTS_PREFIX, Lake, parquet::from_parquet},
    relay::Relay,
    serving::{Area, Counts, Layers, TrendBy, Trends},
    speed::{SpeedOptions, redis::RedisViews, views::Seen},
};
use vigil_sync::{AreaCell, Location};

/// `n` reports spread over central Toronto (about 10 km across).
fn reports(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let (a, b) = ((i * 7919) % 1000, (i * 104_729) % 1000);
            report(43.62 + a as f64 * 0.0001, -79.45 + b as f64 * 0.00015)
        })
        .collect()
}

async fn push_all(p: &Pipeline, token: &str, reports: &[Value]) {
    for chunk in reports.chunks(500) {
        p.app.push_accepted(token, chunk.to_vec()).await;
    }
}

fn cells(reports: &[Value]) -> BTreeSet<AreaCell> {
    reports
        .iter()
        .map(|r| {
            let loc: Location = serde_json::from_value(r["location"].clone()).unwrap();
            AreaCell::of(&loc, 8).unwrap()
        })
        .collect()
}

/// Everything the views can say about `reports`: the sum of the counts of their cells and
/// every listed incident near the middle.
async fn snapshot(views: &RedisViews, reports: &[Value]) -> (u64, Vec<(String, Seen)>) {
    let now = Utc::now();
    let mut total = 0;
    for cell in cells(reports) {
        total += views
            .counts(cell, now - TimeDelta::days(2), now + TimeDelta::days(1))
            .await
            .unwrap()
            .iter()
            .map(|c| c.2)
            .sum::<u64>();
    }
    let centre = Location {
        lat: 43.67,
        lon: -79.375,
        accuracy_m: None,
    };
    let near = views
        .near(
            &centre,
            20_000.0,
            now - TimeDelta::days(2),
            now + TimeDelta::days(1),
            100_000,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|(d, s)| (format!("{d:.1}"), s))
        .collect();
    (total, near)
}

/// Waits until the views have taken in `n` distinct incidents; returns how long it took.
async fn wait_for_seen(views: &RedisViews, n: u64, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let seen = views.seen().await.unwrap();
        assert!(seen <= n, "{seen} incidents seen, only {n} exist");
        if seen == n {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "only {seen} of {n} incidents visible after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `vigil speed` as its own process, configured for `p`'s topic and key prefix.
fn spawn_speed(p: &Pipeline, group: &str, rebuild: bool) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    cmd.arg("speed")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("VIGIL_DATA_DIR", p.data_dir())
        .env("VIGIL_KAFKA__BROKERS", kafka_config().brokers.unwrap())
        .env("VIGIL_REDIS__URL", redis_url())
        .env("VIGIL_REDIS__KEY_PREFIX", &p.prefix)
        .env("VIGIL_EVENTS__TOPIC", &p.topic)
        .env("VIGIL_EVENTS__PARTITIONS", "4")
        .env("VIGIL_SPEED__GROUP", group)
        .env("VIGIL_SPEED__BATCH", "50")
        .env("VIGIL_SPEED__METRICS_LISTEN", "127.0.0.1:0")
        .env("VIGIL_LOG__FILTER", "warn");
    if rebuild {
        cmd.arg("--rebuild");
    }
    cmd.spawn().expect("cannot start vigil speed")
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("vigil speed did not stop within 20 s of SIGTERM");
}

fn redis_views(p: &Pipeline) -> RedisViews {
    RedisViews::open(&redis_url(), &p.prefix).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speed_killed_mid_run_counts_each_incident_once_and_a_flushed_redis_is_rebuilt() {
    let p = Pipeline::new(Engine::Postgres, LogKind::Kafka, ViewKind::Redis).await;
    let views = redis_views(&p);
    let token = p.app.user("alice").await;
    let pushed = reports(5_000);
    push_all(&p, &token, &pushed).await;
    // Published twice, as after a relay crash: the views must still count each once.
    assert_eq!(p.relay("incidents").await, 5_000);
    assert_eq!(p.relay("incidents-again").await, 5_000);
    let group = unique("speed-");

    let mut speed = spawn_speed(&p, &group, false);
    let start = Instant::now();
    let mut at_kill = 0;
    while start.elapsed() < Duration::from_secs(60) {
        at_kill = views.seen().await.unwrap();
        if at_kill >= 500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    speed.kill().unwrap(); // SIGKILL: no chance to commit or leave the group
    speed.wait().unwrap();
    assert!(
        (500..5_000).contains(&at_kill),
        "killed after {at_kill} incidents: not in the middle of the run"
    );

    // Restarted, it waits for the dead member's session to expire, then goes on from the
    // last commit; what it reads again changes nothing.
    let mut speed = spawn_speed(&p, &group, false);
    wait_for_seen(&views, 5_000, Duration::from_secs(90)).await;
    // Let it finish the re-published half too.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = snapshot(&views, &pushed).await;
    assert_eq!(before.0, 5_000, "counts equal the distinct incidents");
    assert_eq!(before.1.len(), 5_000);
    let ids: BTreeSet<String> = before.1.iter().map(|(_, s)| s.id.to_string()).collect();
    let expected: BTreeSet<String> = pushed
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, expected);
    terminate(&mut speed);

    // Redis loses everything; `vigil speed --rebuild` restores the same views.
    let cleared = views.clear().await.unwrap();
    assert!(cleared > 5_000, "cleared {cleared} keys");
    assert_eq!(snapshot(&views, &pushed).await.0, 0);
    let mut rebuild = spawn_speed(&p, &group, true);
    wait_for_seen(&views, 5_000, Duration::from_secs(90)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = snapshot(&views, &pushed).await;
    terminate(&mut rebuild);
    assert_eq!(after.0, before.0);
    assert_eq!(after.1, before.1, "the rebuilt views differ");
}

/// Starts a stopped engine again when dropped, so a failing assertion cannot leave it down
/// for the tests after this one.
struct Down(&'static str);

impl Down {
    fn stop(service: &'static str) -> Down {
        xtask_service("down", service);
        Down(service)
    }
}

impl Drop for Down {
    fn drop(&mut self) {
        xtask_service("up", self.0);
    }
}

/// Runs `cargo xtask services <action> <service>` through the xtask binary that started the
/// test run.
fn xtask_service(action: &str, service: &str) {
    let xtask = std::env::var("VIGIL_TEST_XTASK")
        .expect("VIGIL_TEST_XTASK is not set: run the fault tests through `cargo xtask test`");
    let status = Command::new(xtask)
        .args(["services", action, service])
        .status()
        .unwrap();
    assert!(status.success(), "services {action} {service} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_succeed_while_kafka_is_down_and_arrive_once_it_is_back() {
    let p = Pipeline::new(Engine::Postgres, LogKind::Kafka, ViewKind::Redis).await;
    let views = redis_views(&p);
    let token = p.app.user("alice").await;
    let (stop, stopped) = watch::channel(());
    let until_stopped = |mut rx: watch::Receiver<()>| async move {
        let _ = rx.changed().await;
    };
    let relay = Relay::new(p.app.db.clone(), p.log.clone(), "incidents");
    let relay = tokio::spawn(relay.run(Duration::from_millis(100), until_stopped(stopped.clone())));
    let options = SpeedOptions {
        batch: 500,
        idle: Duration::from_millis(100),
        commit: true,
    };
    let speed = p.speed_with(&unique("speed-"), options).await;
    let speed = tokio::spawn(speed.run(until_stopped(stopped.clone())));

    let first = reports(300);
    push_all(&p, &token, &first[..100]).await;
    wait_for_seen(&views, 100, Duration::from_secs(60)).await;

    let kafka_down = Down::stop("kafka");
    // Reports are accepted (stored with their outbox rows) while Kafka is away.
    push_all(&p, &token, &first[100..]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        views.seen().await.unwrap(),
        100,
        "nothing can pass without Kafka"
    );
    drop(kafka_down);
    let back = Instant::now();
    let last = p.app.db.last_change_seq().await.unwrap();
    while p.app.db.relay_position("incidents").await.unwrap() < last {
        assert!(
            back.elapsed() < Duration::from_secs(120),
            "the relay did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "relay caught up {:?} after Kafka answered again",
        back.elapsed()
    );

    let took = wait_for_seen(&views, 300, Duration::from_secs(30)).await;
    eprintln!("all 300 visible {took:?} after Kafka answered again");
    let (total, near) = snapshot(&views, &first).await;
    assert_eq!(total, 300);
    assert_eq!(near.len(), 300);
    let _ = stop.send(());
    relay.await.unwrap();
    speed.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_s3_down_the_archive_commits_nothing_and_loses_nothing() {
    let p = Pipeline::new(Engine::Sqlite, LogKind::Kafka, ViewKind::Memory).await;
    let lake = s3_lake();
    let token = p.app.user("alice").await;
    push_all(&p, &token, &reports(200)).await;
    let published = p.relay("r").await;
    assert_eq!(published, 200);
    let group = unique("archive-");
    let options = ArchiveOptions {
        batch: 100,
        idle: Duration::from_millis(100),
        max_rows: 50,
        max_age: Duration::from_secs(3600),
    };

    let s3_down = Down::stop("garage");
    let mut archive = Archive::new(p.consumer(&group).await, lake.clone(), options.clone());
    let mut failed = None;
    for _ in 0..20 {
        if let Err(e) = archive.run_once().await {
            failed = Some(e);
            break;
        }
    }
    let failed = failed.expect("archive rounds kept succeeding with S3 down");
    assert!(failed.to_string().contains("S3 put"), "{failed}");
    // The process dies with its buffer; S3 comes back.
    drop(archive);
    drop(s3_down);

    // A new member of the group gets every change again: nothing was committed unstored.
    let mut archive = Archive::new(p.consumer(&group).await, lake.clone(), options);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut rows = 0;
    while rows < published {
        assert!(Instant::now() < deadline, "archived {rows} of {published}");
        rows += archive.run_once().await.unwrap().rows;
        if archive.buffered() > 0 && rows + archive.buffered() >= published {
            rows += archive.roll().await.unwrap().rows;
        }
    }
    let mut stored = 0;
    let mut ids = BTreeSet::new();
    for o in lake.list(INCIDENTS_PREFIX).await.unwrap() {
        for b in from_parquet(lake.get(&o.key).await.unwrap()).unwrap() {
            stored += b.num_rows();
            let col = arrow::array::AsArray::as_string::<i32>(b.column_by_name("id").unwrap());
            ids.extend((0..b.num_rows()).map(|i| col.value(i).to_owned()));
        }
        lake.delete(&o.key).await.unwrap();
    }
    assert_eq!(stored, published, "every change stored once");
    assert_eq!(ids.len(), published);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_cassandra_down_answers_are_partial_and_a_batch_fails_cleanly() {
    let p = Pipeline::new(Engine::Sqlite, LogKind::File, ViewKind::Memory).await;
    let lake = Lake::local(p.data_dir().join("lake"));
    let store = cassandra_store().await;
    let token = p.app.user("alice").await;
    let mut speed = p.speed(&unique("speed-")).await;
    let mut archive = Archive::new(
        p.consumer(&unique("archive-")).await,
        lake.clone(),
        ArchiveOptions::default(),
    );
    let all = reports(60);
    push_all(&p, &token, &all[..40]).await;
    assert_eq!(p.relay("r").await, 40);
    consume(&mut speed, 40).await;
    while archive.buffered() < 40 {
        archive.run_once().await.unwrap();
    }
    archive.roll().await.unwrap();
    let first = batch::run(&lake, &store, OnCorrupt::Fail, false)
        .await
        .unwrap();
    // Twenty more after the batch: only the speed layer has them.
    push_all(&p, &token, &all[40..]).await;
    assert_eq!(p.relay("r").await, 20);
    consume(&mut speed, 20).await;

    let layers = Layers::new(Some(store.clone()), Some(p.views.clone()));
    let q = Trends {
        area: Area::City,
        from: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
        to: Utc::now().date_naive() + TimeDelta::days(1),
        by: TrendBy::Month,
        category: None,
    };
    let total = |c: &Counts| c.values().sum::<i64>();
    let (whole, fresh) = layers.counts(&q).await;
    assert!(!fresh.partial, "{fresh:?}");
    assert_eq!(total(&whole), 60);

    let down = Down::stop("cassandra");
    let (during, fresh) = layers.counts(&q).await;
    assert!(fresh.partial);
    assert_eq!(fresh.unavailable, vec!["batch"]);
    assert_eq!(
        total(&during),
        20,
        "the speed layer's part: the changes after the watermark"
    );
    let err = batch::run(&lake, &store, OnCorrupt::Fail, false)
        .await
        .unwrap_err();
    eprintln!("batch with Cassandra down: {err}");
    drop(down);

    // Back: the first batch is still served and the answer is whole again.
    let deadline = Instant::now() + Duration::from_secs(120);
    let served = loop {
        match store.served().await {
            Ok(Some(s)) => break s,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "Cassandra did not come back: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    assert_eq!(served.batch_id, first.batch_id);
    let (after, fresh) = layers.counts(&q).await;
    assert!(!fresh.partial);
    assert_eq!(after, whole);
}
