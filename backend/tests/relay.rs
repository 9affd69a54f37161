//! The relay publishes every accepted report to the incident topic, keyed by area cell, in
//! commit order, resumes where it stopped, and re-publishes (never skips) after a crash
//! between publishing and recording its position.

mod common;

use common::{Engine, TestApp, report};
use rstest::rstest;
use serde_json::Value;
use vigil_backend::{
    events::IncidentEvent,
    log::{EventLog, FileLog, partition_for},
    relay::Relay,
};
use vigil_sync::Change;

async fn all_events(log: &FileLog) -> Vec<(u32, IncidentEvent)> {
    let mut out = Vec::new();
    for p in 0..log.partitions() {
        for d in log.read(p, 0, 10_000).await.unwrap() {
            assert_eq!(partition_for(&d.key, log.partitions()), p);
            let event = IncidentEvent::decode(&d.payload).unwrap();
            assert_eq!(d.key, event.cell.to_string().into_bytes(), "keyed by cell");
            out.push((p, event));
        }
    }
    out.sort_by_key(|(_, e)| e.seq);
    out
}

fn id_of(e: &IncidentEvent) -> String {
    match &e.change {
        Change::Upsert { incident } => incident.id.to_string(),
        other => panic!("expected an upsert, got {other:?}"),
    }
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_publishes_each_accepted_report_once_in_order(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path(), 3).unwrap();
    let token = app.user("alice").await;
    let reports: Vec<Value> = (0..7)
        .map(|i| report(43.60 + f64::from(i) * 0.01, -79.40))
        .collect();
    app.push(&token, reports.clone()).await;

    let relay = Relay::new(app.db.clone(), EventLog::File(log.clone()), "incidents");
    assert_eq!(relay.run_once().await.unwrap(), 7);
    assert_eq!(
        relay.run_once().await.unwrap(),
        0,
        "nothing new, nothing published"
    );

    let events = all_events(&log).await;
    let ids: Vec<String> = events.iter().map(|(_, e)| id_of(e)).collect();
    let pushed: Vec<String> = reports
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, pushed);

    // A new relay (a restart) resumes after what was published.
    app.push(&token, vec![report(43.7, -79.3)]).await;
    let restarted = Relay::new(app.db.clone(), EventLog::File(log.clone()), "incidents");
    assert_eq!(restarted.run_once().await.unwrap(), 1);
    assert_eq!(all_events(&log).await.len(), 8);
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_the_position_is_saved_republishes_and_skips_nothing(
    #[case] engine: Engine,
) {
    let app = TestApp::new(engine).await;
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path(), 2).unwrap();
    let token = app.user("alice").await;
    app.push(&token, vec![report(43.6, -79.4), report(43.61, -79.41)])
        .await;
    let relay = Relay::new(app.db.clone(), EventLog::File(log.clone()), "incidents");
    relay.run_once().await.unwrap();

    // Simulate the crash: the log has the batch but the saved position is lost.
    let position = app.db.relay_position("incidents").await.unwrap();
    assert_eq!(position, 2);
    let fresh = Relay::new(
        app.db.clone(),
        EventLog::File(log.clone()),
        "incidents-after-crash",
    );
    assert_eq!(
        fresh.run_once().await.unwrap(),
        2,
        "re-published from its own (empty) position"
    );
    let events = all_events(&log).await;
    assert_eq!(
        events.len(),
        4,
        "duplicates are allowed; consumers drop them by id and version"
    );
    let mut ids: Vec<String> = events.iter().map(|(_, e)| id_of(e)).collect();
    ids.dedup();
    assert_eq!(ids.len(), 2);

    // The position never moves back.
    app.db.set_relay_position("incidents", 1, 0).await.unwrap();
    assert_eq!(app.db.relay_position("incidents").await.unwrap(), 2);
}

#[test]
fn events_of_another_version_are_refused() {
    let err = IncidentEvent::decode(br#"{"v": 2, "seq": 1}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "event version 2 is not supported by this build (it reads version 1)"
    );
    assert!(IncidentEvent::decode(b"not json").is_err());
}
