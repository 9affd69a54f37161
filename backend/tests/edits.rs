//! Reporters' edits on both engines: applied before moderation, kept as a revision after,
//! answered the same way when retried, and refused for other people's reports.

mod common;

use axum::http::{Method, StatusCode};
use common::{Engine, TestApp, report};
use rstest::rstest;
use serde_json::{Value, json};
use uuid::Uuid;
use vigil_sync::Status;

async fn edit(app: &TestApp, token: &str, edits: Vec<Value>) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/v1/sync/edits",
        Some(token),
        Some(json!({"edits": edits})),
    )
    .await
}

fn an_edit(report: &Value, base_version: u32) -> Value {
    json!({"edit_id": Uuid::now_v7().to_string(), "base_version": base_version, "report": report})
}

/// The newest upsert of incident `id` in the change feed.
fn last_upsert<'a>(changes: &'a [Value], id: &Value) -> &'a Value {
    changes
        .iter()
        .rev()
        .find(|c| c["type"] == "upsert" && c["incident"]["id"] == *id)
        .expect("an upsert of the incident")
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn edits_apply_until_moderation_then_become_revisions(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let alice = app.user("alice").await;
    let original = report(43.6535, -79.3840);
    let (status, _) = app.push(&alice, vec![original.clone()]).await;
    assert_eq!(status, StatusCode::OK);

    // Before moderation: the edit is the report's next version, in the feed as an upsert.
    let mut changed = original.clone();
    changed["description"] = json!("Side door forced; the neighbours' camera saw two people.");
    changed["location"] = json!({"lat": 43.7001, "lon": -79.4002, "accuracy_m": 5.0});
    let first = an_edit(&changed, 1);
    let (status, body) = edit(&app, &alice, vec![first.clone()]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"results": [{"edit_id": first["edit_id"], "outcome": "applied", "version": 2}]})
    );
    let (changes, cursor) = app.pull_all(&alice, String::new()).await;
    let latest = last_upsert(&changes, &original["id"]);
    assert_eq!(latest["incident"]["version"], 2);
    assert_eq!(latest["incident"]["description"], changed["description"]);
    assert_eq!(latest["incident"]["location"], changed["location"]);

    // The same edit again (a retry after a lost answer): the same answer, no new version.
    let (_, body) = edit(&app, &alice, vec![first.clone()]).await;
    assert_eq!(body["results"][0]["outcome"], "applied");
    assert_eq!(body["results"][0]["version"], 2);
    let (nothing, _) = app.pull_all(&alice, cursor.clone()).await;
    assert!(
        nothing.is_empty(),
        "a retried edit changed the feed: {nothing:?}"
    );

    // Moderation verifies it; a later edit is kept for the moderators, the report unchanged.
    let id = original["id"].as_str().unwrap();
    let v = app
        .db
        .set_status(id, Status::Verified, chrono::Utc::now().timestamp_millis())
        .await
        .unwrap();
    assert_eq!(v, Some(3));
    let mut late = changed.clone();
    late["description"] = json!("Actually it was the back door.");
    let second = an_edit(&late, 3);
    let (_, body) = edit(&app, &alice, vec![second.clone()]).await;
    assert_eq!(
        body,
        json!({"results": [{"edit_id": second["edit_id"], "outcome": "kept_as_revision"}]})
    );
    let (after, _) = app.pull_all(&alice, cursor).await;
    assert_eq!(after.len(), 1, "only the status change: {after:?}");
    assert_eq!(after[0]["type"], "status");
    assert_eq!(after[0]["status"], "verified");
    let kept = app.db.kept_revisions(id).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].0, second["edit_id"].as_str().unwrap());
    let kept_body: Value = serde_json::from_str(&kept[0].1).unwrap();
    assert_eq!(kept_body["description"], late["description"]);
    // Retried, it is still one revision.
    let (_, body) = edit(&app, &alice, vec![second]).await;
    assert_eq!(body["results"][0]["outcome"], "kept_as_revision");
    assert_eq!(app.db.kept_revisions(id).await.unwrap().len(), 1);
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn bad_edits_are_refused_by_field_and_change_nothing(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let alice = app.user("alice").await;
    let mallory = app.user("mallory").await;
    let original = report(43.6535, -79.3840);
    app.push(&alice, vec![original.clone()]).await;
    let (before, cursor) = app.pull_all(&alice, String::new()).await;
    assert_eq!(before.len(), 1);

    let theirs = an_edit(&original, 1);
    let unknown = an_edit(&report(43.65, -79.38), 1);
    let mut bad_id = an_edit(&original, 1);
    bad_id["edit_id"] = json!("not-a-uuid");
    let mut bad_lat = original.clone();
    bad_lat["location"]["lat"] = json!(123.0);
    let bad_lat = an_edit(&bad_lat, 1);

    let (status, body) = edit(&app, &mallory, vec![theirs.clone(), unknown.clone()]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0]["outcome"], "rejected");
    assert_eq!(results[0]["field"], "report.id");
    assert!(
        results[0]["reason"]
            .as_str()
            .unwrap()
            .contains("only its reporter")
    );
    assert_eq!(results[1]["field"], "report.id");
    assert!(
        results[1]["reason"]
            .as_str()
            .unwrap()
            .contains("push the report")
    );

    let (_, body) = edit(&app, &alice, vec![bad_id, bad_lat]).await;
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0]["field"], "edit_id");
    assert_eq!(results[1]["field"], "report.location.lat");

    // Mallory cannot take over Alice's edit id either.
    let (_, body) = edit(&app, &alice, vec![an_edit(&original, 1)]).await;
    let used = body["results"][0]["edit_id"].clone();
    let mut reuse = an_edit(&report(43.66, -79.39), 1);
    reuse["edit_id"] = used;
    let (_, body) = edit(&app, &mallory, vec![reuse]).await;
    assert_eq!(body["results"][0]["field"], "edit_id");

    // Not JSON of the right shape: a 4xx naming the problem.
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/sync/edits",
            Some(&alice),
            Some(json!({"edits": [{"edit_id": "x"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Too many at once.
    let many: Vec<Value> = (0..501).map(|_| an_edit(&original, 1)).collect();
    let (status, body) = edit(&app, &alice, many).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "edits");
    // Without a token.
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/sync/edits",
            None,
            Some(json!({"edits": []})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Only Alice's one applied edit reached the feed.
    let (after, _) = app.pull_all(&alice, cursor).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["incident"]["version"], 2);
    assert_eq!(after[0]["incident"]["description"], original["description"]);
}
