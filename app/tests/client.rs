//! The client core against a real backend (embedded, on a free port): drafts, submit,
//! sync, partial acceptance, retries that never duplicate, offline and broken servers,
//! damaged store files and a full disk, and a sync killed at 50 random points.

mod common;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use chrono::{TimeDelta, Utc};
use common::{Backend, backend, backend_with, input, signed_in};
use vigil_app::{
    Backoff, DraftInput, EditState, OutboxState, Server, Session, Store, StoreError, SyncError,
    store::OutboxItem, sync,
};
use vigil_backend::api::ApiConfig;
use vigil_sync::{Limits, Location, Status};

fn store(dir: &Path) -> Store {
    Store::open(&dir.join("vigil.db")).unwrap()
}

fn quick() -> Backoff {
    Backoff {
        base: Duration::from_millis(10),
        max: Duration::from_millis(50),
        attempts: 2,
    }
}

/// Every incident on the server, as another member sees it after a full pull.
async fn server_incidents(b: &Backend, who: &str) -> Vec<vigil_sync::Incident> {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let server = signed_in(b, who).await;
    sync::pull_changes(&mut s, &server).await.unwrap();
    s.incidents(1_000_000).unwrap()
}

#[tokio::test]
async fn a_draft_is_submitted_synced_and_seen_by_neighbours() {
    let b = backend().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let server = signed_in(&b, "alice").await;

    let draft = s.new_draft(DraftInput::default(), Utc::now()).unwrap();
    // Autosave as the form is filled in.
    let filled = input(43.6535, -79.384, "Bike taken from the rack");
    s.save_draft(&draft.id, &filled, Utc::now()).unwrap();
    assert_eq!(s.drafts().unwrap()[0].input, filled);

    let queued = s.submit(&draft.id, Utc::now()).unwrap();
    assert_eq!(queued.id, draft.id, "the report keeps the draft's id");
    assert!(s.drafts().unwrap().is_empty());
    let summary = sync::sync(&mut s, &server, quick()).await.unwrap();
    assert_eq!(summary.sent, 1);
    assert!(summary.pulled >= 1, "its own report comes back in the pull");
    let outbox = s.outbox(None).unwrap();
    assert_eq!(outbox[0].state, OutboxState::Sent);

    let seen = server_incidents(&b, "bob").await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].id.to_string(), draft.id);
    assert_eq!(seen[0].description, "Bike taken from the rack");
    let centre = Location {
        lat: 43.6535,
        lon: -79.384,
        accuracy_m: None,
    };
    let near = s.incidents_near(&centre, 100.0, 10).unwrap();
    assert_eq!(near.len(), 1);
    assert_eq!(near[0].0, 0.0);
}

#[tokio::test]
async fn drafts_that_break_a_rule_stay_drafts_with_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let mut no_place = input(43.6, -79.4, "x");
    no_place.location = None;
    let d = s.new_draft(no_place, Utc::now()).unwrap();
    let err = s.submit(&d.id, Utc::now()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid { field, .. } if field == "location"),
        "{err}"
    );
    let mut bad = input(43.6, -79.4, "x");
    bad.category = Some("arson".into());
    s.save_draft(&d.id, &bad, Utc::now()).unwrap();
    let err = s.submit(&d.id, Utc::now()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid { field, .. } if field == "category"),
        "{err}"
    );
    assert_eq!(s.drafts().unwrap().len(), 1, "still a draft");
    assert!(s.outbox(None).unwrap().is_empty());
}

