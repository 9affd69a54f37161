//! The archive and the batch layer on both engines: the embedded log into a local lake,
//! and Kafka into S3 (Garage). Every change lands in the lake once; a re-run from the
//! start adds nothing twice to the views; the batch views equal a recomputation in plain
//! Rust; a damaged object fails the batch by name (or is skipped) and the views served
//! before stay served.

mod common;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use axum::http::StatusCode;
use chrono::{DateTime, Datelike, FixedOffset, TimeDelta, Timelike, Utc};
use common::{
    Engine,
    pipeline::{LogKind, Pipeline, ViewKind, s3_lake},
};
use rstest::rstest;
use serde_json::{Value, json};
use uuid::Uuid;
use vigil_backend::{
    archive::{Archive, ArchiveOptions},
    batch::{self, BatchError, BatchStore, ViewRow},
    config::OnCorrupt,
    lake::{INCIDENTS_PREFIX, Lake, parquet::from_parquet},
};
use vigil_sync::{AreaCell, Status};

/// The lake a test runs on: a temporary directory, or a fresh prefix in the test bucket
/// (removed afterwards).
struct TestLake {
    lake: Lake,
    _dir: tempfile::TempDir,
}

impl TestLake {
    fn new(kind: LogKind) -> TestLake {
        let dir = tempfile::tempdir().unwrap();
        let lake = match kind {
            LogKind::File => Lake::local(dir.path().join("lake")),
            LogKind::Kafka => s3_lake(),
        };
        TestLake { lake, _dir: dir }
    }

    async fn clean(&self) {
        if let Lake::S3(_) = self.lake {
            for o in self.lake.list("").await.unwrap() {
                self.lake.delete(&o.key).await.unwrap();
            }
        }
    }
}

fn options(max_rows: usize) -> ArchiveOptions {
    ArchiveOptions {
        batch: 1_000,
        idle: Duration::from_millis(100),
        max_rows,
        max_age: Duration::from_secs(3600),
    }
}

/// Runs `archive` until it has stored `changes` changes and holds nothing back.
async fn archive_all(archive: &mut Archive, changes: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut objects = Vec::new();
    let mut rows = 0;
    while rows < changes {
        assert!(
            Instant::now() < deadline,
            "archived {rows} of {changes} changes in 90 s"
        );
        let rolled = archive.run_once().await.unwrap();
        rows += rolled.rows;
        objects.extend(rolled.objects);
        if archive.buffered() > 0 && rows + archive.buffered() >= changes {
            let rolled = archive.roll().await.unwrap();
            rows += rolled.rows;
            objects.extend(rolled.objects);
        }
    }
    assert_eq!(rows, changes, "archived more changes than were published");
    objects
}

