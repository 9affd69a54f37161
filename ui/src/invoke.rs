//! The one module that reaches the Tauri shell.
//!
//! Each shell command gets a typed async function here, built on
//! `window.__TAURI__.core.invoke` (present because `app.withGlobalTauri` is on
//! in `src-tauri/tauri.conf.json`). Outside the shell, for example a plain
//! browser pointed at `trunk serve`, every call returns
//! [`InvokeError::NotInTauri`] rather than throwing or panicking.
//!
//! The wire types mirror what the commands in `src-tauri/src/lib.rs` return;
//! they are decoded from JSON instead of shared as Rust types, so the UI does
//! not link the client core. A test keeps them in step with `vigil-app`.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `window.__TAURI__.core.invoke(cmd, args)`: resolves with the command's
    /// serialised result and rejects with its serialised error.
    #[wasm_bindgen(catch, js_namespace = ["window", "__TAURI__", "core"], js_name = invoke)]
    async fn tauri_invoke(cmd: &str, args: JsValue) -> Result<JsValue, JsValue>;
}

/// Why a shell command produced no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// The page is not running inside the Vigil desktop shell.
    #[error(
        "not running inside the Vigil desktop shell (window.__TAURI__.core.invoke is missing); \
         start the app with `cargo tauri dev` instead of opening the page in a browser"
    )]
    NotInTauri,
    /// The shell ran the command and it failed, or the call itself was refused. The
    /// shell's answer is a sentence for the person using the app, shown as it is.
    #[error("{message}")]
    Rejected {
        /// The command's name (for the console, not the person).
        command: &'static str,
        /// What the shell reported.
        message: String,
    },
    /// The command answered with data this UI does not understand, which means
    /// the UI and the shell were built from different versions.
    #[error("the `{command}` command answered in an unexpected shape: {message}")]
    Decode {
        /// The command's name.
        command: &'static str,
        /// What did not match.
        message: String,
    },
}

/// What the shell says about the client build (`vigil_app::AppInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AppInfo {
    /// The client core's version.
    pub version: String,
    /// The sync protocol version the client speaks.
    pub protocol: u32,
    /// The report categories in display order.
    pub categories: Vec<Category>,
}

impl AppInfo {
    /// The label of category `code` (the code itself if this build does not know it).
    pub fn label(&self, code: &str) -> String {
        self.categories
            .iter()
            .find(|c| c.code == code)
            .map_or_else(|| code.to_owned(), |c| c.label.clone())
    }
}

/// One report category. On the wire it is a `[code, label]` pair; serde's
/// derived struct deserialiser accepts a sequence in field order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Category {
    /// The stable wire code, e.g. `"assault"`.
    pub code: String,
    /// The human label, e.g. `"Assault"`.
    pub label: String,
}

/// Asks the shell to describe this client build.
pub async fn app_info() -> Result<AppInfo, InvokeError> {
    call("app_info", JsValue::UNDEFINED).await
}

/// A saved draft (`vigil_app::Draft`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Draft {
    pub id: String,
    pub category: Option<String>,
    pub description: String,
    /// The server's refusal: `[field, reason]`.
    pub rejected: Option<(String, String)>,
}

/// The report inside an outbox item (`vigil_sync::ReportSubmission`, fields as strings).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Submission {
    pub category: String,
    pub occurred_at: String,
    pub description: String,
}

/// One submitted report (`vigil_app::OutboxItem`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OutboxItem {
    pub id: String,
    pub report: Submission,
    /// `pending` (not sent yet) or `sent`.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// Where an incident came from (`vigil_sync::Source`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Source {
    /// `resident` or `feed`.
    pub kind: String,
    /// The feed's name, for a city feed's record.
    pub feed: Option<String>,
    /// The record's id in that feed.
    #[serde(default)]
    pub record_id: Option<String>,
    pub url: Option<String>,
}

/// A point (`vigil_sync::Location`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

/// A cached incident (`vigil_sync::Incident`), the parts the list and the map show.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Incident {
    pub id: String,
    pub category: String,
    pub location: Point,
    pub occurred_at: String,
    /// When the server first accepted it.
    #[serde(default)]
    pub reported_at: String,
    pub place: Option<String>,
    pub description: String,
    /// `unverified`, `verified`, `resolved` or `rejected`.
    pub status: String,
    pub source: Source,
    /// Grows with every change the server makes.
    #[serde(default)]
    pub version: u32,
}

