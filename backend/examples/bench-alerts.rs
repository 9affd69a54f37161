//! The alert path under load: `cargo xtask bench alerts` starts the roles and runs this.
//!
//! Against a running scale-out deployment (`vigil serve`, `vigil relay`, `vigil speed` on
//! PostgreSQL, Kafka and Redis):
//! 1. stores `--areas` watch areas: `--watchers` people with an open alert stream, each
//!    watching a 2 km circle somewhere in Toronto, and the rest small circles (100 to
//!    500 m) across the Greater Toronto Area owned by 20,000 other people (written
//!    straight into PostgreSQL: registering that many accounts through the API would
//!    spend the run hashing passwords);
//! 2. waits until the matcher holds every area;
//! 3. pushes `--rate` reports a second for `--seconds` through `POST /v1/sync/push`
//!    (open loop: a batch every 100 ms, whatever the answers do), each at a random place in
//!    Toronto, noting when each push was accepted;
//! 4. receives the watchers' alerts on `GET /v1/alerts/stream` and notes when each
//!    arrived.
//!
//! It prints one JSON line: the delay from "push accepted" to "alert received" (p50, p99,
//! max), the push rate achieved, and the alerts expected (from the areas' geometry),
//! received, missing and repeated.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use chrono::{FixedOffset, Utc};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
use uuid::Uuid;
use vigil_sync::{
    Location,
    watch::{Alert, AlertBody, Shape},
};

/// Where watchers' areas and incidents are: Toronto.
const CITY: ([f64; 2], [f64; 2]) = ([43.60, -79.55], [43.80, -79.20]);
/// Where the other areas are: the Greater Toronto Area, about 100 km across.
const REGION: ([f64; 2], [f64; 2]) = ([43.30, -80.10], [44.20, -78.90]);
const OWNERS: usize = 20_000;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num(name: &str, default: u64) -> anyhow::Result<u64> {
    arg(name).map_or(Ok(default), |v| {
        v.parse()
            .with_context(|| format!("{name} {v}: not a number"))
    })
}

fn point(rng: &mut fastrand::Rng, (lo, hi): ([f64; 2], [f64; 2])) -> (f64, f64) {
    (
        lo[0] + rng.f64() * (hi[0] - lo[0]),
        lo[1] + rng.f64() * (hi[1] - lo[1]),
    )
}

async fn login(http: &reqwest::Client, api: &str, name: &str) -> anyhow::Result<String> {
    let creds = json!({"username": name, "password": "bench password for alerts"});
    let r = http
        .post(format!("{api}/v1/auth/register"))
        .json(&creds)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("register {name}: {} {}", r.status(), r.text().await?);
    }
    let r: Value = http
        .post(format!("{api}/v1/auth/login"))
        .json(&creds)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(r["token"].as_str().context("login: no token")?.to_owned())
}

