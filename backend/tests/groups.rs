//! Watch groups, moderation and privacy on both engines: membership and roles, invitations,
//! private reports kept to their group, public places snapped, the moderation queue and
//! its audit log, exporting and deleting an account, and the retention policy.

mod common;

use axum::http::{Method, StatusCode};
use common::{Engine, TestApp, report};
use rstest::rstest;
use serde_json::{Value, json};
use vigil_sync::{Category, Location, privacy};

/// Creates a group as `token`; returns its id.
async fn group(app: &TestApp, token: &str, name: &str) -> String {
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/groups",
            Some(token),
            Some(json!({"name": name})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["role"], "admin");
    body["id"].as_str().unwrap().to_owned()
}

/// An invitation code to `group` for `role`, made by `token`.
async fn invite(app: &TestApp, token: &str, group: &str, role: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        &format!("/v1/groups/{group}/invites"),
        Some(token),
        Some(json!({"role": role})),
    )
    .await
}

async fn join(app: &TestApp, token: &str, code: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/v1/groups/join",
        Some(token),
        Some(json!({"code": code})),
    )
    .await
}

/// Registers `name` and makes them a member of `group` with `role` (by `admin`).
async fn member(
    app: &TestApp,
    admin: &str,
    group: &str,
    name: &str,
    role: &str,
) -> (String, String) {
    let token = app.user(name).await;
    let (_, inv) = invite(app, admin, group, "member").await;
    let (status, body) = join(app, &token, inv["code"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = user_id(app, &token).await;
    if role != "member" {
        let (status, body) = app
            .call(
                Method::PUT,
                &format!("/v1/groups/{group}/members/{id}"),
                Some(admin),
                Some(json!({"role": role})),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    (token, id)
}

async fn user_id(app: &TestApp, token: &str) -> String {
    let (status, body) = app
        .call(Method::GET, "/v1/me/export", Some(token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["account"]["user_id"].as_str().unwrap().to_owned()
}

fn in_group(mut r: Value, group: &str, visibility: &str) -> Value {
    r["group"] = json!(group);
    r["visibility"] = json!(visibility);
    r
}

fn location(v: &Value) -> Location {
    serde_json::from_value(v.clone()).unwrap()
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn members_roles_and_invitations(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let alice = app.user("alice").await;
    let g = group(&app, &alice, "Elm Street Watch").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;

    // Outsiders cannot tell the group exists.
    let (status, body) = app
        .call(Method::GET, &format!("/v1/groups/{g}"), Some(&bob), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "no_such_group");

    let (status, inv) = invite(&app, &alice, &g, "member").await;
    assert_eq!(status, StatusCode::CREATED, "{inv}");
    let code = inv["code"].as_str().unwrap();
    assert_eq!(inv["link"], format!("vigil://join/{code}"));
    // Codes read back however they are typed.
    let typed = code.to_lowercase().replace('-', " ");
    let (status, body) = join(&app, &bob, &typed).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["joined"].clone(), body["group"]["role"].clone()),
        (json!(true), json!("member"))
    );
    let (_, again) = join(&app, &bob, code).await;
    assert_eq!(again["joined"], false);
    let (status, body) = join(&app, &carol, inv["link"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = join(&app, &carol, "not a code").await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("code"))
    );

    let (_, list) = app
        .call(
            Method::GET,
            &format!("/v1/groups/{g}/members"),
            Some(&bob),
            None,
        )
        .await;
    let names: Vec<(&str, &str)> = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["username"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [("alice", "admin"), ("bob", "member"), ("carol", "member")]
    );
    let bob_id = user_id(&app, &bob).await;
    let carol_id = user_id(&app, &carol).await;

    // A member may not invite; a moderator may invite members only.
    let (status, body) = invite(&app, &bob, &g, "member").await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::FORBIDDEN, json!("role_required"))
    );
    let path = format!("/v1/groups/{g}/members/{bob_id}");
    let (status, _) = app
        .call(
            Method::PUT,
            &path,
            Some(&alice),
            Some(json!({"role": "moderator"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = invite(&app, &bob, &g, "member").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = invite(&app, &bob, &g, "moderator").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = invite(&app, &alice, &g, "admin").await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("role"))
    );

    // The last admin cannot leave while others remain; an admin cannot be removed by a moderator.
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/v1/groups/{g}/members/me"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::CONFLICT, json!("last_admin"))
    );
    let alice_id = user_id(&app, &alice).await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/groups/{g}/members/{alice_id}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Revoked invitations let nobody in.
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/v1/groups/{g}/invites"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revoked"], 2);
    let dave = app.user("dave").await;
    let (status, body) = join(&app, &dave, code).await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::NOT_FOUND, json!("invite_invalid"))
    );

    // A moderator removes a member, who then cannot see the group.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/groups/{g}/members/{carol_id}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call(Method::GET, &format!("/v1/groups/{g}"), Some(&carol), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Every step is in the audit log, in order, naming who did it.
    let (status, log) = app
        .call(
            Method::GET,
            &format!("/v1/groups/{g}/audit"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let steps: Vec<(String, String)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("create", "alice"),
        ("invite", "alice"),
        ("join", "bob"),
        ("join", "carol"),
        ("role", "alice"),
        ("invite", "bob"),
        ("revoke_invites", "alice"),
        ("remove", "bob"),
    ];
    assert_eq!(
        steps,
        expected.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec(),
        "{log}"
    );
    assert_eq!(log["entries"][7]["target_user"], "carol");
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/v1/groups/{g}/audit"),
            Some(&dave),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn private_reports_stay_in_their_group_and_public_places_are_snapped(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let alice = app.user("alice").await;
    let g = group(&app, &alice, "Elm Street Watch").await;
    let (bob, _) = member(&app, &alice, &g, "bob", "member").await;
    let eve = app.user("eve").await;
    let other = group(&app, &eve, "Elsewhere").await;

    let private = in_group(report(43.65341, -79.38412), &g, "group");
    let mut public = report(43.66012, -79.39023);
    public["category"] = json!("assault");
    let foreign = in_group(report(43.65, -79.38), &other, "group");
    let mut no_group = report(43.65, -79.38);
    no_group["visibility"] = json!("group");
    let (status, body) = app
        .push(
            &alice,
            vec![
                private.clone(),
                public.clone(),
                foreign.clone(),
                no_group.clone(),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let outcomes: Vec<(&str, &str)> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap(),
                r["field"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("accepted", ""),
            ("accepted", ""),
            ("rejected", "group"),
            ("rejected", "visibility")
        ]
    );

    // The group's member sees both, precisely.
    let (changes, _) = app.pull_all(&bob, String::new()).await;
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0]["incident"]["location"], private["location"]);
    // An outsider sees only the public one, snapped coarsely (assault), without the place.
    let (changes, _) = app.pull_all(&eve, String::new()).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    let shown = &changes[0]["incident"];
    assert_eq!(shown["id"], public["id"]);
    let exact = location(&public["location"]);
    let snapped = privacy::snap(&exact, Category::Assault);
    assert_eq!(location(&shown["location"]), snapped);
    assert!(exact.distance_m(&snapped) > 50.0);
    assert!(shown.get("place").is_none(), "{shown}");
    // The reporter sees her own report precisely.
    let (changes, _) = app.pull_all(&alice, String::new()).await;
    assert_eq!(changes[1]["incident"]["location"], public["location"]);

    // A box around the precise spot but not the snapped one finds nothing.
    let (d, tight) = (0.0005, &exact);
    let bbox = format!(
        "{},{},{},{}",
        tight.lon - d,
        tight.lat - d,
        tight.lon + d,
        tight.lat + d
    );
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/v1/incidents?bbox={bbox}"),
            Some(&eve),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["count"], 0, "{body}");
    let (_, body) = app
        .call(
            Method::GET,
            &format!("/v1/incidents?bbox={bbox}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(body["count"], 1, "the reporter finds her own report");
    let around = format!(
        "{},{},{},{}",
        snapped.lon - d,
        snapped.lat - d,
        snapped.lon + d,
        snapped.lat + d
    );
    let (_, body) = app
        .call(
            Method::GET,
            &format!("/v1/incidents?bbox={around}"),
            Some(&eve),
            None,
        )
        .await;
    assert_eq!(body["count"], 1, "{body}");
    assert_eq!(location(&body["incidents"][0]["location"]), snapped);

    // The detail view: hidden from outsiders, precise for members.
    let path = format!("/v1/incidents/{}", private["id"].as_str().unwrap());
    let (status, _) = app.call(Method::GET, &path, Some(&eve), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.call(Method::GET, &path, Some(&bob), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["incident"]["location"], private["location"]);
    assert_eq!(
        (body["private"].clone(), body["group"].clone()),
        (json!(true), json!(g))
    );
    assert_eq!(
        (body["mine"].clone(), body["location_precision"].clone()),
        (json!(false), json!("exact"))
    );
    let (_, body) = app
        .call(
            Method::GET,
            &format!("/v1/incidents/{}", public["id"].as_str().unwrap()),
            Some(&eve),
            None,
        )
        .await;
    assert_eq!(body["location_precision"], "area");
    assert_eq!(body["incident"]["source"], json!({"kind": "user_report"}));
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn moderators_verify_reject_and_merge_with_an_audit_trail(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.user("alice").await;
    let g = group(&app, &admin, "Elm Street Watch").await;
    let (moderator, _) = member(&app, &admin, &g, "mona", "moderator").await;
    let (resident, _) = member(&app, &admin, &g, "ryan", "member").await;

    let first = in_group(report(43.65340, -79.38410), &g, "public");
    let mut repeat = in_group(report(43.65375, -79.38410), &g, "public");
    repeat["anonymous"] = json!(true);
    let elsewhere = in_group(report(43.70, -79.40), &g, "group");
    app.push_accepted(
        &resident,
        vec![first.clone(), repeat.clone(), elsewhere.clone()],
    )
    .await;
    let id = |r: &Value| r["id"].as_str().unwrap().to_owned();

    let (status, body) = app
        .call(
            Method::GET,
            &format!("/v1/groups/{g}/queue"),
            Some(&resident),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, queue) = app
        .call(
            Method::GET,
            &format!("/v1/groups/{g}/queue"),
            Some(&moderator),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let reports = queue["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 3);
    assert_eq!(reports[0]["reporter"], "ryan");
    // Anonymous means anonymous, to moderators too.
    assert_eq!(reports[1]["incident"]["id"], repeat["id"]);
    assert_eq!(reports[1]["reporter"], Value::Null);
    assert!(!queue.to_string().contains(&user_id(&app, &resident).await));
    // The repeat is offered as a duplicate of the first (about 39 m apart), and back.
    let dup = &reports[1]["duplicates"][0];
    assert_eq!(dup["id"], first["id"]);
    let d = dup["distance_m"].as_f64().unwrap();
    assert!((35.0..45.0).contains(&d), "{d}");
    assert_eq!(reports[2]["duplicates"], json!([]));

    let decide = |incident: String, body: Value| {
        let path = format!("/v1/groups/{g}/reports/{incident}/decision");
        let app = &app;
        let moderator = moderator.clone();
        async move {
            app.call(Method::POST, &path, Some(&moderator), Some(body))
                .await
        }
    };
    let (status, body) = decide(id(&repeat), json!({"action": "merge", "into": id(&repeat)})).await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("into"))
    );
    let (status, body) = decide(id(&repeat), json!({"action": "merge", "into": id(&first)})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["status"].clone(), body["version"].clone()),
        (json!("rejected"), json!(2))
    );
    let (status, _) = decide(id(&first), json!({"action": "verify"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = decide(id(&first), json!({"action": "verify"})).await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::CONFLICT, json!("already_decided"))
    );
    let (status, body) = decide(id(&elsewhere), json!({"action": "reject", "reason": "  "})).await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("reason"))
    );
    let (status, body) = decide(id(&elsewhere), json!({"action": "shrug"})).await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("action"))
    );
    let reason = "Duplicate of a police report already on the map; thanks for telling us.";
    let (status, _) = decide(
        id(&elsewhere),
        json!({"action": "reject", "reason": reason}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // A report made through no group is not this group's to decide.
    let outside = report(43.65, -79.38);
    app.push_accepted(&resident, vec![outside.clone()]).await;
    let (status, body) = decide(id(&outside), json!({"action": "verify"})).await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::NOT_FOUND, json!("no_such_report"))
    );

    // The reporter's sync brings the new statuses, and the detail view the reason.
    let (changes, _) = app.pull_all(&resident, String::new()).await;
    let statuses: Vec<(String, String)> = changes
        .iter()
        .filter(|c| c["type"] == "status")
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (id(&repeat), "rejected".to_owned()),
            (id(&first), "verified".to_owned()),
            (id(&elsewhere), "rejected".to_owned())
        ]
    );
    let (_, body) = app
        .call(
            Method::GET,
            &format!("/v1/incidents/{}", id(&elsewhere)),
            Some(&resident),
            None,
        )
        .await;
    assert_eq!(body["status_reason"], reason);
    let (_, body) = app
        .call(
            Method::GET,
            &format!("/v1/incidents/{}", id(&repeat)),
            Some(&resident),
            None,
        )
        .await;
    assert_eq!(body["merged_into"], json!(id(&first)));

    let (_, queue) = app
        .call(
            Method::GET,
            &format!("/v1/groups/{g}/queue"),
            Some(&moderator),
            None,
        )
        .await;
    assert_eq!(queue["reports"], json!([]));
    let (_, log) = app
        .call(
            Method::GET,
            &format!("/v1/groups/{g}/audit?after=0&limit=500"),
            Some(&admin),
            None,
        )
        .await;
    let decisions: Vec<(&str, &str, &str)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| ["verify", "reject", "merge"].contains(&e["action"].as_str().unwrap()))
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor"].as_str().unwrap(),
                e["incident_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("merge", "mona", id(&repeat).as_str()),
            ("verify", "mona", id(&first).as_str()),
            ("reject", "mona", id(&elsewhere).as_str())
        ]
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn a_resident_exports_their_data_and_deletes_their_account(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let owner = app.user("olga").await;
    let g = group(&app, &owner, "Elm Street Watch").await;
    let (alice, alice_id) = member(&app, &owner, &g, "alice", "member").await;
    let mine = in_group(report(43.6534, -79.3841), &g, "group");
    app.push_accepted(&alice, vec![mine.clone()]).await;
    let area = json!({"name": "Home", "shape": {"circle": {"lat": 43.65, "lon": -79.38, "radius_m": 500}}});
    let area_id = uuid::Uuid::now_v7().to_string();
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v1/watch-areas/{area_id}"),
            Some(&alice),
            Some(area),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");

    let (status, export) = app
        .call(Method::GET, "/v1/me/export", Some(&alice), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(export["account"]["username"], "alice");
    assert_eq!(export["reports"][0]["incident"]["id"], mine["id"]);
    assert_eq!(export["reports"][0]["group"], json!(g));
    assert_eq!(export["watch_areas"][0]["id"], json!(area_id));
    assert_eq!(export["groups"][0]["role"], "member");

    // The group's only admin must hand over first.
    let (status, body) = app
        .call(
            Method::DELETE,
            "/v1/me",
            Some(&owner),
            Some(json!({"password": "correct horse battery"})),
        )
        .await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::CONFLICT, json!("last_admin"))
    );
    let (status, body) = app
        .call(
            Method::DELETE,
            "/v1/me",
            Some(&alice),
            Some(json!({"password": "wrong password!!"})),
        )
        .await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::FORBIDDEN, json!("password"))
    );
    let (status, body) = app
        .call(
            Method::DELETE,
            "/v1/me",
            Some(&alice),
            Some(json!({"password": "correct horse battery"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reports_unlinked"], 1);

    // Gone: the token, the login, the membership, the area; the report stays, unnamed.
    let (status, _) = app
        .call(Method::GET, "/v1/me/export", Some(&alice), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "alice", "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, members) = app
        .call(
            Method::GET,
            &format!("/v1/groups/{g}/members"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(members["members"].as_array().unwrap().len(), 1);
    assert!(!members.to_string().contains(&alice_id));
    let (changes, _) = app.pull_all(&owner, String::new()).await;
    assert_eq!(changes.len(), 1);
    let (_, queue) = app
        .call(
            Method::GET,
            &format!("/v1/groups/{g}/queue"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(queue["reports"][0]["reporter"], Value::Null);
    let areas = app.db.areas_changed(0, 100).await.unwrap();
    assert!(areas.iter().all(|a| a.deleted), "{areas:?}");
    // The name is free again.
    let fresh = app.user("alice").await;
    let (_, export) = app
        .call(Method::GET, "/v1/me/export", Some(&fresh), None)
        .await;
    assert_eq!(export["reports"], json!([]));
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn retention_coarsens_old_reports_once(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let alice = app.user("alice").await;
    let r = report(43.65341, -79.38412);
    app.push_accepted(&alice, vec![r.clone()]).await;
    let (_, cursor) = app.pull_all(&alice, String::new()).await;

    let now = chrono::Utc::now().timestamp_millis();
    assert_eq!(
        app.db
            .coarsen_reports(now - 60_000, 500, now)
            .await
            .unwrap(),
        0,
        "too recent"
    );
    assert_eq!(app.db.coarsen_reports(now + 1, 500, now).await.unwrap(), 1);
    assert_eq!(
        app.db.coarsen_reports(now + 1, 500, now).await.unwrap(),
        0,
        "only once"
    );

    let bob = app.user("bob").await;
    let (changes, _) = app.pull_all(&bob, cursor).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    let inc = &changes[0]["incident"];
    assert_eq!(inc["version"], 2);
    let snapped = privacy::snap(&location(&r["location"]), Category::BreakAndEnter);
    assert_eq!(location(&inc["location"]), snapped);
    assert!(inc.get("place").is_none());
    // No longer linked to its reporter, so her export does not list it.
    let (_, export) = app
        .call(Method::GET, "/v1/me/export", Some(&alice), None)
        .await;
    assert_eq!(export["reports"], json!([]));
}

async fn get_photo(app: &TestApp, uri: &str, token: &str) -> axum::response::Response {
    app.send(
        axum::http::Request::get(uri)
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
}

/// A JPEG as a phone writes it: JFIF, then EXIF with the place it was taken, a comment,
/// then the tables and the scan.
fn phone_jpeg() -> Vec<u8> {
    let seg = |marker: u8, payload: &[u8]| {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        s.extend_from_slice(payload);
        s
    };
    [
        vec![0xFF, 0xD8],
        seg(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"),
        seg(
            0xE1,
            b"Exif\0\0MM\0*GPSLatitude 43.65341 GPSLongitude -79.38412 SerialNumber 0042",
        ),
        seg(0xFE, b"12 Elm St, back door"),
        seg(0xDB, &[0; 65]),
        seg(0xC0, &[8, 0, 8, 0, 8, 1, 1, 0x11, 0]),
        seg(0xDA, &[1, 1, 0, 0, 63, 0]),
        vec![0xA5, 0x5A, 0xFF, 0x00, 0x17, 0xFF, 0xD9],
    ]
    .concat()
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn photos_lose_their_metadata_and_show_to_the_public_once_verified(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let alice = app.user("alice").await;
    let g = group(&app, &alice, "Elm Street Watch").await;
    let (moderator, _) = member(&app, &alice, &g, "mona", "moderator").await;
    let eve = app.user("eve").await;
    let r = in_group(report(43.65341, -79.38412), &g, "public");
    app.push_accepted(&alice, vec![r.clone()]).await;
    let id = r["id"].as_str().unwrap();
    let path = format!("/v1/incidents/{id}/photos");
    let photo = phone_jpeg();
    let post = |token: &str, content_type: &str, bytes: Vec<u8>| {
        let (app, path, token, content_type) = (
            &app,
            path.clone(),
            token.to_owned(),
            content_type.to_owned(),
        );
        async move {
            app.raw(
                Method::POST,
                &path,
                Some(&token),
                Some(bytes),
                Some(&content_type),
            )
            .await
        }
    };

    let (status, body) = post(&alice, "image/jpeg", photo.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["n"], 1);
    assert!(body["bytes"].as_u64().unwrap() < photo.len() as u64);
    let (status, again) = post(&alice, "image/jpeg", photo.clone()).await;
    assert_eq!(
        (status, again["added"].clone(), again["n"].clone()),
        (StatusCode::OK, json!(false), json!(1))
    );

    // What is served has no place, serial number or comment, and the same image data.
    let resp = get_photo(&app, &format!("{path}/1"), &alice).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    let served = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8_lossy(&served);
    for gone in ["Exif", "GPS", "43.65", "Serial", "Elm St"] {
        assert!(!text.contains(gone), "{gone} is still in the served photo");
    }
    assert!(served.starts_with(&[0xFF, 0xD8, 0xFF, 0xE0]));
    assert!(served.ends_with(&[0xA5, 0x5A, 0xFF, 0x00, 0x17, 0xFF, 0xD9]));

    // Refusals: someone else's report, the wrong type, not a photo, too big.
    let (status, _) = post(&eve, "image/jpeg", photo.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(&alice, "image/gif", photo.clone()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, body) = post(&alice, "image/png", photo.clone()).await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("photo"))
    );
    let (status, body) = post(&alice, "image/jpeg", b"not a photo".to_vec()).await;
    assert_eq!(
        (status, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("photo"))
    );
    let (status, body) = post(&alice, "image/jpeg", vec![0xFF; 9 * 1024 * 1024]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

    // The public sees it once a moderator has verified the report.
    let (status, _) = app
        .call(Method::GET, &format!("{path}/1"), Some(&eve), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, detail) = app
        .call(
            Method::GET,
            &format!("/v1/incidents/{id}"),
            Some(&eve),
            None,
        )
        .await;
    assert_eq!(detail["photos"], 0);
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/v1/groups/{g}/reports/{id}/decision"),
            Some(&moderator),
            Some(json!({"action": "verify"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, detail) = app
        .call(
            Method::GET,
            &format!("/v1/incidents/{id}"),
            Some(&eve),
            None,
        )
        .await;
    assert_eq!(detail["photos"], 1);
    let resp = get_photo(&app, &format!("{path}/1"), &eve).await;
    assert_eq!(resp.status(), StatusCode::OK);

    // Four photos at most; retention removes them with the precise place.
    for i in 0..3u8 {
        let mut other = phone_jpeg();
        let at = other.len() - 3;
        other[at] = i;
        let (status, _) = post(&alice, "image/jpeg", other).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut fifth = phone_jpeg();
    let at = fifth.len() - 3;
    fifth[at] = 9;
    let (status, body) = post(&alice, "image/jpeg", fifth).await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::CONFLICT, json!("too_many_photos"))
    );
    let now = chrono::Utc::now().timestamp_millis();
    assert_eq!(app.db.coarsen_reports(now + 1, 10, now).await.unwrap(), 1);
    assert_eq!(app.db.photo_count(id).await.unwrap(), 0);
}
