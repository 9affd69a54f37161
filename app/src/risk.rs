//! On-device risk hints: how a place compares with the rest of the city at an hour of the
//! week, computed here, offline, so no place asked about leaves the device.
//!
//! The server's batch layer publishes a model (a candle Poisson regression) and, per H3
//! resolution-9 cell, the counts the model and the hints read. Each sync fetches the model
//! when its version changed ([`PullResponse::risk_model`]) and the cells covering the
//! watch areas; [`Store::risk_hints`] loads them, and [`RiskHints::hint`] answers
//! `risk_hint(lat, lon, time)` from memory.
//!
//! [`PullResponse::risk_model`]: vigil_sync::PullResponse

use std::collections::{HashMap, HashSet};

use base64::Engine;
use chrono::{DateTime, FixedOffset, Utc};
use h3o::{CellIndex, LatLng, Resolution};
use rusqlite::{OptionalExtension, params};
use serde::Deserialize;
use vigil_sync::{
    Location,
    risk::{CellId, CellStats, RiskHint, RiskModel},
    watch::{Shape, WatchAreaSpec},
};

use crate::{
    store::{Store, StoreError},
    sync::{Server, SyncError},
};

/// The H3 resolution the devices' cells are at (about 0.1 km², 174 m edge).
pub const RESOLUTION: Resolution = Resolution::Nine;
/// Most cells asked for in one request (the server's limit).
const CELLS_PER_REQUEST: usize = 5_000;
/// Most cells cached for all watch areas together.
pub const MAX_CACHED_CELLS: usize = 50_000;
/// The setting holding the newest model version the server offered in a pull.
pub const OFFERED: &str = "risk.offered";

/// Why there is no hint.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HintError {
    #[error(
        "no risk model on this device yet: sync while online (the server publishes one after its batch runs)"
    )]
    NoModel,
    #[error(
        "no risk data for this place on this device: hints cover your watch areas; add one that covers it and sync"
    )]
    NotCovered,
    #[error("lat/lon: {0}")]
    BadPlace(String),
    #[error("{0}")]
    Model(String),
}

/// The model and cached cells, loaded for hints.
#[derive(Debug, Clone)]
pub struct RiskHints {
    model: RiskModel,
    /// Every covered cell; `None` when it had no incidents near it.
    cells: HashMap<CellId, Option<CellStats>>,
}

impl RiskHints {
    pub fn new(model: RiskModel, cells: HashMap<CellId, Option<CellStats>>) -> RiskHints {
        RiskHints { model, cells }
    }

    pub fn version(&self) -> &str {
        self.model.version()
    }

    pub fn model(&self) -> &RiskModel {
        &self.model
    }

    /// How many cells are covered.
    pub fn covered(&self) -> usize {
        self.cells.len()
    }

    /// `risk_hint(lat, lon, time)`: the hint for a place at a time (its local wall clock
    /// gives the hour of the week).
    pub fn hint(
        &self,
        lat: f64,
        lon: f64,
        at: DateTime<FixedOffset>,
    ) -> Result<RiskHint, HintError> {
        let cell = cell_of(lat, lon)?;
        let stats = self.cells.get(&cell).ok_or(HintError::NotCovered)?;
        self.model
            .hint(stats.as_ref(), at.naive_local())
            .map_err(|e| HintError::Model(e.to_string()))
    }
}

impl RiskHints {
    /// The hint at a watch area's centre.
    pub fn area_hint(
        &self,
        spec: &WatchAreaSpec,
        at: DateTime<FixedOffset>,
    ) -> Result<RiskHint, HintError> {
        let (lat, lon, _) = area_circle(spec);
        self.hint(lat, lon, at)
    }
}

fn cell_of(lat: f64, lon: f64) -> Result<CellId, HintError> {
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(HintError::BadPlace(format!(
            "{lat}, {lon} is not a place; latitude is -90 to 90 and longitude -180 to 180"
        )));
    }
    LatLng::new(lat, lon)
        .map(|ll| u64::from(ll.to_cell(RESOLUTION)))
        .map_err(|e| HintError::BadPlace(e.to_string()))
}

/// A watch area as a circle: a circle itself, or a polygon's bounding-box centre and the
/// distance to its farthest corner point.
fn area_circle(spec: &WatchAreaSpec) -> (f64, f64, f64) {
    match &spec.shape {
        Shape::Circle { lat, lon, radius_m } => (*lat, *lon, *radius_m),
        Shape::Polygon { points } => {
            let b = spec.shape.bounds();
            let (lat, lon) = ((b.min_lat + b.max_lat) / 2.0, (b.min_lon + b.max_lon) / 2.0);
            let r = points
                .iter()
                .map(|p| distance_m(lat, lon, p[0], p[1]))
                .fold(0.0, f64::max);
            (lat, lon, r)
        }
    }
}

