//! S3 on loopback: Garage, one node, S3 API on 127.0.0.1:3900 (region `garage`, path-style),
//! RPC on 3901, admin API on 3903.
//!
//! Garage is built once with `cargo install garage --locked` into `$VIGIL_CACHE/tools/bin`
//! (about 8 minutes and 1.4 GB of memory on two cores). `ops/garage/garage.toml` is rendered
//! into `$VIGIL_CACHE/run/garage/`, which holds the metadata, data and `garage.log`. The
//! server runs with `--single-node --default-bucket`, so Garage itself idempotently assigns
//! the one-node layout, imports the fixed key [`KEY_ID`] and makes the bucket [`BUCKET`]
//! with read, write and owner rights. Ready when `garage json-api` shows the node with a role
//! and the bucket with that key. The endpoint and key are written to
//! `$VIGIL_CACHE/run/garage/credentials.env`.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::daemon::{Daemon, ensure_ports_free, port_taken, stopped_status};
use super::install::render_file;
use super::{Service, Status};
use crate::util::{cache_dir, cargo, output, run};

const VERSION: &str = "2.5.0";
const S3_PORT: u16 = 3900;
const RPC_PORT: u16 = 3901;
const ADMIN_PORT: u16 = 3903;
const REGION: &str = "garage";
const BUCKET: &str = "vigil-lake";
/// A fixed development key (`GK` and 12 bytes in hex), so tests can know it in advance.
const KEY_ID: &str = "GK766967696c2d6465762d6b31";
const SECRET: &str = "766967696c2d6465762d73332d7365637265742d6c6f6f706261636b2d303031";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(20);

/// The Garage (S3) service.
pub struct Garage;

fn daemon() -> Daemon {
    // The config path is in the server's command line, so no other garage matches.
    Daemon::new("garage", "run/garage/garage.toml")
}

fn config() -> PathBuf {
    daemon().dir.join("garage.toml")
}

/// The installed binary: ours in `$VIGIL_CACHE/tools/bin` (the pinned version).
fn binary() -> PathBuf {
    cache_dir().join("tools/bin/garage")
}

fn cli() -> Command {
    let mut cmd = Command::new(binary());
    cmd.arg("-c").arg(config());
    cmd
}

/// Calls the admin API through `garage json-api` (over RPC, with the config's secret).
/// Requests without fields (e.g. `GetClusterStatus`) take no payload.
fn json_api(endpoint: &str, payload: Option<&Value>) -> Result<Value> {
    let mut cmd = cli();
    cmd.args(["json-api", endpoint]);
    if let Some(payload) = payload {
        cmd.arg(payload.to_string());
    }
    let text = output(&mut cmd)?;
    serde_json::from_str(&text).with_context(|| format!("{endpoint} answered non-JSON: {text}"))
}

/// Our node in a `GetClusterStatus` answer: its id if it is up and holds a storage role.
fn node_with_role(status: &Value) -> Option<String> {
    status["nodes"].as_array()?.iter().find_map(|node| {
        let ours = node["addr"].as_str() == Some(&format!("127.0.0.1:{RPC_PORT}"));
        let ready = node["isUp"].as_bool() == Some(true) && node["role"].is_object();
        (ours && ready).then(|| node["id"].as_str().unwrap_or("?").to_owned())
    })
}

/// Whether a `GetBucketInfo` answer grants `key_id` read, write and owner rights.
fn key_has_full_rights(bucket: &Value, key_id: &str) -> bool {
    bucket["keys"].as_array().is_some_and(|keys| {
        keys.iter().any(|key| {
            let perms = &key["permissions"];
            key["accessKeyId"].as_str() == Some(key_id)
                && ["read", "write", "owner"]
                    .iter()
                    .all(|p| perms[*p].as_bool() == Some(true))
        })
    })
}

/// Checks that the node has its role and the bucket its key; says what is missing.
fn provisioned() -> Result<String> {
    let status = json_api("GetClusterStatus", None)?;
    let Some(node) = node_with_role(&status) else {
        bail!("node 127.0.0.1:{RPC_PORT} has no role in the layout yet");
    };
    let bucket = json_api("GetBucketInfo", Some(&json!({ "globalAlias": BUCKET })))?;
    if !key_has_full_rights(&bucket, KEY_ID) {
        bail!("bucket {BUCKET} does not grant key {KEY_ID} read, write and owner");
    }
    Ok(node)
}