/// A server that only takes reports of the last day (the device's rules allow a year), a
/// client store and a signed-in user.
async fn strict_backend() -> (Backend, tempfile::TempDir, Store, Server) {
    let b = backend_with(ApiConfig {
        limits: Limits {
            max_age: TimeDelta::days(1),
            ..Limits::default()
        },
        ..ApiConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let server = signed_in(&b, "alice").await;
    (b, dir, s, server)
}

/// Submits a report of today and one of last week; returns their drafts.
fn submit_today_and_last_week(s: &mut Store) -> (vigil_app::Draft, vigil_app::Draft) {
    let fresh = s
        .new_draft(input(43.6, -79.4, "today"), Utc::now())
        .unwrap();
    let mut old = input(43.6, -79.4, "last week");
    old.occurred_at = Some(
        (Utc::now() - TimeDelta::days(7))
            .fixed_offset()
            .to_rfc3339(),
    );
    let old = s.new_draft(old, Utc::now()).unwrap();
    s.submit(&fresh.id, Utc::now()).unwrap();
    s.submit(&old.id, Utc::now()).unwrap();
    (fresh, old)
}

#[tokio::test]
async fn reports_the_server_refuses_come_back_as_drafts_with_its_reason() {
    let (_b, _dir, mut s, server) = strict_backend().await;
    let (_ok, old) = submit_today_and_last_week(&mut s);

    let summary = sync::sync(&mut s, &server, quick()).await.unwrap();
    assert_eq!((summary.sent, summary.rejected), (1, 1));
    let drafts = s.drafts().unwrap();
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0].id, old.id);
    let (field, reason) = drafts[0].rejected.clone().unwrap();
    assert_eq!(field, "occurred_at");
    assert!(!reason.is_empty());
    assert_eq!(
        s.outbox(None).unwrap().len(),
        1,
        "only the accepted one is in the outbox"
    );
}

#[tokio::test]
async fn a_retry_after_a_lost_answer_never_makes_a_second_report() {
    let b = backend().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let server = signed_in(&b, "alice").await;
    for i in 0..3 {
        let d = s
            .new_draft(input(43.6 + f64::from(i) * 0.001, -79.4, "x"), Utc::now())
            .unwrap();
        s.submit(&d.id, Utc::now()).unwrap();
    }
    sync::push_outbox(&mut s, &server).await.unwrap();
    // The answer was lost (the app died before writing it): everything is pending again.
    s.connection()
        .execute("UPDATE outbox SET state = 'pending'", [])
        .unwrap();
    let again = sync::push_outbox(&mut s, &server).await.unwrap();
    assert_eq!(
        again.sent, 3,
        "the server answers duplicate; the outbox empties"
    );
    assert_eq!(server_incidents(&b, "bob").await.len(), 3);
}

#[tokio::test]
async fn edits_show_until_moderation_and_are_kept_for_moderators_after() {
    let b = backend().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let server = signed_in(&b, "alice").await;
    let d = s
        .new_draft(input(43.6535, -79.384, "Bike taken"), Utc::now())
        .unwrap();
    s.submit(&d.id, Utc::now()).unwrap();
    sync::sync(&mut s, &server, quick()).await.unwrap();

    // Before moderation: the edit becomes version 2, for everyone.
    let mut changed = DraftInput::from_submission(&s.current_report(&d.id).unwrap());
    changed.description = "Bike taken; the lock was cut".into();
    let edit = s.edit_report(&d.id, &changed, Utc::now()).unwrap();
    assert_eq!(edit.state, EditState::Pending);
    assert_eq!(edit.base_version, 1);
    assert!(edit.note.is_none());
    let summary = sync::sync(&mut s, &server, quick()).await.unwrap();
    assert_eq!(summary.edits.applied, 1, "{summary:?}");
    assert_eq!(s.edits(Some(&d.id)).unwrap()[0].version, Some(2));
    let seen = server_incidents(&b, "bob").await;
    assert_eq!(seen[0].description, "Bike taken; the lock was cut");
    assert_eq!(seen[0].version, 2);

    // Moderators verify it; the device learns on its next pull.
    b.db.set_status(&d.id, Status::Verified, Utc::now().timestamp_millis())
        .await
        .unwrap();
    sync::sync(&mut s, &server, quick()).await.unwrap();
    assert_eq!(s.incidents(10).unwrap()[0].status, Status::Verified);

    // After moderation: the device warns, and the server keeps the edit aside.
    let mut late = changed.clone();
    late.description = "It was a red bike".into();
    let edit = s.edit_report(&d.id, &late, Utc::now()).unwrap();
    assert!(edit.note.unwrap().contains("kept for them"));
    let summary = sync::sync(&mut s, &server, quick()).await.unwrap();
    assert_eq!(summary.edits.kept, 1, "{summary:?}");
    let edits = s.edits(Some(&d.id)).unwrap();
    assert_eq!(
        edits.iter().map(|e| e.state).collect::<Vec<_>>(),
        vec![EditState::Applied, EditState::KeptAsRevision]
    );
    let seen = server_incidents(&b, "carol").await;
    assert_eq!(seen[0].description, "Bike taken; the lock was cut");
    assert_eq!(seen[0].status, Status::Verified);
    let kept = b.db.kept_revisions(&d.id).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].1.contains("It was a red bike"));

    // A bad edit is refused on the device, naming the field; nothing is queued.
    let mut bad = late.clone();
    bad.location = Some(Location {
        lat: 95.0,
        lon: -79.4,
        accuracy_m: None,
    });
    let err = s.edit_report(&d.id, &bad, Utc::now()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid { field, .. } if field == "location.lat"),
        "{err}"
    );
    assert_eq!(s.edits(Some(&d.id)).unwrap().len(), 2);
}

