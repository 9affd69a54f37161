//! The proof of the Lambda merge: for random incident histories (reports, edits that move
//! them, moderation, withdrawals), random watermarks and random queries, the answer merged
//! from the batch views and the speed layer's delta equals counting every incident's last
//! state directly. As a property test on the embedded engines (a lake directory, SQLite
//! views, in-memory speed layer), and as an engine test on S3, Cassandra and Redis.

mod common;

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, FixedOffset, NaiveDate, TimeDelta, Timelike, Utc};
use proptest::prelude::*;
use vigil_backend::{
    batch::{self, BatchIncident, BatchStore, ViewRow},
    config::OnCorrupt,
    events::{EVENT_VERSION, IncidentEvent},
    lake::{
        Lake,
        parquet::{ArchivedChange, to_parquet},
    },
    log::Delivered,
    serving::{Area, Heatmap, Layers, TrendBy, Trends, cells_in},
    speed::{SharedViews, ViewStore, redis::RedisViews},
};
use vigil_sync::{
    AreaCell, CELL_RESOLUTION, Category, Change, Incident, IncidentId, Location, Source, Status,
};

const CATEGORIES: [Category; 4] = [
    Category::Assault,
    Category::Theft,
    Category::BreakAndEnter,
    Category::Robbery,
];
/// Toronto, roughly.
const BOX: [f64; 4] = [-79.50, 43.60, -79.30, 43.75];

/// A random history: every incident's changes, in commit order, with commit times.
fn history(seed: u64, n: usize) -> Vec<IncidentEvent> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let base = Utc::now() - TimeDelta::days(2);
    let place = |rng: &mut fastrand::Rng| Location {
        lat: BOX[1] + rng.f64() * (BOX[3] - BOX[1]),
        lon: BOX[0] + rng.f64() * (BOX[2] - BOX[0]),
        accuracy_m: None,
    };
    // (commit time, change, cell of the incident when it changed)
    let mut changes: Vec<(i64, Change, AreaCell)> = Vec::new();
    for _ in 0..n {
        let id = IncidentId(uuid::Uuid::now_v7());
        let offset = FixedOffset::west_opt(if rng.bool() { 5 } else { 4 } * 3600).unwrap();
        let mut incident = Incident {
            id,
            source: Source::UserReport,
            category: CATEGORIES[rng.usize(..CATEGORIES.len())],
            occurred_at: (base - TimeDelta::minutes(rng.i64(0..400 * 24 * 60)))
                .with_timezone(&offset),
            reported_at: base,
            location: place(&mut rng),
            place: None,
            description: String::new(),
            status: Status::Unverified,
            version: 1,
        };
        let mut at = base.timestamp_millis() + rng.i64(0..86_400_000);
        let cell = |i: &Incident| AreaCell::of(&i.location, CELL_RESOLUTION).unwrap();
        let upsert = |at: i64, i: &Incident| {
            (
                at,
                Change::Upsert {
                    incident: i.clone(),
                },
                cell(i),
            )
        };
        changes.push(upsert(at, &incident));
        // An edit: moved, re-categorised, re-dated.
        if rng.u8(..3) == 0 {
            at += rng.i64(1..20_000_000);
            incident.version += 1;
            incident.location = place(&mut rng);
            incident.category = CATEGORIES[rng.usize(..CATEGORIES.len())];
            incident.occurred_at -= TimeDelta::hours(rng.i64(0..100));
            changes.push(upsert(at, &incident));
        }
        // Moderation, which sometimes changes its mind.
        if rng.u8(..3) == 0 {
            let mut statuses = vec![if rng.bool() {
                Status::Rejected
            } else {
                Status::Verified
            }];
            if statuses[0] == Status::Rejected && rng.bool() {
                statuses.push(Status::Verified);
            }
            for status in statuses {
                at += rng.i64(1..20_000_000);
                incident.version += 1;
                let change = Change::Status {
                    id,
                    status,
                    version: incident.version,
                };
                changes.push((at, change, cell(&incident)));
            }
        }
        if rng.u8(..10) == 0 {
            at += rng.i64(1..20_000_000);
            changes.push((at, Change::Tombstone { id }, cell(&incident)));
        }
    }
    changes.sort_by_key(|(at, _, _)| *at);
    changes
        .into_iter()
        .enumerate()
        .map(|(seq, (at, change, cell))| IncidentEvent {
            v: EVENT_VERSION,
            seq: seq as u64 + 1,
            cell,
            change,
            at: Some(at),
        })
        .collect()
}

/// Every incident's last state, counted directly: `(fields, counted)`.
fn last_states(events: &[IncidentEvent]) -> Vec<Incident> {
    let mut state: HashMap<IncidentId, (Incident, bool)> = HashMap::new();
    for e in events {
        match &e.change {
            Change::Upsert { incident } => {
                let live = state.get(&incident.id).is_none_or(|(_, live)| *live);
                state.insert(incident.id, (incident.clone(), live));
            }
            Change::Status { id, status, .. } => {
                if let Some((i, _)) = state.get_mut(id) {
                    i.status = *status;
                }
            }
            Change::Tombstone { id } => {
                if let Some((_, live)) = state.get_mut(id) {
                    *live = false;
                }
            }
        }
    }
    state
        .into_values()
        .filter(|(i, live)| *live && i.status != Status::Rejected)
        .map(|(i, _)| i)
        .collect()
}

