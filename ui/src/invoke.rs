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
    /// The shell ran the command and it failed, or the call itself was refused.
    #[error("the `{command}` command failed: {message}")]
    Rejected {
        /// The command's name.
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
    pub kind: String,
    pub feed: Option<String>,
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
    pub place: Option<String>,
    pub description: String,
    pub status: String,
    pub source: Source,
}

/// A watch area (`vigil_app::store::Area`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Area {
    pub id: String,
    pub name: String,
    pub centre: Point,
    pub radius_m: f64,
    pub categories: Vec<String>,
}

pub async fn areas() -> Result<Vec<Area>, InvokeError> {
    call("areas", JsValue::UNDEFINED).await
}

/// Adds a circular watch area; the error names the field to fix.
pub async fn add_area(
    name: &str,
    lat: f64,
    lon: f64,
    radius_m: f64,
    categories: &[String],
) -> Result<Area, InvokeError> {
    call(
        "add_area",
        args(&serde_json::json!({
            "name": name, "lat": lat, "lon": lon, "radiusM": radius_m, "categories": categories,
        })),
    )
    .await
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

pub async fn incidents() -> Result<Vec<Incident>, InvokeError> {
    call("incidents", args(&serde_json::json!({"limit": 500}))).await
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
    let value = tauri_invoke(command, args)
        .await
        .map_err(|error| InvokeError::Rejected {
            command,
            message: describe(&error),
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
        };
        let draft = store.new_draft(input, now).unwrap();
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
