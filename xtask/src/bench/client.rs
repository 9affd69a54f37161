//! The HTTP side of `bench push`: log in, send the batches, check every answer.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::json;

use super::stats::RunStats;
use super::workload::Batch;

/// A client for loopback requests; generous timeout since a batch of 500 may be slow in dev.
pub fn client() -> Result<Client> {
    Ok(Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?)
}

/// Registers a user and logs in; returns the bearer token.
pub fn login(client: &Client, base: &str) -> Result<String> {
    let credentials = json!({ "username": "bench", "password": "bench-password-1234" });
    let response = client
        .post(format!("{base}/v1/auth/register"))
        .json(&credentials)
        .send()?;
    expect_status(response, StatusCode::CREATED, "POST /v1/auth/register")?;

    #[derive(Deserialize)]
    struct Login {
        token: String,
    }
    let response = client
        .post(format!("{base}/v1/auth/login"))
        .json(&credentials)
        .send()?;
    let login: Login = expect_status(response, StatusCode::OK, "POST /v1/auth/login")?
        .json()
        .context("POST /v1/auth/login answered without a token")?;
    Ok(login.token)
}

/// The per-report answer of `POST /v1/sync/push`.
#[derive(Debug, Deserialize)]
struct PushResult {
    id: String,
    outcome: String,
    #[serde(default)]
    field: Option<serde_json::Value>,
    #[serde(default)]
    reason: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct PushResponse {
    results: Vec<PushResult>,
}

pub fn push_all(
    client: &Client,
    base: &str,
    token: &str,
    batches: &[Batch],
    reports: usize,
) -> Result<RunStats> {
    let url = format!("{base}/v1/sync/push");
    let bearer = format!("Bearer {token}");
    let progress = ProgressBar::new(reports as u64).with_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} reports ({per_sec}, {eta} left)",
        )?
        .progress_chars("=> "),
    );

    let mut latencies = Vec::with_capacity(batches.len());
    let started = Instant::now();
    for (index, batch) in batches.iter().enumerate() {
        let body = batch.body.clone();
        let sent = Instant::now();
        let response = client
            .post(&url)
            .header(AUTHORIZATION, &bearer)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .with_context(|| format!("batch {index}: POST /v1/sync/push failed"))?;
        let status = response.status();
        let bytes = response.bytes()?;
        latencies.push(sent.elapsed());

        if status != StatusCode::OK {
            progress.abandon();
            bail!(
                "batch {index}: POST /v1/sync/push answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        let answer: PushResponse = serde_json::from_slice(&bytes)
            .with_context(|| format!("batch {index}: unexpected push response"))?;
        if let Err(error) = check_results(batch, &answer.results) {
            progress.abandon();
            return Err(error.context(format!("batch {index}")));
        }
        progress.inc(batch.ids.len() as u64);
    }
    let wall = started.elapsed();
    progress.finish_and_clear();
    Ok(RunStats::new(reports, wall, latencies))
}

/// Every report of the batch must be answered, once, as `accepted`.
fn check_results(batch: &Batch, results: &[PushResult]) -> Result<()> {
    ensure!(
        results.len() == batch.ids.len(),
        "sent {} reports but got {} results",
        batch.ids.len(),
        results.len()
    );
    let not_accepted: Vec<&PushResult> =
        results.iter().filter(|r| r.outcome != "accepted").collect();
    if let Some(first) = not_accepted.first() {
        bail!(
            "{} of {} reports not accepted; first: id {} {} (field {}, reason {})",
            not_accepted.len(),
            results.len(),
            first.id,
            first.outcome,
            plain(first.field.as_ref()),
            plain(first.reason.as_ref()),
        );
    }
    let mut sent: Vec<String> = batch.ids.iter().map(ToString::to_string).collect();
    let mut answered: Vec<String> = results.iter().map(|r| r.id.to_lowercase()).collect();
    sent.sort_unstable();
    answered.sort_unstable();
    ensure!(sent == answered, "the result ids differ from the ids sent");
    Ok(())
}

/// A JSON value for a message: strings without their quotes, absent or null as `-`.
fn plain(value: Option<&serde_json::Value>) -> String {
    match value {
        None | Some(serde_json::Value::Null) => "-".to_owned(),
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// Passes a response through if it has the expected status, else fails with its body.
fn expect_status(
    response: reqwest::blocking::Response,
    expected: StatusCode,
    what: &str,
) -> Result<reqwest::blocking::Response> {
    if response.status() == expected {
        return Ok(response);
    }
    let status = response.status();
    let body = response.text().unwrap_or_default();
    bail!("{what} answered {status} (expected {expected}): {body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &uuid::Uuid, outcome: &str) -> PushResult {
        PushResult {
            id: id.to_string(),
            outcome: outcome.into(),
            field: None,
            reason: None,
        }
    }

    #[test]
    fn results_must_all_be_accepted_and_match_the_ids() {
        let batch = &crate::bench::workload::batches(3, 500, 9).unwrap()[0];
        let ok: Vec<_> = batch
            .ids
            .iter()
            .rev()
            .map(|id| result(id, "accepted"))
            .collect();
        assert!(check_results(batch, &ok).is_ok());

        let mut dup: Vec<_> = batch.ids.iter().map(|id| result(id, "accepted")).collect();
        dup[1].outcome = "duplicate".into();
        let error = check_results(batch, &dup).unwrap_err().to_string();
        assert!(error.contains("1 of 3 reports not accepted"), "{error}");

        assert!(check_results(batch, &ok[..2]).is_err());
        let other = uuid::Uuid::now_v7();
        let wrong = vec![
            result(&batch.ids[0], "accepted"),
            result(&batch.ids[1], "accepted"),
            result(&other, "accepted"),
        ];
        assert!(check_results(batch, &wrong).is_err());
    }
}