/// The answer of `q` counted directly from the last states, independently of the merge.
fn expected(q: &Query, incidents: &[Incident]) -> BTreeMap<(String, String, Category), i64> {
    let mut out = BTreeMap::new();
    for i in incidents {
        let cell = AreaCell::of(&i.location, 8).unwrap();
        let bucket = match q {
            Query::Heatmap(h) => {
                let c = cell.parent(h.res).unwrap();
                let day = i.occurred_at.with_timezone(&Utc).date_naive();
                if !h.cells.contains(&c) || day < h.from || day >= h.to {
                    continue;
                }
                if h.category.is_some_and(|x| x != i.category) {
                    continue;
                }
                // A heatmap counts per cell and category over the whole range.
                (format!("{}:{c}", h.res), String::new())
            }
            Query::Trends(t) => {
                let inside = match t.area {
                    Area::City => true,
                    Area::Cell(a) => cell.parent(a.resolution()) == Some(a),
                };
                if !inside || t.category.is_some_and(|x| x != i.category) {
                    continue;
                }
                let local = i.occurred_at;
                let month_start = NaiveDate::from_ymd_opt(local.year(), local.month(), 1).unwrap();
                let monday = local.date_naive()
                    - TimeDelta::days(i64::from(local.weekday().num_days_from_monday()));
                let (start, sub) = match t.by {
                    TrendBy::Month => (month_start, local.format("%Y-%m").to_string()),
                    TrendBy::Week => (monday, monday.to_string()),
                    TrendBy::HourOfWeek => (
                        month_start,
                        // Summed over the months: the hour of the week alone.
                        (local.weekday().num_days_from_monday() * 24 + local.hour()).to_string(),
                    ),
                };
                if start < t.from || start >= t.to {
                    continue;
                }
                (t.area.key(), sub)
            }
        };
        *out.entry((bucket.0, bucket.1, i.category)).or_default() += 1;
    }
    out
}

#[derive(Debug)]
enum Query {
    Heatmap(Heatmap),
    Trends(Trends),
}

fn queries(seed: u64, incidents: &[Incident]) -> Vec<Query> {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    let mut out = Vec::new();
    let today = Utc::now().date_naive();
    for _ in 0..6 {
        let from = today - TimeDelta::days(rng.i64(1..450));
        let to = from + TimeDelta::days(rng.i64(1..450));
        let category = rng
            .bool()
            .then(|| CATEGORIES[rng.usize(..CATEGORIES.len())]);
        let w = rng.f64() * 0.2;
        let lon = BOX[0] + rng.f64() * (BOX[2] - BOX[0] - w);
        let lat = BOX[1] + rng.f64() * (BOX[3] - BOX[1] - w);
        let res = if rng.bool() { 8 } else { 6 };
        out.push(Query::Heatmap(Heatmap {
            res,
            cells: cells_in([lon, lat, lon + w, lat + w], res, 50_000).unwrap(),
            from,
            to,
            category,
        }));
        let area = match (
            rng.u8(..3),
            incidents.get(rng.usize(..incidents.len().max(1))),
        ) {
            (0, Some(i)) => Area::Cell(AreaCell::of(&i.location, 8).unwrap()),
            (1, Some(i)) => Area::Cell(AreaCell::of(&i.location, 6).unwrap()),
            _ => Area::City,
        };
        let by = [TrendBy::Month, TrendBy::Week, TrendBy::HourOfWeek][rng.usize(..3)];
        out.push(Query::Trends(Trends {
            area,
            from,
            to,
            by,
            category,
        }));
    }
    out
}

