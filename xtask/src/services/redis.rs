//! Redis from Debian's `redis-server` package, run by this tool (not as the packaged system
//! service) on 127.0.0.1:6379 without persistence: `--save ''`, `--appendonly no`.
//!
//! Its pid file, log and working folder are in `$VIGIL_CACHE/run/redis/`. Ready when
//! `redis-cli ping` answers PONG; stopped with `redis-cli shutdown nosave`.

use std::fs;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use super::daemon::{Daemon, ensure_ports_free, stopped_status};
use super::install::apt_install;
use super::{Service, Status};
use crate::util::{find_executable, output, run};

const PORT: u16 = 6379;
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The Redis service.
pub struct Redis;

fn daemon() -> Daemon {
    Daemon::new("redis", "redis-server")
}

fn cli() -> Command {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["-h", "127.0.0.1", "-p", &PORT.to_string()]);
    cmd
}

fn ping() -> bool {
    output(cli().arg("ping")).is_ok_and(|answer| answer.trim() == "PONG")
}

/// Where clients reach it.
pub const URL: &str = "redis://127.0.0.1:6379";

/// Empties database `db` (the tests' own; the default database 0 is left alone).
pub fn flush_db(db: u8) -> Result<()> {
    run(cli().args(["-n", &db.to_string(), "flushdb"]))
        .with_context(|| format!("cannot flush Redis database {db}"))
}

/// Reads `field:value` from `INFO` output, e.g. `redis_version`.
fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|line| line.trim_end().strip_prefix(field)?.strip_prefix(':'))
        .map(str::to_owned)
}

fn installed() -> bool {
    find_executable("redis-server", &[]).is_some() && find_executable("redis-cli", &[]).is_some()
}

impl Service for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn install(&self) -> Result<()> {
        apt_install("redis-server", &["redis-server"])?;
        apt_install("redis-cli", &["redis-tools"])
    }

    fn start(&self) -> Result<()> {
        let daemon = daemon();
        if let Some(pid) = daemon.pid() {
            eprintln!("    already running (pid {pid})");
        } else {
            ensure_ports_free("redis", &[PORT])?;
            let data = daemon.dir.join("data");
            fs::create_dir_all(&data)
                .with_context(|| format!("could not create {}", data.display()))?;
            let _ = fs::remove_file(daemon.pid_file());
            eprintln!("    starting redis-server on 127.0.0.1:{PORT}");
            run(Command::new("redis-server")
                .args(["--daemonize", "yes", "--port", &PORT.to_string()])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--pidfile")
                .arg(daemon.pid_file())
                .arg("--logfile")
                .arg(daemon.log_file())
                .arg("--dir")
                .arg(&data))
            .with_context(|| format!("see {}", daemon.log_file().display()))?;
        }
        daemon.wait_ready(None, READY_TIMEOUT, "answer PING with PONG", ping)?;
        eprintln!("    redis://127.0.0.1:{PORT}");
        Ok(())
    }

    fn check(&self) -> Result<Status> {
        if !installed() {
            return Ok(Status::Missing(
                "install with `apt-get install redis-server`".into(),
            ));
        }
        let daemon = daemon();
        let Some(pid) = daemon.pid() else {
            return Ok(stopped_status(PORT));
        };
        if !ping() {
            return Ok(Status::Stopped(format!(
                "pid {pid} runs but does not answer PING; see {}",
                daemon.log_file().display()
            )));
        }
        let version = output(cli().args(["info", "server"]))
            .ok()
            .and_then(|info| info_field(&info, "redis_version"))
            .unwrap_or_else(|| "?".into());
        Ok(Status::Running(format!(
            "redis://127.0.0.1:{PORT} (Redis {version}, pid {pid})"
        )))
    }

    fn stop(&self) -> Result<()> {
        let daemon = daemon();
        let Some(pid) = daemon.pid() else {
            return daemon.stop(STOP_GRACE);
        };
        eprintln!("    stopping pid {pid} (redis-cli shutdown nosave)");
        // Its answer does not matter: the process going away is what counts.
        let _ = output(cli().args(["shutdown", "nosave"]));
        if daemon.wait_gone(pid, STOP_GRACE) {
            let _ = fs::remove_file(daemon.pid_file());
            return Ok(());
        }
        // Still there: SIGTERM, then SIGKILL.
        daemon.stop(STOP_GRACE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_info_fields() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n";
        assert_eq!(info_field(info, "redis_version").as_deref(), Some("7.0.15"));
        assert_eq!(
            info_field(info, "redis_git_sha1").as_deref(),
            Some("00000000")
        );
        assert_eq!(info_field(info, "redis_mode"), None);
    }
}