/// `(id, version, kind)` of every row in the lake.
async fn lake_rows(lake: &Lake) -> Vec<(String, u32, String)> {
    let mut out = Vec::new();
    for o in lake.list(INCIDENTS_PREFIX).await.unwrap() {
        for b in from_parquet(lake.get(&o.key).await.unwrap()).unwrap() {
            let ids = b.column_by_name("id").unwrap();
            let ids = arrow::array::AsArray::as_string::<i32>(ids);
            let versions = b.column_by_name("version").unwrap();
            let versions =
                arrow::array::AsArray::as_primitive::<arrow::datatypes::UInt32Type>(versions);
            let kinds = b.column_by_name("kind").unwrap();
            let kinds = arrow::array::AsArray::as_string::<i32>(kinds);
            for i in 0..b.num_rows() {
                out.push((
                    ids.value(i).to_owned(),
                    versions.value(i),
                    kinds.value(i).to_owned(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// A report of `category` at a place and time drawn from `seed`, across Toronto, over the
/// last 300 days, in a UTC offset of -5 or -4 hours.
fn varied_report(seed: u64) -> Value {
    let mut rng = fastrand::Rng::with_seed(seed);
    let categories = [
        "assault",
        "theft",
        "break_and_enter",
        "robbery",
        "auto_theft",
    ];
    let offset = FixedOffset::west_opt(if rng.bool() { 5 } else { 4 } * 3600).unwrap();
    let at = Utc::now() - TimeDelta::minutes(rng.i64(60..300 * 24 * 60));
    json!({
        "id": Uuid::now_v7().to_string(),
        "category": categories[rng.usize(..categories.len())],
        "occurred_at": at.with_timezone(&offset).to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
        "location": {"lat": 43.58 + rng.f64() * 0.25, "lon": -79.60 + rng.f64() * 0.40},
        "description": format!("report {seed}"),
    })
}

/// The views recomputed in plain Rust from what the store holds now.
async fn expected_views(p: &Pipeline) -> BTreeMap<&'static str, Vec<ViewRow>> {
    let incidents = p
        .app
        .db
        .query_incidents(
            &vigil_backend::db::UserId::new(),
            &vigil_backend::db::IncidentFilter {
                limit: 1_000_000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut counts: BTreeMap<(&'static str, String, String, String), i64> = BTreeMap::new();
    for i in incidents {
        let i = i.item;
        let cell = AreaCell::of(&i.location, 8).unwrap();
        let district = cell.parent(6).unwrap().to_string();
        let category = i.category.as_str().to_owned();
        let utc_day = i
            .occurred_at
            .with_timezone(&Utc)
            .format("%Y-%m-%d")
            .to_string();
        let local: DateTime<FixedOffset> = i.occurred_at;
        let how = local.weekday().num_days_from_monday() * 24 + local.hour();
        let month = local.format("%Y-%m").to_string();
        let monday = (local - TimeDelta::days(i64::from(local.weekday().num_days_from_monday())))
            .format("%Y-%m-%d")
            .to_string();
        let how = format!("{month}|{how}");
        let mut rows = vec![
            ("cell_day", format!("8:{cell}"), utc_day.clone()),
            ("cell_day", format!("6:{district}"), utc_day.clone()),
            ("city_day", "city".to_owned(), utc_day.clone()),
        ];
        for key in [
            format!("8:{cell}"),
            format!("6:{district}"),
            "city".to_owned(),
        ] {
            rows.push(("area_month", key.clone(), month.clone()));
            rows.push(("area_week", key.clone(), monday.clone()));
            rows.push(("area_how", key, how.clone()));
        }
        for (view, key, sub) in rows {
            *counts
                .entry((view, key, sub, category.clone()))
                .or_default() += 1;
        }
    }
    let mut out: BTreeMap<&'static str, Vec<ViewRow>> = BTreeMap::new();
    for ((view, key, sub, category), n) in counts {
        out.entry(view).or_default().push(ViewRow {
            key,
            sub,
            category,
            n,
        });
    }
    out
}

async fn served_views(store: &BatchStore) -> BTreeMap<&'static str, Vec<ViewRow>> {
    let mut out = BTreeMap::new();
    for (view, _) in batch::view_queries() {
        let mut rows = store.all_rows(view).await.unwrap();
        rows.sort();
        if !rows.is_empty() {
            out.insert(view, rows);
        }
    }
    out
}

#[rstest]
#[case::file_and_local_lake(LogKind::File)]
#[case::kafka_and_s3(LogKind::Kafka)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_archived_once_and_the_batch_equals_a_recomputation(#[case] kind: LogKind) {
    let p = Pipeline::new(Engine::Sqlite, kind, ViewKind::Memory).await;
    let lake = TestLake::new(kind);
    let alice = p.app.user("alice").await;
    let reports: Vec<Value> = (0..240).map(varied_report).collect();
    for chunk in reports.chunks(80) {
        let (status, _) = p.app.push(&alice, chunk.to_vec()).await;
        assert_eq!(status, StatusCode::OK);
    }
    // Moderation: some verified, some rejected (rejected ones drop out of the views).
    let now = Utc::now().timestamp_millis();
    for r in reports.iter().take(30) {
        let status = if r["description"].as_str().unwrap().ends_with('7') {
            Status::Rejected
        } else {
            Status::Verified
        };
        let id = r["id"].as_str().unwrap();
        p.app.db.set_status(id, status, now).await.unwrap();
    }
    let published = p.relay("r").await;
    assert_eq!(published, 270);

    let mut archive = Archive::new(p.consumer("archive").await, lake.lake.clone(), options(100));
    let objects = archive_all(&mut archive, published).await;
    assert!(objects.len() >= 3, "rolled by size: {objects:?}");
    for key in &objects {
        assert!(
            key.starts_with(&format!(
                "incidents/date={}/p",
                Utc::now().format("%Y-%m-%d")
            )),
            "{key}"
        );
    }
    let rows = lake_rows(&lake.lake).await;
    assert_eq!(rows.len(), published, "every change once");
    assert_eq!(rows.iter().filter(|r| r.2 == "status").count(), 30);

    // A second member of the group finds nothing left to archive.
    let mut again = Archive::new(p.consumer("archive").await, lake.lake.clone(), options(100));
    let rolled = again.run_once().await.unwrap();
    assert_eq!((rolled.rows, again.buffered()), (0, 0));

    // The batch views equal a recomputation from the store.
    let views_dir = tempfile::tempdir().unwrap();
    let store = BatchStore::open_sqlite(views_dir.path()).await.unwrap();
    let summary = batch::run(&lake.lake, &store, OnCorrupt::Fail, false)
        .await
        .unwrap();
    assert_eq!(summary.changes, published);
    assert_eq!(summary.incidents, 240 - 3, "three reports were rejected");
    let expected = expected_views(&p).await;
    assert_eq!(served_views(&store).await, expected);
    let served = store.served().await.unwrap().unwrap();
    assert_eq!(served.batch_id, summary.batch_id);
    assert!(
        served.watermark_ms >= now,
        "the watermark covers the status changes"
    );

    // Replaying the whole topic into the lake again (as after lost commits) changes no
    // view: the batch keeps one copy of each version.
    // A new group starts at the beginning of the topic.
    let mut replay = Archive::new(p.consumer("replay").await, lake.lake.clone(), options(77));
    archive_all(&mut replay, published).await;
    let summary = batch::run(&lake.lake, &store, OnCorrupt::Fail, false)
        .await
        .unwrap();
    // Objects of the same partition and offset range were replaced; the others hold a
    // second copy of their changes, which the batch collapses.
    assert!(
        summary.changes > published && summary.changes <= 2 * published,
        "{} changes in the lake",
        summary.changes
    );
    assert_eq!(summary.incidents, 237);
    assert_eq!(served_views(&store).await, expected);

    // SQL over the lake is read-only.
    let loaded = batch::load_lake(&lake.lake, OnCorrupt::Fail, false)
        .await
        .unwrap();
    let counted = batch::query(
        &loaded.ctx,
        "SELECT COUNT(DISTINCT id) AS n FROM incidents WHERE kind = 'upsert'",
    )
    .await
    .unwrap();
    let n =
        arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(counted[0].column(0))
            .value(0);
    assert_eq!(n, 240);
    let refused = batch::query(&loaded.ctx, "DROP TABLE incidents").await;
    assert!(refused.is_err(), "DDL must be refused");
    lake.clean().await;
}

#[rstest]
#[case::local_lake(LogKind::File)]
#[case::s3(LogKind::Kafka)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_object_fails_the_batch_by_name_and_the_old_views_stay(#[case] kind: LogKind) {
    let p = Pipeline::new(Engine::Sqlite, kind, ViewKind::Memory).await;
    let lake = TestLake::new(kind);
    let alice = p.app.user("alice").await;
    let reports: Vec<Value> = (0..20).map(varied_report).collect();
    p.app.push(&alice, reports).await;
    let published = p.relay("r").await;
    let mut archive = Archive::new(
        p.consumer("archive").await,
        lake.lake.clone(),
        options(1_000),
    );
    archive_all(&mut archive, published).await;
    let views_dir = tempfile::tempdir().unwrap();
    let store = BatchStore::open_sqlite(views_dir.path()).await.unwrap();
    let first = batch::run(&lake.lake, &store, OnCorrupt::Fail, false)
        .await
        .unwrap();
    let before = served_views(&store).await;

    let bad = "incidents/date=2026-01-01/p000-00000000000000000000-00000000000000000009.parquet";
    lake.lake
        .put(bad, bytes::Bytes::from_static(b"PAR1 this is not parquet"))
        .await
        .unwrap();
    let err = batch::run(&lake.lake, &store, OnCorrupt::Fail, false)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BatchError::Corrupt { key, .. } if key == bad),
        "{err}"
    );
    assert!(err.to_string().contains("on_corrupt"), "{err}");
    let served = store.served().await.unwrap().unwrap();
    assert_eq!(
        served.batch_id, first.batch_id,
        "the old batch is still served"
    );
    assert_eq!(served_views(&store).await, before);

    let skipped = batch::run(&lake.lake, &store, OnCorrupt::Skip, false)
        .await
        .unwrap();
    assert_eq!(skipped.skipped.len(), 1);
    assert_eq!(skipped.skipped[0].0, bad);
    assert_eq!(skipped.incidents, 20);
    assert_eq!(served_views(&store).await, before);
    lake.clean().await;
}
