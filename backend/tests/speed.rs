//! The speed layer, embedded: push, relay, consume, and read near a point; redelivery and
//! re-publishing change no count; unreadable records go to the dead-letter topic.

mod common;

use axum::http::{Method, StatusCode};
use common::{Engine, TestApp, report};
use serde_json::json;
use vigil_backend::{
    api::{ApiConfig, AppState, router},
    log::{FileLog, Record},
    relay::Relay,
    speed::{SharedViews, Speed},
};

struct Pipeline {
    app: TestApp,
    log: FileLog,
    dlq: FileLog,
    views: SharedViews,
    _dir: tempfile::TempDir,
}

async fn pipeline() -> Pipeline {
    let mut app = TestApp::new(Engine::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(&dir.path().join("incidents"), 4).unwrap();
    let dlq = FileLog::open(&dir.path().join("dlq"), 1).unwrap();
    let views = SharedViews::default();
    app.router =
        router(AppState::new(app.db.clone(), ApiConfig::default()).with_views(views.clone()));
    Pipeline {
        app,
        log,
        dlq,
        views,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_reports_are_found_near_a_point_and_counted() {
    let p = pipeline().await;
    let token = p.app.user("alice").await;
    // Two near Toronto City Hall (about 100 m apart), one 5 km away.
    let (a, b, far) = (
        report(43.6534, -79.3841),
        report(43.6543, -79.3841),
        report(43.70, -79.40),
    );
    p.app
        .push(&token, vec![a.clone(), b.clone(), far.clone()])
        .await;
    Relay::new(p.app.db.clone(), p.log.clone(), "incidents")
        .run_once()
        .await
        .unwrap();
    let mut speed = Speed::new(p.log.clone(), p.dlq.clone(), p.views.clone());
    assert_eq!(speed.run_once().await.unwrap(), 3);

    let (status, body) = p
        .app
        .call(
            Method::GET,
            "/v1/incidents/near?lat=43.6534&lon=-79.3841&radius_m=500",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["count"], 2);
    assert_eq!(body["incidents"][0]["id"], a["id"]);
    assert_eq!(body["incidents"][0]["distance_m"], 0.0);
    assert_eq!(body["incidents"][1]["id"], b["id"]);
    let d = body["incidents"][1]["distance_m"].as_f64().unwrap();
    assert!(
        (95.0..105.0).contains(&d),
        "0.0009 degrees of latitude is about 100 m, got {d}"
    );

    let cell = vigil_sync::AreaCell::of(
        &vigil_sync::Location {
            lat: 43.6534,
            lon: -79.3841,
            accuracy_m: None,
        },
        8,
    )
    .unwrap();
    let (status, body) = p
        .app
        .call(
            Method::GET,
            &format!("/v1/cells/{cell}/counts"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let total: u64 = body["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 2);
    assert_eq!(body["counts"][0]["category"], "break_and_enter");

    let (status, body) = p
        .app
        .call(
            Method::GET,
            "/v1/incidents/near?lat=95&lon=0",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "lat");
    let (status, body) = p
        .app
        .call(Method::GET, "/v1/cells/nonsense/counts", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "cell");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_and_republishing_change_no_count() {
    let p = pipeline().await;
    let token = p.app.user("alice").await;
    let reports: Vec<_> = (0..20)
        .map(|i| report(43.65 + f64::from(i) * 0.0001, -79.38))
        .collect();
    p.app.push(&token, reports).await;
    Relay::new(p.app.db.clone(), p.log.clone(), "incidents")
        .run_once()
        .await
        .unwrap();
    // A second relay (or a crashed one) publishes every change again.
    Relay::new(p.app.db.clone(), p.log.clone(), "incidents-again")
        .run_once()
        .await
        .unwrap();
    let mut speed = Speed::new(p.log.clone(), p.dlq.clone(), p.views.clone());
    assert_eq!(speed.run_once().await.unwrap(), 40);
    assert_eq!(p.views.read().unwrap().total_count(), 20);

    // A consumer that starts over (a restart mid-batch replays) lands on the same counts.
    let mut again = Speed::new(p.log.clone(), p.dlq.clone(), p.views.clone());
    again.run_once().await.unwrap();
    assert_eq!(p.views.read().unwrap().total_count(), 20);
    let fresh = SharedViews::default();
    Speed::new(p.log.clone(), p.dlq.clone(), fresh.clone())
        .run_once()
        .await
        .unwrap();
    assert_eq!(fresh.read().unwrap().total_count(), 20);
    assert_eq!(fresh.read().unwrap().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_records_go_to_the_dead_letter_topic() {
    let p = pipeline().await;
    let token = p.app.user("alice").await;
    p.log
        .append(
            &[
                Record {
                    key: b"x".to_vec(),
                    payload: b"{not json".to_vec(),
                },
                Record {
                    key: b"x".to_vec(),
                    payload: json!({"v": 9, "seq": 1}).to_string().into_bytes(),
                },
            ],
            0,
        )
        .await
        .unwrap();
    p.app.push(&token, vec![report(43.65, -79.38)]).await;
    Relay::new(p.app.db.clone(), p.log.clone(), "incidents")
        .run_once()
        .await
        .unwrap();
    let mut speed = Speed::new(p.log.clone(), p.dlq.clone(), p.views.clone());
    assert_eq!(speed.run_once().await.unwrap(), 3);
    assert_eq!(speed.unreadable(), 2);
    assert_eq!(
        p.views.read().unwrap().total_count(),
        1,
        "the good record still counts"
    );
    let dead = p.dlq.read(0, 0, 10).await.unwrap();
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0].payload, b"{not json");
}

#[tokio::test]
async fn without_views_the_endpoint_says_so() {
    let app = TestApp::new(Engine::Sqlite).await;
    let token = app.user("alice").await;
    let (status, body) = app
        .call(
            Method::GET,
            "/v1/incidents/near?lat=43.6&lon=-79.4",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "speed_layer_unavailable");
}
