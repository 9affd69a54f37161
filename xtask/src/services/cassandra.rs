//! Apache Cassandra 5.0, one node on loopback: CQL on 127.0.0.1:9042, storage port 7000,
//! cluster `vigil-dev`, no authentication.
//!
//! The jars come from Maven Central through `ops/cassandra/pom.xml` into
//! `$VIGIL_CACHE/engines/cassandra-<version>/lib`. `ops/cassandra/cassandra.yaml` and
//! `logback.xml` are rendered into `$VIGIL_CACHE/run/cassandra/`, which also holds the data,
//! commit log, caches and hints and `cassandra.log`. The JVM flags come from
//! `ops/cassandra/jvm17.options`. Ready when 9042 answers a CQL OPTIONS frame with SUPPORTED,
//! which takes a minute or more on two cores.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use super::daemon::{Daemon, ensure_ports_free, stopped_status};
use super::install::{MavenEngine, java, ops_dir, render_file};
use super::probe::cql_options;
use super::{Service, Status};

const CQL_PORT: u16 = 9042;
const STORAGE_PORT: u16 = 7000;
const HEAP: [&str; 2] = ["-Xms1G", "-Xmx1G"];
const READY_TIMEOUT: Duration = Duration::from_secs(180);
const STOP_GRACE: Duration = Duration::from_secs(60);

/// The Cassandra service.
pub struct Cassandra;

const ENGINE: MavenEngine = MavenEngine {
    service: "cassandra",
    version_property: "cassandra.version",
};

fn daemon() -> Daemon {
    Daemon::new("cassandra", "org.apache.cassandra.service.CassandraDaemon")
}

fn ready() -> bool {
    cql_options(CQL_PORT).is_ok()
}

