//! The real-time views behave the same in process and in Redis: versions decide, repeats
//! change nothing, status changes and tombstones move counts, retention drops old
//! incidents, and reads find exactly what is listed.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::pipeline::{ViewKind, redis_url, unique};
use rstest::rstest;
use vigil_backend::{
    events::{EVENT_VERSION, IncidentEvent},
    speed::{SharedViews, ViewStore, redis::RedisViews, views::Applied},
};
use vigil_sync::{AreaCell, Category, Change, Incident, IncidentId, Location, Source, Status};

fn store(kind: ViewKind) -> ViewStore {
    let retention = TimeDelta::days(30);
    match kind {
        ViewKind::Memory => ViewStore::memory(SharedViews::default(), retention),
        ViewKind::Redis => ViewStore::redis(
            RedisViews::open(&redis_url(), &(unique("test:") + ":")).unwrap(),
            retention,
        ),
    }
}

fn at(lat: f64, lon: f64) -> Location {
    Location {
        lat,
        lon,
        accuracy_m: None,
    }
}

fn upsert(id: IncidentId, place: Location, occurred: DateTime<Utc>, version: u32) -> IncidentEvent {
    let incident = Incident {
        id,
        source: Source::UserReport,
        category: Category::Assault,
        occurred_at: occurred.fixed_offset(),
        reported_at: occurred,
        location: place,
        place: None,
        description: "seen from the bus stop".into(),
        status: Status::Unverified,
        version,
    };
    IncidentEvent {
        v: EVENT_VERSION,
        seq: u64::from(version),
        cell: AreaCell::of(&place, 8).unwrap(),
        change: Change::Upsert { incident },
        at: Some(Utc::now().timestamp_millis()),
    }
}

fn change(of: &IncidentEvent, change: Change) -> IncidentEvent {
    IncidentEvent {
        change,
        ..of.clone()
    }
}

async fn near_ids(views: &ViewStore, centre: Location, radius: f64) -> Vec<IncidentId> {
    let since = Utc::now() - TimeDelta::days(29);
    views
        .near(&centre, radius, since, 100, Utc::now())
        .await
        .unwrap()
        .into_iter()
        .map(|(_, s)| s.id)
        .collect()
}

async fn total(views: &ViewStore, cell: AreaCell) -> u64 {
    let now = Utc::now();
    views
        .counts(
            cell,
            now - TimeDelta::days(29),
            now + TimeDelta::hours(1),
            now,
        )
        .await
        .unwrap()
        .iter()
        .map(|(_, _, n)| n)
        .sum()
}

