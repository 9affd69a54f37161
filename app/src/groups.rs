//! Watch groups from the device: one's groups, creating and joining one, invitations, and
//! the moderation queue for moderators. These need the server at the moment they are
//! asked (like the dashboard); nothing here is kept offline.

use serde::{Deserialize, Serialize};
use vigil_sync::Incident;

use crate::sync::{Server, SyncError};

/// A group as the signed-in member sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: String,
    pub members: i64,
    /// The caller's role: `member`, `moderator` or `admin`.
    pub role: String,
}

impl Group {
    /// Moderators and admins review reports and invite.
    pub fn moderates(&self) -> bool {
        self.role == "moderator" || self.role == "admin"
    }
}

/// An invitation to share; the server keeps only its hash, so this is the one chance to
/// read the code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invite {
    /// Twelve characters, e.g. `K7QM-2XHD-9TPB`.
    pub code: String,
    /// The same as a `vigil://join/…` link.
    pub link: String,
    pub role: String,
    pub expires_at: String,
    pub max_uses: i64,
}

/// An incident that may be the same event as a queued report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Duplicate {
    pub id: String,
    pub category: String,
    pub occurred_at: String,
    pub status: String,
    pub distance_m: f64,
    pub minutes_apart: i64,
}

/// A report made through a group, waiting for a moderator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queued {
    pub incident: Incident,
    /// Only the group's members see it.
    pub private: bool,
    /// Who made it; `None` for an anonymous report.
    pub reporter: Option<String>,
    pub duplicates: Vec<Duplicate>,
}

/// A moderator's decision on a queued report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    Verify,
    /// The reporter reads `reason`.
    Reject {
        reason: String,
    },
    /// The report repeats incident `into`.
    Merge {
        into: String,
    },
}

#[derive(Deserialize)]
struct GroupList {
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Joined {
    group: Group,
}

#[derive(Deserialize)]
struct Queue {
    reports: Vec<Queued>,
}

#[derive(Deserialize)]
struct Decided {
    status: String,
}

/// A group id as a path segment: the server's ids are UUIDs, so anything else is refused
/// here rather than sent.
fn segment(field: &str, id: &str) -> Result<String, SyncError> {
    uuid::Uuid::parse_str(id.trim())
        .map(|u| u.to_string())
        .map_err(|_| SyncError::Refused {
            status: 0,
            message: format!("{field}: {id:?} is not an id; choose one from the list"),
        })
}

impl Server {
    /// The groups the signed-in account belongs to, with its role in each.
    pub async fn groups(&self) -> Result<Vec<Group>, SyncError> {
        let list: GroupList = self
            .send(self.http().get(format!("{}/v1/groups", self.base())))
            .await?;
        Ok(list.groups)
    }

    /// Creates a group; the caller becomes its admin.
    pub async fn create_group(&self, name: &str, description: &str) -> Result<Group, SyncError> {
        self.send(
            self.http()
                .post(format!("{}/v1/groups", self.base()))
                .json(&serde_json::json!({"name": name, "description": description})),
        )
        .await
    }

    /// Joins the group of an invitation code or link, as shared (case, dashes and spaces
    /// do not matter). Joining a group one is in already is not an error.
    pub async fn join_group(&self, code: &str) -> Result<Group, SyncError> {
        let joined: Joined = self
            .send(
                self.http()
                    .post(format!("{}/v1/groups/join", self.base()))
                    .json(&serde_json::json!({"code": code})),
            )
            .await?;
        Ok(joined.group)
    }

    /// A new invitation to the group for members (moderators and admins), valid a week
    /// for up to 25 people.
    pub async fn invite(&self, group: &str) -> Result<Invite, SyncError> {
        let group = segment("group", group)?;
        self.send(
            self.http()
                .post(format!("{}/v1/groups/{group}/invites", self.base()))
                .json(&serde_json::json!({})),
        )
        .await
    }

    /// The reports made through the group that wait for a decision, oldest first, with
    /// their possible duplicates (moderators).
    pub async fn moderation_queue(&self, group: &str) -> Result<Vec<Queued>, SyncError> {
        let group = segment("group", group)?;
        let queue: Queue = self
            .send(
                self.http()
                    .get(format!("{}/v1/groups/{group}/queue", self.base())),
            )
            .await?;
        Ok(queue.reports)
    }

    /// Verifies, rejects or merges a queued report; its new status.
    pub async fn decide(
        &self,
        group: &str,
        incident: &str,
        decision: &Decision,
    ) -> Result<String, SyncError> {
        let group = segment("group", group)?;
        let incident = segment("incident", incident)?;
        let decided: Decided = self
            .send(
                self.http()
                    .post(format!(
                        "{}/v1/groups/{group}/reports/{incident}/decision",
                        self.base()
                    ))
                    .json(decision),
            )
            .await?;
        Ok(decided.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_written_as_the_server_reads_them() {
        let json = |d: &Decision| serde_json::to_value(d).unwrap();
        assert_eq!(
            json(&Decision::Verify),
            serde_json::json!({"action": "verify"})
        );
        assert_eq!(
            json(&Decision::Reject {
                reason: "duplicate of last night's".into()
            }),
            serde_json::json!({"action": "reject", "reason": "duplicate of last night's"})
        );
        assert_eq!(
            json(&Decision::Merge { into: "x".into() }),
            serde_json::json!({"action": "merge", "into": "x"})
        );
    }

    #[test]
    fn ids_that_are_not_ids_are_refused_before_sending() {
        let err = segment("group", "../admin").unwrap_err();
        assert!(err.to_string().contains("group"), "{err}");
        assert_eq!(
            segment("group", " 0190a5b2-1c3d-7e4f-8a9b-0c1d2e3f4a5b ").unwrap(),
            "0190a5b2-1c3d-7e4f-8a9b-0c1d2e3f4a5b"
        );
    }
}
