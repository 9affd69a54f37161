//! Apache Kafka 4.x in KRaft mode, one node that is broker and controller, on loopback:
//! clients on 127.0.0.1:9092, the controller on 127.0.0.1:9093.
//!
//! The jars come from Maven Central through `ops/kafka/pom.xml` into
//! `$VIGIL_CACHE/engines/kafka-<version>/lib`. `ops/kafka/server.properties` and
//! `ops/kafka/log4j2.xml` are rendered into `$VIGIL_CACHE/run/kafka/`, whose `data/` holds the
//! log dirs (formatted once with `kafka.tools.StorageTool`) and `kafka.log` the broker's
//! output. Ready when the broker answers an ApiVersions request.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use super::daemon::{Daemon, ensure_ports_free, stopped_status};
use super::install::{MavenEngine, java, render_file};
use super::probe::kafka_api_versions;
use super::{Service, Status};
use crate::util::output;

const PORT: u16 = 9092;
const CONTROLLER_PORT: u16 = 9093;
/// A fixed cluster id (base64url of the 16 bytes `vigil-dev-kafka1`), so a re-format matches.
const CLUSTER_ID: &str = "dmlnaWwtZGV2LWthZmthMQ";
const HEAP: [&str; 2] = ["-Xms256m", "-Xmx512m"];
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_GRACE: Duration = Duration::from_secs(30);

/// The Kafka service.
pub struct Kafka;

const ENGINE: MavenEngine = MavenEngine {
    service: "kafka",
    version_property: "kafka.version",
};

fn daemon() -> Daemon {
    Daemon::new("kafka", "kafka.Kafka")
}

fn ready() -> bool {
    kafka_api_versions(PORT).is_ok()
}

/// A `java` command on the Kafka classpath with the run folder's log4j2 config.
fn java_command(run_dir: &Path) -> Result<Command> {
    let mut cmd = Command::new(java()?);
    cmd.args(["-cp", &ENGINE.classpath()?])
        .arg(format!(
            "-Dlog4j2.configurationFile={}",
            run_dir.join("log4j2.xml").display()
        ))
        .arg(format!(
            "-Dkafka.logs.dir={}",
            run_dir.join("logs").display()
        ));
    Ok(cmd)
}

/// Writes the effective configs and formats the storage if it never was.
fn prepare(run_dir: &Path) -> Result<()> {
    let run = run_dir.to_string_lossy();
    let props = run_dir.join("server.properties");
    render_file("kafka", "server.properties", &props, &[("RUN_DIR", &run)])?;
    render_file("kafka", "log4j2.xml", &run_dir.join("log4j2.xml"), &[])?;
    if run_dir.join("data/meta.properties").is_file() {
        return Ok(());
    }
    eprintln!(
        "    formatting the KRaft storage in {}",
        run_dir.join("data").display()
    );
    let mut format = java_command(run_dir)?;
    format
        .arg("kafka.tools.StorageTool")
        .args(["format", "--ignore-formatted", "-t", CLUSTER_ID, "-c"])
        .arg(&props);
    output(&mut format).context("could not format Kafka's KRaft storage")?;
    Ok(())
}

impl Service for Kafka {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn install(&self) -> Result<()> {
        ENGINE.install()
    }

    fn start(&self) -> Result<()> {
        let daemon = daemon();
        let what = format!("answer a Kafka ApiVersions request on 127.0.0.1:{PORT}");
        if let Some(pid) = daemon.pid() {
            eprintln!("    already running (pid {pid})");
            daemon.wait_ready(None, READY_TIMEOUT, &what, ready)?;
        } else {
            ensure_ports_free("kafka", &[PORT, CONTROLLER_PORT])?;
            fs::create_dir_all(daemon.dir.join("logs"))?;
            prepare(&daemon.dir)?;
            eprintln!(
                "    starting Kafka {} on 127.0.0.1:{PORT}; log in {}",
                ENGINE.version()?,
                daemon.log_file().display()
            );
            let mut cmd = java_command(&daemon.dir)?;
            cmd.args(HEAP)
                .args(["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"])
                .args(["-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true"])
                .arg("kafka.Kafka")
                .arg(daemon.dir.join("server.properties"));
            let mut child = daemon.spawn(&mut cmd)?;
            daemon.wait_ready(Some(&mut child), READY_TIMEOUT, &what, ready)?;
        }
        eprintln!("    bootstrap servers: 127.0.0.1:{PORT}");
        Ok(())
    }

    fn check(&self) -> Result<Status> {
        if !ENGINE.installed()? {
            return Ok(Status::Missing(format!(
                "jars not in {}; `cargo xtask services up kafka` downloads them",
                ENGINE.lib_dir()?.display()
            )));
        }
        let daemon = daemon();
        let Some(pid) = daemon.pid() else {
            return Ok(stopped_status(PORT));
        };
        Ok(match kafka_api_versions(PORT) {
            Ok(apis) => Status::Running(format!(
                "127.0.0.1:{PORT} (Kafka {}, KRaft, {apis} APIs, pid {pid})",
                ENGINE.version()?
            )),
            Err(error) => Status::Stopped(format!(
                "pid {pid} runs but 127.0.0.1:{PORT} does not answer ApiVersions ({error:#}); \
                 see {}",
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
    use crate::services::install::{ops_dir, render};

    #[test]
    fn server_properties_template_renders_into_the_run_folder() {
        let template = fs::read_to_string(ops_dir("kafka").join("server.properties")).unwrap();
        let props = render(&template, &[("RUN_DIR", "/cache/run/kafka")]).unwrap();
        let value = |key: &str| {
            props
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_owned)
        };
        assert_eq!(value("log.dirs").as_deref(), Some("/cache/run/kafka/data"));
        assert_eq!(value("process.roles").as_deref(), Some("broker,controller"));
        assert_eq!(
            value("listeners").as_deref(),
            Some("PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093")
        );
        assert_eq!(value("auto.create.topics.enable").as_deref(), Some("false"));
    }

    #[test]
    fn cluster_id_is_sixteen_bytes_of_base64url() {
        // 16 bytes encode to 22 base64 characters without padding.
        assert_eq!(CLUSTER_ID.len(), 22);
        assert!(
            CLUSTER_ID
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
}