#[rstest]
#[case::memory(ViewKind::Memory)]
#[case::redis(ViewKind::Redis)]
#[tokio::test]
async fn versions_decide_and_repeats_change_nothing(#[case] kind: ViewKind) {
    let views = store(kind);
    let hall = at(43.6534, -79.3841);
    let cell = AreaCell::of(&hall, 8).unwrap();
    let when = Utc::now() - TimeDelta::hours(2);
    let (a, b) = (
        IncidentId(uuid::Uuid::now_v7()),
        IncidentId(uuid::Uuid::now_v7()),
    );
    let ea = upsert(a, hall, when, 1);
    let eb = upsert(b, at(43.6543, -79.3841), when, 1);

    let now = Utc::now();
    assert_eq!(
        views.apply(&[ea.clone(), eb.clone()], now).await.unwrap(),
        [Applied::Changed, Applied::Changed]
    );
    assert_eq!(
        views.apply(&[ea.clone(), eb.clone()], now).await.unwrap(),
        [Applied::Repeat, Applied::Repeat],
        "a redelivery changes nothing"
    );
    assert_eq!(near_ids(&views, hall, 500.0).await, [a, b], "nearest first");
    assert_eq!(total(&views, cell).await, 2);
    let hits = views
        .near(&hall, 500.0, when - TimeDelta::minutes(1), 10, now)
        .await
        .unwrap();
    assert_eq!(hits[0].0, 0.0, "distance from the stored coordinates");
    assert!((95.0..105.0).contains(&hits[1].0), "{}", hits[1].0);
    assert_eq!(hits[1].1.location, at(43.6543, -79.3841));
    assert!(
        views
            .near(&hall, 500.0, when + TimeDelta::minutes(1), 10, now)
            .await
            .unwrap()
            .is_empty(),
        "since excludes earlier incidents"
    );

    // Moderation rejects a: it leaves the list and the counts; the old version cannot
    // bring it back.
    let rejected = change(
        &ea,
        Change::Status {
            id: a,
            status: Status::Rejected,
            version: 2,
        },
    );
    assert_eq!(
        views
            .apply(&[rejected.clone(), ea.clone()], now)
            .await
            .unwrap(),
        [Applied::Changed, Applied::Repeat]
    );
    assert_eq!(near_ids(&views, hall, 500.0).await, [b]);
    assert_eq!(total(&views, cell).await, 1);

    // A newer version moves b 5 km away: counted in its new cell, not the old one.
    let far = at(43.70, -79.40);
    let moved = upsert(b, far, when, 2);
    assert_eq!(
        views.apply(&[moved], now).await.unwrap(),
        [Applied::Changed]
    );
    assert!(near_ids(&views, hall, 500.0).await.is_empty());
    assert_eq!(near_ids(&views, far, 10.0).await, [b]);
    assert_eq!(total(&views, cell).await, 0);
    assert_eq!(total(&views, AreaCell::of(&far, 8).unwrap()).await, 1);

    // A tombstone removes it; a second one is a repeat.
    let gone = change(&eb, Change::Tombstone { id: b });
    assert_eq!(
        views.apply(&[gone.clone(), gone], now).await.unwrap(),
        [Applied::Changed, Applied::Repeat]
    );
    assert!(near_ids(&views, far, 10.0).await.is_empty());
    assert_eq!(total(&views, AreaCell::of(&far, 8).unwrap()).await, 0);
}

#[rstest]
#[case::memory(ViewKind::Memory)]
#[case::redis(ViewKind::Redis)]
#[tokio::test]
async fn incidents_older_than_the_retention_are_not_kept(#[case] kind: ViewKind) {
    let views = store(kind);
    let hall = at(43.6534, -79.3841);
    let old = upsert(
        IncidentId(uuid::Uuid::now_v7()),
        hall,
        Utc::now() - TimeDelta::days(31),
        1,
    );
    let recent = upsert(
        IncidentId(uuid::Uuid::now_v7()),
        hall,
        Utc::now() - TimeDelta::days(29),
        1,
    );
    assert_eq!(
        views
            .apply(&[old, recent.clone()], Utc::now())
            .await
            .unwrap(),
        [Applied::TooOld, Applied::Changed]
    );
    let hits = views
        .near(
            &hall,
            100.0,
            Utc::now() - TimeDelta::days(400),
            10,
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    let cell = AreaCell::of(&hall, 8).unwrap();
    let now = Utc::now();
    let counts = views
        .counts(cell, now - TimeDelta::days(400), now, now)
        .await
        .unwrap();
    assert_eq!(counts.iter().map(|c| c.2).sum::<u64>(), 1);

    // Cleared (before a rebuild), nothing is left.
    assert!(views.clear().await.unwrap() > 0);
    assert!(near_ids(&views, hall, 100.0).await.is_empty());
    assert_eq!(total(&views, cell).await, 0);
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_not_a_hang() {
    // Port 1 refuses connections.
    let views = ViewStore::redis(
        RedisViews::open("redis://127.0.0.1:1/0", "test:").unwrap(),
        TimeDelta::days(1),
    );
    let started = std::time::Instant::now();
    let err = views
        .near(&at(43.6, -79.4), 100.0, Utc::now(), 10, Utc::now())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("redis"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
