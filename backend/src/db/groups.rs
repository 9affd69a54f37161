//! Watch groups: members and their roles, invitations, the moderation queue and the audit
//! log. Every membership or moderation change writes its `moderation_log` row in the same
//! transaction as the change itself, so the log never misses an action or shows one that
//! did not happen.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use sqlx::Row;
use uuid::Uuid;
use vigil_sync::{Incident, Status};

use super::{
    Db, StoreError, UserId, advisory_lock,
    incidents::{CHANGE_FEED_LOCK, IncidentRow, ViewedRow, Visible},
    on_pool, on_tx,
};

/// What a member may do in a group. Ordered: each role may do what the ones before it may.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees the group's private reports and reports through the group.
    Member,
    /// Also reviews new reports (verify, reject, merge), reads the audit log and invites.
    Moderator,
    /// Also changes roles and removes members.
    Admin,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "member" => Ok(Role::Member),
            "moderator" => Ok(Role::Moderator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "{other:?} is not a role; use member, moderator or admin"
            )),
        }
    }
}

fn role(text: &str) -> Result<Role, StoreError> {
    text.parse().map_err(StoreError::Corrupt)
}

/// A group as a member sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub members: i64,
}

/// A member of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRow {
    pub user_id: String,
    pub username: String,
    pub role: Role,
    pub joined_at: i64,
}

/// A new invitation.
#[derive(Debug, Clone)]
pub struct NewInvite {
    pub code_hash: String,
    pub role: Role,
    pub expires_at: i64,
    pub max_uses: i64,
}

/// What using an invitation code did.
#[derive(Debug, Clone, PartialEq)]
pub enum Joined {
    /// Now a member with this role.
    Joined { group: String, role: Role },
    /// Was a member already; nothing changed (the invitation is not used up).
    AlreadyMember { group: String, role: Role },
    /// No such code, or it expired, was revoked or is used up.
    Invalid,
}

/// Why a membership change was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberChange {
    Done,
    /// The target is not a member.
    NotMember,
    /// The change would leave a group with members but no admin.
    LastAdmin,
    /// The actor's role does not allow changing this member.
    Outranked,
}

/// A moderation decision on a report made through the group.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Verify,
    /// The reporter is told `reason`.
    Reject {
        reason: String,
    },
    /// The report repeats incident `into`; it is rejected as a duplicate of it.
    Merge {
        into: String,
    },
}

impl Decision {
    fn action(&self) -> &'static str {
        match self {
            Decision::Verify => "verify",
            Decision::Reject { .. } => "reject",
            Decision::Merge { .. } => "merge",
        }
    }
}

/// What a moderation decision did.
#[derive(Debug, Clone, PartialEq)]
pub enum Moderated {
    /// Applied: the report's new version.
    Done { version: u32 },
    /// The report is not one made through this group.
    NotInGroup,
    /// Already decided (verified, resolved, rejected or merged).
    AlreadyDecided { status: Status },
    /// The merge target does not exist, is the report itself, was rejected, or is a
    /// private report of another group.
    BadTarget,
}

/// A report waiting in a group's queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedReport {
    pub incident: Incident,
    pub private: bool,
    /// `None` for an anonymous report: not even moderators learn who made it.
    pub reporter: Option<String>,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct AuditEntry {
    pub seq: i64,
    /// `create`, `join`, `leave`, `invite`, `revoke_invites`, `role`, `remove`, `verify`,
    /// `reject` or `merge`.
    pub action: String,
    /// Who did it (`null` once their account is deleted).
    pub actor: Option<String>,
    pub incident_id: Option<String>,
    pub target_user: Option<String>,
    pub detail: String,
    /// Unix milliseconds.
    pub at: i64,
}

