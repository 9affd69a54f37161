//! A cursor never skips a change that commits late: writers push concurrently while a
//! reader pulls continuously, and the reader must see every accepted report exactly once.

mod common;

use std::{collections::HashSet, sync::Arc, time::Duration};

use common::{Engine, TestApp, report};
use rstest::rstest;
use serde_json::Value;

const WRITERS: usize = 6;
const PUSHES: usize = 15;
const PER_PUSH: usize = 8;

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_make_the_reader_skip(#[case] engine: Engine) {
    let app = Arc::new(TestApp::new(engine).await);
    let reader_token = app.user("reader").await;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let app = app.clone();
        let token = app.user(&format!("writer{w}")).await;
        writers.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            for _ in 0..PUSHES {
                let batch: Vec<Value> = (0..PER_PUSH).map(|_| report(43.65, -79.38)).collect();
                let (status, body) = app.push(&token, batch).await;
                assert_eq!(status, axum::http::StatusCode::OK, "{body}");
                for r in body["results"].as_array().unwrap() {
                    assert_eq!(r["outcome"], "accepted");
                    accepted.push(r["id"].as_str().unwrap().to_owned());
                }
            }
            accepted
        }));
    }

    // Pull continuously while the writers run, then once more after they finish.
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = String::new();
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        let (changes, next) = app.pull_all(&reader_token, cursor).await;
        seen.extend(
            changes
                .iter()
                .map(|c| c["incident"]["id"].as_str().unwrap().to_owned()),
        );
        cursor = next;
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }

    let mut accepted = HashSet::new();
    for w in writers {
        accepted.extend(w.await.unwrap());
    }
    assert_eq!(accepted.len(), WRITERS * PUSHES * PER_PUSH);
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a change was delivered twice");
    let missing: Vec<_> = accepted.difference(&unique).collect();
    assert!(
        missing.is_empty(),
        "the reader skipped {} changes, e.g. {:?}",
        missing.len(),
        missing.first()
    );
}

/// A writer that has appended to the change feed but not yet committed holds back every
/// later writer, so a reader can never see a later change first and move its cursor past
/// the earlier one.
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_commit_is_not_skipped(#[case] engine: Engine) {
    use vigil_backend::db::NewIncident;
    use vigil_sync::{AreaCell, ReportSubmission, Source};

    let app = Arc::new(TestApp::new(engine).await);
    let token = app.user("reader").await;
    let incident = |v: Value| {
        let sub: ReportSubmission = serde_json::from_value(v).unwrap();
        let report = sub
            .validate(chrono::Utc::now(), &vigil_sync::Limits::default())
            .unwrap();
        let cell = AreaCell::of(&report.location, 8).unwrap();
        NewIncident {
            incident: report.into_incident(Source::UserReport, chrono::Utc::now()),
            reporter: None,
            cell,
            audience: Default::default(),
        }
    };
    let early = incident(report(43.65, -79.38));
    let late = incident(report(43.66, -79.39));
    let late_id = late.incident.id.to_string();

    // The slow writer appends first and holds its transaction open.
    let mut slow = app.db.begin_write().await.unwrap();
    slow.insert_incidents(std::slice::from_ref(&early), 0)
        .await
        .unwrap();

    // A second writer starts and commits as soon as the store lets it.
    let db = app.db.clone();
    let fast = tokio::spawn(async move { db.insert_incidents(&[late], 0).await.unwrap() });
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A reader in the meantime must not see the second change ahead of the first.
    let (seen, cursor) = app.pull_all(&token, String::new()).await;
    assert!(
        seen.is_empty(),
        "a later change became visible before an earlier one committed: {seen:?}"
    );

    slow.commit().await.unwrap();
    fast.await.unwrap();
    let (seen, _) = app.pull_all(&token, cursor).await;
    let ids: Vec<&str> = seen
        .iter()
        .map(|c| c["incident"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![early.incident.id.to_string(), late_id]);
}
