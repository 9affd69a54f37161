//! Real-time alerts end to end: watch areas through the API, reports pushed, the relay,
//! the matcher on the event log, the inbox and the WebSocket stream. Embedded (SQLite,
//! file log, in-process wake-ups) and scale-out (PostgreSQL, Kafka, Redis pub/sub).

mod common;

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use chrono::{DateTime, TimeDelta, Timelike, Utc};
use futures::StreamExt;
use rstest::rstest;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
use uuid::Uuid;
use vigil_backend::{
    alerts::{AlertOptions, Matcher, notify::Notifier},
    api::{ApiConfig, AppState, router},
    db::AlertPolicy,
};
use vigil_sync::{Status, watch::Alert};

use common::{
    Engine, TestApp,
    pipeline::{LogKind, Pipeline, ViewKind, redis_url, unique},
    report,
};

/// Where the test incidents happen: Queen St W & Spadina Ave, Toronto.
const HOME: (f64, f64) = (43.6487, -79.3966);
/// About 5 km away.
const ELSEWHERE: (f64, f64) = (43.6900, -79.4200);

#[derive(Debug, Clone, Copy)]
enum Setup {
    /// SQLite, the file log, wake-ups within the process.
    Embedded,
    /// PostgreSQL, Kafka, wake-ups through Redis.
    ScaleOut,
}

struct Rig {
    pipeline: Pipeline,
    /// The notifier the matcher publishes to (for scale-out, a separate Redis client, as
    /// if in another process).
    matcher_notifier: Notifier,
    /// The notifier the API's streams listen on.
    api_notifier: Notifier,
    group: String,
    _listen: Option<tokio::task::JoinHandle<()>>,
}

impl Rig {
    async fn new(setup: Setup) -> Rig {
        let (engine, log) = match setup {
            Setup::Embedded => (Engine::Sqlite, LogKind::File),
            Setup::ScaleOut => (Engine::Postgres, LogKind::Kafka),
        };
        let pipeline = Pipeline::new(engine, log, ViewKind::Memory).await;
        let (matcher_notifier, api_notifier, listen) = match setup {
            Setup::Embedded => {
                let n = Notifier::local();
                (n.clone(), n, None)
            }
            Setup::ScaleOut => {
                let prefix = unique("test:") + ":";
                let api = Notifier::with_redis(&redis_url(), &prefix).unwrap();
                let listen = tokio::spawn(api.clone().listen());
                (
                    Notifier::with_redis(&redis_url(), &prefix).unwrap(),
                    api,
                    Some(listen),
                )
            }
        };
        Rig {
            pipeline,
            matcher_notifier,
            api_notifier,
            group: unique("alerts-"),
            _listen: listen,
        }
    }

    fn app(&self) -> &TestApp {
        &self.pipeline.app
    }

    async fn matcher(&self, policy: AlertPolicy) -> Matcher {
        self.matcher_in(&self.group, policy).await
    }

    async fn matcher_in(&self, group: &str, policy: AlertPolicy) -> Matcher {
        Matcher::new(
            self.pipeline.consumer(group).await,
            self.app().db.clone(),
            self.matcher_notifier.clone(),
            AlertOptions {
                policy,
                idle: Duration::from_millis(100),
                refresh: Duration::ZERO,
                ..AlertOptions::default()
            },
        )
    }