/// Appends one audit row inside the open transaction `$t`.
macro_rules! audit {
    ($t:ident, $group:expr, $actor:expr, $action:expr, $incident:expr, $target:expr, $detail:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO moderation_log (group_id, actor_id, action, incident_id, target_user, detail, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind($group)
        .bind($actor)
        .bind($action)
        .bind($incident)
        .bind($target)
        .bind($detail)
        .bind($now)
        .execute(&mut **$t)
        .await?
    };
}

impl Db {
    /// Creates a group with `user` as its admin.
    pub async fn create_group(
        &self,
        user: &UserId,
        name: &str,
        description: &str,
        now_ms: i64,
    ) -> Result<GroupRow, StoreError> {
        let id = Uuid::now_v7().to_string();
        let mut tx = self.begin_write().await?;
        on_tx!(tx, t => {
            sqlx::query("INSERT INTO groups (id, name, description, created_by, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&id)
                .bind(name)
                .bind(description)
                .bind(&user.0)
                .bind(now_ms)
                .execute(&mut **t)
                .await?;
            sqlx::query("INSERT INTO group_members (group_id, user_id, role, joined_at) VALUES ($1, $2, 'admin', $3)")
                .bind(&id)
                .bind(&user.0)
                .bind(now_ms)
                .execute(&mut **t)
                .await?;
            audit!(t, &id, &user.0, "create", None::<String>, None::<String>, name, now_ms);
        });
        tx.commit().await?;
        Ok(GroupRow {
            id,
            name: name.to_owned(),
            description: description.to_owned(),
            created_at: now_ms,
            members: 1,
        })
    }

    /// The groups `user` belongs to, with their role, oldest first.
    pub async fn groups_of(&self, user: &UserId) -> Result<Vec<(GroupRow, Role)>, StoreError> {
        let rows: Vec<MembershipDbRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT g.id, g.name, g.description, g.created_at, m.role,
                    (SELECT COUNT(*) FROM group_members c WHERE c.group_id = g.id) AS members
             FROM group_members m JOIN groups g ON g.id = m.group_id
             WHERE m.user_id = $1 ORDER BY g.created_at, g.id",
        )
        .bind(&user.0)
        .fetch_all(pool)
        .await)?;
        rows.into_iter()
            .map(|r| Ok((GroupRow::from(r.group), role(&r.role)?)))
            .collect()
    }

    /// Group `id`, if it exists.
    pub async fn group(&self, id: &str) -> Result<Option<GroupRow>, StoreError> {
        let row: Option<GroupDbRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT g.id, g.name, g.description, g.created_at,
                    (SELECT COUNT(*) FROM group_members c WHERE c.group_id = g.id) AS members
             FROM groups g WHERE g.id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(GroupRow::from))
    }

    /// `user`'s role in group `group`, if they are a member.
    pub async fn role_in(&self, group: &str, user: &UserId) -> Result<Option<Role>, StoreError> {
        let text: Option<String> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT role FROM group_members WHERE group_id = $1 AND user_id = $2",
        )
        .bind(group)
        .bind(&user.0)
        .fetch_optional(pool)
        .await)?;
        text.as_deref().map(role).transpose()
    }

    /// The groups `user` belongs to (ids only).
    pub async fn group_ids_of(&self, user: &UserId) -> Result<Vec<String>, StoreError> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT group_id FROM group_members WHERE user_id = $1",
        )
        .bind(&user.0)
        .fetch_all(pool)
        .await)?)
    }

    /// Group `group`'s members, admins first, then by when they joined.
    pub async fn members(&self, group: &str) -> Result<Vec<MemberRow>, StoreError> {
        let rows: Vec<MemberDbRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT m.user_id, u.username, m.role, m.joined_at FROM group_members m
             JOIN users u ON u.id = m.user_id WHERE m.group_id = $1
             ORDER BY CASE m.role WHEN 'admin' THEN 0 WHEN 'moderator' THEN 1 ELSE 2 END, m.joined_at, m.user_id",
        )
        .bind(group)
        .fetch_all(pool)
        .await)?;
        rows.into_iter()
            .map(|r| {
                Ok(MemberRow {
                    user_id: r.user_id,
                    username: r.username,
                    role: role(&r.role)?,
                    joined_at: r.joined_at,
                })
            })
            .collect()
    }

    /// Stores an invitation to `group` made by `actor`.
    pub async fn create_invite(
        &self,
        group: &str,
        actor: &UserId,
        invite: &NewInvite,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        on_tx!(tx, t => {
            sqlx::query(
                "INSERT INTO group_invites (code_hash, group_id, role, created_by, created_at, expires_at, max_uses)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&invite.code_hash)
            .bind(group)
            .bind(invite.role.as_str())
            .bind(&actor.0)
            .bind(now_ms)
            .bind(invite.expires_at)
            .bind(invite.max_uses)
            .execute(&mut **t)
            .await?;
            let detail = format!("role {}, {} uses", invite.role, invite.max_uses);
            audit!(t, group, &actor.0, "invite", None::<String>, None::<String>, detail, now_ms);
        });
        tx.commit().await?;
        Ok(())
    }

    /// Revokes every open invitation to `group`; returns how many.
    pub async fn revoke_invites(
        &self,
        group: &str,
        actor: &UserId,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = on_tx!(tx, t => {
            let n = sqlx::query("UPDATE group_invites SET revoked_at = $2 WHERE group_id = $1 AND revoked_at IS NULL")
                .bind(group)
                .bind(now_ms)
                .execute(&mut **t)
                .await?
                .rows_affected();
            audit!(t, group, &actor.0, "revoke_invites", None::<String>, None::<String>, format!("{n} revoked"), now_ms);
            n
        });
        tx.commit().await?;
        Ok(n)
    }

    /// Joins `user` to the group of the invitation whose code hashes to `code_hash`.
    pub async fn join_by_code(
        &self,
        code_hash: &str,
        user: &UserId,
        now_ms: i64,
    ) -> Result<Joined, StoreError> {
        let mut tx = self.begin_write().await?;
        let joined = on_tx!(tx, t => {
            let invite: Option<(String, String)> = sqlx::query_as(
                "SELECT group_id, role FROM group_invites
                 WHERE code_hash = $1 AND revoked_at IS NULL AND expires_at > $2 AND uses < max_uses",
            )
            .bind(code_hash)
            .bind(now_ms)
            .fetch_optional(&mut **t)
            .await?;
            match invite {
                None => Joined::Invalid,
                Some((group, invited_role)) => {
                    let existing: Option<String> = sqlx::query_scalar(
                        "SELECT role FROM group_members WHERE group_id = $1 AND user_id = $2",
                    )
                    .bind(&group)
                    .bind(&user.0)
                    .fetch_optional(&mut **t)
                    .await?;
                    match existing {
                        Some(r) => Joined::AlreadyMember { group, role: role(&r)? },
                        None => {
                            sqlx::query("INSERT INTO group_members (group_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)")
                                .bind(&group)
                                .bind(&user.0)
                                .bind(&invited_role)
                                .bind(now_ms)
                                .execute(&mut **t)
                                .await?;
                            sqlx::query("UPDATE group_invites SET uses = uses + 1 WHERE code_hash = $1")
                                .bind(code_hash)
                                .execute(&mut **t)
                                .await?;
                            audit!(t, &group, &user.0, "join", None::<String>, &user.0, format!("as {invited_role}"), now_ms);
                            Joined::Joined { group, role: role(&invited_role)? }
                        }
                    }
                }
            }
        });
        tx.commit().await?;
        Ok(joined)
    }

    /// Changes `target`'s membership of `group` on `actor`'s say: a new role, or none
    /// (removed; `actor == target` is leaving). An admin may change anyone; a moderator
    /// may only remove plain members; a group with members always keeps an admin.
    pub async fn change_member(
        &self,
        group: &str,
        actor: &UserId,
        target: &str,
        new_role: Option<Role>,
        now_ms: i64,
    ) -> Result<MemberChange, StoreError> {
        let mut tx = self.begin_write().await?;
        let outcome = on_tx!(tx, t => {
            let roles: Vec<(String, String)> = sqlx::query_as(
                "SELECT user_id, role FROM group_members WHERE group_id = $1",
            )
            .bind(group)
            .fetch_all(&mut **t)
            .await?;
            let role_of = |who: &str| -> Result<Option<Role>, StoreError> {
                roles.iter().find(|(u, _)| u == who).map(|(_, r)| role(r)).transpose()
            };
            let actor_role = role_of(&actor.0)?;
            let target_role = role_of(target)?;
            let leaving = actor.0 == target && new_role.is_none();
            let admins = roles.iter().filter(|(_, r)| r == "admin").count();
            let others = roles.len().saturating_sub(1);
            match (actor_role, target_role) {
                (_, None) => MemberChange::NotMember,
                (None, _) => MemberChange::Outranked,
                (Some(a), Some(tr)) => {
                    let allowed = leaving
                        || a == Role::Admin
                        || (a == Role::Moderator && tr == Role::Member && new_role.is_none());
                    let loses_admin = tr == Role::Admin && new_role != Some(Role::Admin);
                    if !allowed {
                        MemberChange::Outranked
                    } else if loses_admin && admins == 1 && others > 0 {
                        MemberChange::LastAdmin
                    } else {
                        let (action, detail) = match new_role {
                            Some(r) => {
                                sqlx::query("UPDATE group_members SET role = $3 WHERE group_id = $1 AND user_id = $2")
                                    .bind(group)
                                    .bind(target)
                                    .bind(r.as_str())
                                    .execute(&mut **t)
                                    .await?;
                                ("role", format!("{tr} to {r}"))
                            }
                            None => {
                                sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                                    .bind(group)
                                    .bind(target)
                                    .execute(&mut **t)
                                    .await?;
                                (if leaving { "leave" } else { "remove" }, format!("was {tr}"))
                            }
                        };
                        audit!(t, group, &actor.0, action, None::<String>, target, detail, now_ms);
                        MemberChange::Done
                    }
                }
            }
        });
        tx.commit().await?;
        Ok(outcome)
    }

    /// Reports made through `group` that wait for a decision, oldest first.
    pub async fn moderation_queue(
        &self,
        group: &str,
        limit: i64,
    ) -> Result<Vec<QueuedReport>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            incident_columns!(),
            ", i.private, CASE WHEN i.anonymous THEN NULL ELSE u.username END AS reporter
             FROM incidents i LEFT JOIN users u ON u.id = i.reporter_id AND u.deleted_at IS NULL
             WHERE i.group_id = $1 AND i.status = 'unverified'
             ORDER BY i.reported_at, i.id LIMIT $2"
        );
        let rows = on_pool!(self, pool => {
            let rows = sqlx::query(SQL).bind(group).bind(limit).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let incident: IncidentRow = sqlx::FromRow::from_row(r)?;
                out.push((incident, r.try_get::<bool, _>("private")?, r.try_get::<Option<String>, _>("reporter")?));
            }
            out
        });
        rows.into_iter()
            .map(|(row, private, reporter)| {
                Ok(QueuedReport {
                    incident: row.into_incident()?,
                    private,
                    reporter,
                })
            })
            .collect()
    }

    /// Incidents `group`'s moderators may see that could be the same event as `incident`:
    /// the same category, within `max_m` metres and `max_minutes` of it, not rejected,
    /// nearest first. Candidates are the group's reports and public incidents.
    pub async fn duplicate_candidates(
        &self,
        group: &str,
        incident: &Incident,
        max_m: f64,
        max_minutes: i64,
    ) -> Result<Vec<(Incident, f64)>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            incident_columns!(),
            " FROM incidents i
             WHERE i.category = $1 AND i.id <> $2 AND i.status <> 'rejected'
               AND (NOT i.private OR i.group_id = $3)
               AND i.occurred_at BETWEEN $4 AND $5
               AND i.lat BETWEEN $6 AND $7 AND i.lon BETWEEN $8 AND $9
             ORDER BY i.occurred_at LIMIT 200"
        );
        let t = incident.occurred_at.timestamp_millis();
        let window = max_minutes * 60_000;
        let dlat = max_m / 111_000.0;
        let dlon = dlat / incident.location.lat.to_radians().cos().max(0.01);
        let rows: Vec<IncidentRow> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(incident.category.as_str())
            .bind(incident.id.to_string())
            .bind(group)
            .bind(t - window)
            .bind(t + window)
            .bind(incident.location.lat - dlat)
            .bind(incident.location.lat + dlat)
            .bind(incident.location.lon - dlon)
            .bind(incident.location.lon + dlon)
            .fetch_all(pool)
            .await)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let other = row.into_incident()?;
            let d = incident.location.distance_m(&other.location);
            if d <= max_m {
                out.push((other, d));
            }
        }
        out.sort_by(|a, b| a.1.total_cmp(&b.1));
        Ok(out)
    }

    /// Applies a moderator's `decision` to report `incident` of `group`: the report's next
    /// version with a `status` change in the feed, and the audit row, in one transaction.
    pub async fn moderate(
        &self,
        group: &str,
        actor: &UserId,
        incident: &str,
        decision: &Decision,
        now_ms: i64,
    ) -> Result<Moderated, StoreError> {
        let is_postgres = self.engine() == "postgres";
        let mut tx = self.begin_write().await?;
        let outcome = on_tx!(tx, t => {
            advisory_lock!(t, is_postgres, CHANGE_FEED_LOCK);
            let current: Option<(Option<String>, String)> =
                sqlx::query_as("SELECT group_id, status FROM incidents WHERE id = $1")
                    .bind(incident)
                    .fetch_optional(&mut **t)
                    .await?;
            let target_ok = match decision {
                Decision::Merge { into } if into == incident => false,
                Decision::Merge { into } => sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM incidents
                     WHERE id = $1 AND status <> 'rejected' AND (NOT private OR group_id = $2)",
                )
                .bind(into)
                .bind(group)
                .fetch_one(&mut **t)
                .await? == 1,
                _ => true,
            };
            match current {
                Some((Some(g), status)) if g == group => {
                    let status: Status = status
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("incident {incident}: status")))?;
                    if status != Status::Unverified {
                        Moderated::AlreadyDecided { status }
                    } else if !target_ok {
                        Moderated::BadTarget
                    } else {
                        let (new_status, reason, merged_into) = match decision {
                            Decision::Verify => (Status::Verified, None, None),
                            Decision::Reject { reason } => (Status::Rejected, Some(reason.clone()), None),
                            Decision::Merge { into } => (
                                Status::Rejected,
                                Some(format!("a duplicate of incident {into}, which already reports this")),
                                Some(into.clone()),
                            ),
                        };
                        let version: i64 = sqlx::query_scalar(
                            "UPDATE incidents SET status = $2, status_reason = $3, merged_into = $4, version = version + 1
                             WHERE id = $1 RETURNING version",
                        )
                        .bind(incident)
                        .bind(new_status.as_str())
                        .bind(&reason)
                        .bind(&merged_into)
                        .fetch_one(&mut **t)
                        .await?;
                        sqlx::query("INSERT INTO changes (incident_id, kind, version, at) VALUES ($1, 'status', $2, $3)")
                            .bind(incident)
                            .bind(version)
                            .bind(now_ms)
                            .execute(&mut **t)
                            .await?;
                        let detail = reason.unwrap_or_default();
                        audit!(t, group, &actor.0, decision.action(), incident, None::<String>, detail, now_ms);
                        Moderated::Done {
                            version: u32::try_from(version)
                                .map_err(|_| StoreError::Corrupt(format!("incident {incident}: version")))?,
                        }
                    }
                }
                _ => Moderated::NotInGroup,
            }
        });
        tx.commit().await?;
        Ok(outcome)
    }

    /// `group`'s audit log after `after`, oldest first.
    pub async fn audit_log(
        &self,
        group: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT l.seq, l.action, u.username AS actor, l.incident_id, t.username AS target_user, l.detail, l.at
             FROM moderation_log l
             LEFT JOIN users u ON u.id = l.actor_id AND u.deleted_at IS NULL
             LEFT JOIN users t ON t.id = l.target_user AND t.deleted_at IS NULL
             WHERE l.group_id = $1 AND l.seq > $2 ORDER BY l.seq LIMIT $3",
        )
        .bind(group)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    /// The incident `id` as `viewer` may see it, with its status reason and the incident
    /// it was merged into; `None` when there is none or the viewer may not see it.
    pub async fn incident_for(
        &self,
        viewer: &UserId,
        id: &str,
    ) -> Result<Option<(Visible<Incident>, IncidentNotes)>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            incident_columns!(),
            ", ",
            viewer_exact!("$2"),
            ", i.group_id, i.private, i.status_reason, i.merged_into, COALESCE(i.reporter_id = $2, FALSE) AS mine
             FROM incidents i WHERE i.id = $1 AND ",
            visible_to!("$2")
        );
        let row = on_pool!(self, pool => {
            match sqlx::query(SQL).bind(id).bind(&viewer.0).fetch_optional(pool).await? {
                None => None,
                Some(r) => {
                    let viewed: ViewedRow = sqlx::FromRow::from_row(&r)?;
                    let notes = IncidentNotes {
                        group: r.try_get("group_id")?,
                        private: r.try_get("private")?,
                        status_reason: r.try_get("status_reason")?,
                        merged_into: r.try_get("merged_into")?,
                        mine: r.try_get::<Option<bool>, _>("mine")?.unwrap_or(false),
                    };
                    Some((viewed, notes))
                }
            }
        });
        row.map(|(viewed, notes)| Ok((viewed.into_visible()?, notes)))
            .transpose()
    }
}

/// What the incident detail adds to an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentNotes {
    pub group: Option<String>,
    pub private: bool,
    pub status_reason: Option<String>,
    pub merged_into: Option<String>,
    /// The viewer reported it.
    pub mine: bool,
}

#[derive(sqlx::FromRow)]
struct GroupDbRow {
    id: String,
    name: String,
    description: String,
    created_at: i64,
    members: i64,
}

impl From<GroupDbRow> for GroupRow {
    fn from(r: GroupDbRow) -> GroupRow {
        GroupRow {
            id: r.id,
            name: r.name,
            description: r.description,
            created_at: r.created_at,
            members: r.members,
        }
    }
}

#[derive(sqlx::FromRow)]
struct MemberDbRow {
    user_id: String,
    username: String,
    role: String,
    joined_at: i64,
}

#[derive(sqlx::FromRow)]
struct MembershipDbRow {
    #[sqlx(flatten)]
    group: GroupDbRow,
    role: String,
}
