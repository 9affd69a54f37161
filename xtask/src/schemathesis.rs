//! `cargo xtask schemathesis`: property-based tests of the HTTP API from its own OpenAPI
//! document, with Schemathesis (from PyPI, in `$VIGIL_CACHE/tools/schemathesis`).
//!
//! A fresh embedded `vigil serve` (rate limits off: one address sends thousands of
//! requests) gets an account, a group and a report, so authenticated operations reach
//! their logic; then `st run` generates requests for every operation and checks that none
//! answers a 5xx and every answer matches its documented schema. Operations that end the
//! session (`logout`, `logout_all`, `delete_account`) and the WebSocket are left out.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::util::{cache_dir, display, find_executable};
use crate::vigil::{self, Profile, STARTUP_TIMEOUT, ServeConfig, Server};

/// The Schemathesis release the checks were written against.
pub const VERSION: &str = "4.32.5";
/// Operations left out: they end the token the run uses, or are not HTTP.
const EXCLUDED: [&str; 4] = ["logout", "logout_all", "delete_account", "stream"];
/// The checks: no server error, and every answer as documented.
const CHECKS: &str = "not_a_server_error,response_schema_conformance";

/// What the run found.
#[derive(Debug)]
pub struct Summary {
    pub operations: String,
    pub cases: String,
}

fn st() -> Result<PathBuf> {
    let venv = cache_dir().join("tools").join("schemathesis").join("bin");
    find_executable("st", &[venv]).with_context(|| {
        format!(
            "Schemathesis is missing: `python3 -m venv ~/.cache/vigil/tools/schemathesis && \
             ~/.cache/vigil/tools/schemathesis/bin/pip install schemathesis=={VERSION}`"
        )
    })
}

/// Runs Schemathesis against a fresh server with `max_examples` per operation and `seed`.
pub fn run(max_examples: u32, seed: Option<u64>) -> Result<Summary> {
    let st = st()?;
    let exe = vigil::build(Profile::Dev)?;
    let scratch = tempfile::tempdir()?;
    let listen = SocketAddr::from(([127, 0, 0, 1], vigil::free_port()?));
    let log = scratch.path().join("serve.log");
    let mut server = Server::spawn(&ServeConfig {
        exe: &exe,
        data_dir: &scratch.path().join("data"),
        listen,
        log_file: Some(&log),
        embedded: true,
        env: crate::bench::UNLIMITED,
    })?;
    server.wait_healthy(STARTUP_TIMEOUT)?;
    let base = server.base_url().to_owned();
    let token = prepare(&base)?;
    let mut cmd = Command::new(&st);
    cmd.arg("run")
        .arg(format!("{base}/v1/openapi.json"))
        .args(["--checks", CHECKS])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(["--max-examples", &max_examples.to_string()])
        .args(["--workers", "2"])
        .args(["--warnings", "off"])
        // Its report folder goes to the scratch directory, not the checkout.
        .current_dir(scratch.path())
        .env("NO_COLOR", "1");
    for op in EXCLUDED {
        cmd.args(["--exclude-operation-id", op]);
    }
    if let Some(seed) = seed {
        cmd.args(["--seed", &seed.to_string()]);
    }
    eprintln!("==> {}", display(&cmd).replace(&token, "<token>"));
    let out = cmd.output().context("could not run Schemathesis")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let summary_at = text.find("SUMMARY").unwrap_or(0);
    eprintln!("{}", &text[summary_at..]);
    if !out.status.success() {
        let server_log = server.log_tail(16 * 1024).unwrap_or_default();
        bail!(
            "Schemathesis found failures:\n{text}\n---- server log ----\n{server_log}\n\
             Reproduce one with the `curl` line it printed against `cargo xtask run`."
        );
    }
    let line = |key: &str| {
        text.lines()
            .skip_while(|l| !l.contains("SUMMARY"))
            .find(|l| l.trim_start().starts_with(key))
            .map(|l| l.trim().to_owned())
            .unwrap_or_default()
    };
    Ok(Summary {
        operations: line("Tested:"),
        cases: text
            .lines()
            .skip_while(|l| !l.contains("Test cases:"))
            .nth(1)
            .map(|l| l.trim().to_owned())
            .unwrap_or_default(),
    })
}

/// An account with a group and a report in it; returns the account's token.
fn prepare(base: &str) -> Result<String> {
    let http = reqwest::blocking::Client::new();
    let creds = json!({"username": "schemathesis", "password": "correct horse battery"});
    http.post(format!("{base}/v1/auth/register"))
        .json(&creds)
        .send()?
        .error_for_status()
        .context("registering the test account")?;
    let login: Value = http
        .post(format!("{base}/v1/auth/login"))
        .json(&creds)
        .send()?
        .error_for_status()
        .context("logging in")?
        .json()?;
    let token = login["token"]
        .as_str()
        .context("no token in the login answer")?
        .to_owned();
    let group: Value = http
        .post(format!("{base}/v1/groups"))
        .bearer_auth(&token)
        .json(&json!({"name": "Schemathesis Watch"}))
        .send()?
        .error_for_status()
        .context("creating a group")?
        .json()?;
    let occurred = chrono::Utc::now() - chrono::TimeDelta::minutes(30);
    http.post(format!("{base}/v1/sync/push"))
        .bearer_auth(&token)
        .json(&json!({"reports": [{
            "id": uuid::Uuid::now_v7().to_string(),
            "category": "theft",
            "occurred_at": occurred.fixed_offset().to_rfc3339(),
            "location": {"lat": 43.6532, "lon": -79.3832},
            "description": "Bike taken from the rack",
            "group": group["id"],
        }]}))
        .send()?
        .error_for_status()
        .context("pushing a report")?;
    Ok(token)
}