/// The resolution-9 cells covering a watch area (a circle, or a polygon's bounding circle),
/// with a margin of two cell edges.
pub fn cells_for_area(spec: &WatchAreaSpec) -> Vec<CellId> {
    let (lat, lon, radius_m) = area_circle(spec);
    let Ok(centre) = LatLng::new(lat, lon) else {
        return Vec::new();
    };
    let edge = RESOLUTION.edge_length_m();
    // Ring k's centres are at least 1.5·k·edge from the centre's.
    let k = ((radius_m + 2.0 * edge) / (1.5 * edge)).ceil() as u32;
    let reach = radius_m + 2.0 * edge;
    let cells: Vec<CellIndex> = centre.to_cell(RESOLUTION).grid_disk(k);
    cells
        .into_iter()
        .filter(|c| {
            let ll = LatLng::from(*c);
            distance_m(lat, lon, ll.lat(), ll.lng()) <= reach
        })
        .map(u64::from)
        .collect()
}

fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let at = |lat, lon| Location {
        lat,
        lon,
        accuracy_m: None,
    };
    at(lat1, lon1).distance_m(&at(lat2, lon2))
}

impl Store {
    /// Keeps a model (checked first) as the device's model, dropping the cells of any other.
    pub fn save_risk_model(
        &mut self,
        version: &str,
        manifest: &[u8],
        weights: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let model = RiskModel::from_parts(manifest, weights).map_err(|e| StoreError::Invalid {
            field: "risk model".into(),
            reason: e.to_string(),
        })?;
        if model.version() != version {
            return Err(StoreError::Invalid {
                field: "risk model".into(),
                reason: format!(
                    "the files are version {}, not {version}; sync again",
                    model.version()
                ),
            });
        }
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO risk_model (id, version, manifest, weights, fetched_at)
             VALUES (1, ?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version,
               manifest = excluded.manifest, weights = excluded.weights,
               fetched_at = excluded.fetched_at",
            params![version, manifest, weights, now.to_rfc3339()],
        )?;
        tx.execute("DELETE FROM risk_cells WHERE version <> ?1", [version])?;
        tx.commit()?;
        Ok(())
    }