/// A watch area's shape (`vigil_sync::watch::Shape`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    Circle { lat: f64, lon: f64, radius_m: f64 },
    Polygon { points: Vec<[f64; 2]> },
}

/// Quiet hours (`vigil_sync::watch::QuietHours`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct QuietHours {
    pub start: String,
    pub end: String,
    pub time_zone: String,
}

/// A watch area on this device (`vigil_app::AreaItem`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Area {
    pub id: String,
    pub name: String,
    pub shape: Shape,
    pub categories: Vec<String>,
    pub min_severity: u8,
    pub quiet_hours: Option<QuietHours>,
    /// `pending` (sent on the next sync) or `synced`.
    pub state: String,
    pub last_error: Option<String>,
    /// The risk hint at the area's centre now (computed on the device), or why none.
    #[serde(default)]
    pub hint: Option<Hint>,
    #[serde(default)]
    pub hint_note: Option<String>,
}

/// A risk hint (`vigil_sync::risk::RiskHint`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Hint {
    /// `low`, `usual`, `elevated` or `high`.
    pub level: String,
    pub ratio: f32,
    pub reason: String,
}

/// A risk hint for a place, or why there is none.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PlaceHint {
    pub hint: Option<Hint>,
    pub hint_note: Option<String>,
}

/// The risk hint for a place at this hour, computed on the device.
pub async fn risk_hint(lat: f64, lon: f64) -> Result<PlaceHint, InvokeError> {
    call(
        "risk_hint",
        args(&serde_json::json!({ "lat": lat, "lon": lon })),
    )
    .await
}

pub async fn areas() -> Result<Vec<Area>, InvokeError> {
    call("areas", JsValue::UNDEFINED).await
}

/// Saves a watch area (`spec` is the wire form, built by [`crate::area::AreaForm`]); the
/// error names the field to fix.
pub async fn save_area(id: Option<&str>, spec: &serde_json::Value) -> Result<Area, InvokeError> {
    call(
        "save_area",
        args(&serde_json::json!({ "id": id, "spec": spec })),
    )
    .await
}

pub async fn delete_area(id: &str) -> Result<(), InvokeError> {
    call("delete_area", args(&serde_json::json!({ "id": id }))).await
}

/// The incident an alert is about (`vigil_sync::watch::AlertIncident`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AlertIncident {
    pub id: String,
    pub category: String,
    pub occurred_at: String,
    pub location: Point,
    pub place: Option<String>,
    pub summary: String,
}

/// What an alert says (`vigil_sync::watch::AlertBody`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertBody {
    Incident {
        incident: AlertIncident,
        areas: Vec<String>,
    },
    Digest {
        reason: String,
        incidents: Vec<AlertIncident>,
        areas: Vec<String>,
    },
    Retraction {
        incident_id: String,
    },
}

/// One alert in the inbox (`vigil_app::InboxItem`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InboxItem {
    pub id: u64,
    pub at: String,
    #[serde(flatten)]
    pub body: AlertBody,
    pub read: bool,
    pub retracted: bool,
}

/// The inbox, newest first, and how many are unread.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Inbox {
    pub alerts: Vec<InboxItem>,
    pub unread: u64,
}

pub async fn alerts() -> Result<Inbox, InvokeError> {
    call("alerts", JsValue::UNDEFINED).await
}

/// Marks every alert up to `up_to` read; answers how many are still unread.
pub async fn mark_alerts_read(up_to: u64) -> Result<u64, InvokeError> {
    call(
        "mark_alerts_read",
        args(&serde_json::json!({ "upTo": up_to })),
    )
    .await
}

#[wasm_bindgen]
extern "C" {
    /// `window.__TAURI__.event.listen(event, handler)`.
    #[wasm_bindgen(catch, js_namespace = ["window", "__TAURI__", "event"], js_name = listen)]
    async fn tauri_listen(
        event: &str,
        handler: &Closure<dyn FnMut(JsValue)>,
    ) -> Result<JsValue, JsValue>;
}

/// Calls `on_event` with the payload's JSON each time the shell emits `event`, for as
/// long as the page lives. Outside the shell nothing happens.
pub async fn listen(event: &'static str, mut on_event: impl FnMut(String) + 'static) {
    if !inside_tauri() {
        return;
    }
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let payload = js_sys::Reflect::get(&e, &JsValue::from_str("payload")).unwrap_or_default();
        let json = js_sys::JSON::stringify(&payload)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default();
        on_event(json);
    });
    if tauri_listen(event, &handler).await.is_ok() {
        // The listener lives as long as the page.
        handler.forget();
    }
}

