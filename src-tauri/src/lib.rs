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
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, State};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::{Mutex, Notify};
use vigil_app::{
    AppInfo, AreaItem, Backoff, Draft, DraftInput, HintError, InboxItem, OutboxItem, PhotoItem,
    Place, RiskHints, Server, Session, Store, SyncError,
    groups::{Decision, Group, Invite, Queued},
    online::{Bbox, Dashboard},
    sync::{self},
};
use vigil_sync::{
    Incident,
    risk::RiskHint,
    watch::{Notice, WatchAreaSpec},
};

/// What the commands share: the offline store and where it lives.
struct Client {
    store: Mutex<Store>,
    dir: PathBuf,
    /// Woken by a sign-in, so the alert stream (re)connects with the new session.
    signed_in: Notify,
    /// The risk model and cached cells, loaded on first use and dropped by every sync.
    hints: Mutex<Option<RiskHints>>,
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

/// Attaches a photo, already resized and encoded on the device (JPEG or PNG of
/// `width` × `height`), to draft or unsent report `report_id`.
#[tauri::command]
async fn attach_photo(
    client: State<'_, Client>,
    report_id: String,
    bytes: Vec<u8>,
    width: u32,
    height: u32,
) -> Answer<PhotoItem> {
    client
        .store
        .lock()
        .await
        .attach_photo(&report_id, &bytes, width, height, Utc::now())
        .map_err(say)
}

/// The photos of one report, without their bytes.
#[tauri::command]
async fn photos(client: State<'_, Client>, report_id: String) -> Answer<Vec<PhotoItem>> {
    client.store.lock().await.photos(&report_id).map_err(say)
}

/// Photo `n` of `report_id` as a `data:` URL, to show it.
#[tauri::command]
async fn photo(client: State<'_, Client>, report_id: String, n: u32) -> Answer<String> {
    use base64::Engine as _;
    let (kind, bytes) = client
        .store
        .lock()
        .await
        .photo_bytes(&report_id, n)
        .map_err(say)?
        .ok_or_else(|| format!("report {report_id} has no photo {n} on this device"))?;
    Ok(format!(
        "data:{kind};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// Removes a photo the server does not have yet.
#[tauri::command]
async fn remove_photo(client: State<'_, Client>, report_id: String, n: u32) -> Answer<()> {
    client
        .store
        .lock()
        .await
        .remove_photo(&report_id, n)
        .map_err(say)
}

/// Places named in the cached incidents that contain `text`, with where they are.
#[tauri::command]
async fn places(client: State<'_, Client>, text: String) -> Answer<Vec<Place>> {
    client.store.lock().await.places(&text, 8).map_err(say)
}

/// The server, signed in, or the sentence saying how to sign in.
fn signed_in_server(client: &Client) -> Answer<(Session, Server)> {
    let session = Session::load(&client.dir)
        .map_err(say)?
        .ok_or("not signed in: open Settings and sign in to a server")?;
    let server = Server::new(&session.server, Some(session.token.clone())).map_err(say)?;
    Ok((session, server))
}

/// The heat map, monthly trends and hour-of-week profile for the map's view (needs the
/// server: the counts come from its batch and speed layers).
#[tauri::command]
async fn dashboard(client: State<'_, Client>, view: Bbox) -> Answer<Dashboard> {
    let (_, server) = signed_in_server(&client)?;
    server.dashboard(view).await.map_err(say)
}

/// The watch groups of the signed-in account, with its role in each.
#[tauri::command]
async fn groups(client: State<'_, Client>) -> Answer<Vec<Group>> {
    let (_, server) = signed_in_server(&client)?;
    server.groups().await.map_err(say)
}

/// Creates a watch group; the caller becomes its admin.
#[tauri::command]
async fn create_group(
    client: State<'_, Client>,
    name: String,
    description: String,
) -> Answer<Group> {
    let (_, server) = signed_in_server(&client)?;
    server.create_group(&name, &description).await.map_err(say)
}

/// Joins the group of an invitation code or link.
#[tauri::command]
async fn join_group(client: State<'_, Client>, code: String) -> Answer<Group> {
    let (_, server) = signed_in_server(&client)?;
    server.join_group(&code).await.map_err(say)
}

/// A new invitation for members (moderators and admins).
#[tauri::command]
async fn invite(client: State<'_, Client>, group: String) -> Answer<Invite> {
    let (_, server) = signed_in_server(&client)?;
    server.invite(&group).await.map_err(say)
}

/// The group's reports waiting for a decision (moderators).
#[tauri::command]
async fn moderation_queue(client: State<'_, Client>, group: String) -> Answer<Vec<Queued>> {
    let (_, server) = signed_in_server(&client)?;
    server.moderation_queue(&group).await.map_err(say)
}

/// Verifies, rejects (with the reason the reporter reads) or merges a queued report.
#[tauri::command]
async fn decide(
    client: State<'_, Client>,
    group: String,
    incident: String,
    decision: Decision,
) -> Answer<String> {
    let (_, server) = signed_in_server(&client)?;
    server
        .decide(&group, &incident, &decision)
        .await
        .map_err(say)
}

/// Saves everything the server holds about this account as a JSON file in the
/// Downloads folder (else the app's data folder); answers the file's path.
#[tauri::command]
async fn export_data(app: AppHandle, client: State<'_, Client>) -> Answer<String> {
    let (session, server) = signed_in_server(&client)?;
    let body = server.export().await.map_err(say)?;
    let dir = app
        .path()
        .download_dir()
        .unwrap_or_else(|_| client.dir.join("exports"));
    let path =
        vigil_app::online::save_export(&dir, &session.username, &body, Utc::now()).map_err(say)?;
    Ok(path.display().to_string())
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

/// Cached incidents, newest first; with `area`, those inside that watch area.
#[tauri::command]
async fn incidents(
    client: State<'_, Client>,
    limit: Option<usize>,
    area: Option<String>,
) -> Answer<Vec<Incident>> {
    let limit = limit.unwrap_or(500);
    let store = client.store.lock().await;
    let Some(area) = area else {
        return store.incidents(limit).map_err(say);
    };
    let areas = store.watch_areas().map_err(say)?;
    let Some(item) = areas.iter().find(|a| a.id == area) else {
        return Err(format!(
            "area: no watch area {area} on this device; choose one from the list"
        ));
    };
    store.incidents_within(&item.spec.shape, limit).map_err(say)
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

/// A risk hint, or why there is none (no model yet, a place no watch area covers).
#[derive(Debug, Serialize)]
struct HintOrNote {
    hint: Option<RiskHint>,
    hint_note: Option<String>,
}

impl From<Result<RiskHint, HintError>> for HintOrNote {
    fn from(answer: Result<RiskHint, HintError>) -> HintOrNote {
        match answer {
            Ok(h) => HintOrNote {
                hint: Some(h),
                hint_note: None,
            },
            Err(e) => HintOrNote {
                hint: None,
                hint_note: Some(e.to_string()),
            },
        }
    }
}

/// Loads the risk model and cached cells into `slot` on first use (a sync empties it).
fn load_hints(slot: &mut Option<RiskHints>, store: &Store) -> Answer<()> {
    if slot.is_none() {
        *slot = store.risk_hints().map_err(say)?;
    }
    Ok(())
}

/// A watch area with the risk hint at its centre now, or why there is none.
#[derive(Debug, Serialize)]
struct AreaWithHint {
    #[serde(flatten)]
    area: AreaItem,
    #[serde(flatten)]
    hint: HintOrNote,
}

/// The watch areas kept on this device, whether the server has them, and the risk hint
/// at each one's centre at this hour (computed here, offline).
#[tauri::command]
async fn areas(client: State<'_, Client>) -> Answer<Vec<AreaWithHint>> {
    let store = client.store.lock().await;
    let areas = store.watch_areas().map_err(say)?;
    let mut hints = client.hints.lock().await;
    load_hints(&mut hints, &store)?;
    let now = chrono::Local::now().fixed_offset();
    Ok(areas
        .into_iter()
        .map(|area| {
            let hint = match hints.as_ref() {
                Some(h) => h.area_hint(&area.spec, now),
                None => Err(HintError::NoModel),
            };
            AreaWithHint {
                area,
                hint: hint.into(),
            }
        })
        .collect())
}

/// The risk hint for a place at this hour (computed here, offline: the place never
/// leaves the device), or why there is none.
#[tauri::command]
async fn risk_hint(client: State<'_, Client>, lat: f64, lon: f64) -> Answer<HintOrNote> {
    let store = client.store.lock().await;
    let mut hints = client.hints.lock().await;
    load_hints(&mut hints, &store)?;
    let now = chrono::Local::now().fixed_offset();
    Ok(match hints.as_ref() {
        Some(h) => h.hint(lat, lon, now),
        None => Err(HintError::NoModel),
    }
    .into())
}

/// Saves a watch area (a new one without `id`), checked with the server's rules; the
/// error names the field to fix. The next sync sends it.
#[tauri::command]
async fn save_area(
    client: State<'_, Client>,
    id: Option<String>,
    spec: WatchAreaSpec,
) -> Answer<AreaItem> {
    client
        .store
        .lock()
        .await
        .save_area(id.as_deref(), spec, Utc::now())
        .map_err(say)
}

/// Stops watching an area (removed on the server at the next sync).
#[tauri::command]
async fn delete_area(client: State<'_, Client>, id: String) -> Answer<()> {
    client
        .store
        .lock()
        .await
        .delete_area(&id, Utc::now())
        .map_err(say)
}

/// The alerts inbox, newest first, with how many are unread.
#[derive(Debug, Serialize)]
struct Inbox {
    alerts: Vec<InboxItem>,
    unread: u64,
}

#[tauri::command]
async fn alerts(client: State<'_, Client>, limit: Option<usize>) -> Answer<Inbox> {
    let store = client.store.lock().await;
    Ok(Inbox {
        alerts: store.inbox(limit.unwrap_or(200)).map_err(say)?,
        unread: store.unread_alerts().map_err(say)?,
    })
}

/// Marks every alert up to `up_to` read.
#[tauri::command]
async fn mark_alerts_read(client: State<'_, Client>, up_to: u64) -> Answer<u64> {
    let store = client.store.lock().await;
    store.mark_alerts_read(up_to, Utc::now()).map_err(say)?;
    store.unread_alerts().map_err(say)
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
    client.signed_in.notify_one();
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
    /// New alerts in the inbox.
    alerts: usize,
    /// Photos uploaded.
    photos: usize,
}

/// Pushes the outbox, edits and watch areas, pulls changes and alerts (notifying new
/// ones); retries a few times while offline.
#[tauri::command]
async fn sync_now(app: AppHandle, client: State<'_, Client>) -> Answer<Synced> {
    let (_, server) = signed_in_server(&client)?;
    let mut store = client.store.lock().await;
    let backoff = Backoff {
        attempts: 3,
        ..Backoff::default()
    };
    let done = sync::sync(&mut store, &server, backoff)
        .await
        .map_err(say)?;
    drop(store);
    *client.hints.lock().await = None;
    if !done.alerts.is_empty() {
        notify_new(&app).await;
    }
    Ok(Synced {
        sent: done.sent,
        rejected: done.rejected,
        pulled: done.pulled,
        alerts: done.alerts.len(),
        photos: done.photos.uploaded,
    })
}

/// Shows one OS notification for the alerts no notification has covered yet, and tells
/// the UI the inbox changed (event `alerts`, with the unread count).
async fn notify_new(app: &AppHandle) {
    let client = app.state::<Client>();
    let (fresh, unread) = {
        let mut store = client.store.lock().await;
        let fresh = store.take_unnotified(Utc::now());
        (fresh, store.unread_alerts().unwrap_or(0))
    };
    match fresh {
        Ok(fresh) => {
            if let Some(notice) = Notice::for_alerts(&fresh) {
                let shown = app
                    .notification()
                    .builder()
                    .title(&notice.title)
                    .body(&notice.body)
                    .show();
                match shown {
                    Ok(()) => {
                        tracing::info!(alert = notice.alert_id, title = %notice.title, "notified")
                    }
                    Err(error) => {
                        tracing::warn!(%error, "the OS notification failed; the alert is in the inbox")
                    }
                }
            }
        }
        Err(error) => tracing::warn!(%error, "cannot read new alerts"),
    }
    let _ = app.emit("alerts", unread);
}

/// Follows the live alert stream while someone is signed in, reconnecting with backoff;
/// each arrival is kept in the inbox and notified.
async fn follow_alerts(app: AppHandle) {
    let backoff = Backoff {
        base: Duration::from_secs(1),
        max: Duration::from_secs(30),
        attempts: u32::MAX,
    };
    let mut attempt = 0;
    loop {
        let client = app.state::<Client>();
        let session = match Session::load(&client.dir) {
            Ok(Some(session)) => session,
            Ok(None) => {
                client.signed_in.notified().await;
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read the session; alerts wait for a sign-in");
                client.signed_in.notified().await;
                continue;
            }
        };
        let server = match Server::new(&session.server, Some(session.token)) {
            Ok(server) => server,
            Err(error) => {
                tracing::warn!(%error, "bad server URL; alerts wait for a sign-in");
                client.signed_in.notified().await;
                continue;
            }
        };
        let started = Instant::now();
        let handle = app.clone();
        let ended = vigil_app::alerts::stream_alerts(&client.store, &server, move |_new| {
            let handle = handle.clone();
            tauri::async_runtime::spawn(async move { notify_new(&handle).await });
        })
        .await;
        if let Err(SyncError::Unauthorized(why)) = &ended {
            tracing::warn!(%why, "the alert stream refused the session; waiting for a sign-in");
            client.signed_in.notified().await;
            continue;
        }
        if started.elapsed() > Duration::from_secs(60) {
            attempt = 0;
        }
        let wait = backoff.delay(attempt);
        attempt = attempt.saturating_add(1);
        tracing::info!(ended = ?ended.err(), retry_in = ?wait, "alert stream ended; reconnecting");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = client.signed_in.notified() => {}
        }
    }
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VIGIL_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .try_init()
        .ok();
    tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .setup(|app| {
            let dir = data_dir(app)?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let store = Store::open(&dir.join("vigil.db")).map_err(say)?;
            app.manage(Client {
                store: Mutex::new(store),
                dir,
                signed_in: Notify::new(),
                hints: Mutex::new(None),
            });
            tauri::async_runtime::spawn(follow_alerts(app.handle().clone()));
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            app_info,
            drafts,
            save_draft,
            delete_draft,
            attach_photo,
            photos,
            photo,
            remove_photo,
            places,
            risk_hint,
            dashboard,
            groups,
            create_group,
            join_group,
            invite,
            moderation_queue,
            decide,
            export_data,
            submit,
            outbox,
            incidents,
            tile_url,
            set_tile_url,
            areas,
            save_area,
            delete_area,
            alerts,
            mark_alerts_read,
            account,
            sign_in,
            sign_out,
            sync_now
        ])
        .run(tauri::generate_context!())
        .expect("error while running the Vigil desktop shell");
}
