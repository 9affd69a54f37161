//! The session token in a real OS keyring: a private D-Bus session bus with GNOME Keyring's
//! Secret Service on it (Debian `gnome-keyring`, which `.ci/run` installs), driven through
//! the `vigil-client` binary. Without a keyring the token falls back to a private file.

mod common;

use std::{
    ffi::OsString,
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use common::backend;

/// A D-Bus session bus and a GNOME Keyring daemon with an unlocked login keyring, in a
/// throw-away home; both stop when this value is dropped.
struct Keyring {
    bus: Child,
    daemon: Child,
    address: String,
    home: tempfile::TempDir,
}

impl Drop for Keyring {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

fn tool(name: &str) -> Command {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|d| d.join(name).is_file());
    assert!(
        found,
        "{name} is not installed: install the Debian packages dbus, gnome-keyring and \
         libsecret-tools (`.ci/run` does)"
    );
    Command::new(name)
}

impl Keyring {
    /// Starts a bus and GNOME Keyring on it. Now and then the daemon never creates the
    /// login collection (no path `/org/freedesktop/secrets/collection/login`); a fresh
    /// bus and daemon then come up, so up to three attempts are made.
    fn start() -> Keyring {
        let mut errors = Vec::new();
        for _ in 0..3 {
            match Keyring::try_start() {
                Ok(keyring) => return keyring,
                Err(e) => errors.push(e),
            }
        }
        panic!("GNOME Keyring did not come up in 3 attempts: {errors:?}");
    }

    fn try_start() -> Result<Keyring, String> {
        let home = tempfile::tempdir().unwrap();
        let runtime = home.path().join("run");
        std::fs::create_dir_all(&runtime).unwrap();
        let mut bus = tool("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut address = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_owned();
        assert!(address.starts_with("unix:"), "bus address {address:?}");
        let mut daemon = tool("gnome-keyring-daemon")
            .args(["--foreground", "--components=secrets", "--unlock"])
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The login keyring's password, then end of input.
        daemon
            .stdin
            .take()
            .unwrap()
            .write_all(b"test password")
            .unwrap();
        let keyring = Keyring {
            bus,
            daemon,
            address,
            home,
        };
        // Ready once a secret can be stored in the default collection (the daemon answers
        // searches before it has created and unlocked the login keyring, and a store
        // made then fails with "no result found").
        let deadline = Instant::now() + Duration::from_secs(8);
        loop {
            let out = keyring.store_probe();
            if out.status.success() {
                keyring.secret_tool(&["clear", "service", "probe"]);
                return Ok(keyring);
            }
            if Instant::now() > deadline {
                return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The environment that points a program at this keyring.
    fn vars(&self) -> Vars {
        vec![
            ("DBUS_SESSION_BUS_ADDRESS", self.address.clone().into()),
            ("HOME", self.home.path().into()),
            ("XDG_RUNTIME_DIR", self.home.path().join("run").into()),
        ]
    }

    fn secret_tool(&self, args: &[&str]) -> Output {
        tool("secret-tool")
            .envs(self.vars())
            .args(args)
            .output()
            .unwrap()
    }

    /// `secret-tool store` of a throwaway secret (service `probe`).
    fn store_probe(&self) -> Output {
        let mut child = tool("secret-tool")
            .envs(self.vars())
            .args(["store", "--label=probe", "service", "probe"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"probe").unwrap();
        child.wait_with_output().unwrap()
    }

    /// The Vigil secrets in the keyring, as `secret-tool search` prints them.
    fn vigil_secrets(&self) -> Vec<String> {
        let out = self.secret_tool(&["search", "--all", "--unlock", "service", "vigil"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&out.stderr).lines())
            .filter(|l| l.starts_with("secret = "))
            .map(|l| l.trim_start_matches("secret = ").to_owned())
            .collect()
    }
}

/// Environment variables for a child process.
type Vars = Vec<(&'static str, OsString)>;

fn client(dir: &Path, args: &[&str], vars: &Vars) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil-client"));
    cmd.arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("VIGIL_PASSWORD", "correct horse battery")
        .env_remove("VIGIL_CLIENT_KEYRING")
        .envs(vars.iter().cloned());
    cmd
}

/// Signs `user` in (registering first) through the CLI; returns what it printed.
async fn login(dir: &Path, url: &str, user: &str, vars: &Vars) -> String {
    let cmd = client(
        dir,
        &["login", "--server", url, "--username", user, "--register"],
        vars,
    );
    tokio::task::spawn_blocking(move || ok(cmd)).await.unwrap()
}

fn ok(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn session_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("session.json")).unwrap()).unwrap()
}

/// Drafts, submits and syncs one report through the CLI (only works with a good token);
/// returns what `sync` printed.
async fn report_and_sync(dir: &Path, vars: &Vars) -> String {
    let steps = [
        client(
            dir,
            &[
                "draft",
                "new",
                "--category",
                "theft",
                "--lat",
                "43.65",
                "--lon",
                "-79.38",
                "--description",
                "Bike taken",
            ],
            vars,
        ),
        client(dir, &["submit", "--all"], vars),
        client(dir, &["sync", "--attempts", "1"], vars),
    ];
    tokio::task::spawn_blocking(move || steps.into_iter().map(ok).last().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_lives_in_the_os_keyring_and_leaves_with_logout() {
    let b = backend().await;
    let keyring = Keyring::start();
    let vars = keyring.vars();
    let dir = tempfile::tempdir().unwrap();

    let said = login(dir.path(), &b.url, "alice", &vars).await;
    assert!(said.contains("token kept in the OS keyring"), "{said}");

    // The file names the entry and holds no secret; the keyring holds exactly one.
    let file = session_json(dir.path());
    assert!(file.get("token").is_none(), "{file}");
    assert!(file["keyring"].as_str().unwrap().starts_with("alice@"));
    let secrets = keyring.vigil_secrets();
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    let text = std::fs::read_to_string(dir.path().join("session.json")).unwrap();
    assert!(!text.contains(&secrets[0]));

    // The token from the keyring works: a sync delivers a report.
    let said = report_and_sync(dir.path(), &vars).await;
    assert!(said.starts_with("sent 1,"), "{said}");
    let stored =
        b.db.query_incidents(
            &vigil_backend::db::UserId::new(),
            &vigil_backend::db::IncidentFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);

    // Signing out removes the secret and the file.
    ok(client(dir.path(), &["logout"], &vars));
    assert!(keyring.vigil_secrets().is_empty());
    assert!(!dir.path().join("session.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_keyring_the_token_is_a_file_only_the_user_can_read() {
    let b = backend().await;
    let dir = tempfile::tempdir().unwrap();
    // A bus address where nothing listens: no keyring can answer.
    let nowhere = format!("unix:path={}", dir.path().join("no-bus").display());
    let vars: Vars = vec![("DBUS_SESSION_BUS_ADDRESS", nowhere.into())];
    let said = login(dir.path(), &b.url, "bob", &vars).await;
    assert!(said.contains("readable by you alone"), "{said}");
    assert!(said.contains("no OS keyring answered"), "{said}");
    let file = session_json(dir.path());
    assert!(file["token"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(file.get("keyring").is_none());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("session.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let said = report_and_sync(dir.path(), &vars).await;
    assert!(said.starts_with("sent 1,"), "{said}");
}
