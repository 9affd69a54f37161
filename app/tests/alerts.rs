//! Watch areas and alerts in the client core against the whole embedded backend (`vigil
//! serve` in this process: API, relay, matcher): areas reach the server (and a deletion,
//! and a refusal, and an offline save), a neighbour's report alerts the resident over the
//! live stream and by pull on a second device, each alert is kept and notified once, and
//! the stream resumes after a reconnect without a repeat.

mod common;

use std::{path::Path, sync::Arc, time::Duration};

use common::{Serving, serving};

use chrono::{TimeDelta, Utc};
use tokio::sync::{Mutex, mpsc};
use vigil_app::{AreaState, Backoff, DraftInput, Server, Store, StoreError, alerts, sync};
use vigil_sync::{
    Category, Location,
    watch::{AlertBody, Notice, Shape, WatchAreaSpec},
};

/// Queen St W & Spadina Ave, Toronto.
const HOME: (f64, f64) = (43.6487, -79.3966);

async fn signed_in(b: &Serving, name: &str) -> Server {
    common::signed_in_at(&b.url, name).await
}

fn store(dir: &Path) -> Store {
    Store::open(&dir.join("vigil.db")).unwrap()
}

fn circle(name: &str, (lat, lon): (f64, f64), radius_m: f64) -> WatchAreaSpec {
    WatchAreaSpec {
        name: name.into(),
        shape: Shape::Circle { lat, lon, radius_m },
        categories: vec![],
        min_severity: 1,
        quiet_hours: None,
    }
}

fn quick() -> Backoff {
    Backoff {
        base: Duration::from_millis(10),
        max: Duration::from_millis(50),
        attempts: 2,
    }
}

