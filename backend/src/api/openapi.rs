//! The OpenAPI document served at `GET /v1/openapi.json`.

use axum::Json;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{
    alerts, auth, devices, error, groups, health, incidents, me, metrics, near, photos, risk,
    stats, sync, watch,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Vigil API", description = "Neighbourhood safety reports: accounts, sync protocol v1, incident queries, watch areas and alerts, watch groups and moderation."),
    paths(
        health::healthz, metrics::scrape, auth::register, auth::login, auth::logout, auth::logout_all,
        me::export, me::delete_account,
        sync::push, sync::edits, sync::pull, incidents::list, incidents::detail, photos::add, photos::get, near::near, near::cell_counts,
        stats::heatmap, stats::trends, stats::summary,
        watch::put, watch::list, watch::delete, alerts::inbox, alerts::stream,
        devices::put, devices::list, devices::delete, devices::vapid, risk::model, risk::cells,
        groups::create, groups::list, groups::get, groups::members, groups::invite, groups::revoke_invites,
        groups::join, groups::set_role, groups::remove_member, groups::queue, groups::decide, groups::audit,
    ),
    components(schemas(
        error::ErrorBody, auth::Credentials, auth::Registered, auth::Session,
        vigil_sync::PushRequest, vigil_sync::PushResponse, vigil_sync::EditRequest, vigil_sync::EditResponse, vigil_sync::PullResponse, vigil_sync::Incident,
        vigil_sync::watch::WatchAreaSpec, vigil_sync::watch::Alert, watch::WatchAreaOut, watch::WatchAreaList, alerts::InboxPage,
        vigil_sync::watch::DeviceAddress, devices::DeviceList, devices::VapidKey,
        risk::RiskModelFiles, risk::CellsRequest, risk::CellsResponse, vigil_sync::risk::CellStats,
        crate::serving::TrendBy, auth::SignedOut, me::DeleteAccount, me::Deleted, incidents::IncidentDetail,
        groups::GroupOut, groups::GroupList, groups::NewGroup, groups::MemberOut, groups::MemberList,
        groups::InviteRequest, groups::Invite, groups::Revoked, groups::JoinRequest, groups::JoinOut,
        groups::RoleRequest, groups::DuplicateCandidate, groups::QueuedOut, groups::Queue,
        groups::DecisionRequest, groups::DecisionOut, photos::PhotoOut, groups::AuditLog, crate::db::AuditEntry, crate::db::Role,
    )),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI 3.1 description of this API.
pub async fn spec() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