/// The `credentials.env` text: shell-sourceable, for tests and S3 clients.
fn credentials_env() -> String {
    let endpoint = format!("http://127.0.0.1:{S3_PORT}");
    format!(
        "# Garage S3 on loopback (path-style addressing), written by `cargo xtask services up`.\n\
         VIGIL_TEST_S3_ENDPOINT={endpoint}\n\
         VIGIL_TEST_S3_REGION={REGION}\n\
         VIGIL_TEST_S3_BUCKET={BUCKET}\n\
         VIGIL_TEST_S3_ACCESS_KEY_ID={KEY_ID}\n\
         VIGIL_TEST_S3_SECRET_ACCESS_KEY={SECRET}\n\
         AWS_ENDPOINT_URL={endpoint}\n\
         AWS_REGION={REGION}\n\
         AWS_DEFAULT_REGION={REGION}\n\
         AWS_ACCESS_KEY_ID={KEY_ID}\n\
         AWS_SECRET_ACCESS_KEY={SECRET}\n"
    )
}

/// The variables the tests find Garage by (`VIGIL_TEST_S3_*`).
pub fn test_env() -> Vec<(&'static str, String)> {
    vec![
        (
            "VIGIL_TEST_S3_ENDPOINT",
            format!("http://127.0.0.1:{S3_PORT}"),
        ),
        ("VIGIL_TEST_S3_REGION", REGION.to_owned()),
        ("VIGIL_TEST_S3_BUCKET", BUCKET.to_owned()),
        ("VIGIL_TEST_S3_ACCESS_KEY_ID", KEY_ID.to_owned()),
        ("VIGIL_TEST_S3_SECRET_ACCESS_KEY", SECRET.to_owned()),
    ]
}

fn credentials_file() -> PathBuf {
    daemon().dir.join("credentials.env")
}