/// Who is signed in, and where.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Account {
    pub server: String,
    pub username: String,
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Synced {
    pub sent: usize,
    pub rejected: usize,
    pub pulled: usize,
    /// New alerts.
    pub alerts: usize,
    /// Photos uploaded.
    #[serde(default)]
    pub photos: usize,
}

pub async fn drafts() -> Result<Vec<Draft>, InvokeError> {
    call("drafts", JsValue::UNDEFINED).await
}

/// Saves the draft `id` (a new one when `None`).
pub async fn save_draft(
    id: Option<String>,
    input: &crate::form::DraftInput,
) -> Result<Draft, InvokeError> {
    call(
        "save_draft",
        args(&serde_json::json!({"id": id, "input": input})),
    )
    .await
}

/// Queues draft `id` for sending (offline too); the error names the field to fix.
pub async fn submit(id: &str) -> Result<OutboxItem, InvokeError> {
    call("submit", args(&serde_json::json!({"id": id}))).await
}

pub async fn outbox() -> Result<Vec<OutboxItem>, InvokeError> {
    call("outbox", JsValue::UNDEFINED).await
}

/// The newest cached incidents; with `area` (a watch area's id), those inside it.
pub async fn incidents(area: Option<String>) -> Result<Vec<Incident>, InvokeError> {
    call(
        "incidents",
        args(&serde_json::json!({"limit": 500, "area": area})),
    )
    .await
}

/// The map's tile URL template (`{z}/{x}/{y}`).
pub async fn tile_url() -> Result<String, InvokeError> {
    call("tile_url", JsValue::UNDEFINED).await
}

pub async fn set_tile_url(url: &str) -> Result<String, InvokeError> {
    call("set_tile_url", args(&serde_json::json!({"url": url}))).await
}

pub async fn account() -> Result<Option<Account>, InvokeError> {
    call("account", JsValue::UNDEFINED).await
}

pub async fn sign_in(
    server: &str,
    username: &str,
    password: &str,
    register: bool,
) -> Result<Account, InvokeError> {
    call(
        "sign_in",
        args(&serde_json::json!({
            "server": server, "username": username, "password": password, "register": register,
        })),
    )
    .await
}

pub async fn sign_out() -> Result<(), InvokeError> {
    call("sign_out", JsValue::UNDEFINED).await
}

pub async fn sync_now() -> Result<Synced, InvokeError> {
    call("sync_now", JsValue::UNDEFINED).await
}

/// A photo kept on this device (`vigil_app::PhotoItem`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Photo {
    pub report_id: String,
    pub n: u32,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub bytes: usize,
    pub uploaded: bool,
    pub refused: bool,
    pub last_error: Option<String>,
}

/// Attaches a photo (already resized on the device) to draft `report_id`.
pub async fn attach_photo(
    report_id: &str,
    bytes: &[u8],
    width: u32,
    height: u32,
) -> Result<Photo, InvokeError> {
    call(
        "attach_photo",
        args(&serde_json::json!({
            "reportId": report_id, "bytes": bytes, "width": width, "height": height,
        })),
    )
    .await
}

pub async fn photos(report_id: &str) -> Result<Vec<Photo>, InvokeError> {
    call(
        "photos",
        args(&serde_json::json!({ "reportId": report_id })),
    )
    .await
}

/// Photo `n` of `report_id` as a `data:` URL.
pub async fn photo(report_id: &str, n: u32) -> Result<String, InvokeError> {
    call(
        "photo",
        args(&serde_json::json!({ "reportId": report_id, "n": n })),
    )
    .await
}

pub async fn remove_photo(report_id: &str, n: u32) -> Result<(), InvokeError> {
    call(
        "remove_photo",
        args(&serde_json::json!({ "reportId": report_id, "n": n })),
    )
    .await
}

/// A place named in the cached incidents (`vigil_app::Place`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Place {
    pub name: String,
    pub location: Point,
    pub incidents: u64,
}

/// Places on this device whose name contains `text`.
pub async fn places(text: &str) -> Result<Vec<Place>, InvokeError> {
    call("places", args(&serde_json::json!({ "text": text }))).await
}