    /// Saves a circle of `radius_m` around `at` for `token`; returns its id.
    async fn area(&self, token: &str, name: &str, at: (f64, f64), extra: Value) -> String {
        let id = Uuid::now_v7().to_string();
        let mut body = json!({
            "name": name,
            "shape": {"circle": {"lat": at.0, "lon": at.1, "radius_m": 500.0}},
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, out) = self
            .app()
            .call(
                Method::PUT,
                &format!("/v1/watch-areas/{id}"),
                Some(token),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{out}");
        id
    }

    /// Pushes reports at `at`; returns their ids.
    async fn push(&self, token: &str, at: (f64, f64), n: usize) -> Vec<String> {
        let reports: Vec<Value> = (0..n).map(|_| report(at.0, at.1)).collect();
        let ids = reports
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        self.app().push_accepted(token, reports).await;
        ids
    }

    /// Relays every pending change, then runs `matcher` at `now` until it has read them.
    async fn deliver(
        &self,
        matcher: &mut Matcher,
        now: DateTime<Utc>,
    ) -> vigil_backend::alerts::Round {
        let published = self.pipeline.relay("alerts-test").await;
        let mut total = vigil_backend::alerts::Round::default();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let round = matcher.run_once(now).await.unwrap();
            total.records += round.records;
            total.sent += round.sent;
            total.held += round.held;
            total.digests += round.digests;
            total.retractions += round.retractions;
            if total.records >= published {
                return total;
            }
            assert!(
                Instant::now() < deadline,
                "matcher read {} of {published} records in 60 s",
                total.records
            );
        }
    }

    /// Everything in `token`'s inbox.
    async fn inbox(&self, token: &str) -> Vec<Alert> {
        let (status, page) = self
            .app()
            .call(Method::GET, "/v1/alerts?limit=500", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["has_more"], false);
        serde_json::from_value(page["alerts"].clone()).unwrap()
    }
}

fn policy(limit: u32) -> AlertPolicy {
    AlertPolicy {
        limit,
        window_ms: 10 * 60 * 1000,
    }
}

fn incident_ids(alerts: &[Alert]) -> Vec<String> {
    use vigil_sync::watch::AlertBody;
    let mut ids = Vec::new();
    for a in alerts {
        match &a.body {
            AlertBody::Incident { incident, .. } => ids.push(incident.id.to_string()),
            AlertBody::Digest { incidents, .. } => {
                ids.extend(incidents.iter().map(|i| i.id.to_string()))
            }
            AlertBody::Retraction { .. } => {}
        }
    }
    ids
}

fn kinds(alerts: &[Alert]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| {
            serde_json::to_value(a).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_areas_are_validated_replaced_and_deleted(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let id = Uuid::now_v7().to_string();
    let uri = format!("/v1/watch-areas/{id}");
    let circle = json!({"name": " Home ", "shape": {"circle": {"lat": HOME.0, "lon": HOME.1, "radius_m": 400}},
        "categories": ["robbery", "assault", "robbery"], "min_severity": 2,
        "quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "America/Toronto"}});
    let (status, body) = app
        .call(Method::PUT, &uri, Some(&ann), Some(circle.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "Home", "the name is trimmed");
    assert_eq!(body["categories"], json!(["assault", "robbery"]));
    // Saving again replaces the same area.
    let renamed = json!({"name": "Home and street", "shape": {"polygon": {"points": [[43.64, -79.40], [43.65, -79.40], [43.65, -79.39]]}}});
    let (status, body) = app.call(Method::PUT, &uri, Some(&ann), Some(renamed)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, list) = app
        .call(Method::GET, "/v1/watch-areas", Some(&ann), None)
        .await;
    assert_eq!(list["areas"].as_array().unwrap().len(), 1);
    assert_eq!(list["areas"][0]["name"], "Home and street");
    assert!(list["areas"][0]["shape"]["polygon"].is_object());
    // Someone else's id.
    let (status, body) = app
        .call(Method::PUT, &uri, Some(&bob), Some(circle.clone()))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["field"], "id");
    let (_, list) = app
        .call(Method::GET, "/v1/watch-areas", Some(&bob), None)
        .await;
    assert_eq!(list["areas"], json!([]));

    // Bad input: each answer names the field, and nothing is stored.
    let bad = [
        (
            json!({"name": "x", "shape": {"circle": {"lat": 43.6, "lon": -79.4, "radius_m": 5}}}),
            "shape.circle.radius_m",
        ),
        (
            json!({"name": "x", "shape": {"polygon": {"points": [[0, 0], [0.01, 0.01], [0, 0.01], [0.01, 0]]}}}),
            "shape.polygon.points",
        ),
        (
            json!({"name": "x", "shape": {"circle": {"lat": 43.6, "lon": -79.4, "radius_m": 500}},
            "quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "Mars/Olympus"}}),
            "quiet_hours.time_zone",
        ),
        (
            json!({"name": "x", "shape": {"circle": {"lat": 43.6, "lon": -79.4, "radius_m": 500}},
            "quiet_hours": {"start": "25:00", "end": "07:00", "time_zone": "UTC"}}),
            "quiet_hours.start",
        ),
        (
            json!({"name": "x", "shape": {"circle": {"lat": 43.6, "lon": -79.4, "radius_m": 500}}, "categories": ["arson"]}),
            "categories[0]",
        ),
        (
            json!({"name": "", "shape": {"circle": {"lat": 43.6, "lon": -79.4, "radius_m": 500}}}),
            "name",
        ),
        (json!({"name": "x", "shape": {"square": {}}}), "shape"),
    ];
    for (body, field) in bad {
        let uri = format!("/v1/watch-areas/{}", Uuid::now_v7());
        let (status, answer) = app.call(Method::PUT, &uri, Some(&bob), Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["field"], field, "{answer}");
    }
    let (status, answer) = app
        .call(
            Method::PUT,
            "/v1/watch-areas/not-a-uuid",
            Some(&bob),
            Some(circle.clone()),
        )
        .await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("id"))
    );
    let (_, list) = app
        .call(Method::GET, "/v1/watch-areas", Some(&bob), None)
        .await;
    assert_eq!(list["areas"], json!([]));
    let (status, _) = app.call(Method::GET, "/v1/watch-areas", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // At most 50 areas each.
    for _ in 0..50 {
        let uri = format!("/v1/watch-areas/{}", Uuid::now_v7());
        let (status, body) = app
            .call(Method::PUT, &uri, Some(&bob), Some(circle.clone()))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let uri51 = format!("/v1/watch-areas/{}", Uuid::now_v7());
    let (status, body) = app
        .call(Method::PUT, &uri51, Some(&bob), Some(circle.clone()))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("too_many_areas"))
    );

    let (status, _) = app.call(Method::DELETE, &uri, Some(&bob), None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "bob cannot delete ann's area"
    );
    let (status, _) = app.call(Method::DELETE, &uri, Some(&ann), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.call(Method::DELETE, &uri, Some(&ann), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app
        .call(Method::GET, "/v1/watch-areas", Some(&ann), None)
        .await;
    assert_eq!(list["areas"], json!([]));
}

#[rstest]
#[case::embedded(Setup::Embedded)]
#[case::scale_out(Setup::ScaleOut)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_alert_per_person_per_incident(#[case] setup: Setup) {
    let rig = Rig::new(setup).await;
    let ann = rig.app().user("ann").await;
    let bob = rig.app().user("bob").await;
    let cat = rig.app().user("cat").await;
    let dan = rig.app().user("dan").await;
    let reporter = rig.app().user("reporter").await;
    // Ann's two areas overlap at HOME; Bob watches it; Cat watches elsewhere; Dan only
    // robberies.
    rig.area(&ann, "Home", HOME, json!({})).await;
    rig.area(&ann, "School", (HOME.0 + 0.002, HOME.1), json!({}))
        .await;
    rig.area(&bob, "Street", HOME, json!({})).await;
    rig.area(&cat, "Park", ELSEWHERE, json!({})).await;
    rig.area(&dan, "Shop", HOME, json!({"categories": ["robbery"]}))
        .await;

    let mut matcher = rig.matcher(policy(5)).await;
    let first = report(HOME.0, HOME.1);
    let ids = vec![first["id"].as_str().unwrap().to_owned()];
    let (status, _) = rig.app().push(&reporter, vec![first.clone()]).await;
    assert_eq!(status, StatusCode::OK);
    let round = rig.deliver(&mut matcher, Utc::now()).await;
    assert_eq!((round.sent, round.held), (2, 0));

    let ann_inbox = rig.inbox(&ann).await;
    assert_eq!(incident_ids(&ann_inbox), ids);
    assert_eq!(ann_inbox[0].id, 1);
    let json = serde_json::to_value(&ann_inbox[0]).unwrap();
    assert_eq!(json["kind"], "incident");
    assert_eq!(json["areas"], json!(["Home", "School"]));
    assert_eq!(json["incident"]["category"], "break_and_enter");
    assert_eq!(incident_ids(&rig.inbox(&bob).await), ids);
    assert!(rig.inbox(&cat).await.is_empty());
    assert!(rig.inbox(&dan).await.is_empty());

    // Read again from the start (a crash before the commit, a second matcher): nothing new.
    let mut again = rig.matcher_in(&unique("again-"), policy(5)).await;
    let round = rig.deliver(&mut again, Utc::now()).await;
    assert_eq!((round.sent, round.held), (0, 0));
    // The same report pushed again, and moderation verifying it (its next version):
    // nothing new.
    let (status, body) = rig.app().push(&reporter, vec![first]).await;
    assert_eq!(
        (status, body["results"][0]["outcome"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );
    rig.app()
        .db
        .set_status(&ids[0], Status::Verified, Utc::now().timestamp_millis())
        .await
        .unwrap();
    let round = rig.deliver(&mut matcher, Utc::now()).await;
    assert_eq!(round.records, 1);
    assert_eq!((round.sent, round.held), (0, 0));
    assert_eq!(rig.inbox(&ann).await.len(), 1);
    assert_eq!(rig.inbox(&bob).await.len(), 1);

    // A deleted area alerts no more.
    let (_, list) = rig
        .app()
        .call(Method::GET, "/v1/watch-areas", Some(&bob), None)
        .await;
    let bob_area = list["areas"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = rig
        .app()
        .call(
            Method::DELETE,
            &format!("/v1/watch-areas/{bob_area}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let second = rig.push(&reporter, HOME, 1).await;
    rig.deliver(&mut matcher, Utc::now()).await;
    assert_eq!(
        incident_ids(&rig.inbox(&ann).await),
        [ids[0].clone(), second[0].clone()]
    );
    assert_eq!(rig.inbox(&bob).await.len(), 1);
}

#[rstest]
#[case::embedded(Setup::Embedded)]
#[case::scale_out(Setup::ScaleOut)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_becomes_one_digest(#[case] setup: Setup) {
    let rig = Rig::new(setup).await;
    let ann = rig.app().user("ann").await;
    let reporter = rig.app().user("reporter").await;
    rig.area(&ann, "Home", HOME, json!({})).await;
    let mut matcher = rig.matcher(policy(3)).await;
    let t0 = Utc::now();

    let burst = rig.push(&reporter, HOME, 10).await;
    let round = rig.deliver(&mut matcher, t0).await;
    assert_eq!((round.sent, round.held, round.digests), (3, 7, 0));
    assert_eq!(kinds(&rig.inbox(&ann).await), ["incident"; 3]);

    // Five minutes on, two more: they join the digest that is forming.
    let later = rig.push(&reporter, HOME, 2).await;
    let round = rig.deliver(&mut matcher, t0 + TimeDelta::minutes(5)).await;
    assert_eq!((round.sent, round.held, round.digests), (0, 2, 0));
    assert_eq!(rig.inbox(&ann).await.len(), 3);

    // When the window has passed: one digest with the nine held back, in order.
    let round = matcher
        .run_once(t0 + TimeDelta::minutes(10) + TimeDelta::seconds(1))
        .await
        .unwrap();
    assert_eq!(round.digests, 1);
    let inbox = rig.inbox(&ann).await;
    assert_eq!(
        kinds(&inbox),
        ["incident", "incident", "incident", "digest"]
    );
    let json = serde_json::to_value(&inbox[3]).unwrap();
    assert_eq!(json["reason"], "rate_limit");
    assert_eq!(json["incidents"].as_array().unwrap().len(), 9);
    let mut all: Vec<String> = burst.iter().chain(&later).cloned().collect();
    let mut got = incident_ids(&inbox);
    assert_eq!(got.len(), 12, "every incident exactly once");
    all.sort();
    got.sort();
    assert_eq!(got, all);
    assert_eq!(inbox.iter().map(|a| a.id).collect::<Vec<_>>(), [1, 2, 3, 4]);
    // Nothing is sent twice.
    let round = matcher.run_once(t0 + TimeDelta::minutes(30)).await.unwrap();
    assert_eq!(round.digests, 0);
    assert_eq!(rig.inbox(&ann).await.len(), 4);
}

fn hhmm(t: DateTime<Utc>) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

#[rstest]
#[case::embedded(Setup::Embedded)]
#[case::scale_out(Setup::ScaleOut)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_hold_alerts_until_they_end(#[case] setup: Setup) {
    let rig = Rig::new(setup).await;
    let ann = rig.app().user("ann").await;
    let reporter = rig.app().user("reporter").await;
    // Quiet from an hour ago until two hours from now (UTC, whole minutes).
    let t0 = Utc::now()
        .with_second(0)
        .unwrap()
        .with_nanosecond(0)
        .unwrap();
    let end = t0 + TimeDelta::hours(2);
    let quiet = json!({"quiet_hours": {"start": hhmm(t0 - TimeDelta::hours(1)), "end": hhmm(end), "time_zone": "UTC"}});
    rig.area(&ann, "Home", HOME, quiet).await;
    rig.area(&ann, "Office", ELSEWHERE, json!({})).await;
    let mut matcher = rig.matcher(policy(5)).await;

    let night = rig.push(&reporter, HOME, 2).await;
    let office = rig.push(&reporter, ELSEWHERE, 1).await;
    let round = rig.deliver(&mut matcher, t0 + TimeDelta::seconds(30)).await;
    assert_eq!((round.sent, round.held), (1, 2), "the office is not quiet");
    assert_eq!(incident_ids(&rig.inbox(&ann).await), office);

    let round = matcher.run_once(end - TimeDelta::minutes(1)).await.unwrap();
    assert_eq!(round.digests, 0, "still quiet");
    let round = matcher.run_once(end).await.unwrap();
    assert_eq!(round.digests, 1);
    let inbox = rig.inbox(&ann).await;
    assert_eq!(kinds(&inbox), ["incident", "digest"]);
    let json = serde_json::to_value(&inbox[1]).unwrap();
    assert_eq!(json["reason"], "quiet_hours");
    assert_eq!(json["areas"], json!(["Home"]));
    assert_eq!(incident_ids(&inbox[1..]), night);
}

#[rstest]
#[case::embedded(Setup::Embedded)]
#[case::scale_out(Setup::ScaleOut)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_report_retracts_its_alert(#[case] setup: Setup) {
    let rig = Rig::new(setup).await;
    let ann = rig.app().user("ann").await;
    let reporter = rig.app().user("reporter").await;
    rig.area(&ann, "Home", HOME, json!({})).await;
    let mut matcher = rig.matcher(policy(2)).await;
    let t0 = Utc::now();
    // Two sent, two held for the digest.
    let ids = rig.push(&reporter, HOME, 4).await;
    let round = rig.deliver(&mut matcher, t0).await;
    assert_eq!((round.sent, round.held), (2, 2));

    // Moderation rejects one that was sent and one that is held.
    let now_ms = Utc::now().timestamp_millis();
    for id in [&ids[0], &ids[3]] {
        rig.app()
            .db
            .set_status(id, Status::Rejected, now_ms)
            .await
            .unwrap()
            .unwrap();
    }
    let round = rig.deliver(&mut matcher, t0 + TimeDelta::seconds(1)).await;
    assert_eq!(round.retractions, 1);
    let inbox = rig.inbox(&ann).await;
    assert_eq!(kinds(&inbox), ["incident", "incident", "retraction"]);
    assert_eq!(
        serde_json::to_value(&inbox[2]).unwrap()["incident_id"],
        ids[0].as_str()
    );
    // The digest lists only the held one that still stands.
    matcher.run_once(t0 + TimeDelta::minutes(11)).await.unwrap();
    let inbox = rig.inbox(&ann).await;
    assert_eq!(
        kinds(&inbox),
        ["incident", "incident", "retraction", "digest"]
    );
    assert_eq!(incident_ids(&inbox[3..]), [ids[2].clone()]);
    // Reading it all again changes nothing.
    let mut again = rig.matcher_in(&unique("again-"), policy(2)).await;
    rig.deliver(&mut again, t0 + TimeDelta::minutes(12)).await;
    assert_eq!(rig.inbox(&ann).await.len(), 4);
}

/// A WebSocket client of `/v1/alerts/stream` on a real server.
async fn connect(
    addr: std::net::SocketAddr,
    token: &str,
    after: Option<u64>,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let query = after.map(|a| format!("?after={a}")).unwrap_or_default();
    let mut request = format!("ws://{addr}/v1/alerts/stream{query}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    ws
}

/// The next `n` alerts from `ws` (panics after 20 s).
async fn receive(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    n: usize,
) -> Vec<Alert> {
    let mut out = Vec::new();
    while out.len() < n {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .unwrap_or_else(|_| panic!("got {} of {n} alerts in 20 s", out.len()))
            .expect("stream ended")
            .unwrap();
        if let tungstenite::Message::Text(text) = msg {
            out.push(serde_json::from_str(&text).unwrap());
        }
    }
    out
}

/// Asserts nothing more arrives within `wait`.
async fn quiet_for(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    wait: Duration,
) {
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(msg) = tokio::time::timeout_at(deadline, ws.next()).await {
        if let Some(Ok(tungstenite::Message::Text(text))) = msg {
            panic!("unexpected alert {text}");
        }
    }
}

#[rstest]
#[case::embedded(Setup::Embedded)]
#[case::scale_out(Setup::ScaleOut)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_resumes_without_loss_or_repeat(#[case] setup: Setup) {
    let rig = Rig::new(setup).await;
    let ann = rig.app().user("ann").await;
    let reporter = rig.app().user("reporter").await;
    rig.area(&ann, "Home", HOME, json!({})).await;
    let state = AppState::new(rig.app().db.clone(), ApiConfig::default())
        .with_notifier(rig.api_notifier.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });

    // Without a token: refused before the upgrade.
    let err = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/alerts/stream"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, tungstenite::Error::Http(r) if r.status() == 401),
        "{err}"
    );

    let mut matcher = rig.matcher(policy(100)).await;
    let mut ws = connect(addr, &ann, None).await;
    let first = rig.push(&reporter, HOME, 3).await;
    rig.deliver(&mut matcher, Utc::now()).await;
    let got = receive(&mut ws, 3).await;
    assert_eq!(got.iter().map(|a| a.id).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(incident_ids(&got), first);
    ws.close(None).await.unwrap();

    // Offline: two more arrive meanwhile.
    let missed = rig.push(&reporter, HOME, 2).await;
    rig.deliver(&mut matcher, Utc::now()).await;
    let mut ws = connect(addr, &ann, Some(3)).await;
    let got = receive(&mut ws, 2).await;
    assert_eq!(got.iter().map(|a| a.id).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(incident_ids(&got), missed);
    // And live again.
    let live = rig.push(&reporter, HOME, 1).await;
    rig.deliver(&mut matcher, Utc::now()).await;
    let got = receive(&mut ws, 1).await;
    assert_eq!((got[0].id, incident_ids(&got)), (6, live));
    quiet_for(&mut ws, Duration::from_secs(4)).await;

    // A connection without `after` starts from now; the inbox pages the same alerts.
    let mut fresh = connect(addr, &ann, None).await;
    quiet_for(&mut fresh, Duration::from_millis(500)).await;
    let (status, page) = rig
        .app()
        .call(Method::GET, "/v1/alerts?after=2&limit=3", Some(&ann), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (page["last_id"].as_u64(), page["has_more"].as_bool()),
        (Some(5), Some(true))
    );
    let (status, page) = rig
        .app()
        .call(Method::GET, "/v1/alerts?limit=0", Some(&ann), None)
        .await;
    assert_eq!(
        (status, page["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("limit"))
    );
}

/// Wake-ups cross processes through Redis pub/sub (two clients, one channel).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wake_ups_cross_processes_through_redis() {
    let prefix = unique("test:") + ":";
    let listener = Notifier::with_redis(&redis_url(), &prefix).unwrap();
    let publisher = Notifier::with_redis(&redis_url(), &prefix).unwrap();
    let mut wake = listener.subscribe("ann");
    let task = tokio::spawn(listener.clone().listen());
    // The subscription takes a moment; publish until it is heard.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        publisher
            .publish(&[("bob".into(), 9), ("ann".into(), 7)])
            .await;
        if tokio::time::timeout(Duration::from_millis(200), wake.changed())
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no wake-up through Redis in 10 s"
        );
    }
    assert_eq!(*wake.borrow(), 7);
    task.abort();
}