/// The flags of a JVM options file: one per line, `#` comments and blank lines skipped.
fn parse_jvm_options(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Writes the effective configs into the run folder and returns the `java` command.
fn command(run_dir: &Path) -> Result<Command> {
    let run = run_dir.to_string_lossy();
    let yaml = run_dir.join("cassandra.yaml");
    let logback = run_dir.join("logback.xml");
    render_file("cassandra", "cassandra.yaml", &yaml, &[("RUN_DIR", &run)])?;
    render_file("cassandra", "logback.xml", &logback, &[])?;
    let options_file = ops_dir("cassandra").join("jvm17.options");
    let options = fs::read_to_string(&options_file)
        .with_context(|| format!("could not read {}", options_file.display()))?;

    let mut cmd = Command::new(java()?);
    cmd.args(parse_jvm_options(&options))
        .args(HEAP)
        .arg(format!("-Dcassandra.config=file://{}", yaml.display()))
        .arg(format!("-Dcassandra.storagedir={run}"))
        .arg(format!(
            "-Dcassandra.logdir={}",
            run_dir.join("logs").display()
        ))
        .arg(format!(
            "-Dcassandra.triggers_dir={}",
            run_dir.join("triggers").display()
        ))
        .arg("-Dcassandra-foreground=yes")
        .arg(format!("-Dlogback.configurationFile={}", logback.display()))
        .args(["-cp", &ENGINE.classpath()?])
        .arg("org.apache.cassandra.service.CassandraDaemon");
    Ok(cmd)
}

/// The CQL version a SUPPORTED answer names.
fn cql_version(supported: &[(String, Vec<String>)]) -> String {
    supported
        .iter()
        .find(|(key, _)| key == "CQL_VERSION")
        .and_then(|(_, values)| values.first().cloned())
        .unwrap_or_else(|| "?".into())
}

impl Service for Cassandra {
    fn name(&self) -> &'static str {
        "cassandra"
    }

    fn install(&self) -> Result<()> {
        ENGINE.install()
    }

    fn start(&self) -> Result<()> {
        let daemon = daemon();
        let what = format!("answer a CQL OPTIONS frame on 127.0.0.1:{CQL_PORT}");
        if let Some(pid) = daemon.pid() {
            eprintln!("    already running (pid {pid})");
            daemon.wait_ready(None, READY_TIMEOUT, &what, ready)?;
        } else {
            ensure_ports_free("cassandra", &[CQL_PORT, STORAGE_PORT])?;
            for dir in ["logs", "triggers"] {
                fs::create_dir_all(daemon.dir.join(dir))?;
            }
            let mut cmd = command(&daemon.dir)?;
            eprintln!(
                "    starting Cassandra {} on 127.0.0.1:{CQL_PORT} (a minute or more); log in {}",
                ENGINE.version()?,
                daemon.log_file().display()
            );
            let mut child = daemon.spawn(&mut cmd)?;
            daemon.wait_ready(Some(&mut child), READY_TIMEOUT, &what, ready)?;
        }
        eprintln!("    CQL contact point: 127.0.0.1:{CQL_PORT} (datacenter datacenter1)");
        Ok(())
    }

    fn check(&self) -> Result<Status> {
        if !ENGINE.installed()? {
            return Ok(Status::Missing(format!(
                "jars not in {}; `cargo xtask services up cassandra` downloads them",
                ENGINE.lib_dir()?.display()
            )));
        }
        let daemon = daemon();
        let Some(pid) = daemon.pid() else {
            return Ok(stopped_status(CQL_PORT));
        };
        Ok(match cql_options(CQL_PORT) {
            Ok(supported) => Status::Running(format!(
                "127.0.0.1:{CQL_PORT} (Cassandra {}, CQL {}, pid {pid})",
                ENGINE.version()?,
                cql_version(&supported)
            )),
            Err(error) => Status::Stopped(format!(
                "pid {pid} runs but 127.0.0.1:{CQL_PORT} does not answer CQL ({error:#}); \
                 it may still be starting; see {}",
                daemon.log_file().display()
            )),
        })
    }

    fn stop(&self) -> Result<()> {
        daemon().stop(STOP_GRACE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::install::render;

    #[test]
    fn jvm_options_skip_comments_and_blank_lines() {
        let text = "# GC\n-XX:+UseG1GC\n\n  # indented comment\n  --add-opens=java.base/java.io=ALL-UNNAMED  \n";
        assert_eq!(
            parse_jvm_options(text),
            ["-XX:+UseG1GC", "--add-opens=java.base/java.io=ALL-UNNAMED"]
        );
    }

    #[test]
    fn shipped_jvm_options_hold_the_jpms_flags_and_no_heap() {
        let text = fs::read_to_string(ops_dir("cassandra").join("jvm17.options")).unwrap();
        let options = parse_jvm_options(&text);
        assert!(
            options
                .iter()
                .any(|o| o.starts_with("--add-opens=java.base/"))
        );
        assert!(options.iter().any(|o| o.starts_with("--add-exports=")));
        // The heap is set in one place only: HEAP above.
        assert!(!options.iter().any(|o| o.starts_with("-Xm")));
    }

    #[test]
    fn cassandra_yaml_template_renders_every_directory_into_the_run_folder() {
        let template = fs::read_to_string(ops_dir("cassandra").join("cassandra.yaml")).unwrap();
        let yaml = render(&template, &[("RUN_DIR", "/cache/run/cassandra")]).unwrap();
        for line in [
            "  - /cache/run/cassandra/data",
            "commitlog_directory: /cache/run/cassandra/commitlog",
            "saved_caches_directory: /cache/run/cassandra/saved_caches",
            "hints_directory: /cache/run/cassandra/hints",
            "cluster_name: vigil-dev",
            "native_transport_port: 9042",
            "num_tokens: 16",
        ] {
            assert!(yaml.lines().any(|l| l == line), "missing `{line}`");
        }
    }

    #[test]
    fn reads_the_cql_version_from_supported() {
        let supported = vec![
            ("COMPRESSION".to_owned(), vec!["lz4".to_owned()]),
            ("CQL_VERSION".to_owned(), vec!["3.4.7".to_owned()]),
        ];
        assert_eq!(cql_version(&supported), "3.4.7");
        assert_eq!(cql_version(&[]), "?");
    }
}