#[tokio::test]
async fn an_edit_made_offline_follows_its_report_and_a_refused_report_keeps_it() {
    let (b, _dir, mut s, server) = strict_backend().await;
    let (fresh, old) = submit_today_and_last_week(&mut s);
    // Both edited before anything was sent.
    for id in [&fresh.id, &old.id] {
        let mut i = DraftInput::from_submission(&s.current_report(id).unwrap());
        i.description.push_str(" (edited)");
        s.edit_report(id, &i, Utc::now()).unwrap();
    }
    let summary = sync::sync(&mut s, &server, quick()).await.unwrap();
    assert_eq!((summary.sent, summary.rejected), (1, 1));
    assert_eq!(summary.edits.applied, 1, "{summary:?}");
    assert_eq!(
        summary.edits.rejected, 0,
        "the refused report's edit was not sent"
    );
    let seen = server_incidents(&b, "bob").await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].description, "today (edited)");
    // The refused report is a draft again, holding the edit.
    let drafts = s.drafts().unwrap();
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0].input.description, "last week (edited)");
    assert!(s.edits(Some(&old.id)).unwrap().is_empty());
}

#[tokio::test]
async fn offline_drafting_works_and_the_next_sync_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    // Nothing listens on this port.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let offline = Server::new(&format!("http://{closed}"), Some("t".into())).unwrap();
    let d = s
        .new_draft(input(43.6, -79.4, "offline"), Utc::now())
        .unwrap();
    s.submit(&d.id, Utc::now()).unwrap();
    let err = sync::sync(&mut s, &offline, quick()).await.unwrap_err();
    assert!(matches!(err, SyncError::Offline(_)), "{err}");
    let pending: Vec<OutboxItem> = s.outbox(Some(OutboxState::Pending)).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].attempts, 2);
    assert!(
        pending[0]
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("not sent yet"),
        "{:?}",
        pending[0].last_error
    );

    let b = backend().await;
    let server = signed_in(&b, "alice").await;
    sync::sync(&mut s, &server, quick()).await.unwrap();
    assert!(s.outbox(Some(OutboxState::Pending)).unwrap().is_empty());
    assert_eq!(server_incidents(&b, "bob").await.len(), 1);
}

