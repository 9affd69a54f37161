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
    // The same build as the tests' (so nothing is built twice): a no-op when they ran
    // first, and never a stale shell when only the shell changed.
    eprintln!("==> cargo build --workspace --all-targets (for vigil-desktop)");
    util::run(util::cargo().args(["build", "--workspace", "--all-targets"]))?;
    let app = target.join("debug/vigil-desktop");
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
    // The Downloads folder, named the way a desktop session names it (xdg-user-dirs), so
    // the data export lands here.
    let config = data.path().join("config");
    let downloads = data.path().join("Downloads");
    std::fs::create_dir_all(&config)?;
    std::fs::create_dir_all(&downloads)?;
    std::fs::write(
        config.join("user-dirs.dirs"),
        format!("XDG_DOWNLOAD_DIR=\"{}\"\n", downloads.display()),
    )?;
    let _driver = Guard(
        Command::new(driver)
            .args(["--port", &driver_port.to_string()])
            .args(["--native-port", &native_port.to_string()])
            .arg("--native-driver")
            .arg(&webkit)
            .env("DISPLAY", format!(":{display}"))
            .env("VIGIL_DESKTOP_DATA_DIR", data.path())
            .env("XDG_DATA_HOME", data.path())
            .env("XDG_CONFIG_HOME", &config)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start tauri-driver")?,
    );
    let backend = Backend::start(&target, data.path())?;
    let launched = Instant::now();
    let wd = WebDriver::connect(driver_port, &app)?;
    let result = check_screens(&wd, &shots, &backend, &bus, launched, &downloads).map(|()| {
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

/// A click on the Leaflet map in element `id` at a point, as Leaflet reports one.
fn click_map(id: &str, lat: f64, lon: f64) -> String {
    format!(
        "document.getElementById({id:?}).vigilMap.fire('click', {{latlng: L.latLng({lat}, {lon})}}); return 'ok';"
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
    downloads: &Path,
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
        ("place", "Nathan Phillips Square"),
        ("description", "Bike taken from the rack by the rink"),
    ] {
        let done = wd.execute(&fill(id, value))?;
        if done != "ok" {
            bail!("could not fill #{id}: {done}");
        }
    }
    // Where: a click on the map sets the coordinates.
    wd.wait_for(
        "the report's map",
        "const m = document.getElementById('pick-map'); return m && m.vigilMap ? 'ok' : null;",
        Duration::from_secs(20),
    )?;
    wd.execute(&click_map("pick-map", 43.6535, -79.384))?;
    let picked = wd.wait_for(
        "the coordinates from the map click",
        "const a = document.getElementById('lat').value, o = document.getElementById('lon').value; \
         return a && o ? a + ',' + o : null;",
        Duration::from_secs(10),
    )?;
    if picked != "43.6535,-79.384" {
        bail!("clicking the map at 43.6535, -79.384 set {picked:?}");
    }
    // The risk hint for the place, computed on the device: never signed in, it has no
    // model yet and says how one comes.
    let hint = wd.wait_for(
        "the risk hint for the picked place",
        "const h = document.querySelector('#place-hint .hint'); return h ? h.textContent : null;",
        Duration::from_secs(10),
    )?;
    if !hint.contains("no risk model on this device yet: sync while online") {
        bail!("the report's risk hint line says {hint:?}");
    }
    // The device's position: this machine has no location service, so the answer is a
    // sentence saying what else to do (on a phone, the coordinates).
    wd.execute("document.getElementById('locate').click(); return 'ok';")?;
    let located = wd.wait_for(
        "the answer to 'use my position'",
        "const n = document.querySelector('#where-note .note'); \
         return n && !n.textContent.startsWith('Finding') ? n.className + '|' + n.textContent : null;",
        Duration::from_secs(30),
    )?;
    eprintln!("    use my position: {located}");
    if !(located.starts_with("note done|Position set")
        || located.contains("click the map, find a place, or type the coordinates"))
    {
        bail!("'use my position' answered {located:?}");
    }
    // Put the point back where the map click put it (a real position would have moved it).
    wd.execute(&fill("lat", "43.6535"))?;
    wd.execute(&fill("lon", "-79.384"))?;
    // A photo far larger than needed: the app shrinks it to 1600 px on the long side.
    wd.execute(
        "const c = document.createElement('canvas'); c.width = 3000; c.height = 2000; \
         const g = c.getContext('2d'); g.fillStyle = '#3a6'; g.fillRect(0, 0, 3000, 2000); \
         g.fillStyle = '#fff'; g.font = '200px sans-serif'; g.fillText('Bike rack', 400, 1000); \
         c.toBlob(b => { const dt = new DataTransfer(); \
           dt.items.add(new File([b], 'rack.png', {type: 'image/png'})); \
           const input = document.getElementById('photo'); input.files = dt.files; \
           input.dispatchEvent(new Event('change', {bubbles: true})); }, 'image/png'); \
         return 'ok';",
    )?;
    let photo = wd.wait_for(
        "the photo, resized",
        "const d = document.querySelector('.photos .item .dims'); \
         const img = document.querySelector('.photos .item img.thumb'); \
         return d && img ? d.textContent : null;",
        Duration::from_secs(30),
    )?;
    eprintln!("    photo attached: {photo}");
    if !photo.starts_with("1600 × 1067,") {
        bail!("the attached photo shows {photo:?}, expected it resized to 1600 × 1067");
    }
    wd.execute("document.getElementById('anonymous').click(); return 'ok';")?;
    wd.screenshot(&shots.join("report-filled.png"))?;
    wd.execute("document.getElementById('submit').click(); return 'ok';")?;
    let note = wd.wait_for(
        "the answer to submitting",
        "const n = document.querySelector('#report-note .note'); \
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
    let form = wd.execute(
        "return (document.getElementById('sign-in') ? 'form' : 'none') + '|' + \
           (document.getElementById('sign-out') ? 'sign-out' : 'none');",
    )?;
    if form != "none|sign-out" {
        bail!(
            "signed in, the settings show {form:?}: the sign-in form should give way to Sign out"
        );
    }
    wd.screenshot(&shots.join("settings-signed-in.png"))?;

    let synced = sync_in_outbox(wd)?;
    if !synced.starts_with("note done|Sent 1,") || !synced.ends_with("Uploaded 1 photo.") {
        bail!("syncing answered {synced:?}, expected the report and its photo sent");
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

    check_detail(wd, shots, backend)?;
    check_dashboard(wd, shots)?;
    check_place_search(wd, shots)?;

    // A watch area: a bad radius is refused naming the field, a good one is listed.
    wd.execute("document.getElementById('nav-areas').click(); return 'ok';")?;
    wd.wait_for(
        "the watch areas screen",
        "return document.getElementById('add-area') ? 'ok' : null;",
        Duration::from_secs(20),
    )?;
    for (id, value) in [("area-name", "Home"), ("area-radius", "5")] {
        wd.execute(&fill(id, value))?;
    }
    // The centre from a click on the map (the latitude and longitude fields are the
    // keyboard path to the same).
    wd.wait_for(
        "the watch areas map",
        "const m = document.getElementById('area-map'); return m && m.vigilMap ? 'ok' : null;",
        Duration::from_secs(20),
    )?;
    wd.execute(&click_map("area-map", 43.6535, -79.384))?;
    let centre = wd.wait_for(
        "the circle's centre from the map click",
        "const a = document.getElementById('area-lat').value, o = document.getElementById('area-lon').value; \
         return a && o ? a + ',' + o : null;",
        Duration::from_secs(10),
    )?;
    if centre != "43.6535,-79.384" {
        bail!("clicking the areas map at 43.6535, -79.384 set the centre to {centre:?}");
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
    // Three clicks on the map, three corners.
    for (lat, lon) in [(43.657, -79.39), (43.66, -79.385), (43.656, -79.38)] {
        wd.execute(&click_map("area-map", lat, lon))?;
    }
    let corners = wd.execute("return document.getElementById('area-points').value;")?;
    if corners != "43.657, -79.39\n43.66, -79.385\n43.656, -79.38\n" {
        bail!("three clicks on the map gave the corners {corners:?}");
    }
    wd.screenshot(&shots.join("areas-drawing.png"))?;
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

    check_area_filter(wd, shots)?;
    check_groups(wd, shots, backend)?;

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
    check_export(wd, shots, downloads)?;
    Ok(())
}

/// Groups: start one, invite (the code is shown once), a neighbour joins with it and
/// reports through the group, and the report waits for review until it is rejected with
/// a reason.
fn check_groups(wd: &WebDriver, shots: &Path, backend: &Backend) -> Result<()> {
    wd.execute("document.getElementById('nav-groups').click(); return 'ok';")?;
    wd.wait_for(
        "the groups screen",
        "return [...document.querySelectorAll('#screen-groups p.status')] \
           .some(p => p.textContent.startsWith('You are in no group')) ? 'ok' : null;",
        Duration::from_secs(20),
    )?;
    // A code nobody issued is refused with what to do.
    wd.execute(&fill("join-code", "AAAA-BBBB-CCCC"))?;
    wd.execute("document.getElementById('join-group').click(); return 'ok';")?;
    let refused = wd.wait_for(
        "the refusal of a made-up code",
        "const n = document.querySelector('#screen-groups .card > p.note.failed'); return n ? n.textContent : null;",
        Duration::from_secs(20),
    )?;
    eprintln!("    made-up invitation code: {refused}");
    wd.execute(&fill("group-name", "Elm Street Watch"))?;
    wd.execute("document.getElementById('create-group').click(); return 'ok';")?;
    let group = wd.wait_for(
        "the new group",
        "const g = document.querySelector('.groups .item.group'); return g ? g.dataset.role + '|' + g.textContent : null;",
        Duration::from_secs(20),
    )?;
    if !group.starts_with("admin|Elm Street Watch1 memberAdmin") {
        bail!("the new group shows {group:?}");
    }
    wd.execute("document.querySelector('.groups .item button.invite').click(); return 'ok';")?;
    let code = wd.wait_for(
        "the invitation code",
        "const c = document.querySelector('.invite-code code.code'); return c ? c.textContent : null;",
        Duration::from_secs(20),
    )?;
    eprintln!("    invitation code: {code}");
    neighbour_joins_and_reports(backend.server.base_url(), &code)?;
    // The screen again: the group has two members and the report waits.
    wd.execute("document.getElementById('nav-report').click(); document.getElementById('nav-groups').click(); return 'ok';")?;
    let queued = wd.wait_for(
        "the neighbour's report in the review queue",
        "const q = document.querySelector('.queue .item.queued'); \
         const g = document.querySelector('.groups .item.group'); \
         return q && g ? g.querySelector('span').textContent + '|' + q.textContent : null;",
        Duration::from_secs(20),
    )?;
    if !queued.starts_with("2 members|Vandalism")
        || !queued.contains("Bus shelter glass smashed")
        || !queued.contains("by e2e-neighbour")
    {
        bail!("the review queue shows {queued:?}");
    }
    wd.screenshot(&shots.join("groups-queue.png"))?;
    wd.execute(
        "const i = document.querySelector('.queue .item.queued input.reason'); i.value = 'Reported to the city already'; \
         i.dispatchEvent(new Event('input', {bubbles: true})); \
         document.querySelector('.queue .item.queued button.reject').click(); return 'ok';",
    )?;
    let done = wd.wait_for(
        "the rejection",
        "const n = document.querySelector('.group-tools p.note'); \
         const e = document.querySelector('.group-tools p.status'); \
         return n && e ? n.className + '|' + n.textContent + '|' + e.textContent : null;",
        Duration::from_secs(20),
    )?;
    if done != "note done|Done: Rejected.|Nothing waiting for review." {
        bail!("rejecting the report answered {done:?}");
    }
    eprintln!("    group review: {done}");
    wd.screenshot(&shots.join("groups.png"))?;
    Ok(())
}

/// The incidents filtered to a watch area: the list and the map hold the same incidents,
/// every one inside the 800 m circle of "Home", among them the resident's own report.
fn check_area_filter(wd: &WebDriver, shots: &Path) -> Result<()> {
    wd.execute("document.getElementById('nav-incidents').click(); return 'ok';")?;
    let home = wd.wait_for(
        "the watch areas among the incidents filters",
        "const o = [...document.querySelectorAll('#filter-area option')].find(o => o.textContent === 'Home'); \
         return o ? o.value : null;",
        Duration::from_secs(20),
    )?;
    wd.execute(&fill("filter-area", &home))?;
    // Each marker's distance from the circle's centre (haversine, as the device computes
    // it), and the list's length. The map is drawn on the frame after the list, so the
    // wait is for the two to agree; if they never do, the last state is the error.
    let state = "const s = document.querySelector('#screen-incidents p.status'); \
             const m = (document.getElementById('map') || {}).vigilMap; \
             if (!s || !m) return null; \
             let markers = []; \
             m.eachLayer(l => { if (l instanceof L.MarkerClusterGroup) markers = l.getLayers(); }); \
             const r = 6371000, rad = Math.PI / 180, c = L.latLng(43.6535, -79.384); \
             const far = markers.map(k => k.getLatLng()).map(p => { \
               const a = Math.sin((p.lat - c.lat) * rad / 2) ** 2 + Math.cos(c.lat * rad) * Math.cos(p.lat * rad) * Math.sin((p.lng - c.lng) * rad / 2) ** 2; \
               return 2 * r * Math.asin(Math.sqrt(a)); }).filter(d => d > 800.5).length; \
             const items = document.querySelectorAll('.incidents .item').length; \
             const own = [...document.querySelectorAll('.incidents .item')].some(i => i.textContent.includes('Bike taken from the rack')); \
             const text = s.textContent + '|' + items + ' listed|' + markers.length + ' on the map|' + far + ' outside|' + own + '|zoom ' + m.getZoom(); \
             return";
    let found = wd
        .wait_for(
            "the incidents inside Home, on the list and the map",
            &format!(
                "{state} s.textContent !== '500 incidents' && items === markers.length ? text : null;"
            ),
            Duration::from_secs(20),
        )
        .map_err(|e| {
            let last = wd.execute(&format!("{state} text;")).unwrap_or_default();
            e.context(format!("filtered to Home, the incidents screen shows {last:?}"))
        })?;
    eprintln!("    area filter: {found}");
    let parts: Vec<&str> = found.split('|').collect();
    let listed = parts
        .get(1)
        .and_then(|p| p.split(' ').next()?.parse::<usize>().ok());
    let mapped = parts
        .get(2)
        .and_then(|p| p.split(' ').next()?.parse::<usize>().ok());
    match (listed, mapped, parts.get(3), parts.get(4)) {
        (Some(l), Some(m), Some(&"0 outside"), Some(&"true")) if l == m && l > 1 => {}
        _ => bail!(
            "filtered to Home, the incidents screen shows {found:?}; expected the list and \
             the map to agree, none outside 800 m, and the resident's own report among them"
        ),
    }
    wd.screenshot(&shots.join("incidents-home.png"))?;
    Ok(())
}

/// The incident's details from the list (the keyboard path; a marker opens the same):
/// provenance, status and the photo; Escape closes them. Then the photo on the server,
/// resized on the device.
fn check_detail(wd: &WebDriver, shots: &Path, backend: &Backend) -> Result<()> {
    wd.execute(&fill("filter-category", ""))?;
    wd.execute(
        "const b = [...document.querySelectorAll('.incidents .item button.open')] \
           .find(b => b.textContent.includes('Bike taken from the rack')); \
         if (!b) return 'none'; b.click(); return 'ok';",
    )?;
    let detail = wd.wait_for(
        "the report's details with its photo",
        "const d = document.getElementById('incident-detail'); \
         return d && d.querySelector('img.thumb') ? d.dataset.id + '|' + d.textContent : null;",
        Duration::from_secs(20),
    )?;
    let (id, shown) = detail.split_once('|').unwrap_or_default();
    eprintln!("    detail of {id}");
    for expected in [
        "Theft",
        "Unverified",
        "Resident's report",
        "Nathan Phillips Square (43.65350, -79.38400)",
        "1600 × 1067",
        "Sent",
    ] {
        if !shown.contains(expected) {
            bail!("the incident's details lack {expected:?}: {shown:?}");
        }
    }
    let focused = wd.execute("return document.activeElement && document.activeElement.id;")?;
    if focused != "close-detail" {
        bail!("opening the details left the focus on {focused:?}, not on Close");
    }
    wd.screenshot(&shots.join("incident-detail.png"))?;
    wd.execute(
        "document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true})); return 'ok';",
    )?;
    wd.wait_for(
        "Escape to close the details",
        "return document.getElementById('incident-detail') ? null : 'ok';",
        Duration::from_secs(10),
    )?;
    // A city feed's incident says which feed and which record.
    wd.execute(
        "const b = [...document.querySelectorAll('.incidents .item button.open')] \
           .find(b => b.textContent.includes('Public feed')); \
         if (!b) return 'none'; b.click(); return 'ok';",
    )?;
    let feed = wd.wait_for(
        "a feed incident's details",
        "const d = document.querySelector('#incident-detail .facts'); return d ? d.textContent : null;",
        Duration::from_secs(20),
    )?;
    if !feed.contains("Public feed: toronto-mci") || !feed.contains("Record") {
        bail!("a feed incident's details say {feed:?}");
    }
    wd.screenshot(&shots.join("incident-detail-feed.png"))?;
    wd.execute("document.getElementById('close-detail').click(); return 'ok';")?;

    // The server has the photo: a JPEG no larger than the device made it.
    let base = backend.server.base_url();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let login: Value = http
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"username": "e2e-resident", "password": "correct horse battery staple"}))
        .send()?
        .error_for_status()?
        .json()?;
    let token = login["token"]
        .as_str()
        .context("no token in the login answer")?;
    let photo = http
        .get(format!("{base}/v1/incidents/{id}/photos/1"))
        .bearer_auth(token)
        .send()?
        .error_for_status()
        .context("the reporter cannot fetch the report's photo")?;
    let kind = photo.headers()["content-type"].to_str()?.to_owned();
    let bytes = photo.bytes()?;
    let size = jpeg_size(&bytes);
    eprintln!(
        "    photo on the server: {kind}, {} KB, {size:?}",
        bytes.len().div_ceil(1000)
    );
    if kind != "image/jpeg" || size != Some((1600, 1067)) {
        bail!("the server holds a {kind} of {size:?}, expected a JPEG of 1600 × 1067");
    }
    Ok(())
}

/// Width and height from a JPEG's frame header.
fn jpeg_size(bytes: &[u8]) -> Option<(u16, u16)> {
    let mut i = 2;
    while i + 9 < bytes.len() {
        if bytes[i] != 0xFF {
            return None;
        }
        let marker = bytes[i + 1];
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        if matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF) {
            let h = u16::from_be_bytes([bytes[i + 5], bytes[i + 6]]);
            let w = u16::from_be_bytes([bytes[i + 7], bytes[i + 8]]);
            return Some((w, h));
        }
        i += 2 + len;
    }
    None
}

/// The dashboard, opened from the keyboard (Alt+4): the heat map of the view and the
/// charts of the district at its centre, from the server's stats.
fn check_dashboard(wd: &WebDriver, shots: &Path) -> Result<()> {
    wd.execute(
        "document.body.dispatchEvent(new KeyboardEvent('keydown', {key: '4', altKey: true, bubbles: true})); return 'ok';",
    )?;
    let summary = wd
        .wait_for(
            "the dashboard's heat map and charts",
            "const s = document.getElementById('heat-summary'); \
             const m = (document.getElementById('heat-map') || {}).vigilMap; let cells = 0; \
             if (m) m.eachLayer(l => { if (l.options && l.options.className === 'heat-cell') cells++; }); \
             const bars = document.querySelectorAll('.chart.months rect.bar').length; \
             const hours = [...document.querySelectorAll('.chart.hours rect.hour')] \
               .reduce((n, r) => n + Number(r.dataset.count), 0); \
             return s && cells > 0 && bars > 0 && hours > 0 \
               ? s.textContent + '|' + cells + ' cells drawn|' + bars + ' bar segments|' + hours + ' in the hour grid' : null;",
            Duration::from_secs(60),
        )
        .map_err(|e| {
            let state = wd
                .execute(
                    "const c = document.querySelector('#screen-dashboard .card'); \
                     return (c ? c.textContent.slice(0, 300) : 'no dashboard') + ' | bars ' \
                       + document.querySelectorAll('.chart.months rect.bar').length + ', hour cells ' \
                       + document.querySelectorAll('.chart.hours rect.hour').length + ', map ' \
                       + Boolean((document.getElementById('heat-map') || {}).vigilMap);",
                )
                .unwrap_or_default();
            e.context(format!("dashboard shows: {state}"))
        })?;
    eprintln!("    dashboard: {summary}");
    wd.screenshot(&shots.join("dashboard.png"))?;
    Ok(())
}

/// A place typed by name is found among the incidents on the device (the city feed's
/// neighbourhoods), and sets the report's coordinates.
fn check_place_search(wd: &WebDriver, shots: &Path) -> Result<()> {
    wd.execute("document.getElementById('nav-report').click(); return 'ok';")?;
    wd.wait_for(
        "the report screen",
        "return document.getElementById('find-place') ? 'ok' : null;",
        Duration::from_secs(20),
    )?;
    wd.execute(&fill("place", "bay street"))?;
    wd.execute("document.getElementById('find-place').click(); return 'ok';")?;
    let found = wd.wait_for(
        "the place found by name",
        "const n = document.querySelector('#where-note .note'); \
         const a = document.getElementById('lat').value, o = document.getElementById('lon').value; \
         return n && a && o ? n.textContent + '|' + a + ',' + o + '|' + document.getElementById('place').value : null;",
        Duration::from_secs(20),
    )?;
    eprintln!("    place search: {found}");
    let parts: Vec<&str> = found.split('|').collect();
    let (lat, lon) = parts
        .get(1)
        .and_then(|p| p.split_once(','))
        .and_then(|(a, o)| Some((a.parse::<f64>().ok()?, o.parse::<f64>().ok()?)))
        .context("no coordinates after finding the place")?;
    // Bay Street Corridor lies between Queen's Park and the lake.
    if !found.starts_with("Bay Street Corridor (")
        || !(43.64..43.67).contains(&lat)
        || !(-79.40..-79.37).contains(&lon)
        || parts.get(2) != Some(&"Bay Street Corridor")
    {
        bail!("finding 'bay street' answered {found:?}");
    }
    wd.screenshot(&shots.join("report-place-found.png"))?;
    Ok(())
}

/// Settings: the export of one's data lands in the Downloads folder, whole.
fn check_export(wd: &WebDriver, shots: &Path, downloads: &Path) -> Result<()> {
    wd.execute("document.getElementById('nav-settings').click(); return 'ok';")?;
    wd.wait_for(
        "the export button",
        "return document.getElementById('export') ? 'ok' : null;",
        Duration::from_secs(20),
    )?;
    wd.execute("document.getElementById('export').click(); return 'ok';")?;
    let note = wd.wait_for(
        "the export saved",
        "const n = document.querySelector('#export-note .note'); \
         return n && n.textContent !== 'Loading…' ? n.className + '|' + n.textContent : null;",
        Duration::from_secs(30),
    )?;
    let path = note
        .strip_prefix("note done|Saved to ")
        .with_context(|| format!("exporting answered {note:?}"))?;
    let path = Path::new(path);
    if path.parent() != Some(downloads) {
        bail!(
            "the export went to {}, not the Downloads folder {}",
            path.display(),
            downloads.display()
        );
    }
    let export: Value = serde_json::from_slice(&std::fs::read(path)?)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    let reports = export["reports"].as_array().map_or(0, Vec::len);
    let areas = export["watch_areas"].as_array().map_or(0, Vec::len);
    eprintln!(
        "    export: {} ({reports} reports, {areas} watch areas)",
        path.display()
    );
    if export["account"]["username"] != "e2e-resident"
        || reports != 1
        || areas != 2
        || !export.to_string().contains("Bike taken from the rack")
    {
        bail!("the export holds {export}");
    }
    wd.screenshot(&shots.join("settings-export.png"))?;
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

/// The neighbour's HTTP client and token (registering the account first when `register`).
fn neighbour(base: &str, register: bool) -> Result<(reqwest::blocking::Client, String)> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let account = json!({"username": "e2e-neighbour", "password": "correct horse battery staple"});
    if register {
        http.post(format!("{base}/v1/auth/register"))
            .json(&account)
            .send()?
            .error_for_status()
            .context("registering the neighbour")?;
    }
    let login: Value = http
        .post(format!("{base}/v1/auth/login"))
        .json(&account)
        .send()?
        .error_for_status()
        .context("the neighbour's login")?
        .json()?;
    let token = login["token"]
        .as_str()
        .context("no token in the login answer")?
        .to_owned();
    Ok((http, token))
}

/// The neighbour joins a group with `code` and reports a broken window through it.
fn neighbour_joins_and_reports(base: &str, code: &str) -> Result<()> {
    let (http, token) = neighbour(base, false)?;
    let joined: Value = http
        .post(format!("{base}/v1/groups/join"))
        .bearer_auth(&token)
        .json(&json!({"code": code}))
        .send()?
        .error_for_status()
        .context("the neighbour joining with the invitation")?
        .json()?;
    let group = joined["group"]["id"]
        .as_str()
        .context("no group in the join answer")?;
    let occurred = chrono::Utc::now() - chrono::TimeDelta::minutes(30);
    let answer: Value = http
        .post(format!("{base}/v1/sync/push"))
        .bearer_auth(&token)
        .json(&json!({"reports": [{
            "id": uuid::Uuid::now_v7().to_string(),
            "category": "vandalism",
            "occurred_at": occurred.fixed_offset().to_rfc3339(),
            "location": {"lat": 43.6540, "lon": -79.3850, "accuracy_m": 10.0},
            "description": "Bus shelter glass smashed",
            "group": group,
        }]}))
        .send()?
        .error_for_status()
        .context("the neighbour's report through the group")?
        .json()?;
    if answer["results"][0]["outcome"] != "accepted" {
        bail!("the neighbour's group report was answered {answer}");
    }
    Ok(())
}

/// Another resident registers and reports a break-in at Nathan Phillips Square, through the
/// sync API as their app would.
fn neighbour_reports(base: &str) -> Result<()> {
    let (http, token) = neighbour(base, true)?;
    let token = token.as_str();
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