/// One cell of the heat map (`vigil_app::online::HeatCell`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HeatCell {
    pub cell: String,
    pub lat: f64,
    pub lon: f64,
    pub count: i64,
}

/// Incidents of one category in one month (`vigil_app::online::MonthCount`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MonthCount {
    pub month: String,
    pub category: String,
    pub count: i64,
}

/// The dashboard for a view of the map (`vigil_app::online::Dashboard`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Dashboard {
    pub res: u8,
    pub cells: Vec<HeatCell>,
    pub district: String,
    pub months: Vec<MonthCount>,
    pub hour_of_week: Vec<i64>,
    pub as_of: Option<String>,
    pub partial: bool,
}

/// The map's view, `[min_lon, min_lat, max_lon, max_lat]`.
pub async fn dashboard(view: [f64; 4]) -> Result<Dashboard, InvokeError> {
    let [min_lon, min_lat, max_lon, max_lat] = view;
    call(
        "dashboard",
        args(&serde_json::json!({ "view": {
            "min_lon": min_lon, "min_lat": min_lat, "max_lon": max_lon, "max_lat": max_lat,
        }})),
    )
    .await
}

/// Saves one's data from the server to a file; answers its path.
pub async fn export_data() -> Result<String, InvokeError> {
    call("export_data", JsValue::UNDEFINED).await
}

/// A watch group of the signed-in account (`vigil_app::groups::Group`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: String,
    pub members: i64,
    /// `member`, `moderator` or `admin`.
    pub role: String,
}

impl Group {
    pub fn moderates(&self) -> bool {
        self.role == "moderator" || self.role == "admin"
    }
}

/// An invitation, shown once (`vigil_app::groups::Invite`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Invite {
    pub code: String,
    pub link: String,
    pub expires_at: String,
    pub max_uses: i64,
}

/// An incident that may repeat a queued report (`vigil_app::groups::Duplicate`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Duplicate {
    pub id: String,
    pub distance_m: f64,
    pub minutes_apart: i64,
}

/// A report waiting for a moderator (`vigil_app::groups::Queued`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Queued {
    pub incident: Incident,
    pub private: bool,
    pub reporter: Option<String>,
    pub duplicates: Vec<Duplicate>,
}

pub async fn groups() -> Result<Vec<Group>, InvokeError> {
    call("groups", JsValue::UNDEFINED).await
}

pub async fn create_group(name: &str) -> Result<Group, InvokeError> {
    call(
        "create_group",
        args(&serde_json::json!({ "name": name, "description": "" })),
    )
    .await
}

/// Joins with an invitation code or link, as shared.
pub async fn join_group(code: &str) -> Result<Group, InvokeError> {
    call("join_group", args(&serde_json::json!({ "code": code }))).await
}

pub async fn invite(group: &str) -> Result<Invite, InvokeError> {
    call("invite", args(&serde_json::json!({ "group": group }))).await
}

pub async fn moderation_queue(group: &str) -> Result<Vec<Queued>, InvokeError> {
    call(
        "moderation_queue",
        args(&serde_json::json!({ "group": group })),
    )
    .await
}

/// `decision` as the shell takes it: `{"action": "verify"}`, `{"action": "reject",
/// "reason": …}` or `{"action": "merge", "into": …}`. Answers the new status.
pub async fn decide(
    group: &str,
    incident: &str,
    decision: serde_json::Value,
) -> Result<String, InvokeError> {
    call(
        "decide",
        args(&serde_json::json!({ "group": group, "incident": incident, "decision": decision })),
    )
    .await
}

/// Command arguments as the JS object `invoke` takes.
fn args(value: &serde_json::Value) -> JsValue {
    js_sys::JSON::parse(&value.to_string()).unwrap_or(JsValue::UNDEFINED)
}

/// Invokes `command` with `args` (a JS object, or `undefined` for none) and
/// decodes its result.
async fn call<T: DeserializeOwned>(command: &'static str, args: JsValue) -> Result<T, InvokeError> {
    if !inside_tauri() {
        return Err(InvokeError::NotInTauri);
    }
    let value = tauri_invoke(command, args).await.map_err(|error| {
        let message = describe(&error);
        leptos::logging::warn!("the `{command}` command failed: {message}");
        InvokeError::Rejected { command, message }
    })?;
    // The result arrived as JSON and is plain data, so a JSON round trip is
    // lossless and keeps decoding in serde_json, where it is also tested.
    let json = js_sys::JSON::stringify(&value)
        .ok()
        .and_then(|text| text.as_string())
        .unwrap_or_else(|| "null".to_owned());
    decode(command, &json)
}