    /// The version of the model on this device.
    pub fn risk_model_version(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .connection()
            .query_row("SELECT version FROM risk_model WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Keeps the answer for `asked` cells: those in `got` with their counts, the others as
    /// covered with no incidents near them.
    pub fn save_risk_cells(
        &mut self,
        version: &str,
        asked: &[CellId],
        got: &[CellStats],
    ) -> Result<(), StoreError> {
        let by_cell: HashMap<CellId, &CellStats> = got.iter().map(|c| (c.cell, c)).collect();
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare(
                "INSERT INTO risk_cells (cell, version, stats) VALUES (?1, ?2, ?3)
                 ON CONFLICT (cell) DO UPDATE SET version = excluded.version, stats = excluded.stats",
            )?;
            for cell in asked {
                let stats = match by_cell.get(cell) {
                    Some(s) => Some(serde_json::to_string(s).map_err(|e| StoreError::Invalid {
                        field: "risk cells".into(),
                        reason: e.to_string(),
                    })?),
                    None => None,
                };
                put.execute(params![format!("{cell:x}"), version, stats])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Which of `wanted` are not cached for `version`.
    pub fn risk_cells_missing(
        &self,
        version: &str,
        wanted: &[CellId],
    ) -> Result<Vec<CellId>, StoreError> {
        let mut have: HashSet<CellId> = HashSet::new();
        let mut q = self
            .connection()
            .prepare("SELECT cell FROM risk_cells WHERE version = ?1")?;
        for cell in q.query_map([version], |r| r.get::<_, String>(0))? {
            if let Ok(id) = u64::from_str_radix(&cell?, 16) {
                have.insert(id);
            }
        }
        Ok(wanted
            .iter()
            .copied()
            .filter(|c| !have.contains(c))
            .collect())
    }

    /// The model and its cached cells, or `None` before the first model arrived.
    pub fn risk_hints(&self) -> Result<Option<RiskHints>, StoreError> {
        let row: Option<(String, Vec<u8>, Vec<u8>)> = self
            .connection()
            .query_row(
                "SELECT version, manifest, weights FROM risk_model WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((version, manifest, weights)) = row else {
            return Ok(None);
        };
        let model =
            RiskModel::from_parts(&manifest, &weights).map_err(|e| StoreError::Invalid {
                field: "risk model".into(),
                reason: format!("{e}; it is fetched again on the next sync"),
            })?;
        let mut cells = HashMap::new();
        let mut q = self
            .connection()
            .prepare("SELECT cell, stats FROM risk_cells WHERE version = ?1")?;
        for row in q.query_map([&version], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })? {
            let (cell, stats) = row?;
            let Ok(id) = u64::from_str_radix(&cell, 16) else {
                continue;
            };
            // A row that does not read back counts as not cached: the next sync asks again.
            let stats = match stats {
                None => None,
                Some(json) => match serde_json::from_str::<CellStats>(&json) {
                    Ok(s) => Some(s),
                    Err(_) => continue,
                },
            };
            cells.insert(id, stats);
        }
        Ok(Some(RiskHints::new(model, cells)))
    }
}

#[derive(Debug, Deserialize)]
struct ModelFiles {
    version: String,
    manifest: serde_json::Value,
    weights: String,
}

#[derive(Debug, Deserialize)]
struct CellsAnswer {
    version: String,
    cells: Vec<CellStats>,
}

/// What a risk sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RiskSynced {
    /// The model fetched, when a new one was.
    pub model: Option<String>,
    /// Cells newly cached.
    pub cells: usize,
}

impl Server {
    async fn risk_model(&self) -> Result<ModelFiles, SyncError> {
        self.send(self.http().get(format!("{}/v1/risk/model", self.base())))
            .await
    }

    async fn risk_cells(&self, cells: &[CellId]) -> Result<CellsAnswer, SyncError> {
        let cells: Vec<String> = cells.iter().map(|c| format!("{c:x}")).collect();
        self.send(
            self.http()
                .post(format!("{}/v1/risk/cells", self.base()))
                .json(&serde_json::json!({ "cells": cells })),
        )
        .await
    }
}

/// Fetches the model the last pull offered, when this device has another, and caches the
/// cells of the watch areas that are not cached yet.
pub async fn sync_risk(store: &mut Store, server: &Server) -> Result<RiskSynced, SyncError> {
    let mut done = RiskSynced::default();
    let Some(offered) = store.setting(OFFERED)? else {
        return Ok(done);
    };
    let mut version = store.risk_model_version()?;
    if version.as_deref() != Some(offered.as_str()) {
        let files = server.risk_model().await?;
        let weights = base64::engine::general_purpose::STANDARD
            .decode(&files.weights)
            .map_err(|e| SyncError::Garbage(format!("risk model weights: {e}")))?;
        let manifest =
            serde_json::to_vec(&files.manifest).map_err(|e| SyncError::Garbage(e.to_string()))?;
        store
            .save_risk_model(&files.version, &manifest, &weights, Utc::now())
            .map_err(|e| SyncError::Garbage(e.to_string()))?;
        done.model = Some(files.version.clone());
        version = Some(files.version);
    }
    let Some(version) = version else {
        return Ok(done);
    };
    let mut wanted: Vec<CellId> = store
        .watch_areas()?
        .iter()
        .flat_map(|a| cells_for_area(&a.spec))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    wanted.truncate(MAX_CACHED_CELLS);
    let missing = store.risk_cells_missing(&version, &wanted)?;
    for chunk in missing.chunks(CELLS_PER_REQUEST) {
        let answer = server.risk_cells(chunk).await?;
        if answer.version != version {
            // A newer model was published meanwhile: the next sync fetches it and its cells.
            store.set_setting(OFFERED, &answer.version)?;
            break;
        }
        store.save_risk_cells(&version, chunk, &answer.cells)?;
        done.cells += chunk.len();
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circle(radius_m: f64) -> WatchAreaSpec {
        serde_json::from_value(serde_json::json!({
            "name": "Home",
            "shape": {"circle": {"lat": 43.6532, "lon": -79.3832, "radius_m": radius_m}}
        }))
        .unwrap()
    }

    #[test]
    fn a_circle_is_covered_with_a_margin() {
        let cells = cells_for_area(&circle(1000.0));
        // π·(1000 + 2·174)² m² over about 105,000 m² per cell: about 54 cells.
        assert!((40..90).contains(&cells.len()), "{}", cells.len());
        // Every point of the circle is in a covered cell.
        for i in 0..36 {
            let a = f64::from(i) * 10f64.to_radians();
            let lat = 43.6532 + 0.999 * 1000.0 / 111_320.0 * a.sin();
            let lon =
                -79.3832 + 0.999 * 1000.0 / (111_320.0 * 43.6532f64.to_radians().cos()) * a.cos();
            assert!(
                cells.contains(&cell_of(lat, lon).unwrap()),
                "point {i} not covered"
            );
        }
    }

    #[test]
    fn bad_places_are_refused_by_name() {
        assert!(matches!(cell_of(91.0, 0.0), Err(HintError::BadPlace(_))));
        assert!(matches!(
            cell_of(0.0, f64::NAN),
            Err(HintError::BadPlace(_))
        ));
    }
}
