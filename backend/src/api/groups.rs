//! `/v1/groups`: watch groups, their members and roles, invitations, and moderation of the
//! reports made through a group (the queue, decisions, the audit log).
//!
//! Someone who is not a member gets 404 for a group, as if it did not exist: group ids do
//! not reveal which groups there are. A member whose role is too low gets 403 naming the
//! role needed.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, TimeDelta, Utc};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use vigil_sync::{Category, Incident, IncidentId, Status, validate::normalise_text};

use super::{
    AppState,
    auth::{AuthUser, token_hash},
    error::AppError,
    extract::{ApiJson, ApiQuery, bad_query},
};
use crate::db::{
    AuditEntry, Decision, GroupRow, Joined, MemberChange, MemberRow, Moderated, NewInvite, Role,
};

/// Longest group name, in characters.
const MAX_NAME_CHARS: usize = 80;
/// Longest group description, in characters.
const MAX_DESCRIPTION_CHARS: usize = 1_000;
/// Longest rejection reason, in characters.
const MAX_REASON_CHARS: usize = 500;
/// Characters of an invitation code (Crockford's base 32: no I, L, O or U).
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in an invitation code (60 bits).
const CODE_LEN: usize = 12;
/// How near in space and time a report must be to another to be offered as a duplicate.
const DUPLICATE_M: f64 = 300.0;
const DUPLICATE_MINUTES: i64 = 180;

/// A group as one of its members sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupOut {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub members: i64,
    /// The caller's role.
    pub role: Role,
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn group_out(g: GroupRow, role: Role) -> GroupOut {
    GroupOut {
        id: g.id,
        name: g.name,
        description: g.description,
        created_at: time(g.created_at),
        members: g.members,
        role,
    }
}

/// `GET /v1/groups` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupList {
    pub groups: Vec<GroupOut>,
}

/// A new group.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    /// 1 to 80 characters.
    pub name: String,
    /// Up to 1,000 characters.
    #[serde(default)]
    pub description: String,
}

fn checked_name(raw: &str) -> Result<String, AppError> {
    let name = normalise_text("name", raw, MAX_NAME_CHARS)
        .map_err(|e| AppError::invalid_field(e.field, e.reason))?;
    let name = name.trim().to_owned();
    if name.is_empty() {
        return Err(AppError::invalid_field(
            "name",
            "must not be empty; name the group after its street or neighbourhood",
        ));
    }
    Ok(name)
}

/// The group id in a path, or 404.
fn group_id(raw: &str) -> Result<String, AppError> {
    Uuid::parse_str(raw)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| no_group())
}

fn no_group() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "no_such_group",
        "no such group among yours; see GET /v1/groups, or join with an invitation code",
    )
}

/// The caller's role in `group`, if at least `needed`: 404 for non-members, 403 otherwise.
async fn require(
    state: &AppState,
    group: &str,
    user: &AuthUser,
    needed: Role,
) -> Result<Role, AppError> {
    let role = state
        .db
        .role_in(group, &user.id)
        .await?
        .ok_or_else(no_group)?;
    if role < needed {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "role_required",
            format!(
                "this needs the {needed} role in the group (you are a {role}); ask one of its admins"
            ),
        ));
    }
    Ok(role)
}

