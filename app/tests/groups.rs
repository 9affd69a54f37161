//! Watch groups from the device against the embedded backend: create, invite, join with
//! the code as people type it, the moderation queue and a moderator's decisions.

mod common;

use chrono::{TimeDelta, Utc};
use vigil_app::{
    SyncError,
    groups::{Decision, Group},
};

/// `reporter` reports through `group`; the new incident's id.
async fn report_through(base: &str, token: &str, group: &Group, text: &str) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/v1/sync/push"))
        .bearer_auth(token)
        .json(&serde_json::json!({"reports": [{
            "id": id,
            "category": "vandalism",
            "occurred_at": (Utc::now() - TimeDelta::hours(2)).fixed_offset().to_rfc3339(),
            "location": {"lat": 43.6535, "lon": -79.384, "accuracy_m": 10.0},
            "description": text,
            "group": group.id,
        }]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["results"][0]["outcome"], "accepted", "{answer}");
    id
}

#[tokio::test]
async fn a_group_is_made_joined_and_moderated_from_the_device() {
    let b = common::backend().await;
    let admin = common::signed_in(&b, "organiser").await;
    let neighbour = common::signed_in(&b, "neighbour").await;

    let bad = admin.create_group("   ", "").await.unwrap_err();
    assert!(
        matches!(&bad, SyncError::Refused { status: 422, message } if message.contains("name")),
        "{bad:?}"
    );
    let group = admin
        .create_group("Elm Street Watch", "The 200 block and the park")
        .await
        .unwrap();
    assert_eq!((group.role.as_str(), group.members), ("admin", 1));
    assert!(group.moderates());

    // A member may not invite or see the queue; the code works as people type it.
    let invite = admin.invite(&group.id).await.unwrap();
    assert_eq!(invite.code.len(), 14, "{invite:?}");
    assert!(invite.link.ends_with(&invite.code), "{invite:?}");
    let typed = invite.code.replace('-', " ").to_lowercase();
    let joined = neighbour.join_group(&typed).await.unwrap();
    assert_eq!(
        (joined.id.as_str(), joined.role.as_str()),
        (group.id.as_str(), "member")
    );
    assert!(!joined.moderates());
    let again = neighbour.join_group(&invite.link).await.unwrap();
    assert_eq!(again.members, 2, "joining twice counts once");
    let refused = neighbour.moderation_queue(&group.id).await.unwrap_err();
    assert!(
        matches!(refused, SyncError::Refused { status: 403, .. }),
        "{refused:?}"
    );
    let wrong = neighbour.join_group("AAAA-BBBB-CCCC").await.unwrap_err();
    assert!(matches!(wrong, SyncError::Refused { .. }), "{wrong:?}");
    assert_eq!(neighbour.groups().await.unwrap(), vec![again.clone()]);

    // Two reports through the group: one verified, one rejected with a reason.
    let token = neighbour.token().unwrap();
    let first = report_through(&b.url, token, &group, "Graffiti on the park gate").await;
    let second = report_through(&b.url, token, &group, "Graffiti on the park gate again").await;
    let queue = admin.moderation_queue(&group.id).await.unwrap();
    let ids: Vec<String> = queue.iter().map(|q| q.incident.id.to_string()).collect();
    assert_eq!(ids, vec![first.clone(), second.clone()], "oldest first");
    assert_eq!(queue[0].reporter.as_deref(), Some("neighbour"));
    assert!(
        queue[1].duplicates.iter().any(|d| d.id == first),
        "the second is offered as a duplicate of the first: {:?}",
        queue[1].duplicates
    );

    let status = admin
        .decide(&group.id, &first, &Decision::Verify)
        .await
        .unwrap();
    assert_eq!(status, "verified");
    let status = admin
        .decide(
            &group.id,
            &second,
            &Decision::Reject {
                reason: "Same gate as this morning's report".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(status, "rejected");
    assert!(admin.moderation_queue(&group.id).await.unwrap().is_empty());
    let twice = admin
        .decide(&group.id, &first, &Decision::Verify)
        .await
        .unwrap_err();
    assert!(
        matches!(twice, SyncError::Refused { status: 409, .. }),
        "{twice:?}"
    );
    let no_reason = admin
        .decide(
            &group.id,
            &second,
            &Decision::Reject {
                reason: String::new(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(no_reason, SyncError::Refused { .. }),
        "{no_reason:?}"
    );
}