/// A server that answers 503, then garbage, then a push answer for other ids.
async fn broken_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/v1/sync/push",
        axum::routing::post(move || {
            let calls = calls.clone();
            async move {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => (
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        "busy".to_owned(),
                    ),
                    1 => (
                        axum::http::StatusCode::OK,
                        "<html>proxy login</html>".to_owned(),
                    ),
                    _ => (
                        axum::http::StatusCode::OK,
                        r#"{"results":[{"id":"someone-else","outcome":"accepted"}]}"#.to_owned(),
                    ),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

#[tokio::test]
async fn a_server_answering_5xx_or_garbage_leaves_reports_not_sent_yet() {
    let (addr, task) = broken_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let server = Server::new(&format!("http://{addr}"), Some("t".into())).unwrap();
    let d = s.new_draft(input(43.6, -79.4, "x"), Utc::now()).unwrap();
    s.submit(&d.id, Utc::now()).unwrap();
    for expected in ["503", "not Vigil's API", "does not match"] {
        let err = sync::push_outbox(&mut s, &server).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(
            err.to_string().contains(expected) || format!("{err:?}").contains(expected),
            "{err}"
        );
    }
    let pending = s.outbox(Some(OutboxState::Pending)).unwrap();
    assert_eq!(pending.len(), 1, "never marked sent on a bad answer");
    assert_eq!(pending[0].attempts, 3);
    task.abort();
}

#[test]
fn a_damaged_store_is_copied_aside_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.db");
    std::fs::write(&path, b"this is not a database, but someone's only copy").unwrap();
    let err = Store::open(&path).unwrap_err();
    let StoreError::Corrupt { backup, .. } = &err else {
        panic!("expected Corrupt, got {err}");
    };
    assert_eq!(
        std::fs::read(backup).unwrap(),
        b"this is not a database, but someone's only copy"
    );
    assert!(err.to_string().contains(backup));
}

#[test]
fn a_store_from_a_newer_vigil_is_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.db");
    drop(Store::open(&path).unwrap());
    set_schema_version(&path, 99);
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("update Vigil"));
}

/// Marks the store as written by schema `version`.
fn set_schema_version(path: &Path, version: i64) {
    let s = Store::open(path).unwrap();
    s.connection()
        .pragma_update(None, "user_version", version)
        .unwrap();
}

#[test]
fn a_full_disk_keeps_what_was_saved_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let first = s
        .new_draft(input(43.6, -79.4, "saved"), Utc::now())
        .unwrap();
    // Cap the file at its current size: the next growth fails as a full disk would.
    let pages: i64 = s
        .connection()
        .pragma_query_value(None, "page_count", |r| r.get(0))
        .unwrap();
    s.connection()
        .pragma_update(None, "max_page_count", pages)
        .unwrap();
    let big = input(43.6, -79.4, &"x".repeat(1_900));
    let mut failed = None;
    for _ in 0..200 {
        if let Err(e) = s.new_draft(big.clone(), Utc::now()) {
            failed = Some(e);
            break;
        }
    }
    let err = failed.expect("the store never filled up");
    assert!(matches!(err, StoreError::DiskFull), "{err}");
    assert!(err.to_string().contains("still on screen"));
    assert_eq!(s.draft(&first.id).unwrap().input.description, "saved");
}