/// Decodes a command's JSON answer into its wire type.
fn decode<T: DeserializeOwned>(command: &'static str, json: &str) -> Result<T, InvokeError> {
    serde_json::from_str(json).map_err(|error| InvokeError::Decode {
        command,
        message: error.to_string(),
    })
}

/// Whether `window.__TAURI__.core.invoke` is a function.
fn inside_tauri() -> bool {
    let mut value: JsValue = js_sys::global().into();
    for key in ["__TAURI__", "core", "invoke"] {
        if !value.is_object() && !value.is_function() {
            return false;
        }
        value = match js_sys::Reflect::get(&value, &JsValue::from_str(key)) {
            Ok(next) => next,
            Err(_) => return false,
        };
    }
    value.is_function()
}

/// Turns whatever a rejected promise carried into a readable message.
fn describe(error: &JsValue) -> String {
    if let Some(text) = error.as_string() {
        return text;
    }
    if let Some(error) = error.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    js_sys::JSON::stringify(error)
        .ok()
        .and_then(|text| text.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_the_shell_sends() {
        // The shell returns `vigil_app::app_info()` as JSON; decode exactly that.
        let json = serde_json::to_string(&vigil_app::app_info()).unwrap();
        let info: AppInfo = decode("app_info", &json).unwrap();
        let expected = vigil_app::app_info();
        assert_eq!(info.version, expected.version);
        assert_eq!(info.protocol, expected.protocol);
        let pairs: Vec<(&str, &str)> = info
            .categories
            .iter()
            .map(|c| (c.code.as_str(), c.label.as_str()))
            .collect();
        assert_eq!(pairs, expected.categories);
    }

    #[test]
    fn decodes_the_dashboard_as_the_client_core_makes_it() {
        let dashboard = vigil_app::online::Dashboard {
            res: 8,
            cells: vec![vigil_app::online::HeatCell {
                cell: "882b9bc2e9fffff".into(),
                lat: 43.65,
                lon: -79.38,
                count: 12,
            }],
            district: "862b9bc2fffffff".into(),
            months: vec![vigil_app::online::MonthCount {
                month: "2019-03".into(),
                category: "theft".into(),
                count: 4,
            }],
            hour_of_week: vec![1; 168],
            as_of: Some("2026-12-03T20:00:00Z".into()),
            partial: false,
        };
        let json = serde_json::to_string(&dashboard).unwrap();
        let got: Dashboard = decode("dashboard", &json).unwrap();
        assert_eq!(got.cells[0].count, 12);
        assert_eq!(got.months[0].month, "2019-03");
        assert_eq!(got.hour_of_week.len(), 168);
    }

    #[test]
    fn decodes_drafts_and_outbox_items_as_the_client_core_writes_them() {
        let dir = std::env::temp_dir().join(format!("vigil-ui-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = vigil_app::Store::open(&dir.join("vigil.db")).unwrap();
        let now = chrono::Utc::now();
        let input = vigil_app::DraftInput {
            category: Some("theft".into()),
            occurred_at: Some(now.fixed_offset().to_rfc3339()),
            location: Some(vigil_sync::Location {
                lat: 43.65,
                lon: -79.38,
                accuracy_m: None,
            }),
            place: None,
            description: "Bike taken".into(),
            anonymous: false,
        };
        let draft = store.new_draft(input, now).unwrap();
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 2, 0xFF, 0xD9];
        let photo = store
            .attach_photo(&draft.id, &jpeg, 1600, 1067, now)
            .unwrap();
        let json = serde_json::to_string(&vec![photo]).unwrap();
        let photos: Vec<Photo> = decode("photos", &json).unwrap();
        assert_eq!(
            (
                photos[0].n,
                photos[0].width,
                photos[0].bytes,
                photos[0].uploaded
            ),
            (1, 1600, jpeg.len(), false)
        );
        let json = serde_json::to_string(&store.drafts().unwrap()).unwrap();
        let drafts: Vec<Draft> = decode("drafts", &json).unwrap();
        assert_eq!(drafts[0].id, draft.id);
        assert_eq!(drafts[0].category.as_deref(), Some("theft"));
        let item = store.submit(&draft.id, now).unwrap();
        let json = serde_json::to_string(&vec![item]).unwrap();
        let outbox: Vec<OutboxItem> = decode("outbox", &json).unwrap();
        assert_eq!(
            (outbox[0].state.as_str(), outbox[0].report.category.as_str()),
            ("pending", "theft")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn decodes_areas_and_the_inbox_as_the_client_core_writes_them() {
        use vigil_sync::watch::{
            Alert, AlertBody as Body, AlertIncident as Inc, QuietHours as Quiet, Shape as S,
            WatchAreaSpec,
        };
        let dir = std::env::temp_dir().join(format!("vigil-ui-areas-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = vigil_app::Store::open(&dir.join("vigil.db")).unwrap();
        let now = chrono::Utc::now();
        let spec = WatchAreaSpec {
            name: "School".into(),
            shape: S::Polygon {
                points: vec![[43.65, -79.40], [43.66, -79.40], [43.66, -79.39]],
            },
            categories: vec![vigil_sync::Category::Assault],
            min_severity: 2,
            quiet_hours: Some(Quiet {
                start: "22:00".into(),
                end: "07:00".into(),
                time_zone: "America/Toronto".into(),
            }),
        };
        store.save_area(None, spec, now).unwrap();
        let json = serde_json::to_string(&store.watch_areas().unwrap()).unwrap();
        let areas: Vec<Area> = decode("areas", &json).unwrap();
        assert_eq!(areas[0].name, "School");
        assert!(matches!(&areas[0].shape, Shape::Polygon { points } if points.len() == 3));
        assert_eq!(areas[0].categories, vec!["assault".to_owned()]);
        assert_eq!(areas[0].quiet_hours.as_ref().unwrap().end, "07:00");
        assert_eq!(areas[0].state, "pending");
        assert_eq!(areas[0].hint, None);

        // The shell adds the hint the client core computed.
        let city = vigil_sync::risk::CityReference::new(vec![0.2], &[1; 168]);
        let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 27)
            .unwrap()
            .and_hms_opt(22, 0, 0)
            .unwrap();
        let hint = vigil_sync::risk::hint::hint(0.8, None, &city, at, "v1");
        let json = serde_json::json!([{"id": "a", "name": "Home",
            "shape": {"circle": {"lat": 43.6, "lon": -79.4, "radius_m": 500.0}},
            "categories": [], "min_severity": 1, "state": "synced", "last_error": null,
            "updated_at": "2026-11-27T22:00:00Z", "hint": hint, "hint_note": null}]);
        let areas: Vec<Area> = decode("areas", &json.to_string()).unwrap();
        let h = areas[0].hint.as_ref().unwrap();
        assert_eq!(h.level, "elevated");
        assert!(
            h.reason.starts_with("More past reports here"),
            "{}",
            h.reason
        );

        let incident = Inc {
            id: "0192f0c4-6d8e-7cc2-9a41-3f1c2b7d9e10".parse().unwrap(),
            category: vigil_sync::Category::Theft,
            occurred_at: now.fixed_offset(),
            location: vigil_sync::Location {
                lat: 43.65,
                lon: -79.39,
                accuracy_m: None,
            },
            place: Some("Queen St W".into()),
            summary: "Bike taken".into(),
        };
        store
            .add_alerts(&[
                Alert {
                    id: 1,
                    at: now,
                    body: Body::Incident {
                        incident: incident.clone(),
                        areas: vec!["Home".into()],
                    },
                },
                Alert {
                    id: 2,
                    at: now,
                    body: Body::Retraction {
                        incident_id: incident.id,
                    },
                },
            ])
            .unwrap();
        let json = serde_json::to_string(&store.inbox(10).unwrap()).unwrap();
        let inbox: Vec<InboxItem> = decode("alerts", &json).unwrap();
        assert_eq!(inbox.len(), 2);
        assert!(matches!(inbox[0].body, AlertBody::Retraction { .. }));
        assert!(inbox[1].retracted);
        match &inbox[1].body {
            AlertBody::Incident { incident, areas } => {
                assert_eq!(incident.place.as_deref(), Some("Queen St W"));
                assert_eq!(areas, &vec!["Home".to_owned()]);
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unexpected_shape_is_a_decode_error_naming_the_command() {
        let error = decode::<AppInfo>("app_info", r#"{"version":"0.1.0"}"#).unwrap_err();
        assert!(matches!(
            error,
            InvokeError::Decode {
                command: "app_info",
                ..
            }
        ));
        assert!(error.to_string().contains("`app_info`"));
    }
}
