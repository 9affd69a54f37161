//! `cargo xtask e2e`: the desktop app in a real window, driven through WebDriver.
//!
//! Builds the UI with trunk (offline, with the wasm-bindgen on PATH), serves `ui/dist` on
//! the shell's dev URL (http://localhost:1420, `src-tauri/tauri.conf.json`), starts Xvfb
//! and tauri-driver (over WebKitWebDriver from Debian's `webkit2gtk-driver`), opens the
//! debug build of `vigil-desktop` in a WebDriver session, checks what the window shows and
//! saves a screenshot of every screen under `target/e2e/` for a person to look at.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::util::{self, cache_dir, find_executable, project_root};
use crate::vigil;

/// Where the shell's debug build loads the UI from (`build.devUrl`).
const DEV_PORT: u16 = 1420;

/// A child process that is killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tool(name: &str, hint: &str) -> Result<PathBuf> {
    find_executable(name, &[cache_dir().join("tools/bin")])
        .with_context(|| format!("{name} is not installed: {hint} (.ci/run does this)"))
}

/// Builds the UI into `ui/dist` with trunk, offline (after `npm ci` for the map
/// libraries).
pub fn build_ui() -> Result<()> {
    let root = project_root();
    let trunk = tool(
        "trunk",
        "cargo install trunk --version 0.21.14 --locked --root ~/.cache/vigil/tools",
    )?;
    tool(
        "wasm-bindgen",
        "cargo install wasm-bindgen-cli --version =0.2.130 --root ~/.cache/vigil/tools",
    )?;
    eprintln!("==> npm ci (ui/node_modules: the map libraries, pinned in ui/package-lock.json)");
    let npm = tool("npm", "apt-get install npm")?;
    util::run(
        Command::new(npm)
            .args(["ci", "--no-audit", "--no-fund", "--prefer-offline"])
            .current_dir(root.join("ui")),
    )
    .context("npm could not install the map libraries")?;

    // Another checkout sharing the target dir (a CI clone) may have left its own wasm
    // where cargo would find this one's up to date; touching the crate rebuilds it (seconds).
    std::fs::File::options()
        .append(true)
        .open(root.join("ui/src/main.rs"))?
        .set_modified(std::time::SystemTime::now())?;
    eprintln!("==> trunk build (ui/dist)");
    let tools_bin = cache_dir().join("tools/bin");
    let path = std::env::join_paths(std::iter::once(tools_bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;
    util::run(
        Command::new(&trunk)
            .arg("build")
            .current_dir(root.join("ui"))
            .env("PATH", &path)
            .env("NO_COLOR", "true"),
    )
    .context("trunk could not build the UI")?;
    Ok(())
}

/// Serves `ui/dist` on the debug shell's dev URL for as long as the process lives.
pub fn serve_ui() -> Result<()> {
    let dist = project_root().join("ui/dist");
    let listener = TcpListener::bind(("127.0.0.1", DEV_PORT)).with_context(|| {
        format!("port {DEV_PORT} (the shell's dev URL) is taken; stop `trunk serve` first")
    })?;
    std::thread::spawn(move || serve_static(listener, &dist));
    Ok(())
}

pub fn run() -> Result<()> {
    let driver = tool(
        "tauri-driver",
        "cargo install tauri-driver --version 2.1.0 --locked --root ~/.cache/vigil/tools",
    )?;
    let webkit = tool("WebKitWebDriver", "apt-get install webkit2gtk-driver")?;
    let xvfb = tool("Xvfb", "apt-get install xvfb")?;
    build_ui()?;

    let target = vigil::target_dir()?;
    let app = target.join("debug/vigil-desktop");
    if !app.is_file() {
        eprintln!("==> cargo build --workspace --all-targets (for vigil-desktop)");
        util::run(util::cargo().args(["build", "--workspace", "--all-targets"]))?;
    }
    let shots = target.join("e2e");
    std::fs::create_dir_all(&shots)?;
    serve_ui()?;

    let display = free_display()?;
    let _xvfb = Guard(
        Command::new(xvfb)
            .args([
                &format!(":{display}"),
                "-screen",
                "0",
                "1280x900x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start Xvfb")?,
    );
    let driver_port = vigil::free_port()?;
    let native_port = vigil::free_port()?;
    let data = tempfile::tempdir()?;
    // A session bus of its own, watched, so the test sees the OS notification the app
    // sends (org.freedesktop.Notifications.Notify) as a desktop would receive it.
    let bus = SessionBus::start(data.path())?;
    let _driver = Guard(
        Command::new(driver)
            .args(["--port", &driver_port.to_string()])
            .args(["--native-port", &native_port.to_string()])
            .arg("--native-driver")
            .arg(&webkit)
            .env("DISPLAY", format!(":{display}"))
            .env("VIGIL_DESKTOP_DATA_DIR", data.path())
            .env("XDG_DATA_HOME", data.path())
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start tauri-driver")?,
    );
    let backend = Backend::start(&target, data.path())?;
    let launched = Instant::now();
    let wd = WebDriver::connect(driver_port, &app)?;
    let result = check_screens(&wd, &shots, &backend, &bus, launched).map(|()| {
        std::thread::sleep(Duration::from_secs(2));
        let (shell, webkit) = resident_kib(&app);
        eprintln!(
            "    idle RSS: shell {:.1} MiB, WebKit processes {:.1} MiB",
            shell as f64 / 1024.0,
            webkit as f64 / 1024.0
        );
    });
    wd.close();
    result?;
    eprintln!("==> e2e passed; screenshots in {}", shots.display());
    Ok(())
}

/// Sets a form field the way typing does (the value, then `input` and `change`).
fn fill(id: &str, value: &str) -> String {
    format!(
        "const el = document.getElementById({id:?}); if (!el) return 'no #{id}'; \
         el.value = {value:?}; \
         el.dispatchEvent(new Event('input', {{bubbles: true}})); \
         el.dispatchEvent(new Event('change', {{bubbles: true}})); return 'ok';"
    )
}

/// Real Toronto incidents for the backend (see `xtask/fixtures/README.md`).
const TORONTO_SLICE: &str = "xtask/fixtures/toronto_mci_slice.csv.gz";

/// An embedded `vigil serve` with a slice of the Toronto file imported.
struct Backend {
    server: vigil::Server,
    imported: String,
}

impl Backend {
    fn start(target: &Path, scratch: &Path) -> Result<Backend> {
        let exe = target.join("debug/vigil");
        let slice = project_root().join(TORONTO_SLICE);
        let dir = scratch.join("backend");
        let summary = util::output(
            Command::new(&exe)
                .arg("--data-dir")
                .arg(&dir)
                .args(["import", "toronto-mci", "--quiet"])
                .arg(&slice)
                .env_remove("VIGIL_DATABASE__URL"),
        )
        .context("vigil import of the Toronto slice failed")?;
        let imported = summary
            .lines()
            .find_map(|l| l.strip_prefix("imported:"))
            .map(|n| n.trim().to_owned())
            .context("no `imported:` line in the import summary")?;
        let listen = SocketAddr::from(([127, 0, 0, 1], vigil::free_port()?));
        let log = scratch.join("backend.log");
        let mut server = vigil::Server::spawn(&vigil::ServeConfig {
            exe: &exe,
            data_dir: &dir,
            listen,
            log_file: Some(&log),
            embedded: true,
            env: &[],
        })?;
        server.wait_healthy(vigil::STARTUP_TIMEOUT)?;
        eprintln!(
            "    backend on {} with {imported} Toronto incidents",
            server.base_url()
        );
        Ok(Backend { server, imported })
    }
}

/// What the test does and checks on each screen, with a screenshot of each.
fn check_screens(
    wd: &WebDriver,
    shots: &Path,
    backend: &Backend,
    bus: &SessionBus,
    launched: Instant,
) -> Result<()> {
    let shown = wd.wait_for(
        "the report screen with its categories",
        "const h = document.querySelector('h1'); \
         const n = document.querySelectorAll('#category option').length; \
         return h && n > 1 ? h.textContent + '|' + n : null;",
        Duration::from_secs(60),
    )?;
    eprintln!(
        "    cold start to a usable window: {:.2} s ({shown})",
        launched.elapsed().as_secs_f64()
    );
    if shown != "Vigil|12" {
        bail!("the report screen shows {shown:?}, expected the title Vigil and 11 categories");
    }
    wd.screenshot(&shots.join("report-empty.png"))?;

    // Draft a report with no server configured (offline) and submit it.
    for (id, value) in [
        ("category", "theft"),
        ("lat", "43.6535"),
        ("lon", "-79.3840"),
        ("place", "Nathan Phillips Square"),
        ("description", "Bike taken from the rack by the rink"),
    ] {
        let done = wd.execute(&fill(id, value))?;
        if done != "ok" {
            bail!("could not fill #{id}: {done}");
        }
    }
    wd.screenshot(&shots.join("report-filled.png"))?;
    wd.execute("document.getElementById('submit').click(); return 'ok';")?;
    let note = wd.wait_for(
        "the answer to submitting",
        "const n = document.querySelector('.note'); \
         return n && !n.textContent.startsWith('Draft saved') ? n.className + '|' + n.textContent : null;",
        Duration::from_secs(20),
    )?;
    if !note.starts_with("note done|Queued") {
        bail!("submitting the report answered {note:?}");
    }
    wd.screenshot(&shots.join("report-queued.png"))?;

    wd.execute("document.getElementById('nav-outbox').click(); return 'ok';")?;
    let outbox = wd.wait_for(
        "the queued report in the outbox",
        "const i = document.querySelectorAll('.outbox .item[data-state=pending]'); \
         return i.length ? i.length + '|' + i[0].textContent : null;",
        Duration::from_secs(20),
    )?;
    if !outbox.starts_with("1|Not sent yet") || !outbox.contains("Bike taken from the rack") {
        bail!("the outbox shows {outbox:?}, expected the report not sent yet");
    }
    wd.screenshot(&shots.join("outbox.png"))?;

    wd.execute("document.getElementById('nav-incidents').click(); return 'ok';")?;
    wd.wait_for(
        "the incidents screen",
        "const s = document.querySelector('#screen-incidents .status'); return s ? s.textContent : null;",
        Duration::from_secs(20),
    )?;
    wd.screenshot(&shots.join("incidents.png"))?;

    wd.execute("document.getElementById('nav-settings').click(); return 'ok';")?;
    let account = wd.wait_for(
        "the settings screen",
        "const a = document.getElementById('account'); return a ? a.textContent : null;",
        Duration::from_secs(20),
    )?;
    if !account.starts_with("Not signed in") {
        bail!("settings show {account:?}, expected nobody signed in");
    }
    wd.screenshot(&shots.join("settings.png"))?;

    // The backend is up: sign in (registering), sync, and the report goes out.
    for (id, value) in [
        ("server", backend.server.base_url()),
        ("username", "e2e-resident"),
        ("password", "correct horse battery staple"),
    ] {
        wd.execute(&fill(id, value))?;
    }
    wd.execute("document.getElementById('register').click(); document.getElementById('sign-in').click(); return 'ok';")?;
    let account = wd.wait_for(
        "the signed-in account",
        "const a = document.getElementById('account'); \
         return a && a.textContent.startsWith('Signed in') ? a.textContent : null;",
        Duration::from_secs(30),
    )?;
    eprintln!("    {account}");
    wd.screenshot(&shots.join("settings-signed-in.png"))?;

    let synced = sync_in_outbox(wd)?;
    if !synced.starts_with("note done|Sent 1,") {
        bail!("syncing answered {synced:?}");
    }
    wd.wait_for(
        "the report marked sent",
        "return document.querySelectorAll('.outbox .item[data-state=sent]').length === 1 ? 'ok' : null;",
        Duration::from_secs(20),
    )?;
    eprintln!("    {synced}");
    wd.screenshot(&shots.join("outbox-sent.png"))?;

    wd.execute("document.getElementById('nav-incidents').click(); return 'ok';")?;
    let listed = wd.wait_for(
        "the incidents from the server",
        "const s = document.querySelector('#screen-incidents p.status'); \
         const first = document.querySelector('.incidents .item'); \
         return s && first ? s.textContent + '|' + first.textContent : null;",
        Duration::from_secs(30),
    )?;
    eprintln!("    incidents: {listed}");
    if !listed.starts_with("500 incidents|Theft") || !listed.contains("Bike taken from the rack") {
        bail!(
            "the incidents screen shows {listed:?}; expected 500 (of {} imported) with the new report first",
            backend.imported
        );
    }
    // The map: Leaflet loaded from the bundle, the incidents clustered on it (with no
    // tiles here, offline, on the plain background).
    let map = wd
        .wait_for(
            "the incidents map",
            "const m = document.querySelector('#map.leaflet-container'); \
             const c = document.querySelectorAll('#map .marker-cluster').length; \
             return m && c > 0 ? String(c) : null;",
            Duration::from_secs(30),
        )
        .map_err(|e| {
            let state = wd
                .execute(
                    "const m = document.getElementById('map'); \
                     return 'Leaflet ' + typeof window.L + ', cluster plugin ' + typeof (window.L && window.L.markerClusterGroup) + \
                     ', #map ' + (m ? 'class=' + m.className + ' children=' + m.children.length : 'missing');",
                )
                .unwrap_or_default();
            e.context(format!("map state: {state}"))
        })?;
    eprintln!("    map: {map} clusters");
    wd.screenshot(&shots.join("incidents-synced.png"))?;

    // The same filters for the map and the list: thefts only.
    wd.execute(&fill("filter-category", "theft"))?;
    let thefts = wd.wait_for(
        "the list filtered to thefts",
        "const s = document.querySelector('#screen-incidents p.status'); \
         const cats = [...document.querySelectorAll('.incidents .item strong')].map(e => e.textContent); \
         return s && cats.length && cats.every(c => c === 'Theft') && s.textContent !== '500 incidents' \
           ? s.textContent : null;",
        Duration::from_secs(20),
    )
    .map_err(|e| {
        let state = wd
            .execute(
                "const s = document.querySelector('#screen-incidents p.status'); \
                 const f = document.getElementById('filter-category'); \
                 return 'status ' + (s && s.textContent) + ', filter ' + (f && f.value) + ', first ' + \
                 ((document.querySelector('.incidents .item') || {}).textContent);",
            )
            .unwrap_or_default();
        e.context(format!("incidents state: {state}"))
    })?;
    eprintln!("    thefts: {thefts}");
    wd.screenshot(&shots.join("incidents-thefts.png"))?;

    // A watch area: a bad radius is refused naming the field, a good one is listed.
    wd.execute("document.getElementById('nav-areas').click(); return 'ok';")?;
    wd.wait_for(
        "the watch areas screen",
        "return document.getElementById('add-area') ? 'ok' : null;",
        Duration::from_secs(20),
    )?;
    for (id, value) in [
        ("area-name", "Home"),
        ("area-lat", "43.6535"),
        ("area-lon", "-79.3840"),
        ("area-radius", "5"),
    ] {
        wd.execute(&fill(id, value))?;
    }
    wd.execute("document.getElementById('add-area').click(); return 'ok';")?;
    let refused = wd.wait_for(
        "the refusal of a 5 m radius",
        "const n = document.querySelector('#screen-areas .note.failed'); return n ? n.textContent : null;",
        Duration::from_secs(20),
    )?;
    if !refused.contains("radius_m") {
        bail!("a 5 m watch area answered {refused:?}, expected an error naming radius_m");
    }
    wd.execute(&fill("area-radius", "800"))?;
    wd.execute(&fill("area-category", "break_and_enter"))?;
    wd.execute("document.getElementById('add-area').click(); return 'ok';")?;
    let area = wd.wait_for(
        "the new watch area",
        "const i = document.querySelector('.areas .item'); return i ? i.textContent : null;",
        Duration::from_secs(20),
    )?;
    if !area.starts_with("Home800 m around 43.6535, -79.3840") || !area.contains("Break and enter")
    {
        bail!("the watch areas show {area:?}");
    }
    // A polygon with quiet hours, from the same form.
    wd.execute(&fill("area-name", "School"))?;
    wd.execute(&fill("area-shape", "polygon"))?;
    wd.wait_for(
        "the polygon's corners field",
        "return document.getElementById('area-points') ? 'ok' : null;",
        Duration::from_secs(10),
    )?;
    wd.execute(&fill(
        "area-points",
        "43.6570, -79.3900\n43.6600, -79.3850\n43.6560, -79.3800",
    ))?;
    wd.execute(&fill("area-category", ""))?;
    wd.execute(&fill("area-quiet-start", "22:00"))?;
    wd.execute(&fill("area-quiet-end", "07:00"))?;
    wd.execute(&fill("area-zone", "America/Toronto"))?;
    wd.execute("document.getElementById('add-area').click(); return 'ok';")?;
    let school = wd.wait_for(
        "the polygon area",
        "const i = document.querySelectorAll('.areas .item'); return i.length === 2 ? i[1].textContent : null;",
        Duration::from_secs(20),
    )?;
    if !school.starts_with("SchoolPolygon of 3 corners") || !school.contains("Quiet 22:00") {
        bail!("the polygon area shows {school:?}");
    }

    // Sync sends the areas; the server then alerts on them.
    let synced = sync_in_outbox(wd)?;
    if !synced.starts_with("note done|") {
        bail!("syncing the watch areas answered {synced:?}");
    }
    wd.execute("document.getElementById('nav-areas').click(); return 'ok';")?;
    let synced = wd.wait_for(
        "both areas on the server",
        "const i = document.querySelectorAll('.areas .item[data-state=synced]'); return i.length === 2 ? 'ok' : null;",
        Duration::from_secs(20),
    )?;
    eprintln!("    watch areas synced: {synced}");
    // This server has published no risk model (too little history for a batch to train
    // one), so each area says where hints will come from instead of a hint.
    let note = wd.wait_for(
        "the risk hint note",
        "const n = document.querySelector('.areas .item .hint.none'); return n ? n.textContent : null;",
        Duration::from_secs(10),
    )?;
    if !note.contains("no risk model on this device yet") {
        bail!("the area's hint line says {note:?}");
    }
    wd.screenshot(&shots.join("areas.png"))?;

    // A neighbour reports a break-in inside Home; the app receives its alert live, shows
    // it in the inbox and raises an OS notification.
    // The matcher reads area changes once a second; an incident in the same second as
    // the area's save may be matched against the areas before it.
    std::thread::sleep(Duration::from_secs(2));
    let started = Instant::now();
    neighbour_reports(backend.server.base_url())?;
    let badge = wd.wait_for(
        "the unread alert in the navigation bar",
        "const b = document.getElementById('nav-alerts'); \
         return b && b.textContent === 'Alerts (1)' ? b.textContent : null;",
        Duration::from_secs(60),
    )?;
    eprintln!(
        "    alert received {:.2} s after the neighbour's report was accepted ({badge})",
        started.elapsed().as_secs_f64()
    );
    let notified =
        bus.wait_for_notification("Break and enter near Home", Duration::from_secs(20))?;
    eprintln!("    OS notification: {notified}");
    wd.execute("document.getElementById('nav-alerts').click(); return 'ok';")?;
    let alert = wd.wait_for(
        "the alert in the inbox",
        "const i = document.querySelector('.alerts .item[data-kind=incident]'); return i ? i.textContent : null;",
        Duration::from_secs(20),
    )?;
    // Watchers see what a public view shows: no typed address, so the description's start.
    if !alert.contains("Break and enter near Home")
        || !alert.contains("Kiosk door forced open")
        || alert.contains("Nathan Phillips Square")
    {
        bail!("the alerts inbox shows {alert:?}");
    }
    wd.screenshot(&shots.join("alerts.png"))?;
    wd.wait_for(
        "the alert marked read",
        "const b = document.getElementById('nav-alerts'); return b && b.textContent === 'Alerts' ? 'ok' : null;",
        Duration::from_secs(20),
    )?;

    wd.execute("document.getElementById('nav-about').click(); return 'ok';")?;
    let about = wd.wait_for(
        "the about screen",
        "const n = document.querySelectorAll('.categories li').length; return n ? String(n) : null;",
        Duration::from_secs(20),
    )?;
    if about != "11" {
        bail!("the about screen lists {about} categories, expected 11");
    }
    wd.screenshot(&shots.join("about.png"))?;
    Ok(())
}

/// Opens the outbox and syncs; returns the note's class and text (`note done|Sent …`).
fn sync_in_outbox(wd: &WebDriver) -> Result<String> {
    wd.execute("document.getElementById('nav-outbox').click(); return 'ok';")?;
    wd.wait_for(
        "the outbox",
        "return document.getElementById('sync') ? 'ok' : null;",
        Duration::from_secs(20),
    )?;
    wd.execute("document.getElementById('sync').click(); return 'ok';")?;
    wd.wait_for(
        "the answer to syncing",
        "const n = document.querySelector('.note'); return n ? n.className + '|' + n.textContent : null;",
        Duration::from_secs(120),
    )
}

/// Another resident registers and reports a break-in at Nathan Phillips Square, through the
/// sync API as their app would.
fn neighbour_reports(base: &str) -> Result<()> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let account = json!({"username": "e2e-neighbour", "password": "correct horse battery staple"});
    http.post(format!("{base}/v1/auth/register"))
        .json(&account)
        .send()?
        .error_for_status()
        .context("registering the neighbour")?;
    let login: Value = http
        .post(format!("{base}/v1/auth/login"))
        .json(&account)
        .send()?
        .error_for_status()
        .context("the neighbour's login")?
        .json()?;
    let token = login["token"]
        .as_str()
        .context("no token in the login answer")?;
    let occurred = chrono::Utc::now() - chrono::TimeDelta::minutes(5);
    let report = json!({"reports": [{
        "id": uuid::Uuid::now_v7().to_string(),
        "category": "break_and_enter",
        "occurred_at": occurred.fixed_offset().to_rfc3339(),
        "location": {"lat": 43.6536, "lon": -79.3838, "accuracy_m": 15.0},
        "place": "Nathan Phillips Square",
        "description": "Kiosk door forced open overnight",
    }]});
    let answer: Value = http
        .post(format!("{base}/v1/sync/push"))
        .bearer_auth(token)
        .json(&report)
        .send()?
        .error_for_status()
        .context("the neighbour's report")?
        .json()?;
    let outcome = &answer["results"][0]["outcome"];
    if outcome != "accepted" {
        bail!("the neighbour's report was answered {answer}");
    }
    Ok(())
}

/// A private D-Bus session bus and a monitor writing every notification call to a file.
struct SessionBus {
    address: String,
    log: PathBuf,
    _daemon: Guard,
    _monitor: Guard,
}

impl SessionBus {
    fn start(dir: &Path) -> Result<SessionBus> {
        let daemon = tool("dbus-daemon", "apt-get install dbus-daemon")?;
        let monitor = tool("dbus-monitor", "apt-get install dbus-bin")?;
        let socket = dir.join("bus");
        let address = format!("unix:path={}", socket.display());
        let daemon = Guard(
            Command::new(daemon)
                .args(["--session", "--nofork", "--nopidfile"])
                .arg(format!("--address={address}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start dbus-daemon")?,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            if Instant::now() > deadline {
                bail!("dbus-daemon did not create {}", socket.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = dir.join("notifications.log");
        let monitor = Guard(
            Command::new(monitor)
                .arg("--address")
                .arg(&address)
                .arg("type='method_call',interface='org.freedesktop.Notifications',member='Notify'")
                .stdout(std::fs::File::create(&log)?)
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start dbus-monitor")?,
        );
        Ok(SessionBus {
            address,
            log,
            _daemon: daemon,
            _monitor: monitor,
        })
    }

    /// Waits until a Notify call carrying `text` has crossed the bus; returns its strings.
    fn wait_for_notification(&self, text: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if log.contains(text) {
                let strings: Vec<&str> = log
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("string \""))
                    .map(|l| l.trim_end_matches('"'))
                    .filter(|l| !l.is_empty())
                    .collect();
                return Ok(strings.join(" | "));
            }
            if Instant::now() > deadline {
                bail!(
                    "no OS notification with {text:?} within {} s; the bus saw: {log:?}",
                    timeout.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A minimal W3C WebDriver client over tauri-driver.
struct WebDriver {
    http: reqwest::blocking::Client,
    base: String,
    session: String,
}

impl WebDriver {
    fn connect(port: u16, app: &Path) -> Result<WebDriver> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "wry",
            "tauri:options": {"application": app},
        }}});
        loop {
            match http
                .post(format!("{base}/session"))
                .json(&capabilities)
                .send()
            {
                Ok(r) => {
                    let status = r.status();
                    let body: Value = r.json().unwrap_or(Value::Null);
                    let Some(session) = body["value"]["sessionId"].as_str() else {
                        bail!("tauri-driver refused the session ({status}): {body}");
                    };
                    return Ok(WebDriver {
                        http,
                        base,
                        session: session.to_owned(),
                    });
                }
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => bail!("tauri-driver did not answer on port {port}: {e}"),
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    /// Runs `script` in the window; returns its value.
    fn execute(&self, script: &str) -> Result<Value> {
        let r = self
            .http
            .post(self.url("/execute/sync"))
            .json(&json!({"script": script, "args": []}))
            .send()?;
        let body: Value = r.json()?;
        if body["value"]["error"].is_string() {
            bail!("script failed: {}", body["value"]);
        }
        Ok(body["value"].clone())
    }

    /// Polls `script` until it returns a string.
    fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            last = self.execute(script)?;
            if let Some(s) = last.as_str() {
                return Ok(s.to_owned());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "{what} did not appear within {} s (last: {last})",
            timeout.as_secs()
        )
    }

    fn screenshot(&self, path: &Path) -> Result<()> {
        let body: Value = self.http.get(self.url("/screenshot")).send()?.json()?;
        let png = base64::engine::general_purpose::STANDARD.decode(
            body["value"]
                .as_str()
                .context("no screenshot in the answer")?,
        )?;
        std::fs::write(path, png)?;
        eprintln!("    screenshot {}", path.display());
        Ok(())
    }

    fn close(&self) {
        let _ = self.http.delete(self.url("")).send();
    }
}

/// Resident memory (KiB) of the shell process and of WebKit's helper processes.
fn resident_kib(app: &Path) -> (u64, u64) {
    let (mut shell, mut webkit) = (0, 0);
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return (0, 0);
    };
    for entry in procs.flatten() {
        let dir = entry.path();
        let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmdline);
        let rss = || {
            std::fs::read_to_string(dir.join("status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                })
                .unwrap_or(0)
        };
        if cmd.starts_with(&*app.to_string_lossy()) {
            shell += rss();
        } else if cmd.contains("WebKitWebProcess") || cmd.contains("WebKitNetworkProcess") {
            webkit += rss();
        }
    }
    (shell, webkit)
}

/// An X display number nobody uses.
fn free_display() -> Result<u32> {
    (99..199)
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .context("no free X display between :99 and :198")
}

/// Serves the files under `dir` (GET only), with the types WebKit needs for wasm.
fn serve_static(listener: TcpListener, dir: &Path) {
    for stream in listener.incoming().flatten() {
        let dir = dir.to_path_buf();
        std::thread::spawn(move || {
            let _ = answer(stream, &dir);
        });
    }
}

fn answer(mut stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let path = path
        .split('?')
        .next()
        .unwrap_or("/")
        .trim_start_matches('/');
    let file = if path.is_empty() || path.contains("..") {
        dir.join("index.html")
    } else {
        dir.join(path)
    };
    let (status, body) = match std::fs::read(&file) {
        Ok(body) => ("200 OK", body),
        Err(_) => ("404 Not Found", b"not found".to_vec()),
    };
    let kind = match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)?;
    Ok(())
}