/// Create a group; the caller becomes its admin.
#[utoipa::path(post, path = "/v1/groups", tag = "groups", security(("bearer" = [])), request_body = NewGroup,
    responses((status = 201, body = GroupOut), (status = 401, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(new): ApiJson<NewGroup>,
) -> Result<(StatusCode, Json<GroupOut>), AppError> {
    let name = checked_name(&new.name)?;
    let description = normalise_text("description", &new.description, MAX_DESCRIPTION_CHARS)
        .map_err(|e| AppError::invalid_field(e.field, e.reason))?;
    let group = state
        .db
        .create_group(
            &user.id,
            &name,
            description.trim(),
            Utc::now().timestamp_millis(),
        )
        .await?;
    tracing::info!(group = %group.id, user = %user.id, "group created");
    Ok((StatusCode::CREATED, Json(group_out(group, Role::Admin))))
}

/// The caller's groups.
#[utoipa::path(get, path = "/v1/groups", tag = "groups", security(("bearer" = [])),
    responses((status = 200, body = GroupList), (status = 401, body = super::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<GroupList>, AppError> {
    let groups = state.db.groups_of(&user.id).await?;
    Ok(Json(GroupList {
        groups: groups.into_iter().map(|(g, r)| group_out(g, r)).collect(),
    }))
}

/// One of the caller's groups.
#[utoipa::path(get, path = "/v1/groups/{id}", tag = "groups", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = GroupOut), (status = 401, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<GroupOut>, AppError> {
    let id = group_id(&id)?;
    let role = require(&state, &id, &user, Role::Member).await?;
    let group = state.db.group(&id).await?.ok_or_else(no_group)?;
    Ok(Json(group_out(group, role)))
}

/// A member as other members see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberOut {
    pub user_id: String,
    pub username: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

/// `GET /v1/groups/{id}/members` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<MemberOut>,
}

/// The group's members, admins first.
#[utoipa::path(get, path = "/v1/groups/{id}/members", tag = "groups", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = MemberList), (status = 401, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)))]
pub async fn members(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<MemberList>, AppError> {
    let id = group_id(&id)?;
    require(&state, &id, &user, Role::Member).await?;
    let members = state.db.members(&id).await?;
    Ok(Json(MemberList {
        members: members
            .into_iter()
            .map(|m: MemberRow| MemberOut {
                user_id: m.user_id,
                username: m.username,
                role: m.role,
                joined_at: time(m.joined_at),
            })
            .collect(),
    }))
}

/// A new invitation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// `member` (default) or `moderator` (only admins may invite moderators).
    #[serde(default)]
    pub role: Option<Role>,
    /// 1 to 720 hours (default 168, a week).
    #[serde(default)]
    pub expires_in_hours: Option<i64>,
    /// How many people may join with it, 1 to 500 (default 25).
    #[serde(default)]
    pub max_uses: Option<i64>,
}

/// An invitation to share. The code is shown once; the server keeps only its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct Invite {
    /// Twelve characters in three groups, e.g. `K7QM-2XHD-9TPB`; case and dashes do not matter.
    pub code: String,
    /// The same code as a link the app opens.
    pub link: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    pub max_uses: i64,
}

/// A fresh random invitation code, as shown (with dashes).
fn new_code() -> String {
    let mut raw = [0u8; CODE_LEN];
    OsRng.fill_bytes(&mut raw);
    let chars: Vec<char> = raw
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(b & 31)]))
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// A code as typed, in the form that is hashed: upper case, no dashes or spaces; `None`
/// when it cannot be a code.
fn normalise_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

/// Make an invitation (moderators and admins).
#[utoipa::path(post, path = "/v1/groups/{id}/invites", tag = "groups", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = InviteRequest,
    responses((status = 201, body = Invite), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
pub async fn invite(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<InviteRequest>,
) -> Result<(StatusCode, Json<Invite>), AppError> {
    let id = group_id(&id)?;
    let caller = require(&state, &id, &user, Role::Moderator).await?;
    let role = request.role.unwrap_or(Role::Member);
    if role == Role::Admin {
        return Err(AppError::invalid_field(
            "role",
            "invite as member or moderator; an admin can then make someone admin",
        ));
    }
    if role == Role::Moderator && caller < Role::Admin {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "role_required",
            "only admins may invite moderators; invite as member",
        )
        .with_field("role"));
    }
    let hours = request.expires_in_hours.unwrap_or(168);
    if !(1..=720).contains(&hours) {
        return Err(AppError::invalid_field(
            "expires_in_hours",
            "must be from 1 to 720 (30 days)",
        ));
    }
    let max_uses = request.max_uses.unwrap_or(25);
    if !(1..=500).contains(&max_uses) {
        return Err(AppError::invalid_field("max_uses", "must be from 1 to 500"));
    }
    let code = new_code();
    let now = Utc::now();
    let expires_at = now + TimeDelta::hours(hours);
    let hash = token_hash(&normalise_code(&code).unwrap_or_default());
    state
        .db
        .create_invite(
            &id,
            &user.id,
            &NewInvite {
                code_hash: hash,
                role,
                expires_at: expires_at.timestamp_millis(),
                max_uses,
            },
            now.timestamp_millis(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Invite {
            link: format!("vigil://join/{code}"),
            code,
            role,
            expires_at: expires_at.trunc_subsecs_ms(),
            max_uses,
        }),
    ))
}

