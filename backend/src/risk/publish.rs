//! The batch layer's part: train the risk model on every incident in the lake, in H3
//! cells, and publish it to the lake with the cell snapshot devices cache; the API's part:
//! read the newest published model back (cached, re-checked every [`RECHECK`]).
//!
//! A published model lives under `models/risk/<version>/` as `model.safetensors`,
//! `manifest.json` and `cells.json.gz` (every cell's [`CellStats`]); `models/risk/LATEST`
//! names the newest version and is written last, so a reader never sees half a model.

use std::{
    collections::HashMap,
    io::Read,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::Mutex;
use vigil_sync::risk::{
    CellId, CellStats, GridSpec, RiskModel, TrainOptions,
    features::{date_of, day_number},
    model::{MANIFEST_FILE, MODEL_FILE},
    train,
};

use super::{Incidents, Point};
use crate::lake::Lake;

/// Where published models live in the lake.
pub const RISK_PREFIX: &str = "models/risk/";
/// The object naming the newest version.
pub const LATEST_KEY: &str = "models/risk/LATEST";
/// The cell snapshot's file name.
pub const CELLS_FILE: &str = "cells.json.gz";
/// The H3 resolution devices count in (res 9: about 0.1 km², 174 m edge).
pub const DEVICE_RESOLUTION: u8 = 9;
/// How often the API looks for a newer model.
pub const RECHECK: Duration = Duration::from_secs(30);

/// A model as published: its files and its cells.
#[derive(Debug)]
pub struct Published {
    pub version: String,
    pub manifest: Bytes,
    pub weights: Bytes,
    pub cells: HashMap<CellId, CellStats>,
}

/// What a training in the batch did.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishSummary {
    pub version: String,
    pub windows: u32,
    pub cells: usize,
    pub model_bytes: usize,
    pub cells_bytes: usize,
}

fn key(version: &str, file: &str) -> String {
    format!("{RISK_PREFIX}{version}/{file}")
}

/// Trains on `points` up to and including `now`'s UTC day, and publishes the model and its
/// cell snapshot to `lake`.
pub async fn train_and_publish(
    lake: &Lake,
    points: Vec<Point>,
    now: DateTime<Utc>,
) -> anyhow::Result<PublishSummary> {
    let version = format!("{}", now.format("%Y%m%dT%H%M%S%3fZ"));
    let v = version.clone();
    let (model, cells) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let incidents = Incidents {
            points,
            ..Incidents::default()
        };
        let grid = GridSpec::H3 {
            resolution: DEVICE_RESOLUTION,
        }
        .build()
        .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.reason))?;
        let (history, _) = incidents.history(grid);
        let until = day_number(now.date_naive()) + 1;
        let model = train(&history, &TrainOptions::new(until, v, now), &mut |_, _| {})?;
        Ok((model, history.snapshot(until)))
    })
    .await
    .context("the training task failed")??;
    let (manifest, weights) = model.to_parts()?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    serde_json::to_writer(&mut gz, &cells)?;
    let cells_gz = gz.finish()?;
    let summary = PublishSummary {
        version: version.clone(),
        windows: model.manifest().training.windows,
        cells: cells.len(),
        model_bytes: weights.len() + manifest.len(),
        cells_bytes: cells_gz.len(),
    };
    lake.put(&key(&version, MODEL_FILE), Bytes::from(weights))
        .await?;
    lake.put(&key(&version, MANIFEST_FILE), Bytes::from(manifest))
        .await?;
    lake.put(&key(&version, CELLS_FILE), Bytes::from(cells_gz))
        .await?;
    lake.put(LATEST_KEY, Bytes::from(version.clone())).await?;
    tracing::info!(%version, until = %date_of(day_number(now.date_naive()) + 1), cells = summary.cells, "risk model published");
    Ok(summary)
}

/// The newest published version, if any.
async fn latest_version(lake: &Lake) -> anyhow::Result<Option<String>> {
    if lake
        .list(LATEST_KEY)
        .await?
        .iter()
        .all(|o| o.key != LATEST_KEY)
    {
        return Ok(None);
    }
    let text = String::from_utf8(lake.get(LATEST_KEY).await?.to_vec())
        .with_context(|| format!("{LATEST_KEY} is not text"))?;
    Ok(Some(text.trim().to_owned()))
}

async fn read_version(lake: &Lake, version: &str) -> anyhow::Result<Published> {
    let manifest = lake.get(&key(version, MANIFEST_FILE)).await?;
    let weights = lake.get(&key(version, MODEL_FILE)).await?;
    // Refuse files the devices could not load.
    RiskModel::from_parts(&manifest, &weights)
        .with_context(|| format!("published risk model {version}"))?;
    let gz = lake.get(&key(version, CELLS_FILE)).await?;
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut json)
        .with_context(|| format!("{} is not gzip", key(version, CELLS_FILE)))?;
    let cells: Vec<CellStats> = serde_json::from_slice(&json)
        .with_context(|| format!("{} is not a cell snapshot", key(version, CELLS_FILE)))?;
    Ok(Published {
        version: version.to_owned(),
        manifest,
        weights,
        cells: cells.into_iter().map(|c| (c.cell, c)).collect(),
    })
}

/// The API's view of the newest model: read once, then re-checked every [`RECHECK`].
#[derive(Debug, Clone, Default)]
pub struct RiskServing {
    lake: Option<Lake>,
    /// How long a look at the lake holds ([`RECHECK`]).
    recheck: Duration,
    cache: Arc<Mutex<Cache>>,
}

#[derive(Debug, Default)]
struct Cache {
    checked: Option<Instant>,
    current: Option<Arc<Published>>,
}

impl RiskServing {
    pub fn new(lake: Lake) -> RiskServing {
        RiskServing {
            lake: Some(lake),
            recheck: RECHECK,
            cache: Arc::default(),
        }
    }

    /// Looks at the lake again after `recheck` instead of [`RECHECK`].
    pub fn with_recheck(mut self, recheck: Duration) -> RiskServing {
        self.recheck = recheck;
        self
    }

    /// The newest model, or `None` when none is published (or no lake is configured).
    pub async fn current(&self) -> anyhow::Result<Option<Arc<Published>>> {
        let Some(lake) = &self.lake else {
            return Ok(None);
        };
        let mut cache = self.cache.lock().await;
        if cache.checked.is_some_and(|t| t.elapsed() < self.recheck) {
            return Ok(cache.current.clone());
        }
        match latest_version(lake).await? {
            None => cache.current = None,
            Some(v) if cache.current.as_ref().is_some_and(|c| c.version == v) => {}
            Some(v) => cache.current = Some(Arc::new(read_version(lake, &v).await?)),
        }
        cache.checked = Some(Instant::now());
        Ok(cache.current.clone())
    }
}