/// Builds the lake from the changes at or before the `cut`-th event, runs the batch, feeds
/// every event to the speed layer and compares every query's merged answer with the
/// direct count.
async fn check(seed: u64, n: usize, cut: f64, lake: Lake, speed: ViewStore, store: BatchStore) {
    let events = history(seed, n);
    let cut = ((events.len() as f64) * cut) as usize;
    let mut rows = Vec::new();
    for (i, e) in events[..cut].iter().enumerate() {
        let from = Delivered {
            partition: 0,
            offset: i as u64,
            timestamp_ms: e.at.unwrap(),
            key: Vec::new(),
            payload: Vec::new(),
        };
        rows.push(ArchivedChange::new(e, &from));
    }
    for (k, chunk) in rows.chunks(50).enumerate() {
        lake.put(
            &format!("incidents/date=2026-01-01/p000-{k:020}-{k:020}.parquet"),
            to_parquet(chunk).unwrap(),
        )
        .await
        .unwrap();
    }
    batch::run(&lake, &store, OnCorrupt::Fail, false)
        .await
        .unwrap();
    speed.apply(&events, Utc::now()).await.unwrap();
    let layers = Layers::new(Some(store.clone()), Some(speed.clone()));
    let last = last_states(&events);
    for q in queries(seed, &last) {
        let (got, fresh) = match &q {
            Query::Heatmap(h) => layers.counts(h).await,
            Query::Trends(t) => layers.counts(t).await,
        };
        assert!(!fresh.partial, "{fresh:?}");
        let want = expected(&q, &last);
        assert_eq!(got, want, "seed {seed}, n {n}, cut {cut}: {q:?}");
    }
    store.close().await;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_merged_answer_equals_a_full_recount(
        seed in any::<u64>(),
        n in 1usize..60,
        cut in 0.0f64..=1.0,
    ) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let speed = ViewStore::memory(SharedViews::default(), TimeDelta::days(30));
            let store = BatchStore::open_sqlite(&dir.path().join("views")).await.unwrap();
            check(seed, n, cut, Lake::local(dir.path().join("lake")), speed, store).await;
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_merge_holds_on_s3_redis_and_cassandra() {
    let store = common::pipeline::cassandra_store().await;
    for seed in 1..=4u64 {
        let prefix = common::pipeline::unique("test:") + ":";
        let views = RedisViews::open(&common::pipeline::redis_url(), &prefix).unwrap();
        let speed = ViewStore::redis(views.clone(), TimeDelta::days(30));
        let lake = common::pipeline::s3_lake();
        check(
            seed,
            40,
            0.25 * seed as f64,
            lake.clone(),
            speed,
            store.clone(),
        )
        .await;
        for o in lake.list("").await.unwrap() {
            lake.delete(&o.key).await.unwrap();
        }
        views.clear().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_layer_gives_a_partial_answer_not_an_error() {
    let events = history(7, 30);
    let speed = ViewStore::memory(SharedViews::default(), TimeDelta::days(30));
    speed.apply(&events, Utc::now()).await.unwrap();
    let q = Trends {
        area: Area::City,
        from: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
        to: Utc::now().date_naive() + TimeDelta::days(1),
        by: TrendBy::Month,
        category: None,
    };
    // The batch store is gone (its file deleted under it is not enough for SQLite, so
    // use a closed pool): the speed layer answers alone, marked partial.
    let dir = tempfile::tempdir().unwrap();
    let store = BatchStore::open_sqlite(dir.path()).await.unwrap();
    store.close().await;
    let layers = Layers::new(Some(store), Some(speed.clone()));
    let (got, fresh) = layers.counts(&q).await;
    assert!(fresh.partial);
    assert_eq!(fresh.unavailable, vec!["batch"]);
    let want = expected(&Query::Trends(q.clone()), &last_states(&events));
    assert_eq!(got, want, "without a batch, the delta is everything");

    // Redis unreachable: the batch answers alone, marked partial.
    let redis = RedisViews::open("redis://127.0.0.1:1/0", "x:").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = BatchStore::open_sqlite(dir.path()).await.unwrap();
    let layers = Layers::new(
        Some(store),
        Some(ViewStore::redis(redis, TimeDelta::days(30))),
    );
    let (got, fresh) = layers.counts(&q).await;
    assert!(fresh.partial);
    assert_eq!(fresh.unavailable, vec!["speed"]);
    assert!(got.is_empty());
}

/// A batch as large as a city's history is written whole: the stores split their inserts
/// to fit the engine's limits (SQLite takes at most 32,766 parameters in a statement).
async fn a_large_batch_is_written_whole(store: BatchStore) {
    const N: usize = 40_000;
    let incidents: Vec<BatchIncident> = (0..N)
        .map(|i| BatchIncident {
            id: format!("incident-{i:06}"),
            cell: format!("cell-{}", i % 977),
            category: CATEGORIES[i % CATEGORIES.len()].as_str().to_owned(),
            occurred_ms: 1_600_000_000_000 + i as i64 * 60_000,
            offset_s: -14_400,
            counted: i % 10 != 0,
        })
        .collect();
    let rows: Vec<ViewRow> = (0..N)
        .map(|i| ViewRow {
            key: format!("cell-{}", i % 977),
            sub: format!("day-{i:06}"),
            category: CATEGORIES[i % CATEGORIES.len()].as_str().to_owned(),
            n: 1 + (i % 5) as i64,
        })
        .collect();

    let batch_id = store.begin(1_700_000_000_000).await.unwrap();
    store.write(&batch_id, "cell_day", &rows).await.unwrap();
    store.write_incidents(&batch_id, &incidents).await.unwrap();
    store.complete(&batch_id, N as i64).await.unwrap();

    let served = store.served().await.unwrap().unwrap();
    assert_eq!(served.batch_id, batch_id);
    assert_eq!(served.incidents, N as i64);
    let mut want = rows.clone();
    want.sort();
    assert_eq!(store.all_rows("cell_day").await.unwrap(), want);
    let ids: Vec<String> = incidents.iter().map(|i| i.id.clone()).collect();
    let mut got = store.incidents(&ids).await.unwrap();
    got.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(got, incidents);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batch_is_written_whole_to_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    a_large_batch_is_written_whole(BatchStore::open_sqlite(dir.path()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batch_is_written_whole_to_cassandra() {
    a_large_batch_is_written_whole(common::pipeline::cassandra_store().await).await;
}