trait TruncMs {
    fn trunc_subsecs_ms(self) -> Self;
}

impl TruncMs for DateTime<Utc> {
    fn trunc_subsecs_ms(self) -> Self {
        DateTime::from_timestamp_millis(self.timestamp_millis()).unwrap_or(self)
    }
}

/// `DELETE /v1/groups/{id}/invites` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: u64,
}

/// Revoke every open invitation (admins).
#[utoipa::path(delete, path = "/v1/groups/{id}/invites", tag = "groups", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Revoked), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn revoke_invites(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Revoked>, AppError> {
    let id = group_id(&id)?;
    require(&state, &id, &user, Role::Admin).await?;
    let revoked = state
        .db
        .revoke_invites(&id, &user.id, Utc::now().timestamp_millis())
        .await?;
    Ok(Json(Revoked { revoked }))
}

/// An invitation code to use.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The code or the link, as shared.
    pub code: String,
}

/// `POST /v1/groups/join` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinOut {
    pub group: GroupOut,
    /// `false` when the caller was a member already (the invitation is not used up).
    pub joined: bool,
}

/// Join a group with an invitation code or link.
#[utoipa::path(post, path = "/v1/groups/join", tag = "groups", security(("bearer" = [])), request_body = JoinRequest,
    responses((status = 200, body = JoinOut), (status = 401, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody),
              (status = 429, body = super::error::ErrorBody)))]
pub async fn join(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<JoinRequest>,
) -> Result<Json<JoinOut>, AppError> {
    let throttle_key = format!("join:{}", user.id);
    state.guard.check_throttle(&throttle_key)?;
    let typed = request.code.trim();
    let typed = typed.strip_prefix("vigil://join/").unwrap_or(typed);
    let code = normalise_code(typed).ok_or_else(|| {
        AppError::invalid_field(
            "code",
            "an invitation code has 12 letters and digits, e.g. K7QM-2XHD-9TPB; copy it again from the invitation",
        )
    })?;
    let joined = state
        .db
        .join_by_code(&token_hash(&code), &user.id, Utc::now().timestamp_millis())
        .await?;
    let (group, role, fresh) = match joined {
        Joined::Joined { group, role } => (group, role, true),
        Joined::AlreadyMember { group, role } => (group, role, false),
        Joined::Invalid => {
            state.guard.failed(&throttle_key);
            return Err(AppError::new(
                StatusCode::NOT_FOUND,
                "invite_invalid",
                "this invitation is unknown, expired, revoked or used up; ask the group for a new one",
            )
            .with_field("code"));
        }
    };
    state.guard.succeeded(&throttle_key);
    let row = state.db.group(&group).await?.ok_or_else(no_group)?;
    Ok(Json(JoinOut {
        group: group_out(row, role),
        joined: fresh,
    }))
}

/// A new role for a member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    pub role: Role,
}

fn member_change(outcome: MemberChange) -> Result<StatusCode, AppError> {
    match outcome {
        MemberChange::Done => Ok(StatusCode::NO_CONTENT),
        MemberChange::NotMember => Err(AppError::new(
            StatusCode::NOT_FOUND,
            "no_such_member",
            "that person is not a member of this group; see GET /v1/groups/{id}/members",
        )),
        MemberChange::LastAdmin => Err(AppError::new(
            StatusCode::CONFLICT,
            "last_admin",
            "the group would have no admin; make another member admin first",
        )),
        MemberChange::Outranked => Err(AppError::new(
            StatusCode::FORBIDDEN,
            "role_required",
            "admins change roles and remove anyone; moderators may only remove members",
        )),
    }
}

