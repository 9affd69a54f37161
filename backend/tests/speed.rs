//! The speed layer end to end: push, relay, consume, and read near a point, on the
//! embedded engines and on PostgreSQL, Kafka and Redis; redelivery and re-publishing change
//! no count; unreadable records go to the dead-letter topic.

mod common;

use axum::http::{Method, StatusCode};
use common::{
    Engine, TestApp,
    pipeline::{LogKind, Pipeline, ViewKind, consume, read_all},
    report,
};
use rstest::rstest;
use serde_json::{Value, json};
use vigil_backend::log::Record;
use vigil_sync::{AreaCell, Category, Location, privacy};

async fn cell_total(p: &Pipeline, token: &str, lat: f64, lon: f64) -> u64 {
    let cell = AreaCell::of(
        &Location {
            lat,
            lon,
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
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .sum()
}

#[rstest]
#[case::embedded(Engine::Sqlite, LogKind::File, ViewKind::Memory)]
#[case::postgres_kafka_redis(Engine::Postgres, LogKind::Kafka, ViewKind::Redis)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_reports_are_found_near_a_point_and_counted(
    #[case] store: Engine,
    #[case] log: LogKind,
    #[case] views: ViewKind,
) {
    let p = Pipeline::new(store, log, views).await;
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
    assert_eq!(p.relay("incidents").await, 3);
    let mut speed = p.speed("speed").await;
    consume(&mut speed, 3).await;

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
    // Public views show each place snapped to its area's centre, and measure to that.
    let centre = Location {
        lat: 43.6534,
        lon: -79.3841,
        accuracy_m: None,
    };
    let snapped = |r: &Value| {
        let exact: Location = serde_json::from_value(r["location"].clone()).unwrap();
        privacy::snap(&exact, Category::BreakAndEnter)
    };
    let mut expected: Vec<(f64, &Value)> = [&a, &b]
        .into_iter()
        .map(|r| (centre.distance_m(&snapped(r)), r))
        .collect();
    expected.sort_by(|x, y| x.0.total_cmp(&y.0));
    for (i, (d, r)) in expected.iter().enumerate() {
        let got = &body["incidents"][i];
        assert_eq!(got["id"], r["id"], "{body}");
        assert_eq!(got["category"], r["category"]);
        assert_eq!(got["location"], serde_json::to_value(snapped(r)).unwrap());
        assert_eq!(
            got["distance_m"].as_f64().unwrap(),
            (d * 10.0).round() / 10.0
        );
    }
    // A 1 m circle on the precise spot finds nothing: it is not where the public sees it.
    let (_, tiny) = p
        .app
        .call(
            Method::GET,
            "/v1/incidents/near?lat=43.6534&lon=-79.3841&radius_m=1",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(tiny["count"], 0, "{tiny}");
    assert_eq!(cell_total(&p, &token, 43.6534, -79.3841).await, 2);
    assert_eq!(cell_total(&p, &token, 43.70, -79.40).await, 1);

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

#[rstest]
#[case::embedded(Engine::Sqlite, LogKind::File, ViewKind::Memory)]
#[case::kafka_redis(Engine::Postgres, LogKind::Kafka, ViewKind::Redis)]
#[case::file_redis(Engine::Sqlite, LogKind::File, ViewKind::Redis)]
#[case::kafka_memory(Engine::Sqlite, LogKind::Kafka, ViewKind::Memory)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_and_republishing_change_no_count(
    #[case] store: Engine,
    #[case] log: LogKind,
    #[case] views: ViewKind,
) {
    let p = Pipeline::new(store, log, views).await;
    let token = p.app.user("alice").await;
    let reports: Vec<_> = (0..20)
        .map(|i| report(43.65 + f64::from(i) * 0.00001, -79.38))
        .collect();
    p.app.push(&token, reports).await;
    // Two relays at once (or a crashed one and its restart, without its position) each
    // publish every change.
    let (one, two) = tokio::join!(p.relay("incidents"), p.relay("incidents-again"));
    assert_eq!((one, two), (20, 20));

    // A consumer that dies after writing the views but before committing: its batch is
    // read again by the next member of the group.
    let mut crashed = p.speed_committing("speed", false).await;
    consume(&mut crashed, 40).await;
    drop(crashed);
    assert_eq!(cell_total(&p, &token, 43.65, -79.38).await, 20);
    let mut restarted = p.speed("speed").await;
    consume(&mut restarted, 40).await;
    assert_eq!(cell_total(&p, &token, 43.65, -79.38).await, 20);

    // A brand-new group replays the whole topic over the same views: same counts.
    let mut replay = p.speed("replay").await;
    consume(&mut replay, 40).await;
    assert_eq!(cell_total(&p, &token, 43.65, -79.38).await, 20);
    let (_, body) = p
        .app
        .call(
            Method::GET,
            "/v1/incidents/near?lat=43.65&lon=-79.38&radius_m=1000&limit=1000",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(body["count"], 20);
}

#[rstest]
#[case::embedded(LogKind::File, ViewKind::Memory)]
#[case::kafka_redis(LogKind::Kafka, ViewKind::Redis)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_records_go_to_the_dead_letter_topic(
    #[case] log: LogKind,
    #[case] views: ViewKind,
) {
    let p = Pipeline::new(Engine::Sqlite, log, views).await;
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
    assert_eq!(p.relay("incidents").await, 1);
    let mut speed = p.speed("speed").await;
    consume(&mut speed, 3).await;
    assert_eq!(speed.unreadable(), 2);
    assert_eq!(
        cell_total(&p, &token, 43.65, -79.38).await,
        1,
        "the good record still counts"
    );
    let mut dlq = p.dlq_consumer("inspect").await;
    let dead = read_all(&mut dlq, 2).await;
    let mut payloads: Vec<Vec<u8>> = dead.into_iter().map(|d| d.payload).collect();
    payloads.sort();
    assert_eq!(payloads[1], b"{not json");
    assert_eq!(
        payloads[0],
        json!({"v": 9, "seq": 1}).to_string().into_bytes()
    );
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

#[tokio::test]
async fn an_unreachable_redis_answers_503_with_what_to_do() {
    use vigil_backend::{
        api::{ApiConfig, AppState, router},
        speed::{ViewStore, redis::RedisViews},
    };
    let mut app = TestApp::new(Engine::Sqlite).await;
    let views = ViewStore::redis(
        RedisViews::open("redis://127.0.0.1:1/0", "test:").unwrap(),
        chrono::TimeDelta::days(1),
    );
    app.router = router(AppState::new(app.db.clone(), ApiConfig::default()).with_views(views));
    let token = app.user("alice").await;
    let (status, body) = app
        .call(
            Method::GET,
            "/v1/incidents/near?lat=43.6&lon=-79.4",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["message"].as_str().unwrap().contains("try again"));
}

#[rstest]
#[case::embedded(Engine::Sqlite, LogKind::File, ViewKind::Memory)]
#[case::postgres_kafka(Engine::Postgres, LogKind::Kafka, ViewKind::Redis)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_private_reports_never_reach_the_event_log(
    #[case] store: Engine,
    #[case] log: LogKind,
    #[case] views: ViewKind,
) {
    let p = Pipeline::new(store, log, views).await;
    let token = p.app.user("alice").await;
    let (status, group) = p
        .app
        .call(
            Method::POST,
            "/v1/groups",
            Some(&token),
            Some(json!({"name": "Elm Street Watch"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let private = |lat: f64| {
        let mut r = report(lat, -79.3841);
        r["group"] = group["id"].clone();
        r["visibility"] = json!("group");
        r
    };
    let (first, public, second) = (
        private(43.6534),
        report(43.6540, -79.3841),
        private(43.6545),
    );
    p.app
        .push_accepted(&token, vec![first.clone(), public.clone(), second.clone()])
        .await;
    // The relay moves past all three and publishes only the public one.
    assert_eq!(p.relay("incidents").await, 3);
    assert_eq!(p.relay("incidents").await, 0);
    let mut consumer = p.consumer("private-check").await;
    let got = read_all(&mut consumer, 1).await;
    let text = String::from_utf8(got[0].payload.clone()).unwrap();
    assert!(text.contains(public["id"].as_str().unwrap()), "{text}");
    let more = consumer
        .poll(10, std::time::Duration::from_millis(1_000))
        .await
        .unwrap();
    assert!(
        more.is_empty(),
        "private reports were published: {}",
        more.len()
    );
}