/// The areas' count the matcher reports on its metrics endpoint.
async fn matcher_areas(http: &reqwest::Client, metrics: &str) -> anyhow::Result<u64> {
    let text = http.get(metrics).send().await?.text().await?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("vigil_alert_watch_areas "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let api = arg("--api").context("--api URL is required")?;
    let db_url = arg("--db").context("--db POSTGRES_URL is required")?;
    let metrics = arg("--matcher-metrics").context("--matcher-metrics URL is required")?;
    let areas = num("--areas", 100_000)? as usize;
    let watchers = num("--watchers", 50)? as usize;
    let rate = num("--rate", 1_000)? as usize;
    let seconds = num("--seconds", 30)?;
    let mut rng = fastrand::Rng::with_seed(num("--seed", 42)?);
    anyhow::ensure!(areas > watchers, "--areas must exceed --watchers");
    let http = reqwest::Client::new();

    // 1. People and areas.
    let reporter = login(&http, &api, "bench-reporter").await?;
    let mut watcher_tokens = Vec::new();
    let mut watcher_areas: Vec<(usize, Shape)> = Vec::new();
    for w in 0..watchers {
        let token = login(&http, &api, &format!("bench-watcher-{w}")).await?;
        let (lat, lon) = point(&mut rng, CITY);
        let shape = Shape::Circle {
            lat,
            lon,
            radius_m: 2_000.0,
        };
        http.put(format!("{api}/v1/watch-areas/{}", Uuid::now_v7()))
            .bearer_auth(&token)
            .json(&json!({"name": format!("Watch {w}"), "shape": shape}))
            .send()
            .await?
            .error_for_status()?;
        watcher_tokens.push(token);
        watcher_areas.push((w, shape));
    }
    let db = sqlx::PgPool::connect(&db_url).await?;
    let now_ms = Utc::now().timestamp_millis();
    let owners: Vec<String> = (0..OWNERS).map(|_| Uuid::now_v7().to_string()).collect();
    for (chunk_no, chunk) in owners.chunks(1_000).enumerate() {
        let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO users (id, username, password_hash, created_at) ",
        );
        qb.push_values(chunk.iter().enumerate(), |mut row, (i, id)| {
            row.push_bind(id)
                .push_bind(format!("bench-owner-{}", chunk_no * 1_000 + i))
                .push_bind("!")
                .push_bind(now_ms);
        });
        qb.build().execute(&db).await?;
    }
    let rest = areas - watchers;
    let started = Instant::now();
    let mut written = 0;
    // As the API does: revisions under the lock, in one transaction.
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(0x5649_4749_4c00_0002_i64)
        .execute(&mut *tx)
        .await?;
    let base: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(rev), 0) FROM watch_areas")
        .fetch_one(&mut *tx)
        .await?;
    while written < rest {
        let n = (rest - written).min(2_000);
        let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO watch_areas (id, user_id, name, spec, created_at, updated_at, deleted, rev) ",
        );
        let rows: Vec<(String, String, String, i64)> = (0..n)
            .map(|i| {
                let (lat, lon) = point(&mut rng, REGION);
                let radius_m = 100.0 + rng.f64() * 400.0;
                let name = format!("Area {}", written + i);
                let spec = json!({"name": name, "shape": {"circle": {"lat": lat, "lon": lon, "radius_m": radius_m}}});
                let rev = base + (written + i) as i64 + 1;
                (owners[rng.usize(..OWNERS)].clone(), name, spec.to_string(), rev)
            })
            .collect();
        qb.push_values(rows, |mut row, (owner, name, spec, rev)| {
            row.push_bind(Uuid::now_v7().to_string())
                .push_bind(owner)
                .push_bind(name)
                .push_bind(spec)
                .push_bind(now_ms)
                .push_bind(now_ms)
                .push_bind(false)
                .push_bind(rev);
        });
        qb.build().execute(&mut *tx).await?;
        written += n;
    }
    tx.commit().await?;
    eprintln!(
        "==> {areas} watch areas stored ({} by {watchers} watchers) in {:.1} s",
        watchers,
        started.elapsed().as_secs_f64()
    );

    // 2. The matcher holds them all.
    let started = Instant::now();
    loop {
        let held = matcher_areas(&http, &metrics).await.unwrap_or(0);
        if held >= areas as u64 {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("the matcher holds {held} of {areas} areas after 120 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "==> the matcher holds them all after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // 4 (first): the streams, one per watcher.
    let received: Arc<Mutex<Vec<(usize, String, Instant)>>> = Arc::default();
    let ws_base = api.replacen("http://", "ws://", 1);
    let mut readers = Vec::new();
    for (w, token) in watcher_tokens.iter().enumerate() {
        let mut request = format!("{ws_base}/v1/alerts/stream?after=0").into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
        let received = received.clone();
        readers.push(tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(text) = msg else { continue };
                let at = Instant::now();
                if let Ok(alert) = serde_json::from_str::<Alert>(&text)
                    && let AlertBody::Incident { incident, .. } = alert.body
                {
                    received
                        .lock()
                        .unwrap()
                        .push((w, incident.id.to_string(), at));
                }
            }
        }));
    }

    // 3. The load: a batch every 100 ms.
    let per_tick = (rate / 10).max(1);
    let accepted: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut expected: Vec<(usize, String)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut pushes = Vec::new();
    let load_started = Instant::now();
    let offset = FixedOffset::west_opt(5 * 3600).context("offset")?;
    for _ in 0..seconds * 10 {
        tick.tick().await;
        let mut reports = Vec::with_capacity(per_tick);
        for _ in 0..per_tick {
            let (lat, lon) = point(&mut rng, CITY);
            let id = Uuid::now_v7().to_string();
            let at = Location {
                lat,
                lon,
                accuracy_m: None,
            };
            for (w, shape) in &watcher_areas {
                if shape.contains(&at) {
                    expected.push((*w, id.clone()));
                }
            }
            reports.push(json!({
                "id": id,
                "category": "theft",
                "occurred_at": Utc::now().with_timezone(&offset).to_rfc3339(),
                "location": {"lat": lat, "lon": lon},
                "description": "Bench report",
            }));
        }
        let (http, api, token, accepted) = (
            http.clone(),
            api.clone(),
            reporter.clone(),
            accepted.clone(),
        );
        pushes.push(tokio::spawn(async move {
            let r = http
                .post(format!("{api}/v1/sync/push"))
                .bearer_auth(&token)
                .json(&json!({"reports": reports}))
                .send()
                .await?;
            let at = Instant::now();
            let body: Value = r.error_for_status()?.json().await?;
            let mut accepted = accepted.lock().unwrap();
            for result in body["results"].as_array().context("push: no results")? {
                if result["outcome"] == "accepted" {
                    let id = result["id"].as_str().context("push: no id")?;
                    accepted.insert(id.to_owned(), at);
                }
            }
            anyhow::Ok(())
        }));
    }
    for p in pushes {
        p.await??;
    }
    let load_seconds = load_started.elapsed().as_secs_f64();
    let incidents = accepted.lock().unwrap().len();

    // Wait for the stragglers: until every expected alert is in, or 30 s without news.
    let mut last = (0, Instant::now());
    loop {
        let n = received.lock().unwrap().len();
        if n >= expected.len() {
            break;
        }
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // anything repeated would show now
    for r in readers {
        r.abort();
    }

    let received = received.lock().unwrap().clone();
    let accepted = accepted.lock().unwrap().clone();
    let mut seen = std::collections::HashSet::new();
    let mut repeated = 0;
    let mut delays_ms: Vec<f64> = Vec::new();
    for (w, id, at) in &received {
        if !seen.insert((*w, id.clone())) {
            repeated += 1;
            continue;
        }
        if let Some(acked) = accepted.get(id) {
            delays_ms.push(at.saturating_duration_since(*acked).as_secs_f64() * 1000.0);
        }
    }
    let missing = expected
        .iter()
        .filter(|(w, id)| !seen.contains(&(*w, id.clone())))
        .count();
    delays_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        delays_ms
            .get(((delays_ms.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "{}",
        json!({
            "areas": areas,
            "watchers": watchers,
            "incidents": incidents,
            "push_rate": (incidents as f64 / load_seconds).round(),
            "alerts_expected": expected.len(),
            "alerts_received": seen.len(),
            "missing": missing,
            "repeated": repeated,
            "p50_ms": pct(0.5).round(),
            "p99_ms": pct(0.99).round(),
            "max_ms": pct(1.0).round(),
        })
    );
    Ok(())
}