impl Service for Garage {
    fn name(&self) -> &'static str {
        "garage"
    }

    fn install(&self) -> Result<()> {
        if binary().is_file() {
            return Ok(());
        }
        let root = cache_dir().join("tools");
        fs::create_dir_all(&root)?;
        eprintln!(
            "    building garage {VERSION} with `cargo install` into {} \
             (about 8 minutes and 1.4 GB of memory on two cores)",
            root.display()
        );
        run(cargo()
            .args(["install", "garage", "--locked"])
            .args(["--version", VERSION, "--root"])
            .arg(&root)
            // A temporary target dir, so the build does not bloat the project's.
            .env_remove("CARGO_TARGET_DIR")
            .current_dir(&root))
        .context(
            "could not build Garage; the error above says why (crates.io unreachable, a C \
             compiler missing: `apt-get install build-essential`, or out of memory)",
        )
    }

    fn start(&self) -> Result<()> {
        let daemon = daemon();
        let what = "assign its layout and create the bucket and key";
        let mut last_error = String::new();
        let mut ready = || match provisioned() {
            Ok(_) => port_taken(S3_PORT),
            Err(error) => {
                last_error = format!("{error:#}");
                false
            }
        };
        let waited = if let Some(pid) = daemon.pid() {
            eprintln!("    already running (pid {pid})");
            daemon.wait_ready(None, READY_TIMEOUT, what, &mut ready)
        } else {
            ensure_ports_free("garage", &[S3_PORT, RPC_PORT, ADMIN_PORT])?;
            let run_dir = daemon.dir.to_string_lossy().into_owned();
            render_file("garage", "garage.toml", &config(), &[("RUN_DIR", &run_dir)])?;
            eprintln!(
                "    starting garage on 127.0.0.1:{S3_PORT}; log in {}",
                daemon.log_file().display()
            );
            let mut cmd = cli();
            cmd.args(["server", "--single-node", "--default-bucket"])
                .env("GARAGE_DEFAULT_ACCESS_KEY", KEY_ID)
                .env("GARAGE_DEFAULT_SECRET_KEY", SECRET)
                .env("GARAGE_DEFAULT_BUCKET", BUCKET)
                // Without garage_net's line per CLI connection, and without colours.
                .env("RUST_LOG", "garage=info,garage_net=warn,warn")
                .env("NO_COLOR", "1");
            let mut child = daemon.spawn(&mut cmd)?;
            daemon.wait_ready(Some(&mut child), READY_TIMEOUT, what, &mut ready)
        };
        if let Err(error) = waited {
            if last_error.is_empty() {
                return Err(error);
            }
            bail!("{error:#}\nthe last check said: {last_error}");
        }
        fs::write(credentials_file(), credentials_env())
            .with_context(|| format!("could not write {}", credentials_file().display()))?;
        eprintln!(
            "    S3 http://127.0.0.1:{S3_PORT}, region {REGION}, bucket {BUCKET}, key {KEY_ID}; \
             source {}",
            credentials_file().display()
        );
        Ok(())
    }

    fn check(&self) -> Result<Status> {
        if !binary().is_file() {
            return Ok(Status::Missing(format!(
                "no {}; `cargo xtask services up garage` builds it",
                binary().display()
            )));
        }
        let daemon = daemon();
        let Some(pid) = daemon.pid() else {
            return Ok(stopped_status(S3_PORT));
        };
        Ok(match provisioned() {
            Ok(node) => Status::Running(format!(
                "http://127.0.0.1:{S3_PORT} (Garage {VERSION}, node {node:.16}, pid {pid})\n{0:20}\
                 region {REGION}, bucket {BUCKET}, key id {KEY_ID}, secret {SECRET}\n{0:20}\
                 (as env: {1})",
                "",
                credentials_file().display()
            )),
            Err(error) => Status::Stopped(format!(
                "pid {pid} runs but is not ready: {error:#}; see {}",
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
    fn finds_our_node_only_once_it_has_a_role() {
        let mut status = json!({ "nodes": [
            { "id": "aa", "addr": "10.0.0.2:3901", "isUp": true, "role": { "zone": "dc1" } },
            { "id": "563e1ac825ee3323ff", "addr": "127.0.0.1:3901", "isUp": true, "role": null },
        ]});
        assert_eq!(node_with_role(&status), None);
        status["nodes"][1]["role"] = json!({ "zone": "dc1", "capacity": 1_000_000_000 });
        assert_eq!(
            node_with_role(&status).as_deref(),
            Some("563e1ac825ee3323ff")
        );
        status["nodes"][1]["isUp"] = json!(false);
        assert_eq!(node_with_role(&status), None);
    }

    #[test]
    fn bucket_must_grant_every_right_to_our_key() {
        let grant = |read, write, owner| {
            json!({ "keys": [{ "accessKeyId": KEY_ID, "name": "default access key",
                "permissions": { "read": read, "write": write, "owner": owner } }] })
        };
        assert!(key_has_full_rights(&grant(true, true, true), KEY_ID));
        assert!(!key_has_full_rights(&grant(true, true, false), KEY_ID));
        assert!(!key_has_full_rights(&grant(true, true, true), "GKother"));
        assert!(!key_has_full_rights(&json!({}), KEY_ID));
    }

    #[test]
    fn fixed_key_has_garage_shapes() {
        let hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
        assert!(KEY_ID.starts_with("GK") && KEY_ID.len() == 26 && hex(&KEY_ID[2..]));
        assert!(SECRET.len() == 64 && hex(SECRET));
    }

    #[test]
    fn credentials_env_names_endpoint_bucket_and_key() {
        let text = credentials_env();
        for line in [
            "VIGIL_TEST_S3_ENDPOINT=http://127.0.0.1:3900",
            "VIGIL_TEST_S3_REGION=garage",
            "VIGIL_TEST_S3_BUCKET=vigil-lake",
            // The AWS CLI v1 reads only this one; a wrong region gets 400 from Garage.
            "AWS_DEFAULT_REGION=garage",
            &format!("AWS_ACCESS_KEY_ID={KEY_ID}"),
            &format!("AWS_SECRET_ACCESS_KEY={SECRET}"),
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}`");
        }
    }

    #[test]
    fn garage_toml_template_renders_into_the_run_folder() {
        let template = fs::read_to_string(ops_dir("garage").join("garage.toml")).unwrap();
        let toml = render(&template, &[("RUN_DIR", "/cache/run/garage")]).unwrap();
        assert!(toml.contains("metadata_dir = \"/cache/run/garage/meta\""));
        assert!(toml.contains("data_dir = \"/cache/run/garage/data\""));
        assert!(toml.contains("api_bind_addr = \"127.0.0.1:3900\""));
        assert!(toml.contains("replication_factor = 1"));
    }
}