/// Change a member's role (admins).
#[utoipa::path(put, path = "/v1/groups/{id}/members/{user_id}", tag = "groups", security(("bearer" = [])),
    params(("id" = String, Path), ("user_id" = String, Path)), request_body = RoleRequest,
    responses((status = 204), (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
pub async fn set_role(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, member)): Path<(String, String)>,
    ApiJson(request): ApiJson<RoleRequest>,
) -> Result<StatusCode, AppError> {
    let id = group_id(&id)?;
    require(&state, &id, &user, Role::Admin).await?;
    let outcome = state
        .db
        .change_member(
            &id,
            &user.id,
            &member,
            Some(request.role),
            Utc::now().timestamp_millis(),
        )
        .await?;
    member_change(outcome)
}

/// Remove a member, or leave (your own user id, or `me`).
#[utoipa::path(delete, path = "/v1/groups/{id}/members/{user_id}", tag = "groups", security(("bearer" = [])),
    params(("id" = String, Path), ("user_id" = String, Path, description = "A member's id, or `me` to leave")),
    responses((status = 204), (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, member)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let id = group_id(&id)?;
    require(&state, &id, &user, Role::Member).await?;
    let member = if member == "me" {
        user.id.0.clone()
    } else {
        member
    };
    let outcome = state
        .db
        .change_member(&id, &user.id, &member, None, Utc::now().timestamp_millis())
        .await?;
    member_change(outcome)
}

/// Query of the moderation queue.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueueParams {
    /// 1 to 200 (default 50).
    pub limit: Option<i64>,
}

/// An incident that may be the same event as a queued report.
#[derive(Debug, Serialize, ToSchema)]
pub struct DuplicateCandidate {
    pub id: IncidentId,
    pub category: Category,
    pub occurred_at: chrono::DateTime<chrono::FixedOffset>,
    pub status: Status,
    pub distance_m: f64,
    /// Minutes between the two occurrence times.
    pub minutes_apart: i64,
}

/// A report waiting for a decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueuedOut {
    pub incident: Incident,
    /// Only the group's members see it.
    pub private: bool,
    /// Who made it; `null` for an anonymous report (and for a deleted account).
    pub reporter: Option<String>,
    /// Incidents close in space, time and category, nearest first: merge candidates.
    pub duplicates: Vec<DuplicateCandidate>,
}

/// `GET /v1/groups/{id}/queue` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Queue {
    pub reports: Vec<QueuedOut>,
}

/// Reports made through the group that wait for a decision, oldest first (moderators).
#[utoipa::path(get, path = "/v1/groups/{id}/queue", tag = "groups", security(("bearer" = [])),
    params(("id" = String, Path), QueueParams),
    responses((status = 200, body = Queue), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn queue(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<QueueParams>,
) -> Result<Json<Queue>, AppError> {
    let id = group_id(&id)?;
    require(&state, &id, &user, Role::Moderator).await?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(bad_query("limit", "must be from 1 to 200"));
    }
    let queued = state.db.moderation_queue(&id, limit).await?;
    let mut reports = Vec::with_capacity(queued.len());
    for q in queued {
        let candidates = state
            .db
            .duplicate_candidates(&id, &q.incident, DUPLICATE_M, DUPLICATE_MINUTES)
            .await?;
        let duplicates = candidates
            .into_iter()
            .map(|(other, d)| DuplicateCandidate {
                id: other.id,
                category: other.category,
                occurred_at: other.occurred_at,
                status: other.status,
                distance_m: (d * 10.0).round() / 10.0,
                minutes_apart: (other.occurred_at - q.incident.occurred_at)
                    .num_minutes()
                    .abs(),
            })
            .collect();
        reports.push(QueuedOut {
            incident: q.incident,
            private: q.private,
            reporter: q.reporter,
            duplicates,
        });
    }
    Ok(Json(Queue { reports }))
}

/// A moderator's decision on a queued report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `verify`, `reject` or `merge`.
    pub action: String,
    /// For `reject`: what the reporter is told (1 to 500 characters).
    #[serde(default)]
    pub reason: Option<String>,
    /// For `merge`: the incident this report repeats.
    #[serde(default)]
    pub into: Option<String>,
}

/// `POST .../decision` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionOut {
    pub status: Status,
    pub version: u32,
}

