//! Abuse resistance and the authorization matrix: every endpoint, called by someone without
//! a token, an outsider, a member, a moderator and an admin of a group, answers the status
//! the rules say; rate limits, login throttling, token revocation, CORS, security headers
//! and body caps.

mod common;

use std::net::SocketAddr;

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Method, Request, StatusCode, header},
};
use common::{Engine, TestApp, report};
use http_body_util::BodyExt;
use rstest::rstest;
use serde_json::{Value, json};
use vigil_backend::{
    api::{ApiConfig, AppState, guard::GuardConfig, router},
    speed::{SharedViews, ViewStore},
};

const PASSWORD: &str = "correct horse battery";
/// The smallest JPEG the server takes: start of image, a scan header, data, end.
const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, 0x12, 0xFF, 0xD9,
];

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoToken,
    Outsider,
    Member,
    Moderator,
    Admin,
}

const CALLERS: [Caller; 5] = [
    Caller::NoToken,
    Caller::Outsider,
    Caller::Member,
    Caller::Moderator,
    Caller::Admin,
];

/// The group, its founder, and things to point requests at.
struct World {
    app: TestApp,
    founder: String,
    group: String,
    /// A private report of the group.
    private: String,
    /// Someone else's watch area and device.
    others_area: String,
    others_device: String,
    /// Tokens of one caller per role (reused where a call changes nothing of theirs).
    tokens: Vec<(Caller, Option<String>)>,
    next: std::cell::Cell<usize>,
}