/// The watch areas the server has for `server`'s account: `(id, name)`.
async fn server_areas(b: &Serving, server: &Server) -> Vec<(String, String)> {
    let answer: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/v1/watch-areas", b.url))
        .bearer_auth(server.token().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["areas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A neighbour reports a theft at `at`; returns the report's id.
async fn neighbour_reports(b: &Serving, at: (f64, f64), text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let server = signed_in(b, &format!("neighbour-{}", uuid_ish())).await;
    let draft = s
        .new_draft(
            DraftInput {
                category: Some("theft".into()),
                occurred_at: Some(
                    (Utc::now() - TimeDelta::minutes(10))
                        .fixed_offset()
                        .to_rfc3339(),
                ),
                location: Some(Location {
                    lat: at.0,
                    lon: at.1,
                    accuracy_m: Some(10.0),
                }),
                place: Some("Queen St W & Spadina Ave".into()),
                description: text.into(),
                anonymous: false,
            },
            Utc::now(),
        )
        .unwrap();
    s.submit(&draft.id, Utc::now()).unwrap();
    let done = sync::sync(&mut s, &server, quick()).await.unwrap();
    assert_eq!(done.sent, 1);
    draft.id
}

type Stream = tokio::task::JoinHandle<Result<(), vigil_app::SyncError>>;

/// Follows the alert stream into `store` in a task; each batch of new alerts arrives on
/// the receiver.
fn follow(
    store: &Arc<Mutex<Store>>,
    server: &Server,
) -> (
    Stream,
    mpsc::UnboundedReceiver<Vec<vigil_sync::watch::Alert>>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (store, server) = (store.clone(), server.clone());
    let task = tokio::spawn(async move {
        alerts::stream_alerts(&store, &server, move |new| {
            let _ = tx.send(new);
        })
        .await
    });
    (task, rx)
}

fn uuid_ish() -> String {
    format!("{:x}", fastrand::u64(..))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn areas_are_saved_offline_sent_on_sync_and_refusals_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());

    // Checked with the server's rules before anything is sent.
    let bad = s
        .save_area(None, circle("Home", HOME, 5.0), Utc::now())
        .unwrap_err();
    assert!(
        matches!(&bad, StoreError::Invalid { field, .. } if field == "shape.circle.radius_m"),
        "{bad}"
    );
    let mut zone = circle("Home", HOME, 800.0);
    zone.quiet_hours = Some(vigil_sync::watch::QuietHours {
        start: "22:00".into(),
        end: "07:00".into(),
        time_zone: "Mars/Olympus".into(),
    });
    let bad = s.save_area(None, zone, Utc::now()).unwrap_err();
    assert!(
        bad.to_string().starts_with("quiet_hours.time_zone"),
        "{bad}"
    );

    // Saved offline: the sync fails, the area stays pending with why.
    let home = s
        .save_area(None, circle("Home", HOME, 800.0), Utc::now())
        .unwrap();
    let gone = s
        .save_area(None, circle("Old flat", (43.66, -79.40), 300.0), Utc::now())
        .unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let offline = Server::new(&format!("http://{closed}"), Some("x".into())).unwrap();
    let err = sync::sync(&mut s, &offline, quick()).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    let areas = s.watch_areas().unwrap();
    assert_eq!(areas.len(), 2);
    assert!(areas.iter().all(|a| a.state == AreaState::Pending));
    assert!(
        areas[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("not sent yet")),
        "{:?}",
        areas[0].last_error
    );

    // Deleted before it ever reached the server, then online: only Home arrives.
    s.delete_area(&gone.id, Utc::now()).unwrap();
    let b = serving().await;
    let server = signed_in(&b, "resident").await;
    let done = sync::sync(&mut s, &server, quick()).await.unwrap();
    assert_eq!((done.areas.saved, done.areas.deleted), (1, 1));
    assert_eq!(
        server_areas(&b, &server).await,
        vec![(home.id.clone(), "Home".to_owned())]
    );
    let areas = s.watch_areas().unwrap();
    assert_eq!(areas.len(), 1);
    assert_eq!(areas[0].state, AreaState::Synced);

    // A change replaces the server's copy under the same id; a deletion removes it there.
    let mut wider = circle("Home and park", HOME, 1500.0);
    wider.categories = vec![Category::Theft];
    s.save_area(Some(&home.id), wider, Utc::now()).unwrap();
    sync::sync(&mut s, &server, quick()).await.unwrap();
    assert_eq!(
        server_areas(&b, &server).await,
        vec![(home.id.clone(), "Home and park".to_owned())]
    );
    s.delete_area(&home.id, Utc::now()).unwrap();
    let done = sync::sync(&mut s, &server, quick()).await.unwrap();
    assert_eq!(done.areas.deleted, 1);
    assert!(server_areas(&b, &server).await.is_empty());
    assert!(s.watch_areas().unwrap().is_empty());

    // The server's limit is 50 areas: the 51st is refused and kept here with the reason,
    // and the refusal does not stop the sync.
    for i in 0..51 {
        s.save_area(
            None,
            circle(
                &format!("Block {i}"),
                (43.6 + i as f64 * 0.001, -79.4),
                100.0,
            ),
            Utc::now(),
        )
        .unwrap();
    }
    let done = sync::sync(&mut s, &server, quick()).await.unwrap();
    assert_eq!((done.areas.saved, done.areas.refused), (50, 1));
    assert_eq!(server_areas(&b, &server).await.len(), 50);
    let refused: Vec<_> = s
        .watch_areas()
        .unwrap()
        .into_iter()
        .filter(|a| a.state == AreaState::Pending)
        .collect();
    assert_eq!(refused.len(), 1);
    let why = refused[0].last_error.as_deref().unwrap_or_default();
    assert!(why.starts_with("refused:") && why.contains("50"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_neighbours_report_alerts_live_and_by_pull_once_each() {
    let b = serving().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let server = signed_in(&b, "resident").await;
    s.save_area(None, circle("Home", HOME, 800.0), Utc::now())
        .unwrap();
    sync::sync(&mut s, &server, quick()).await.unwrap();

    // The live stream, as the desktop shell runs it.
    let shared = Arc::new(Mutex::new(s));
    let (follow, mut rx) = follow(&shared, &server);
    // Give the matcher a moment to read the new area, then the neighbour reports.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let report = neighbour_reports(&b, (HOME.0 + 0.001, HOME.1), "Bike taken").await;
    let live = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("no alert on the stream within 30 s")
        .unwrap();
    assert_eq!(live.len(), 1);
    let AlertBody::Incident { incident, areas } = &live[0].body else {
        panic!("expected an incident alert, got {:?}", live[0]);
    };
    assert_eq!(incident.id.to_string(), report);
    assert_eq!(areas, &vec!["Home".to_owned()]);

    {
        let mut s = shared.lock().await;
        let inbox = s.inbox(10).unwrap();
        assert_eq!(inbox.len(), 1);
        assert!(!inbox[0].read && !inbox[0].retracted);
        assert_eq!(s.unread_alerts().unwrap(), 1);
        // Offered for a notification once.
        let first = s.take_unnotified(Utc::now()).unwrap();
        let notice = Notice::for_alerts(&first).unwrap();
        assert_eq!(notice.title, "Theft near Home");
        assert!(s.take_unnotified(Utc::now()).unwrap().is_empty());
        // A pull after the stream finds nothing new: the same id is not kept twice.
        let again = sync::sync(&mut s, &server, quick()).await.unwrap();
        assert!(again.alerts.is_empty(), "{:?}", again.alerts);
        assert_eq!(s.inbox(10).unwrap().len(), 1);
        s.mark_alerts_read(live[0].id, Utc::now()).unwrap();
        assert_eq!(s.unread_alerts().unwrap(), 0);
    }

    // The stream is cut (the app closes); another report arrives meanwhile; the next
    // stream resumes after the last id and brings just that one.
    follow.abort();
    let second = neighbour_reports(&b, (HOME.0, HOME.1 + 0.001), "Phone snatched").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (follow, mut rx) = self::follow(&shared, &server);
    let resumed = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("no alert after the reconnect")
        .unwrap();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].id, live[0].id + 1);
    match &resumed[0].body {
        AlertBody::Incident { incident, .. } => assert_eq!(incident.id.to_string(), second),
        other => panic!("expected the second report's alert, got {other:?}"),
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(800), rx.recv())
            .await
            .is_err(),
        "the resumed stream repeated an alert"
    );
    follow.abort();

    // A second device of the same person, offline until now, gets both by pull.
    let other = tempfile::tempdir().unwrap();
    let mut phone = store(other.path());
    let done = sync::sync(&mut phone, &server, quick()).await.unwrap();
    let ids: Vec<u64> = done.alerts.iter().map(|a| a.id).collect();
    assert_eq!(ids, vec![live[0].id, live[0].id + 1]);
    let notice = Notice::for_alerts(&phone.take_unnotified(Utc::now()).unwrap()).unwrap();
    assert_eq!(notice.title, "Theft near Home (+1 more)");
}
