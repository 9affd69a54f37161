//! Building the `vigil` backend binary and running `vigil serve` as a child process.
//!
//! [`Server`] owns the child and kills it when dropped, so a task that fails half-way (or
//! panics) never leaves a server behind.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::util::{cargo, display, output, run};

/// How long `vigil serve` may take to answer `/healthz` (it runs migrations first).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);

/// Which cargo profile to build the backend with.
#[derive(Clone, Copy, Debug)]
pub enum Profile {
    Dev,
    Release,
}

/// Builds `vigil` (package `vigil-backend`) and returns the path of the executable.
pub fn build(profile: Profile) -> Result<PathBuf> {
    build_targets(profile, &["--bin", "vigil"])?;
    let exe = target_dir()?.join(profile.subdir()).join("vigil");
    if !exe.is_file() {
        bail!("cargo built vigil-backend but {} is missing", exe.display());
    }
    Ok(exe)
}

/// Builds the given targets (`--bin vigil`, `--example bench-batch`, ...) so that they
/// share the dependencies `cargo xtask test` built. A narrower build (`-p vigil-backend`,
/// or one example alone) resolves other features for the shared dependencies and builds a
/// second copy of DataFusion and the drivers: half an hour on two cores and gigabytes of
/// disk. In the dev profile that means building every target of the workspace, which is
/// quick when the tests are built already; a release build has no such twin to share.
pub fn build_targets(profile: Profile, targets: &[&str]) -> Result<()> {
    let mut cmd = cargo();
    cmd.args(["build", "--workspace"]);
    match profile {
        Profile::Dev => cmd.arg("--all-targets"),
        Profile::Release => cmd.arg("--release").args(targets),
    };
    run(&mut cmd).context("could not build the backend")?;
    Ok(())
}

impl Profile {
    /// The directory under the target dir that holds this profile's output.
    pub fn subdir(self) -> &'static str {
        match self {
            Profile::Dev => "debug",
            Profile::Release => "release",
        }
    }
}

/// The target directory cargo uses here (honours CARGO_TARGET_DIR and `.cargo/config.toml`).
pub fn target_dir() -> Result<PathBuf> {
    let json = output(cargo().args(["metadata", "--format-version", "1", "--no-deps"]))?;
    let metadata: serde_json::Value =
        serde_json::from_str(&json).context("`cargo metadata` printed something not JSON")?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("`cargo metadata` has no target_directory")
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> Result<u16> {
    // The listener is closed before vigil binds the port; another program could take it in
    // between, which is unlikely enough for a developer tool and fails loudly if it happens.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("could not bind a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// The address to reach a server listening on `listen` (a wildcard means loopback).
pub fn client_addr(listen: SocketAddr) -> SocketAddr {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// Fails if something already accepts connections on `addr`.
pub fn ensure_free(listen: SocketAddr) -> Result<()> {
    let addr = client_addr(listen);
    if TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok() {
        bail!(
            "{addr} is already in use (another `vigil serve`?); stop it or pass another --listen"
        );
    }
    Ok(())
}

/// How to start `vigil serve`.
#[derive(Debug)]
pub struct ServeConfig<'a> {
    pub exe: &'a Path,
    pub data_dir: &'a Path,
    pub listen: SocketAddr,
    /// Send the server's output here instead of the terminal.
    pub log_file: Option<&'a Path>,
    /// Force the embedded engines even if the caller's environment selects PostgreSQL.
    pub embedded: bool,
    /// Extra environment for the server (`VIGIL_*` settings).
    pub env: &'a [(&'a str, &'a str)],
}

/// A running `vigil serve`, killed on drop.
#[derive(Debug)]
pub struct Server {
    child: Child,
    base_url: String,
    log_file: Option<PathBuf>,
}

impl Server {
    /// Spawns `vigil serve` without waiting for it to be ready.
    pub fn spawn(config: &ServeConfig<'_>) -> Result<Self> {
        let mut cmd = Command::new(config.exe);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(config.data_dir)
            .arg("--listen")
            .arg(config.listen.to_string())
            .stdin(Stdio::null());
        if config.embedded {
            cmd.env_remove("VIGIL_DATABASE__URL");
        }
        cmd.envs(config.env.iter().copied());
        if let Some(path) = config.log_file {
            let log = File::create(path)
                .with_context(|| format!("could not create {}", path.display()))?;
            cmd.stdout(log.try_clone()?).stderr(log);
        }
        let shown = display(&cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("could not start `{shown}`"))?;
        Ok(Self {
            child,
            base_url: format!("http://{}", client_addr(config.listen)),
            log_file: config.log_file.map(Path::to_path_buf),
        })
    }

    /// `http://host:port`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Polls `GET /healthz` until it answers 200, the child exits, or `timeout` passes.
    pub fn wait_healthy(&mut self, timeout: Duration) -> Result<()> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let url = format!("{}/healthz", self.base_url);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "`vigil serve` exited before it was ready ({status}){}",
                    self.log_hint()
                );
            }
            if client
                .get(&url)
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            if started.elapsed() > timeout {
                bail!(
                    "`vigil serve` did not answer {url} within {} s{}",
                    timeout.as_secs(),
                    self.log_hint()
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits for the server to exit by itself.
    pub fn wait(mut self) -> Result<ExitStatus> {
        Ok(self.child.wait()?)
    }

    /// The server's exit status if it has exited.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// The last `max_bytes` of the server's log, when it logs to a file.
    pub fn log_tail(&self, max_bytes: u64) -> Option<String> {
        let mut file = File::open(self.log_file.as_ref()?).ok()?;
        let len = file.metadata().ok()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(max_bytes)))
            .ok()?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn log_hint(&self) -> String {
        match self.log_tail(4000) {
            Some(tail) if !tail.trim().is_empty() => {
                format!("; the end of its log:\n{}", tail.trim_end())
            }
            _ => String::new(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Killing an already exited child fails harmlessly; wait reaps it either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_addresses_are_reached_on_loopback() {
        let v4: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(client_addr(v4).to_string(), "127.0.0.1:8080");
        let v6: SocketAddr = "[::]:8080".parse().unwrap();
        assert_eq!(client_addr(v6).to_string(), "[::1]:8080");
        let fixed: SocketAddr = "127.0.0.2:9000".parse().unwrap();
        assert_eq!(client_addr(fixed), fixed);
    }

    #[test]
    fn free_port_is_bindable() {
        let port = free_port().unwrap();
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok());
    }
}