impl World {
    async fn new(engine: Engine) -> World {
        let app = TestApp::new(engine).await;
        let founder = app.user("founder").await;
        let (_, g) = app
            .call(
                Method::POST,
                "/v1/groups",
                Some(&founder),
                Some(json!({"name": "Matrix"})),
            )
            .await;
        let group = g["id"].as_str().unwrap().to_owned();
        let mut private = report(43.6534, -79.3841);
        private["group"] = json!(group);
        private["visibility"] = json!("group");
        app.push_accepted(&founder, vec![private.clone()]).await;
        let photos = format!("/v1/incidents/{}/photos", private["id"].as_str().unwrap());
        let (status, body) = app
            .raw(
                Method::POST,
                &photos,
                Some(&founder),
                Some(JPEG.to_vec()),
                Some("image/jpeg"),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let other = app.user("other").await;
        let others_area = uuid::Uuid::now_v7().to_string();
        let (status, body) = app
            .call(
                Method::PUT,
                &format!("/v1/watch-areas/{others_area}"),
                Some(&other),
                Some(area()),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let others_device = uuid::Uuid::now_v7().to_string();
        let (status, body) = app
            .call(
                Method::PUT,
                &format!("/v1/devices/{others_device}"),
                Some(&other),
                Some(json!({"provider": "fcm", "token": "other-device"})),
            )
            .await;
        assert!(status.is_success(), "{status} {body}");
        let mut world = World {
            app,
            founder,
            group,
            private: private["id"].as_str().unwrap().to_owned(),
            others_area,
            others_device,
            tokens: Vec::new(),
            next: std::cell::Cell::new(0),
        };
        for caller in CALLERS {
            let token = world.actor(caller).await;
            world.tokens.push((caller, token));
        }
        world
    }

    /// A new person with `caller`'s standing in the group.
    async fn actor(&self, caller: Caller) -> Option<String> {
        let n = self.next.get();
        self.next.set(n + 1);
        let role = match caller {
            Caller::NoToken => return None,
            Caller::Outsider => {
                return Some(self.app.user(&format!("outsider{n}")).await);
            }
            Caller::Member => "member",
            Caller::Moderator => "moderator",
            Caller::Admin => "admin",
        };
        let (token, _) = self.member(&format!("{role}{n}"), role).await;
        Some(token)
    }

    /// Registers `name` into the group with `role`; returns the token and user id.
    async fn member(&self, name: &str, role: &str) -> (String, String) {
        let token = self.app.user(name).await;
        let (_, inv) = self
            .app
            .call(
                Method::POST,
                &format!("/v1/groups/{}/invites", self.group),
                Some(&self.founder),
                Some(json!({})),
            )
            .await;
        let (status, _) = self
            .app
            .call(
                Method::POST,
                "/v1/groups/join",
                Some(&token),
                Some(json!({"code": inv["code"]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (_, me) = self
            .app
            .call(Method::GET, "/v1/me/export", Some(&token), None)
            .await;
        let id = me["account"]["user_id"].as_str().unwrap().to_owned();
        if role != "member" {
            let (status, _) = self
                .app
                .call(
                    Method::PUT,
                    &format!("/v1/groups/{}/members/{id}", self.group),
                    Some(&self.founder),
                    Some(json!({"role": role})),
                )
                .await;
            assert_eq!(status, StatusCode::NO_CONTENT);
        }
        (token, id)
    }

    fn token(&self, caller: Caller) -> Option<String> {
        self.tokens
            .iter()
            .find(|(c, _)| *c == caller)
            .unwrap()
            .1
            .clone()
    }

    /// Fills the placeholders of `path` and `body` with fresh things where a call uses them up.
    async fn fill(&self, text: &str) -> String {
        let mut out = text
            .replace("{g}", &self.group)
            .replace("{p}", &self.private)
            .replace("{oarea}", &self.others_area)
            .replace("{odev}", &self.others_device);
        if out.contains("{fresh}") {
            out = out.replace("{fresh}", &uuid::Uuid::now_v7().to_string());
        }
        if out.contains("{m}") {
            let n = self.next.get();
            self.next.set(n + 1);
            let (_, id) = self.member(&format!("target{n}"), "member").await;
            out = out.replace("{m}", &id);
        }
        if out.contains("{q}") {
            let mut r = report(43.66, -79.39);
            r["group"] = json!(self.group);
            self.app.push_accepted(&self.founder, vec![r.clone()]).await;
            out = out.replace("{q}", r["id"].as_str().unwrap());
        }
        if out.contains("{code}") {
            let (_, inv) = self
                .app
                .call(
                    Method::POST,
                    &format!("/v1/groups/{}/invites", self.group),
                    Some(&self.founder),
                    Some(json!({})),
                )
                .await;
            out = out.replace("{code}", inv["code"].as_str().unwrap());
        }
        out
    }
}

fn area() -> Value {
    json!({"name": "Home", "shape": {"circle": {"lat": 43.65, "lon": -79.38, "radius_m": 500}}})
}

/// One row of the matrix: a request and the status each caller gets, in [`CALLERS`] order.
/// `fresh` rows use a new caller for every call (the call changes the caller's own state);
/// `private` rows also check whether the group's private report shows in the answer.
struct Row {
    method: Method,
    path: &'static str,
    body: Option<Value>,
    /// A JPEG body instead of JSON.
    jpeg: bool,
    expect: [u16; 5],
    fresh: bool,
    private: bool,
}

fn row(method: Method, path: &'static str, body: Option<Value>, expect: [u16; 5]) -> Row {
    Row {
        method,
        path,
        body,
        jpeg: false,
        expect,
        fresh: false,
        private: false,
    }
}

const OPEN: [u16; 5] = [200, 200, 200, 200, 200];
const AUTHED: [u16; 5] = [401, 200, 200, 200, 200];
const MEMBERS: [u16; 5] = [401, 404, 200, 200, 200];
const MODERATORS: [u16; 5] = [401, 404, 403, 200, 200];

fn matrix() -> Vec<Row> {
    let push = json!({"reports": [report(43.65, -79.38)]});
    let mut rows = vec![
        row(Method::GET, "/healthz", None, OPEN),
        row(Method::GET, "/metrics", None, OPEN),
        row(Method::GET, "/v1/openapi.json", None, OPEN),
        Row {
            fresh: true,
            ..row(
                Method::POST,
                "/v1/auth/logout",
                None,
                [401, 204, 204, 204, 204],
            )
        },
        Row {
            fresh: true,
            ..row(Method::POST, "/v1/auth/logout-all", None, AUTHED)
        },
        row(Method::GET, "/v1/me/export", None, AUTHED),
        Row {
            fresh: true,
            ..row(
                Method::DELETE,
                "/v1/me",
                Some(json!({"password": PASSWORD})),
                AUTHED,
            )
        },
        row(Method::POST, "/v1/sync/push", Some(push), AUTHED),
        row(
            Method::POST,
            "/v1/sync/edits",
            Some(json!({"edits": []})),
            AUTHED,
        ),
        Row {
            private: true,
            ..row(Method::GET, "/v1/sync/pull", None, AUTHED)
        },
        Row {
            private: true,
            ..row(Method::GET, "/v1/incidents", None, AUTHED)
        },
        row(Method::GET, "/v1/incidents/{p}", None, MEMBERS),
        Row {
            jpeg: true,
            ..row(
                Method::POST,
                "/v1/incidents/{p}/photos",
                None,
                [401, 404, 404, 404, 404],
            )
        },
        row(Method::GET, "/v1/incidents/{p}/photos/1", None, MEMBERS),
        row(
            Method::GET,
            "/v1/incidents/near?lat=43.65&lon=-79.38",
            None,
            AUTHED,
        ),
        row(
            Method::GET,
            "/v1/cells/882b9bc4a1fffff/counts",
            None,
            AUTHED,
        ),
        row(
            Method::GET,
            "/v1/stats/heatmap?bbox=-79.6,43.6,-79.1,43.9",
            None,
            AUTHED,
        ),
        row(Method::GET, "/v1/stats/trends?area=city", None, AUTHED),
        row(
            Method::GET,
            "/v1/stats/summary?bbox=-79.6,43.6,-79.1,43.9",
            None,
            AUTHED,
        ),
        row(Method::GET, "/v1/watch-areas", None, AUTHED),
        row(
            Method::PUT,
            "/v1/watch-areas/{fresh}",
            Some(area()),
            [401, 201, 201, 201, 201],
        ),
        row(
            Method::PUT,
            "/v1/watch-areas/{oarea}",
            Some(area()),
            [401, 409, 409, 409, 409],
        ),
        row(
            Method::DELETE,
            "/v1/watch-areas/{oarea}",
            None,
            [401, 404, 404, 404, 404],
        ),
        row(Method::GET, "/v1/alerts", None, AUTHED),
        row(Method::GET, "/v1/devices", None, AUTHED),
        row(
            Method::PUT,
            "/v1/devices/{fresh}",
            Some(json!({"provider": "fcm", "token": "t"})),
            [401, 201, 201, 201, 201],
        ),
        row(
            Method::PUT,
            "/v1/devices/{odev}",
            Some(json!({"provider": "fcm", "token": "t"})),
            [401, 409, 409, 409, 409],
        ),
        row(
            Method::DELETE,
            "/v1/devices/{odev}",
            None,
            [401, 404, 404, 404, 404],
        ),
        // The push key is public (a browser needs it before it subscribes); push is off here.
        row(Method::GET, "/v1/push/vapid", None, [404; 5]),
        row(
            Method::GET,
            "/v1/risk/model",
            None,
            [401, 404, 404, 404, 404],
        ),
        row(Method::GET, "/v1/groups", None, AUTHED),
        row(
            Method::POST,
            "/v1/groups",
            Some(json!({"name": "Another"})),
            [401, 201, 201, 201, 201],
        ),
        Row {
            fresh: true,
            ..row(
                Method::POST,
                "/v1/groups/join",
                Some(json!({"code": "{code}"})),
                AUTHED,
            )
        },
        row(Method::GET, "/v1/groups/{g}", None, MEMBERS),
        row(Method::GET, "/v1/groups/{g}/members", None, MEMBERS),
        row(
            Method::PUT,
            "/v1/groups/{g}/members/{m}",
            Some(json!({"role": "member"})),
            [401, 404, 403, 403, 204],
        ),
        row(
            Method::DELETE,
            "/v1/groups/{g}/members/{m}",
            None,
            [401, 404, 403, 204, 204],
        ),
        Row {
            fresh: true,
            ..row(
                Method::DELETE,
                "/v1/groups/{g}/members/me",
                None,
                [401, 404, 204, 204, 204],
            )
        },
        row(
            Method::POST,
            "/v1/groups/{g}/invites",
            Some(json!({})),
            [401, 404, 403, 201, 201],
        ),
        row(
            Method::POST,
            "/v1/groups/{g}/invites",
            Some(json!({"role": "moderator"})),
            [401, 404, 403, 403, 201],
        ),
        row(
            Method::DELETE,
            "/v1/groups/{g}/invites",
            None,
            [401, 404, 403, 403, 200],
        ),
        row(Method::GET, "/v1/groups/{g}/queue", None, MODERATORS),
        row(
            Method::POST,
            "/v1/groups/{g}/reports/{q}/decision",
            Some(json!({"action": "verify"})),
            MODERATORS,
        ),
        row(Method::GET, "/v1/groups/{g}/audit", None, MODERATORS),
    ];
    // The risk cells need a published model: without one every caller with a token gets 404.
    rows.push(row(
        Method::POST,
        "/v1/risk/cells",
        Some(json!({"cells": ["892b9bc4a17ffff"]})),
        [401, 404, 404, 404, 404],
    ));
    rows
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn every_endpoint_answers_each_role_as_the_rules_say(#[case] engine: Engine) {
    let mut world = World::new(engine).await;
    // Serve the real-time views too, so those endpoints answer rather than 503.
    let state = AppState::new(world.app.db.clone(), ApiConfig::default()).with_views(
        ViewStore::memory(SharedViews::default(), chrono::TimeDelta::days(30)),
    );
    world.app.router = router(state);
    let rows = matrix();
    let mut failures = Vec::new();
    let mut cells = 0;
    for r in &rows {
        for (i, caller) in CALLERS.iter().enumerate() {
            let token = if r.fresh {
                world.actor(*caller).await
            } else {
                world.token(*caller)
            };
            let path = world.fill(r.path).await;
            let body = match &r.body {
                Some(b) => Some(serde_json::from_str(&world.fill(&b.to_string()).await).unwrap()),
                None => None,
            };
            let (status, answer) = if r.jpeg {
                world
                    .app
                    .raw(
                        r.method.clone(),
                        &path,
                        token.as_deref(),
                        Some(JPEG.to_vec()),
                        Some("image/jpeg"),
                    )
                    .await
            } else {
                world
                    .app
                    .call(r.method.clone(), &path, token.as_deref(), body)
                    .await
            };
            cells += 1;
            if status.as_u16() != r.expect[i] {
                failures.push(format!(
                    "{} {} as {caller:?}: {} (expected {}) {answer}",
                    r.method, r.path, status, r.expect[i]
                ));
            }
            if r.private && status.is_success() {
                let sees = answer.to_string().contains(&world.private);
                let should = matches!(caller, Caller::Member | Caller::Moderator | Caller::Admin);
                if sees != should {
                    failures.push(format!(
                        "{} {} as {caller:?}: private report shown = {sees}",
                        r.method, r.path
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(cells, rows.len() * CALLERS.len());
    println!(
        "authorization matrix: {} endpoints x {} callers = {cells} cells",
        rows.len(),
        CALLERS.len()
    );
}

/// The app with `guard` limits; requests come from `addr`.
async fn guarded(guard: GuardConfig) -> TestApp {
    TestApp::with_config(
        Engine::Sqlite,
        ApiConfig {
            guard,
            ..ApiConfig::default()
        },
    )
    .await
}

fn request(
    method: Method,
    uri: &str,
    addr: [u8; 4],
    token: Option<&str>,
    body: Option<Value>,
) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let mut req = req.body(body).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((addr, 40_000))));
    req
}

#[tokio::test]
async fn repeated_failed_logins_lock_the_name_for_longer_each_time() {
    let app = guarded(GuardConfig::default()).await;
    app.user("alice").await;
    let login = |password: &str, addr: [u8; 4]| {
        request(
            Method::POST,
            "/v1/auth/login",
            addr,
            None,
            Some(json!({"username": "alice", "password": password})),
        )
    };
    for _ in 0..5 {
        let r = app.send(login("wrong password!!", [10, 0, 0, 1])).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Locked, even with the right password, and from another address.
    for addr in [[10, 0, 0, 1], [10, 0, 0, 2]] {
        let r = app.send(login(PASSWORD, addr)).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = r.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        let body: Value =
            serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(body["error"], "rate_limited");
    }
    // Another name from the same address is not locked by alice's failures.
    app.user("bob").await;
    let r = app
        .send(request(
            Method::POST,
            "/v1/auth/login",
            [10, 0, 0, 1],
            None,
            Some(json!({"username": "bob", "password": PASSWORD})),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn rates_are_limited_per_address_and_per_account() {
    let app = guarded(GuardConfig {
        per_address_per_minute: 6,
        per_account_per_minute: 4,
        ..GuardConfig::default()
    })
    .await;
    // Made without an address (no limit), then used from addresses.
    let token = app.user("alice").await;
    for _ in 0..4 {
        let r = app
            .send(request(
                Method::GET,
                "/v1/groups",
                [10, 0, 0, 1],
                Some(&token),
                None,
            ))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    // The account's fifth request in the minute, from any address.
    let r = app
        .send(request(
            Method::GET,
            "/v1/groups",
            [10, 0, 0, 9],
            Some(&token),
            None,
        ))
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key(header::RETRY_AFTER));
    // The address: two more requests (six in all) pass, the seventh does not.
    for expected in [
        StatusCode::OK,
        StatusCode::OK,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        let r = app
            .send(request(Method::GET, "/healthz", [10, 0, 0, 1], None, None))
            .await;
        assert_eq!(r.status(), expected);
    }
    let r = app
        .send(request(Method::GET, "/healthz", [10, 0, 0, 2], None, None))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "another address has its own budget"
    );
}

#[tokio::test]
async fn logout_all_ends_every_session() {
    let app = TestApp::new(Engine::Sqlite).await;
    let first = app.user("alice").await;
    let (_, second) = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "alice", "password": PASSWORD})),
        )
        .await;
    let second = second["token"].as_str().unwrap();
    let (status, body) = app
        .call(Method::POST, "/v1/auth/logout-all", Some(second), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["revoked"], 2);
    for token in [first.as_str(), second] {
        let (status, _) = app.call(Method::GET, "/v1/groups", Some(token), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn answers_carry_security_headers_and_cors_only_for_configured_origins() {
    let app = guarded(GuardConfig {
        cors_origins: vec!["https://map.example.org".into()],
        hsts: true,
        ..GuardConfig::default()
    })
    .await;
    for uri in ["/healthz", "/v1/nothing-here", "/v1/groups"] {
        let r = app
            .send(request(Method::GET, uri, [10, 0, 0, 1], None, None))
            .await;
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{uri}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .starts_with("default-src 'none'")
        );
        assert_eq!(h["cache-control"], "no-store");
        assert!(
            h["strict-transport-security"]
                .to_str()
                .unwrap()
                .contains("max-age=")
        );
        assert!(!h.contains_key("access-control-allow-origin"));
    }
    let preflight = |origin: &str| {
        let mut req = request(Method::OPTIONS, "/v1/incidents", [10, 0, 0, 1], None, None);
        req.headers_mut()
            .insert(header::ORIGIN, origin.parse().unwrap());
        req.headers_mut().insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            "GET".parse().unwrap(),
        );
        req
    };
    let r = app.send(preflight("https://map.example.org")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://map.example.org"
    );
    assert!(
        r.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    let r = app.send(preflight("https://evil.example")).await;
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    assert!(!r.headers().contains_key("access-control-allow-methods"));
}

#[tokio::test]
async fn oversized_bodies_and_batches_are_refused_whole() {
    let app = TestApp::new(Engine::Sqlite).await;
    let token = app.user("alice").await;
    let huge = vec![b' '; 3 * 1024 * 1024];
    let (status, body) = app
        .raw(
            Method::POST,
            "/v1/sync/push",
            Some(&token),
            Some(huge),
            Some("application/json"),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let reports: Vec<Value> = (0..501).map(|_| report(43.65, -79.38)).collect();
    let (status, body) = app.push(&token, reports).await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("reports"))
    );
    let (changes, _) = app.pull_all(&token, String::new()).await;
    assert!(changes.is_empty());
    // Text comes back as JSON strings, never as markup the API serves.
    let mut r = report(43.65, -79.38);
    r["description"] = json!("<script>alert(1)</script> broke the window");
    app.push_accepted(&token, vec![r]).await;
    let resp = app
        .send(request(
            Method::GET,
            "/v1/incidents",
            [10, 0, 0, 1],
            Some(&token),
            None,
        ))
        .await;
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
}
