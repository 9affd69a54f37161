//! Risk hints, measured: `cargo xtask bench risk` runs this.
//!
//! 1. The device's model: trained on the Toronto file in H3 resolution-9 cells as the
//!    batch layer trains it (up to 2021-01-01), with its cell snapshot. Prints the model's
//!    size and the size of the cells a 2 km watch area caches.
//! 2. `risk_hint` latency: the cells of five 2 km watch areas loaded as the app loads them,
//!    then hints for random places in them at random times, `--runs` rounds of
//!    `--hints` calls; prints p50/p99/max per round and the medians.
//! 3. With `--validate`: the validation on the 250 m square grid over
//!    -79.64,43.58,-79.11,43.86: train until 2019-01-01 and evaluate each week of 2019, and
//!    the same for 2020; prints PAI and hit rate at 1% and 5% for the model and the
//!    count map. Every line is JSON.

use std::{collections::HashMap, path::PathBuf, time::Instant};

use anyhow::Context;
use chrono::{FixedOffset, NaiveDate, TimeZone, Utc};
use serde_json::json;
use vigil_app::{RiskHints, risk::cells_for_area};
use vigil_backend::risk::{Incidents, read_mci};
use vigil_sync::{
    risk::{
        CellGrid, GridSpec, SquareGrid, TrainOptions, eval::evaluate, features::day_number, train,
    },
    watch::{Shape, WatchAreaSpec},
};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

fn day(y: i32, m: u32, d: u32) -> i32 {
    day_number(NaiveDate::from_ymd_opt(y, m, d).expect("a date"))
}

fn validate(incidents: &Incidents) -> anyhow::Result<()> {
    let grid = CellGrid::Square(
        SquareGrid::new([-79.64, 43.58, -79.11, 43.86], 250.0)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.reason))?,
    );
    let (history, outside) = incidents.history(grid);
    for year in [2019, 2020] {
        let started = Instant::now();
        let until = day(year, 1, 1);
        let model = train(
            &history,
            &TrainOptions::new(until, format!("validate-{year}"), Utc::now()),
            &mut |_, _| {},
        )?;
        let trained_s = started.elapsed().as_secs_f64();
        let e = evaluate(
            &model,
            &history,
            until,
            day(year + 1, 1, 1),
            7,
            &mut |_, _| {},
        )?;
        let gains = e.gains();
        println!(
            "{}",
            json!({
                "validate": year,
                "outside_grid": outside,
                "windows": e.windows,
                "incidents": e.incidents,
                "cells": e.cells,
                "model": e.model,
                "count_map": e.count_map,
                "pai_gain_pct": {"1%": gains[0], "5%": gains[1]},
                "weights": model.manifest().weights,
                "bias": model.manifest().bias,
                "train_s": trained_s,
                "total_s": started.elapsed().as_secs_f64(),
            })
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let data = PathBuf::from(arg("--data").context("--data FILE is required")?);
    let runs: usize = arg("--runs").map_or(Ok(5), |r| r.parse())?;
    let hints: usize = arg("--hints").map_or(Ok(100_000), |r| r.parse())?;
    let started = Instant::now();
    let incidents = read_mci(&data, false)?;
    eprintln!(
        "read {} incidents in {:.1} s",
        incidents.points.len(),
        started.elapsed().as_secs_f64()
    );
    if std::env::args().any(|a| a == "--validate") {
        validate(&incidents)?;
    }

    // The device's model, as the batch layer trains it.
    let started = Instant::now();
    let grid = GridSpec::H3 { resolution: 9 }
        .build()
        .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.reason))?;
    let (history, _) = incidents.history(grid);
    let until = day(2021, 1, 1);
    let model = train(
        &history,
        &TrainOptions::new(until, "bench", Utc::now()),
        &mut |_, _| {},
    )?;
    let snapshot = history.snapshot(until);
    let train_s = started.elapsed().as_secs_f64();
    let (manifest, weights) = model.to_parts()?;
    let by_cell: HashMap<u64, _> = snapshot.iter().map(|c| (c.cell, c.clone())).collect();

    // Five 2 km watch areas across the city, cached as the app caches them.
    let centres = [
        (43.6561, -79.3802),
        (43.6487, -79.3966),
        (43.7615, -79.4111),
        (43.7731, -79.2578),
        (43.6426, -79.5347),
    ];
    let mut cells: HashMap<u64, Option<vigil_sync::risk::CellStats>> = HashMap::new();
    let mut one_area_bytes = 0;
    for (i, (lat, lon)) in centres.iter().enumerate() {
        let spec = WatchAreaSpec {
            name: "Area".into(),
            shape: Shape::Circle {
                lat: *lat,
                lon: *lon,
                radius_m: 2000.0,
            },
            categories: vec![],
            min_severity: 1,
            quiet_hours: None,
        };
        let area: Vec<u64> = cells_for_area(&spec);
        if i == 0 {
            let stats: Vec<_> = area.iter().filter_map(|c| by_cell.get(c)).collect();
            one_area_bytes = serde_json::to_vec(&json!({"cells": stats}))?.len();
            println!(
                "{}",
                json!({"area_cells": area.len(), "with_incidents": stats.len(), "json_bytes": one_area_bytes})
            );
        }
        for c in area {
            cells.insert(c, by_cell.get(&c).cloned());
        }
    }
    let covered: Vec<u64> = cells.keys().copied().collect();
    let hints_db = RiskHints::new(model.clone(), cells);
    println!(
        "{}",
        json!({
            "model": model.version(),
            "safetensors_bytes": weights.len(),
            "manifest_bytes": manifest.len(),
            "train_s": train_s,
            "snapshot_cells": snapshot.len(),
            "cached_cells": covered.len(),
            "one_area_json_bytes": one_area_bytes,
            "training_windows": model.manifest().training.windows,
            "deviance_explained": model.manifest().metrics.deviance_explained,
        })
    );

    // Latency of risk_hint: random covered cells, random points near their centres,
    // random hours of a week.
    let zone = FixedOffset::west_opt(5 * 3600).context("offset")?;
    let monday = zone
        .with_ymd_and_hms(2026, 11, 23, 0, 0, 0)
        .single()
        .context("time")?;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let queries: Vec<(f64, f64, chrono::DateTime<FixedOffset>)> = (0..hints)
            .map(|_| {
                let cell =
                    h3o::CellIndex::try_from(covered[(next() % covered.len() as u64) as usize])
                        .expect("a cell");
                let ll = h3o::LatLng::from(cell);
                let at = monday + chrono::Duration::minutes((next() % (7 * 24 * 60)) as i64);
                (ll.lat(), ll.lng(), at)
            })
            .collect();
        let mut micros = Vec::with_capacity(hints);
        let mut levels = [0u64; 4];
        for (lat, lon, at) in &queries {
            let t = Instant::now();
            let h = hints_db.hint(*lat, *lon, *at)?;
            micros.push(t.elapsed().as_secs_f64() * 1e6);
            levels[h.level as usize] += 1;
        }
        micros.sort_by(f64::total_cmp);
        let (p50, p99) = (percentile(&micros, 0.5), percentile(&micros, 0.99));
        println!(
            "{}",
            json!({"run": run + 1, "hints": hints, "p50_us": p50, "p99_us": p99, "max_us": micros[micros.len() - 1],
                   "levels": {"low": levels[0], "usual": levels[1], "elevated": levels[2], "high": levels[3]}})
        );
        p50s.push(p50);
        p99s.push(p99);
    }
    println!(
        "{}",
        json!({"median_p50_us": median(p50s), "median_p99_us": median(p99s), "runs": runs})
    );
    Ok(())
}