/// Verify, reject or merge a report made through the group (moderators). The reporter
/// sees the new status on their next sync, and the reason of a rejection.
#[utoipa::path(post, path = "/v1/groups/{id}/reports/{incident_id}/decision", tag = "groups", security(("bearer" = [])),
    params(("id" = String, Path), ("incident_id" = String, Path)), request_body = DecisionRequest,
    responses((status = 200, body = DecisionOut), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)))]
pub async fn decide(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, incident)): Path<(String, String)>,
    ApiJson(request): ApiJson<DecisionRequest>,
) -> Result<Json<DecisionOut>, AppError> {
    let id = group_id(&id)?;
    require(&state, &id, &user, Role::Moderator).await?;
    let incident_id: IncidentId = incident.parse().map_err(|_| not_queued())?;
    let decision = match request.action.as_str() {
        "verify" => Decision::Verify,
        "reject" => {
            let reason = request.reason.as_deref().unwrap_or("");
            let reason = normalise_text("reason", reason, MAX_REASON_CHARS)
                .map_err(|e| AppError::invalid_field(e.field, e.reason))?;
            if reason.trim().is_empty() {
                return Err(AppError::invalid_field(
                    "reason",
                    "say why the report is rejected; the reporter will read it",
                ));
            }
            Decision::Reject {
                reason: reason.trim().to_owned(),
            }
        }
        "merge" => {
            let into: IncidentId = request.into.as_deref().unwrap_or("").parse().map_err(|_| {
                AppError::invalid_field(
                    "into",
                    "name the incident this report repeats (an id from the queue's duplicates)",
                )
            })?;
            Decision::Merge {
                into: into.to_string(),
            }
        }
        other => {
            return Err(AppError::invalid_field(
                "action",
                format!("{other:?} is not a decision; use verify, reject or merge"),
            ));
        }
    };
    let outcome = state
        .db
        .moderate(
            &id,
            &user.id,
            &incident_id.to_string(),
            &decision,
            Utc::now().timestamp_millis(),
        )
        .await?;
    match outcome {
        Moderated::Done { version } => Ok(Json(DecisionOut {
            status: match decision {
                Decision::Verify => Status::Verified,
                _ => Status::Rejected,
            },
            version,
        })),
        Moderated::NotInGroup => Err(not_queued()),
        Moderated::AlreadyDecided { status } => Err(AppError::new(
            StatusCode::CONFLICT,
            "already_decided",
            format!(
                "this report is already {}; nothing was changed",
                status.as_str()
            ),
        )),
        Moderated::BadTarget => Err(AppError::invalid_field(
            "into",
            "names no incident this group can see, a rejected one, or the report itself",
        )),
    }
}

fn not_queued() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "no_such_report",
        "no report made through this group has that id; see GET /v1/groups/{id}/queue",
    )
}

/// Query of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Entries after this `seq` (default 0).
    pub after: Option<i64>,
    /// 1 to 500 (default 100).
    pub limit: Option<i64>,
}

/// `GET /v1/groups/{id}/audit` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLog {
    pub entries: Vec<AuditEntry>,
}

/// Every membership and moderation action in the group, oldest first (moderators).
#[utoipa::path(get, path = "/v1/groups/{id}/audit", tag = "groups", security(("bearer" = [])),
    params(("id" = String, Path), AuditParams),
    responses((status = 200, body = AuditLog), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<AuditLog>, AppError> {
    let id = group_id(&id)?;
    require(&state, &id, &user, Role::Moderator).await?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(bad_query("limit", "must be from 1 to 500"));
    }
    let entries = state
        .db
        .audit_log(&id, params.after.unwrap_or(0), limit)
        .await?;
    Ok(Json(AuditLog { entries }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_twelve_unambiguous_characters_and_read_back_however_typed() {
        let code = new_code();
        assert_eq!(code.len(), 14, "{code}");
        let plain = normalise_code(&code).unwrap();
        assert_eq!(plain.len(), 12);
        assert_eq!(
            normalise_code(&code.to_lowercase().replace('-', " ")),
            Some(plain)
        );
        assert_eq!(
            normalise_code("K7QM-2XHD-9TPI"),
            None,
            "I is not in the alphabet"
        );
        assert_eq!(normalise_code("K7QM-2XHD"), None);
        assert_ne!(new_code(), new_code());
    }
}