fn client_dir_with_session(b: &Backend, token: &str) -> PathBuf {
    let dir = tempfile::tempdir().unwrap().keep();
    Session {
        server: b.url.clone(),
        username: "alice".into(),
        token: token.into(),
    }
    .save_without_keyring(&dir)
    .unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_at_50_random_points_delivers_every_report_exactly_once() {
    let b = backend().await;
    let server = signed_in(&b, "alice").await;
    let dir = client_dir_with_session(&b, server.token().unwrap());
    let total = 1_500;
    {
        let mut s = store(&dir);
        for i in 0..total {
            let lat = 43.6 + f64::from(i % 100) * 0.0005;
            let lon = -79.4 + f64::from(i / 100) * 0.0005;
            let d = s
                .new_draft(input(lat, lon, &format!("report {i}")), Utc::now())
                .unwrap();
            s.submit(&d.id, Utc::now()).unwrap();
        }
    }
    let exe = env!("CARGO_BIN_EXE_vigil-client");
    for _ in 0..50 {
        let mut child = Command::new(exe)
            .args([
                "--data-dir",
                dir.to_str().unwrap(),
                "sync",
                "--attempts",
                "1",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Mostly early in the process's life, where the pushes happen.
        tokio::time::sleep(Duration::from_millis(fastrand::u64(5..250))).await;
        let _ = child.kill(); // SIGKILL, wherever it is
        let _ = child.wait();
    }
    let status = Command::new(exe)
        .args(["--data-dir", dir.to_str().unwrap(), "sync"])
        .status()
        .unwrap();
    assert!(status.success());
    let s = store(&dir);
    assert!(
        s.outbox(Some(OutboxState::Pending)).unwrap().is_empty(),
        "the outbox emptied"
    );
    assert_eq!(
        s.outbox(Some(OutboxState::Sent)).unwrap().len(),
        total as usize
    );
    let on_server = server_incidents(&b, "bob").await;
    assert_eq!(on_server.len(), total as usize, "every report exactly once");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pages_apply_status_changes_and_tombstones_and_only_move_forward() {
    use vigil_sync::{Change, Cursor, Incident, IncidentId, Source, Status};
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let id = IncidentId(uuid::Uuid::now_v7());
    let incident = Incident {
        id,
        source: Source::UserReport,
        category: vigil_sync::Category::Theft,
        occurred_at: Utc::now().fixed_offset(),
        reported_at: Utc::now(),
        location: Location {
            lat: 43.6,
            lon: -79.4,
            accuracy_m: None,
        },
        place: None,
        description: "x".into(),
        status: Status::Unverified,
        version: 1,
    };
    let upsert = Change::Upsert {
        incident: incident.clone(),
    };
    let verified = Change::Status {
        id,
        status: Status::Verified,
        version: 2,
    };
    s.apply_page(&[upsert.clone(), verified], Cursor::after(2))
        .unwrap();
    // The same page again, and an old version: nothing moves back.
    s.apply_page(&[upsert], Cursor::after(2)).unwrap();
    let held = s.incidents(10).unwrap();
    assert_eq!((held[0].status, held[0].version), (Status::Verified, 2));
    assert_eq!(s.cursor().unwrap(), Some(Cursor::after(2)));
    s.apply_page(&[Change::Tombstone { id }], Cursor::after(3))
        .unwrap();
    assert!(s.incidents(10).unwrap().is_empty());
    assert_eq!(s.cursor().unwrap(), Some(Cursor::after(3)));
}

#[test]
fn incidents_within_a_watch_area_are_the_newest_inside_its_shape() {
    use vigil_sync::{Change, Cursor, Incident, IncidentId, Source, watch::Shape};
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let at = |lat: f64, lon: f64, hours_ago: i64| Incident {
        id: IncidentId(uuid::Uuid::now_v7()),
        source: Source::UserReport,
        category: vigil_sync::Category::Theft,
        occurred_at: (Utc::now() - TimeDelta::hours(hours_ago)).fixed_offset(),
        reported_at: Utc::now(),
        location: Location {
            lat,
            lon,
            accuracy_m: None,
        },
        place: None,
        description: format!("{lat},{lon}"),
        status: Status::Unverified,
        version: 1,
    };
    // Nathan Phillips Square; 300 m north; 2 km east (outside the circle, inside its box
    // only if the box were wrong); a corner of the circle's box (outside the circle).
    let square = at(43.6535, -79.3840, 3);
    let north = at(43.6562, -79.3840, 1);
    let east = at(43.6535, -79.3592, 2);
    let corner = at(43.6535 + 0.0070, -79.3840 + 0.0095, 0);
    let changes: Vec<Change> = [&square, &north, &east, &corner]
        .into_iter()
        .map(|i| Change::Upsert {
            incident: i.clone(),
        })
        .collect();
    s.apply_page(&changes, Cursor::after(4)).unwrap();

    let circle = Shape::Circle {
        lat: 43.6535,
        lon: -79.3840,
        radius_m: 800.0,
    };
    let inside = s.incidents_within(&circle, 10).unwrap();
    let ids: Vec<_> = inside.iter().map(|i| i.id).collect();
    assert_eq!(ids, vec![north.id, square.id], "newest first, only inside");
    assert_eq!(s.incidents_within(&circle, 1).unwrap()[0].id, north.id);

    // A triangle around the east incident only.
    let triangle = Shape::Polygon {
        points: vec![[43.650, -79.362], [43.657, -79.362], [43.6535, -79.355]],
    };
    let ids: Vec<_> = s
        .incidents_within(&triangle, 10)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, vec![east.id]);
}
