//! Health, metrics, the OpenAPI document, and the API on a real port.

mod common;

use axum::http::{Method, StatusCode};
use common::{Engine, TestApp, report};
use serde_json::json;

#[tokio::test]
async fn health_metrics_and_openapi() {
    let app = TestApp::new(Engine::Sqlite).await;
    let (status, body) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["store"], "sqlite");

    let token = app.user("alice").await;
    let mut bad = report(43.6, -79.4);
    bad["category"] = json!("arson");
    app.push(&token, vec![report(43.6, -79.4), report(43.7, -79.4), bad])
        .await;
    let (status, text) = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap();
    assert!(
        text.contains("vigil_sync_pushed_reports_total{outcome=\"accepted\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("vigil_sync_pushed_reports_total{outcome=\"rejected\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "vigil_http_requests_total{method=\"POST\",route=\"/v1/sync/push\",status=\"200\"} 1"
        ),
        "{text}"
    );

    let (status, spec) = app.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    // Every route the router serves is documented.
    for path in [
        "/healthz",
        "/metrics",
        "/v1/auth/register",
        "/v1/auth/login",
        "/v1/auth/logout",
        "/v1/auth/logout-all",
        "/v1/me",
        "/v1/me/export",
        "/v1/sync/push",
        "/v1/sync/edits",
        "/v1/sync/pull",
        "/v1/incidents",
        "/v1/incidents/{id}",
        "/v1/incidents/{id}/photos",
        "/v1/incidents/{id}/photos/{n}",
        "/v1/incidents/near",
        "/v1/cells/{cell}/counts",
        "/v1/stats/heatmap",
        "/v1/stats/trends",
        "/v1/stats/summary",
        "/v1/watch-areas",
        "/v1/watch-areas/{id}",
        "/v1/alerts",
        "/v1/alerts/stream",
        "/v1/devices",
        "/v1/devices/{id}",
        "/v1/push/vapid",
        "/v1/risk/model",
        "/v1/risk/cells",
        "/v1/groups",
        "/v1/groups/join",
        "/v1/groups/{id}",
        "/v1/groups/{id}/members",
        "/v1/groups/{id}/members/{user_id}",
        "/v1/groups/{id}/invites",
        "/v1/groups/{id}/queue",
        "/v1/groups/{id}/reports/{incident_id}/decision",
        "/v1/groups/{id}/audit",
    ] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    // A parameter is in the path only if the path names it, and every reference resolves.
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                let in_path = path.contains(&format!("{{{name}}}"));
                assert_eq!(
                    p["in"] == "path",
                    in_path,
                    "{method} {path}: parameter {name} is in {}",
                    p["in"]
                );
            }
        }
    }
    let text = spec.to_string();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = &reference[..reference.find('"').unwrap()];
        assert!(
            spec["components"]["schemas"][name].is_object(),
            "#/components/schemas/{name} is referenced but not defined"
        );
    }
}

/// The API served on a real loopback port, driven by an HTTP client.
#[tokio::test]
async fn real_port_round_trip() {
    let app = TestApp::new(Engine::Sqlite).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(axum::serve(listener, app.router.clone()).into_future());

    let client = reqwest::Client::new();
    let creds = json!({"username": "carol", "password": "a long enough passphrase"});
    let r = client
        .post(format!("{base}/v1/auth/register"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let session: serde_json::Value = client
        .post(format!("{base}/v1/auth/login"))
        .json(&creds)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["token"].as_str().unwrap();
    assert_eq!(session["token_type"], "Bearer");
    let pushed: serde_json::Value = client
        .post(format!("{base}/v1/sync/push"))
        .bearer_auth(token)
        .json(&json!({"reports": [report(43.66, -79.39)]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pushed["results"][0]["outcome"], "accepted");
    let page: serde_json::Value = client
        .get(format!("{base}/v1/sync/pull"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["changes"][0]["incident"]["id"],
        pushed["results"][0]["id"]
    );
    server.abort();
}
