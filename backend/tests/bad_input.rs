//! Every kind of bad input gets a 4xx with the stable error shape, on both engines, and
//! leaves nothing half-written.

mod common;

use axum::http::{Method, StatusCode};
use common::{Engine, TestApp, report};
use rstest::rstest;
use serde_json::{Value, json};

/// Sends `body` as a push and checks the exact answer.
async fn expect(app: &TestApp, token: &str, body: &[u8], status: StatusCode, want: Value) {
    let (got_status, got) = app
        .raw(
            Method::POST,
            "/v1/sync/push",
            Some(token),
            Some(body.to_vec()),
            Some("application/json"),
        )
        .await;
    assert_eq!(got_status, status, "{got}");
    assert_eq!(got, want);
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn malformed_requests_are_4xx_with_the_field(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let token = app.user("alice").await;

    let (status, body) = app
        .raw(
            Method::POST,
            "/v1/sync/push",
            Some(&token),
            Some(b"{\"reports\": [".to_vec()),
            Some("application/json"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "malformed_json");
    assert_eq!(body["field"], Value::Null);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("the body is not valid JSON"),
        "{body}"
    );

    let mut wrong_type = report(43.6, -79.4);
    wrong_type["location"]["lat"] = json!("43.6");
    expect(
        &app,
        &token,
        json!({"reports": [wrong_type]}).to_string().as_bytes(),
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"error": "invalid_field", "field": "reports[0].location.lat",
               "message": "invalid type: string \"43.6\", expected f64; see /v1/openapi.json for the request shape"}),
    )
    .await;

    let mut missing = report(43.6, -79.4);
    missing.as_object_mut().unwrap().remove("category");
    expect(
        &app,
        &token,
        json!({"reports": [report(43.6, -79.4), missing]})
            .to_string()
            .as_bytes(),
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"error": "invalid_field", "field": "reports[1]",
               "message": "missing field `category`; see /v1/openapi.json for the request shape"}),
    )
    .await;

    let mut extra = report(43.6, -79.4);
    extra["severity"] = json!(3);
    let (status, body) = app.push(&token, vec![extra]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "reports[0].severity");

    let (status, body) = app
        .call(
            Method::POST,
            "/v1/sync/push",
            Some(&token),
            Some(json!({"report": []})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "report");

    let (status, body) = app
        .raw(
            Method::POST,
            "/v1/sync/push",
            Some(&token),
            Some(b"{}".to_vec()),
            Some("text/plain"),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["error"], "unsupported_media_type");

    let too_many: Vec<Value> = (0..501).map(|_| report(43.6, -79.4)).collect();
    expect(
        &app,
        &token,
        json!({"reports": too_many}).to_string().as_bytes(),
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"error": "invalid_field", "field": "reports",
               "message": "501 reports in one push; send at most 500 per push"}),
    )
    .await;

    let huge = format!(
        "{{\"reports\": [], \"pad\": \"{}\"}}",
        "x".repeat(3 * 1024 * 1024)
    );
    expect(
        &app,
        &token,
        huge.as_bytes(),
        StatusCode::PAYLOAD_TOO_LARGE,
        json!({"error": "body_too_large", "field": null,
               "message": "the request body is over the server's limit; send fewer reports per push"}),
    )
    .await;

    // None of the refused requests stored anything.
    let (changes, _) = app.pull_all(&token, String::new()).await;
    assert!(changes.is_empty(), "{changes:?}");
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn invalid_reports_are_rejected_one_by_one(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let token = app.user("alice").await;
    let base = report(43.6, -79.4);
    let with = |path: &[&str], v: Value| {
        let mut r = report(43.6, -79.4);
        let mut slot = &mut r;
        for p in path {
            slot = &mut slot[*p];
        }
        *slot = v;
        r
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            with(&["category"], json!("arson")),
            "category",
            "unknown category \"arson\"; use one of: assault, robbery, break_and_enter, auto_theft, theft, vandalism, harassment, suspicious_activity, drugs, weapons, other",
        ),
        (
            with(&["location", "lon"], json!(-181.0)),
            "location.lon",
            "must be a number from -180 to 180 (degrees east)",
        ),
        (
            with(&["location"], json!({"lat": 0.0, "lon": 0.0})),
            "location",
            "0, 0 is where a missing position fix lands; pick the place on the map",
        ),
        (
            with(&["id"], json!("not-a-uuid")),
            "id",
            "must be a UUID such as 0192f0c1-7e6a-7cc2-9d3e-5b1f3a2c4d5e",
        ),
        (
            with(&["id"], json!("6ba7b810-9dad-41d1-80b4-00c04fd430c8")),
            "id",
            "must be a UUIDv7 made on the device when the report is submitted (got version 4)",
        ),
        (
            with(&["occurred_at"], json!("yesterday")),
            "occurred_at",
            "\"yesterday\" is not an RFC 3339 time with an offset, such as 2026-11-28T07:00:00-05:00",
        ),
        (
            with(&["occurred_at"], json!("2099-01-01T00:00:00Z")),
            "occurred_at",
            "is in the future (more than 5 minutes ahead of the server's clock); check the device's clock and time zone",
        ),
        (
            with(&["occurred_at"], json!("2001-01-01T00:00:00Z")),
            "occurred_at",
            "is more than 365 days ago; reports must be about recent events",
        ),
        (
            with(&["description"], json!("a\u{0007}b")),
            "description",
            "contains the control character U+0007; remove it",
        ),
        (
            with(&["description"], json!("x".repeat(2001))),
            "description",
            "is 2001 characters long; shorten it to at most 2000",
        ),
        (
            with(&["description"], json!("   ")),
            "description",
            "must not be empty; say briefly what happened",
        ),
    ];
    let mut batch = vec![base.clone()];
    batch.extend(cases.iter().map(|(r, _, _)| r.clone()));
    let (status, body) = app.push(&token, batch).await;
    assert_eq!(status, StatusCode::OK);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0], json!({"id": base["id"], "outcome": "accepted"}));
    for ((r, field, reason), got) in cases.iter().zip(&results[1..]) {
        assert_eq!(
            got,
            &json!({"id": r["id"], "outcome": "rejected", "field": field, "reason": reason})
        );
    }
    let (changes, _) = app.pull_all(&token, String::new()).await;
    assert_eq!(changes.len(), 1, "only the valid report is stored");
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn bad_queries_name_the_parameter(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let token = app.user("alice").await;
    let cursor_msg = "is not a cursor this server issued; send the cursor from the last pull verbatim, or none to start over";
    let cases = [
        ("/v1/sync/pull?cursor=bogus", "invalid_cursor", "cursor", cursor_msg.to_owned()),
        ("/v1/sync/pull?limit=0", "invalid_query", "limit", "limit must be from 1 to 1000".to_owned()),
        ("/v1/sync/pull?limit=lots", "invalid_query", "limit", "query parameter: invalid digit found in string".to_owned()),
        ("/v1/incidents?bbox=1,2,3", "invalid_query", "bbox",
         "use min_lon,min_lat,max_lon,max_lat in degrees, e.g. -79.64,43.58,-79.12,43.85".to_owned()),
        ("/v1/incidents?bbox=-79,44,-80,43", "invalid_query", "bbox",
         "minimums must not exceed maximums; use min_lon,min_lat,max_lon,max_lat in degrees, e.g. -79.64,43.58,-79.12,43.85".to_owned()),
        ("/v1/incidents?category=arson", "invalid_query", "category",
         "unknown category \"arson\"; use one of: assault, robbery, break_and_enter, auto_theft, theft, vandalism, harassment, suspicious_activity, drugs, weapons, other".to_owned()),
        ("/v1/incidents?since=tuesday", "invalid_query", "since",
         "\"tuesday\" is not an RFC 3339 time such as 2026-11-28T07:00:00Z".to_owned()),
        ("/v1/incidents?format=kml", "invalid_query", "format", "use json or geojson".to_owned()),
        ("/v1/incidents?limit=5000", "invalid_query", "limit", "must be from 1 to 1000".to_owned()),
    ];
    for (uri, code, field, message) in cases {
        let (status, body) = app.call(Method::GET, uri, Some(&token), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(
            body,
            json!({"error": code, "field": field, "message": message}),
            "{uri}"
        );
    }
    let (status, body) = app.call(Method::GET, "/v1/nope", Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"error": "not_found", "field": null, "message": "no such endpoint; see /v1/openapi.json"})
    );
    let (status, body) = app
        .call(Method::DELETE, "/v1/sync/push", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"], "method_not_allowed");
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"username": "bob", "password": "short"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body,
        json!({"error": "invalid_field", "field": "password",
               "message": "use 12 to 256 characters; a passphrase of a few words is easy to remember"})
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"username": "a b", "password": "long enough password"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "username");
}
