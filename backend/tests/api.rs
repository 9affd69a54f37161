//! The HTTP API on both engines: accounts, push, pull, queries and every kind of bad input.

mod common;

use axum::http::{Method, StatusCode};
use common::{Engine, TestApp, report};
use rstest::rstest;
use serde_json::{Value, json};

fn ids(changes: &[Value]) -> Vec<String> {
    changes
        .iter()
        .map(|c| c["incident"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn register_login_push_pull_and_find_by_bbox(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let token = app.user("alice").await;

    let good1 = report(43.6535, -79.3840);
    let good2 = report(43.7000, -79.4000);
    let mut bad = report(43.65, -79.38);
    bad["location"]["lat"] = json!(91.5);
    let (status, body) = app
        .push(&token, vec![good1.clone(), bad.clone(), good2.clone()])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"results": [
            {"id": good1["id"], "outcome": "accepted"},
            {"id": bad["id"], "outcome": "rejected", "field": "location.lat",
             "reason": "must be a number from -90 to 90 (degrees north)"},
            {"id": good2["id"], "outcome": "accepted"},
        ]})
    );

    let (changes, cursor) = app.pull_all(&token, String::new()).await;
    assert_eq!(
        ids(&changes),
        vec![good1["id"].as_str().unwrap(), good2["id"].as_str().unwrap()]
    );
    let first = &changes[0];
    assert_eq!(first["type"], "upsert");
    assert_eq!(first["incident"]["category"], "break_and_enter");
    assert_eq!(first["incident"]["status"], "unverified");
    assert_eq!(first["incident"]["version"], 1);
    assert_eq!(first["incident"]["source"], json!({"kind": "user_report"}));
    assert_eq!(first["incident"]["occurred_at"], good1["occurred_at"]);
    assert_eq!(first["incident"]["location"], good1["location"]);

    // Nothing new after the cursor.
    let (again, same) = app.pull_all(&token, cursor.clone()).await;
    assert!(again.is_empty());
    assert_eq!(same, cursor);

    // Only the first report lies in this box.
    let (status, body) = app
        .call(
            Method::GET,
            "/v1/incidents?bbox=-79.39,43.65,-79.38,43.66",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["count"], 1);
    assert_eq!(body["incidents"][0]["id"], good1["id"]);

    let (status, body) = app
        .call(
            Method::GET,
            "/v1/incidents?bbox=-80,43,-79,44&format=geojson&category=break_and_enter",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["type"], "FeatureCollection");
    assert_eq!(body["features"].as_array().unwrap().len(), 2);
    let coords = &body["features"][0]["geometry"]["coordinates"];
    assert!(
        coords[0].as_f64().unwrap() < -79.0 && coords[1].as_f64().unwrap() > 43.0,
        "lon first: {coords}"
    );

    let (_, body) = app
        .call(
            Method::GET,
            "/v1/incidents?category=robbery",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(body["count"], 0);
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn pushing_an_id_again_is_a_no_op(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let r = report(43.65, -79.38);
    let (_, first) = app.push(&alice, vec![r.clone()]).await;
    assert_eq!(first["results"][0]["outcome"], "accepted");
    let (_, again) = app.push(&alice, vec![r.clone(), r.clone()]).await;
    assert_eq!(again["results"][0]["outcome"], "duplicate");
    assert_eq!(again["results"][1]["outcome"], "duplicate");
    // Another account cannot claim or overwrite the id.
    let mut stolen = r.clone();
    stolen["description"] = json!("something else");
    let (_, theirs) = app.push(&bob, vec![stolen]).await;
    assert_eq!(theirs["results"][0]["outcome"], "rejected");
    assert_eq!(theirs["results"][0]["field"], "id");
    let (changes, _) = app.pull_all(&alice, String::new()).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["incident"]["description"], r["description"]);
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn pull_pages_follow_the_cursor(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let token = app.user("alice").await;
    let reports: Vec<Value> = (0..25)
        .map(|i| report(43.6 + f64::from(i) * 0.001, -79.4))
        .collect();
    let (_, body) = app.push(&token, reports.clone()).await;
    assert!(
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] == "accepted")
    );

    let mut cursor = String::new();
    let mut seen = Vec::new();
    for (expect_len, expect_more) in [(10, true), (10, true), (5, false)] {
        let (status, page) = app
            .call(
                Method::GET,
                &format!("/v1/sync/pull?cursor={cursor}&limit=10"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let changes = page["changes"].as_array().unwrap();
        assert_eq!(changes.len(), expect_len);
        assert_eq!(page["has_more"], expect_more);
        seen.extend(ids(changes));
        cursor = page["cursor"].as_str().unwrap().to_owned();
    }
    let pushed: Vec<String> = reports
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, pushed);
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn tokens_are_required_and_revocable(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let (status, body) = app.call(Method::GET, "/v1/sync/pull", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"error": "missing_token", "field": null,
               "message": "send Authorization: Bearer <token>; get a token from POST /v1/auth/login"})
    );
    let (status, body) = app
        .call(Method::GET, "/v1/incidents", Some("vgl_forged"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");

    let token = app.user("alice").await;
    let (status, _) = app
        .call(Method::GET, "/v1/incidents", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .call(Method::POST, "/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = app
        .call(Method::GET, "/v1/incidents", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");

    let (status, body) = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "alice", "password": "wrong password!!"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"error": "invalid_credentials", "field": null, "message": "wrong username or password; check both and try again"})
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"username": "Alice", "password": "another long password"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body,
        json!({"error": "username_taken", "field": "username", "message": "that username is taken; choose another"})
    );
}

#[tokio::test]
async fn tokens_expire() {
    let config = vigil_backend::api::ApiConfig {
        token_ttl: chrono::TimeDelta::seconds(-1),
        ..Default::default()
    };
    let app = TestApp::with_config(Engine::Sqlite, config).await;
    let token = app.user("alice").await;
    let (status, body) = app
        .call(Method::GET, "/v1/incidents", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");
}
