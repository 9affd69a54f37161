//! Vigil's desktop shell.
//!
//! This crate only wires Tauri to `vigil-app`: it opens the window, serves the
//! Leptos UI and exposes thin commands that delegate to the client core. It
//! holds no business logic; anything a command needs to decide belongs in
//! `vigil-app` (or `vigil-sync`), where it can be tested without a webview.
//!
//! The UI reaches these commands through `ui/src/invoke.rs`; keep the two in
//! step when adding a command or changing what one returns. Every command
//! answers an error as a sentence the UI can show as it is.

use std::path::PathBuf;

use chrono::Utc;
use serde::Serialize;
use tauri::{Manager, State};
use tokio::sync::Mutex;
use vigil_app::{
    AppInfo, Backoff, Draft, DraftInput, OutboxItem, Server, Session, Store,
    sync::{self},
};
use vigil_sync::Incident;

/// What the commands share: the offline store and where it lives.
struct Client {
    store: Mutex<Store>,
    dir: PathBuf,
}

type Answer<T> = Result<T, String>;

fn say(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Describes this client build: version, sync protocol and report categories.
#[tauri::command]
fn app_info() -> AppInfo {
    vigil_app::app_info()
}

/// The drafts, newest first, with the server's reason for any it refused.
#[tauri::command]
async fn drafts(client: State<'_, Client>) -> Answer<Vec<Draft>> {
    client.store.lock().await.drafts().map_err(say)
}

/// Saves a draft (a new one when `id` is absent); called as the person types.
#[tauri::command]
async fn save_draft(
    client: State<'_, Client>,
    id: Option<String>,
    input: DraftInput,
) -> Answer<Draft> {
    let store = client.store.lock().await;
    match id {
        Some(id) => store.save_draft(&id, &input, Utc::now()),
        None => store.new_draft(input, Utc::now()),
    }
    .map_err(say)
}

#[tauri::command]
async fn delete_draft(client: State<'_, Client>, id: String) -> Answer<()> {
    client.store.lock().await.delete_draft(&id).map_err(say)
}

/// Checks a draft with the server's rules and queues it; works offline. The error
/// names the field to fix.
#[tauri::command]
async fn submit(client: State<'_, Client>, id: String) -> Answer<OutboxItem> {
    client
        .store
        .lock()
        .await
        .submit(&id, Utc::now())
        .map_err(say)
}

/// Submitted reports, oldest first: not sent yet (with why) or sent.
#[tauri::command]
async fn outbox(client: State<'_, Client>) -> Answer<Vec<OutboxItem>> {
    client.store.lock().await.outbox(None).map_err(say)
}

/// Cached incidents, newest first.
#[tauri::command]
async fn incidents(client: State<'_, Client>, limit: Option<usize>) -> Answer<Vec<Incident>> {
    client
        .store
        .lock()
        .await
        .incidents(limit.unwrap_or(500))
        .map_err(say)
}

/// The map's tiles when none are set: OpenStreetMap's standard layer.
const DEFAULT_TILES: &str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";

/// The map's tile URL template.
#[tauri::command]
async fn tile_url(client: State<'_, Client>) -> Answer<String> {
    Ok(client
        .store
        .lock()
        .await
        .setting("tile_url")
        .map_err(say)?
        .unwrap_or_else(|| DEFAULT_TILES.to_owned()))
}

/// Sets the map's tile URL template (`https://…/{z}/{x}/{y}.png`); empty restores the
/// default.
#[tauri::command]
async fn set_tile_url(client: State<'_, Client>, url: String) -> Answer<String> {
    let url = url.trim();
    let url = if url.is_empty() { DEFAULT_TILES } else { url };
    if !url.starts_with("https://") || !["{z}", "{x}", "{y}"].iter().all(|p| url.contains(p)) {
        return Err(format!(
            "tile URL {url:?}: use an https:// template with {{z}}, {{x}} and {{y}}, like {DEFAULT_TILES}"
        ));
    }
    client
        .store
        .lock()
        .await
        .set_setting("tile_url", url)
        .map_err(say)?;
    Ok(url.to_owned())
}

/// The watch areas kept on this device.
#[tauri::command]
async fn areas(client: State<'_, Client>) -> Answer<Vec<vigil_app::store::Area>> {
    client.store.lock().await.areas().map_err(say)
}

/// Adds a circular watch area; the error names the field to fix.
#[tauri::command]
async fn add_area(
    client: State<'_, Client>,
    name: String,
    lat: f64,
    lon: f64,
    radius_m: f64,
    categories: Vec<String>,
) -> Answer<vigil_app::store::Area> {
    let centre = vigil_sync::Location {
        lat,
        lon,
        accuracy_m: None,
    };
    client
        .store
        .lock()
        .await
        .add_area(&name, centre, radius_m, &categories, Utc::now())
        .map_err(say)
}

/// Who is signed in, and where.
#[derive(Debug, Serialize)]
struct Account {
    server: String,
    username: String,
}

#[tauri::command]
async fn account(client: State<'_, Client>) -> Answer<Option<Account>> {
    Ok(Session::load(&client.dir).map_err(say)?.map(|s| Account {
        server: s.server,
        username: s.username,
    }))
}

/// Signs in (registering first when asked) and keeps the session.
#[tauri::command]
async fn sign_in(
    client: State<'_, Client>,
    server: String,
    username: String,
    password: String,
    register: bool,
) -> Answer<Account> {
    let mut api = Server::new(&server, None).map_err(say)?;
    if register {
        api.register(&username, &password).await.map_err(say)?;
    }
    let token = api.login(&username, &password).await.map_err(say)?;
    Session {
        server: server.clone(),
        username: username.clone(),
        token,
    }
    .save(&client.dir)
    .map_err(say)?;
    Ok(Account { server, username })
}

#[tauri::command]
async fn sign_out(client: State<'_, Client>) -> Answer<()> {
    Session::clear(&client.dir).map_err(say)
}

/// What one sync did.
#[derive(Debug, Serialize)]
struct Synced {
    sent: usize,
    rejected: usize,
    pulled: usize,
}

/// Pushes the outbox and pulls changes; retries a few times while offline.
#[tauri::command]
async fn sync_now(client: State<'_, Client>) -> Answer<Synced> {
    let session = Session::load(&client.dir)
        .map_err(say)?
        .ok_or("not signed in: open Settings and sign in to a server")?;
    let server = Server::new(&session.server, Some(session.token)).map_err(say)?;
    let mut store = client.store.lock().await;
    let backoff = Backoff {
        attempts: 3,
        ..Backoff::default()
    };
    let done = sync::sync(&mut store, &server, backoff)
        .await
        .map_err(say)?;
    Ok(Synced {
        sent: done.sent,
        rejected: done.rejected,
        pulled: done.pulled,
    })
}

/// The client's data directory: `VIGIL_DESKTOP_DATA_DIR`, else the platform's app data
/// directory.
fn data_dir(app: &tauri::App) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("VIGIL_DESKTOP_DATA_DIR") {
        return Ok(PathBuf::from(dir));
    }
    app.path()
        .app_data_dir()
        .map_err(|e| format!("no app data directory: {e}"))
}

/// Builds and runs the Tauri application until its last window closes.
///
/// # Panics
///
/// Panics if Tauri cannot start (for example, no display or no webview
/// runtime), since the shell has nothing useful to do without one.
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    tauri::Builder::default()
        .setup(|app| {
            let dir = data_dir(app)?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let store = Store::open(&dir.join("vigil.db")).map_err(say)?;
            app.manage(Client {
                store: Mutex::new(store),
                dir,
            });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            app_info,
            drafts,
            save_draft,
            delete_draft,
            submit,
            outbox,
            incidents,
            tile_url,
            set_tile_url,
            areas,
            add_area,
            account,
            sign_in,
            sign_out,
            sync_now
        ])
        .run(tauri::generate_context!())
        .expect("error while running the Vigil desktop shell");
}
