//! Engines run as plain background processes: the run folder, the pid file, the log file,
//! a detached start, waiting until the engine answers, and a stop by pid.
//!
//! Everything lives in `$VIGIL_CACHE/run/<service>/` (outside the clone): `<service>.pid`,
//! `<service>.log` (the process's standard output and error) and the engine's data. A pid
//! counts only while `/proc/<pid>/cmdline` still holds the engine's marker (its main class or
//! binary name), so a stale pid file reused by another process is never signalled.

use std::fs::{self, File};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::Status;
use crate::util::{cache_dir, display};

/// How many log lines an error about a failed start shows.
const LOG_TAIL_LINES: usize = 15;
/// How long a self-daemonizing engine may take to write its pid file.
const PID_FILE_GRACE: Duration = Duration::from_secs(5);

/// `$VIGIL_CACHE/run/<service>`: the service's data, logs and effective configs.
pub fn run_dir(service: &str) -> PathBuf {
    cache_dir().join("run").join(service)
}

/// `$VIGIL_CACHE/engines`: installed engines, one folder per engine and version.
pub fn engines_dir() -> PathBuf {
    cache_dir().join("engines")
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_taken(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

/// Fails with a hint to find the holder if any of `ports` is taken on loopback.
pub fn ensure_ports_free(service: &str, ports: &[u16]) -> Result<()> {
    for &port in ports {
        if port_taken(port) {
            bail!(
                "{service} cannot start: port {port} on 127.0.0.1 is taken by another process \
                 (not the {service} this tool started); find it with `ss -ltnp 'sport = :{port}'` \
                 and stop it, then re-run"
            );
        }
    }
    Ok(())
}

/// The `status` of an engine with no live pid: stopped, or its port held by another process.
pub fn stopped_status(port: u16) -> Status {
    Status::Stopped(if port_taken(port) {
        format!("port {port} is taken by a process this tool did not start")
    } else {
        "not running".to_owned()
    })
}

/// The last `lines` lines of a log file, for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(text) = fs::read_to_string(path) else {
        return format!("(no log at {})", path.display());
    };
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A process started and tracked through a pid file in the service's run folder.
pub struct Daemon {
    /// The service name: names the pid and log files.
    pub name: &'static str,
    /// Text that must appear in the process's command line for the pid to count as ours.
    pub marker: &'static str,
    /// The run folder.
    pub dir: PathBuf,
}

impl Daemon {
    pub fn new(name: &'static str, marker: &'static str) -> Self {
        Self {
            name,
            marker,
            dir: run_dir(name),
        }
    }

    pub fn pid_file(&self) -> PathBuf {
        self.dir.join(format!("{}.pid", self.name))
    }

    pub fn log_file(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.name))
    }

    /// The pid of our running engine, if the pid file names a live process with our marker.
    pub fn pid(&self) -> Option<u32> {
        let pid: u32 = fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        process_matches(pid, self.marker).then_some(pid)
    }

    /// Starts `cmd` in its own process group, detached from the terminal, with its output
    /// appended to the log file, and records its pid.
    pub fn spawn(&self, cmd: &mut Command) -> Result<Child> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("could not create {}", self.dir.display()))?;
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_file())
            .with_context(|| format!("could not open {}", self.log_file().display()))?;
        let shown = display(cmd);
        let child = cmd
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("could not start `{shown}` (is it installed?)"))?;
        fs::write(self.pid_file(), format!("{}\n", child.id()))
            .with_context(|| format!("could not write {}", self.pid_file().display()))?;
        Ok(child)
    }

    /// Polls `ready` until it answers true, failing early if the process exits and after
    /// `timeout` otherwise; both errors show the end of the log.
    pub fn wait_ready(
        &self,
        mut child: Option<&mut Child>,
        timeout: Duration,
        what: &str,
        mut ready: impl FnMut() -> bool,
    ) -> Result<()> {
        let started = Instant::now();
        loop {
            if ready() {
                return Ok(());
            }
            let exited = match child.as_deref_mut() {
                Some(child) => child.try_wait()?.map(|status| status.to_string()),
                // A self-daemonizing engine writes its pid file a moment after forking.
                None => (started.elapsed() > PID_FILE_GRACE && self.pid().is_none())
                    .then(|| "its pid file names no live process".to_owned()),
            };
            if let Some(status) = exited {
                bail!(
                    "{} stopped while starting ({status}); see {}, which ends with:\n{}",
                    self.name,
                    self.log_file().display(),
                    log_tail(&self.log_file(), LOG_TAIL_LINES)
                );
            }
            if started.elapsed() > timeout {
                bail!(
                    "{} did not {what} within {} s (it still runs; stop it with `cargo xtask \
                     services down {}`); see {}, which ends with:\n{}",
                    self.name,
                    timeout.as_secs(),
                    self.name,
                    self.log_file().display(),
                    log_tail(&self.log_file(), LOG_TAIL_LINES)
                );
            }
            thread::sleep(Duration::from_millis(500));
        }
    }

    /// Sends SIGTERM, waits up to `grace` for the process to go, then SIGKILL.
    pub fn stop(&self, grace: Duration) -> Result<()> {
        let Some(pid) = self.pid() else {
            eprintln!("    not running");
            let _ = fs::remove_file(self.pid_file());
            return Ok(());
        };
        eprintln!("    stopping pid {pid} (SIGTERM)");
        signal(pid, "TERM")?;
        if !self.wait_gone(pid, grace) {
            eprintln!(
                "    pid {pid} still runs after {} s; killing it (SIGKILL)",
                grace.as_secs()
            );
            signal(pid, "KILL")?;
            if !self.wait_gone(pid, Duration::from_secs(5)) {
                bail!("pid {pid} ({}) survived SIGKILL", self.name);
            }
        }
        let _ = fs::remove_file(self.pid_file());
        Ok(())
    }

    /// Waits up to `timeout` for `pid` to exit; tells whether it did.
    pub fn wait_gone(&self, pid: u32, timeout: Duration) -> bool {
        let started = Instant::now();
        while process_matches(pid, self.marker) {
            if started.elapsed() > timeout {
                return false;
            }
            thread::sleep(Duration::from_millis(250));
        }
        true
    }
}

/// Whether `pid` is a live (not zombie) process whose command line contains `marker`.
pub fn process_matches(pid: u32, marker: &str) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let Ok(stat) = fs::read_to_string(proc_dir.join("stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may hold spaces.
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']));
    let cmdline = fs::read(proc_dir.join("cmdline")).unwrap_or_default();
    !zombie && String::from_utf8_lossy(&cmdline).contains(marker)
}

/// Sends a signal with `kill(1)`, which needs no `unsafe` call.
fn signal(pid: u32, name: &str) -> Result<()> {
    let status = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .context("could not run `kill`")?;
    // A process that exited meanwhile is what we wanted anyway.
    if !status.success() && PathBuf::from(format!("/proc/{pid}")).exists() {
        bail!("`kill -{name} {pid}` failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_matches_its_command_line() {
        let me = std::process::id();
        assert!(process_matches(me, "xtask"));
        assert!(!process_matches(me, "no-such-marker-in-a-command-line"));
    }

    #[test]
    fn missing_log_is_described() {
        assert!(log_tail(Path::new("/nonexistent/x.log"), 3).contains("no log"));
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        fs::write(&path, "a\nb\nc\nd\n").unwrap();
        assert_eq!(log_tail(&path, 2), "c\nd");
        assert_eq!(log_tail(&path, 10), "a\nb\nc\nd");
    }
}
