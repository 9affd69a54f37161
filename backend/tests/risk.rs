//! The risk model for analysts and for devices: `vigil risk train`, `grid` and `eval` on a
//! file in the Toronto MCI layout (run as the real binary), and the batch layer training on
//! the lake and publishing the model that `/v1/risk` and the sync pull offer.

mod common;

use std::{io::Write, path::Path, process::Command, time::Duration};

use axum::http::{Method, StatusCode};
use bytes::Bytes;
use chrono::{NaiveDate, TimeZone, Utc};
use common::{Engine, TestApp};
use serde_json::{Value, json};
use vigil_backend::{
    batch::{self, BatchStore},
    config::OnCorrupt,
    lake::{
        Lake,
        parquet::{ArchivedChange, to_parquet},
    },
    risk::publish::{LATEST_KEY, RiskServing},
};
use vigil_sync::{AreaCell, Location, risk::SquareGrid};

const HEADER: &str = "occurrencedate,occurrencehour,premises_type,occurrencemonth,occurrencedayofweek,MCI,Neighbourhood,occurrenceday,occurrencedayofyear,Pub_Id,Park_Id,PS_Id,Lat,Long\n";
const BBOX: [f64; 4] = [-79.45, 43.64, -79.40, 43.68];
const BBOX_ARG: &str = "--bbox=-79.45,43.64,-79.40,43.68";

/// A small xorshift generator: the same city every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 1e6
    }
}

/// Places with steady weekly rates: a few hot corners, some warm ones, a cold rest.
fn places() -> Vec<(f64, f64, f64)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..120)
        .map(|i| {
            let lat = BBOX[1] + 0.002 + rng.unit() * (BBOX[3] - BBOX[1] - 0.004);
            let lon = BBOX[0] + 0.002 + rng.unit() * (BBOX[2] - BBOX[0] - 0.004);
            let rate = match i {
                0..=4 => 4.0,
                5..=19 => 0.7,
                _ => 0.04,
            };
            (lat, lon, rate)
        })
        .collect()
}

/// `(date, hour, category, lat, lon)` for each day from `from` until `to`.
fn incidents(
    from: NaiveDate,
    to: NaiveDate,
    seed: u64,
) -> Vec<(NaiveDate, u32, &'static str, f64, f64)> {
    let mut rng = Rng(seed);
    let places = places();
    let mut out = Vec::new();
    let mut day = from;
    while day < to {
        for &(lat, lon, rate) in &places {
            if rng.unit() < rate / 7.0 {
                let mci = [
                    "Assault",
                    "Break and Enter",
                    "Auto Theft",
                    "Robbery",
                    "Theft Over",
                ][(rng.next() % 5) as usize];
                out.push((day, (rng.next() % 24) as u32, mci, lat, lon));
            }
        }
        day = day.succ_opt().unwrap();
    }
    out
}

fn csv_rows(rows: &[(NaiveDate, u32, &str, f64, f64)]) -> String {
    rows.iter()
        .map(|(d, h, mci, lat, lon)| {
            format!(
                "{} 05:00:00+00,{h},Outside,x,x,{mci},Somewhere,1,1,0,0,0,{lat:.8},{lon:.8}\n",
                d.format("%Y/%m/%d")
            )
        })
        .collect()
}

fn write_gz(path: &Path, text: &str) {
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap();
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Runs `vigil` with the words of `line` as its arguments (no word has a space).
fn run(line: &str) -> (bool, String, String) {
    vigil(&line.split_whitespace().collect::<Vec<_>>())
}

fn vigil(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .env(
            "VIGIL_DATA_DIR",
            std::env::temp_dir().join("vigil-risk-test-unused"),
        )
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn train_grid_and_eval_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let history = incidents(date(2015, 1, 1), date(2018, 7, 1), 1);
    let after = incidents(date(2018, 7, 1), date(2018, 10, 1), 2);
    let file = dir.path().join("mci.csv.gz");
    write_gz(
        &file,
        &format!("{HEADER}{}{}", csv_rows(&history), csv_rows(&after)),
    );
    let (f, model) = (file.to_str().unwrap(), dir.path().join("model"));
    let m = model.to_str().unwrap();

    // Train on everything before 2018-07-01.
    let (ok, out, err) = run(&format!(
        "risk train --incidents {} --until 2018-07-01 --out {} {} --quiet",
        f, m, BBOX_ARG
    ));
    assert!(ok, "{out}{err}");
    assert!(out.contains("training windows: 156 of 7 days"), "{out}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(model.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["training"]["until"], "2018-07-01");
    assert_eq!(manifest["grid"]["kind"], "square");
    assert_eq!(manifest["features"].as_array().unwrap().len(), 5);
    let size = std::fs::metadata(model.join("model.safetensors"))
        .unwrap()
        .len();
    assert!(size < 1024, "model.safetensors is {size} bytes");
    // A steady city: the fit explains much of the variation.
    assert!(
        manifest["metrics"]["deviance_explained"].as_f64().unwrap() > 0.2,
        "{manifest}"
    );

    // The grid: one row per cell, centres as the protocol defines them.
    let grid_csv = dir.path().join("grid.csv");
    let g = grid_csv.to_str().unwrap();
    let grid = |file: &str, out: &str| {
        run(&format!(
            "risk grid --model {m} --incidents {file} --from 2018-07-01 --to 2018-07-08 {BBOX_ARG} --cell-m 250 --out {out} --quiet"
        ))
    };
    let (ok, out, err) = grid(f, g);
    assert!(ok, "{out}{err}");
    let square = SquareGrid::new(BBOX, 250.0).unwrap();
    let text = std::fs::read_to_string(&grid_csv).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "lat,lon,score");
    assert_eq!(rows.len() as u64, square.len() + 1);
    let first: Vec<f64> = rows[1].split(',').map(|v| v.parse().unwrap()).collect();
    assert!((first[0] - (BBOX[1] + square.dlat / 2.0)).abs() < 1e-6);
    assert!((first[1] - (BBOX[0] + square.dlon / 2.0)).abs() < 1e-6);
    // The hottest cell is a hot corner's, and its score is about a week of its rate.
    let (best, score) = rows[1..]
        .iter()
        .enumerate()
        .map(|(i, r)| (i, r.rsplit(',').next().unwrap().parse::<f64>().unwrap()))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    let hot: Vec<u64> = places()[..5]
        .iter()
        .map(|&(lat, lon, _)| square.cell(lat, lon).unwrap())
        .collect();
    assert!(
        hot.contains(&(best as u64)),
        "cell {best} is not a hot corner"
    );
    assert!(
        (2.0..13.0).contains(&score),
        "hot corner expects {score} a week"
    );

    // Rows at or after --from do not change the grid; one before it does.
    let mut more = after.clone();
    more.extend(incidents(date(2018, 7, 1), date(2019, 7, 1), 3));
    let file2 = dir.path().join("more.csv.gz");
    write_gz(
        &file2,
        &format!("{HEADER}{}{}", csv_rows(&more), csv_rows(&history)),
    );
    let grid2 = dir.path().join("grid2.csv");
    let g2 = grid2.to_str().unwrap();
    let (ok, out, err) = grid(file2.to_str().unwrap(), g2);
    assert!(ok, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(&grid2).unwrap(),
        text,
        "later rows changed the grid"
    );
    let file3 = dir.path().join("earlier.csv.gz");
    let earlier = [(date(2018, 6, 30), 12, "Assault", 43.6601, -79.4301)];
    write_gz(
        &file3,
        &format!("{HEADER}{}{}", csv_rows(&history), csv_rows(&earlier)),
    );
    let (ok, _, err) = grid(file3.to_str().unwrap(), g2);
    assert!(ok, "{err}");
    assert_ne!(
        std::fs::read_to_string(&grid2).unwrap(),
        text,
        "an earlier row changed nothing"
    );

    // Evaluation over the quarter after training: both maps find the hot corners.
    let (ok, out, err) = run(&format!(
        "risk eval --model {} --incidents {} --from 2018-07-01 --to 2018-10-01 --horizon 7d --json --quiet",
        m, f
    ));
    assert!(ok, "{out}{err}");
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["windows"], 14);
    assert_eq!(e["incidents"].as_u64().unwrap(), after.len() as u64);
    assert_eq!(e["cells"].as_u64().unwrap(), square.len());
    for side in ["model", "count_map"] {
        let (at1, at5) = (&e[side][0], &e[side][1]);
        assert_eq!(at1["fraction"], 0.01);
        // 1% is 3 cells, 5% is 15: enough for three hot corners, then all of them and the
        // warm places, which carry most of the incidents.
        assert!(at1["hit_rate"].as_f64().unwrap() > 0.25, "{side}: {at1}");
        assert!(at5["hit_rate"].as_f64().unwrap() > 0.6, "{side}: {at5}");
        let pai = at1["pai"].as_f64().unwrap();
        let want = at1["hit_rate"].as_f64().unwrap()
            / (at1["cells"].as_f64().unwrap() / square.len() as f64);
        assert!((pai - want).abs() < 1e-9);
    }
    let (ok, table, _) = run(&format!(
        "risk eval --model {} --incidents {} --from 2018-07-01 --to 2018-10-01 --quiet",
        m, f
    ));
    assert!(ok);
    assert!(
        table.contains("PAI@1%") && table.contains("count map") && table.contains("model vs count"),
        "{table}"
    );
}

#[test]
fn bad_arguments_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mci.csv.gz");
    write_gz(
        &file,
        &format!(
            "{HEADER}{}",
            csv_rows(&incidents(date(2017, 1, 1), date(2017, 3, 1), 4))
        ),
    );
    let f = file.to_str().unwrap();
    let out = dir.path().join("m");
    let o = out.to_str().unwrap();

    let (ok, _, err) = run(&format!(
        "risk train --incidents {f} --until 2017-03-01 --out {o} --bbox=1,2,3"
    ));
    assert!(!ok && err.contains("four numbers"), "{err}");
    let (ok, _, err) = run(&format!(
        "risk train --incidents {} --until 2017-02-30 --out {}",
        f, o
    ));
    assert!(!ok && err.contains("like 2019-01-01"), "{err}");
    let (ok, _, err) = run(&format!(
        "risk train --incidents {} --until 2017-03-01 --out {} --cell-m 2",
        f, o
    ));
    assert!(!ok && err.contains("--cell-m"), "{err}");
    // Two months of data cannot fill the training windows' history.
    let (ok, _, err) = run(&format!(
        "risk train --incidents {} --until 2017-01-20 --out {} --quiet",
        f, o
    ));
    assert!(!ok && err.contains("move --until later"), "{err}");
    assert!(
        !out.join("manifest.json").exists(),
        "a refused training wrote a model"
    );
    let (ok, _, err) = run(&format!(
        "risk eval --model /nonexistent --incidents {} --from 2017-01-01 --to 2017-02-01",
        f
    ));
    assert!(!ok && err.contains("vigil risk train --out"), "{err}");
    let not_mci = dir.path().join("other.csv");
    std::fs::write(&not_mci, "a,b\n1,2\n").unwrap();
    let (ok, _, err) = run(&format!(
        "risk train --incidents {} --until 2017-03-01 --out {}",
        not_mci.to_str().unwrap(),
        o
    ));
    assert!(!ok && err.contains("Toronto Police MCI"), "{err}");

    // A trained model refuses another cell size and a reversed period.
    let (ok, _, err) = run(&format!(
        "risk train --incidents {} --until 2017-03-01 --out {} {} --quiet --windows 4",
        f, o, BBOX_ARG
    ));
    assert!(ok, "{err}");
    let g = dir.path().join("g.csv");
    let (ok, _, err) = run(&format!(
        "risk grid --model {} --incidents {} --from 2017-03-01 --to 2017-03-08 {} --cell-m 500 --out {}",
        o,
        f,
        BBOX_ARG,
        g.to_str().unwrap()
    ));
    assert!(!ok && err.contains("pass --cell-m 250"), "{err}");
    let (ok, _, err) = run(&format!(
        "risk grid --model {} --incidents {} --from 2017-03-08 --to 2017-03-01 {} --out {}",
        o,
        f,
        BBOX_ARG,
        g.to_str().unwrap()
    ));
    assert!(!ok && err.contains("must be before"), "{err}");
    let (ok, help, _) = run("risk --help");
    assert!(
        ok && help.contains("train") && help.contains("grid") && help.contains("eval"),
        "{help}"
    );
}

/// Incidents as the archive writes them: upserts, with a status change and a tombstone.
fn archived(rows: &[(NaiveDate, u32, &str, f64, f64)]) -> Vec<ArchivedChange> {
    let category = |mci: &str| match mci {
        "Assault" => "assault",
        "Break and Enter" => "break_and_enter",
        "Auto Theft" => "auto_theft",
        "Robbery" => "robbery",
        _ => "theft",
    };
    rows.iter()
        .enumerate()
        .map(|(i, (d, h, mci, lat, lon))| {
            let local = d.and_hms_opt(*h, 0, 0).unwrap();
            let offset = chrono::FixedOffset::west_opt(5 * 3600).unwrap();
            let at = offset.from_local_datetime(&local).unwrap();
            let loc = Location {
                lat: *lat,
                lon: *lon,
                accuracy_m: None,
            };
            ArchivedChange {
                seq: i as u64 + 1,
                log_partition: 0,
                log_offset: i as u64,
                id: format!("00000000-0000-7000-8000-{:012x}", i + 1),
                version: 1,
                kind: "upsert",
                cell: AreaCell::of(&loc, 8).unwrap().to_string(),
                category: Some(category(mci).to_owned()),
                status: Some("unverified".into()),
                occurred_at_ms: Some(at.timestamp_millis()),
                occurred_offset_s: Some(-5 * 3600),
                reported_at_ms: Some(at.timestamp_millis()),
                lat: Some(*lat),
                lon: Some(*lon),
                accuracy_m: None,
                source: Some("feed"),
                feed: Some("test".into()),
                record_id: Some(i.to_string()),
                place: None,
                description: Some(String::new()),
                at_ms: Utc::now().timestamp_millis(),
            }
        })
        .collect()
}

#[tokio::test]
async fn the_batch_publishes_a_model_that_the_api_serves() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path().join("lake"));
    let today = Utc::now().date_naive();
    // Three years and a month: enough history before each of the 156 training weeks.
    let rows = incidents(today - chrono::Duration::days(3 * 365 + 30), today, 5);
    let mut changes = archived(&rows);
    // A rejected incident and a withdrawn one far from the rest: neither is counted.
    let lonely = [(
        today - chrono::Duration::days(10),
        3,
        "Assault",
        43.70,
        -79.30,
    )];
    let mut gone = archived(&lonely);
    gone[0].id = "00000000-0000-7000-8000-aaaaaaaaaaaa".into();
    let mut rejected = gone[0].clone();
    rejected.kind = "status";
    rejected.version = 2;
    rejected.status = Some("rejected".into());
    changes.extend(gone);
    changes.push(rejected);
    lake.put(
        "incidents/date=2026-01-01/p0-1-9.parquet",
        to_parquet(&changes).unwrap(),
    )
    .await
    .unwrap();

    let views = tempfile::tempdir().unwrap();
    let store = BatchStore::open_sqlite(views.path()).await.unwrap();
    let summary = batch::run(&lake, &store, OnCorrupt::Fail, false)
        .await
        .unwrap();
    let published = summary.risk.clone().expect("the model was trained");
    assert_eq!(published.windows, 156);
    assert!(
        summary
            .to_string()
            .contains(&format!("risk model {}", published.version))
    );
    let version = String::from_utf8(lake.get(LATEST_KEY).await.unwrap().to_vec()).unwrap();
    assert_eq!(version, published.version);

    let app = TestApp::new(Engine::Sqlite)
        .await
        .with_risk(RiskServing::new(lake.clone()).with_recheck(Duration::ZERO));
    let token = app.user("rhea").await;
    let (status, _) = app.call(Method::GET, "/v1/risk/model", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, model) = app
        .call(Method::GET, "/v1/risk/model", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{model}");
    assert_eq!(model["version"], published.version.as_str());
    assert_eq!(
        model["manifest"]["grid"],
        json!({"kind": "h3", "resolution": 9})
    );
    assert!(model["weights"].as_str().unwrap().len() < 1400);

    // The pull offers the model's version.
    let (_, pull) = app
        .call(Method::GET, "/v1/sync/pull", Some(&token), None)
        .await;
    assert_eq!(pull["risk_model"], published.version.as_str());

    // Cells: a hot corner has counts; the lonely place's cell has none (rejected).
    let cell9 = |lat: f64, lon: f64| {
        let c = AreaCell::of(
            &Location {
                lat,
                lon,
                accuracy_m: None,
            },
            9,
        )
        .unwrap();
        c.to_string()
    };
    let (hl, hn, _) = places()[0];
    let (status, cells) = app
        .call(
            Method::POST,
            "/v1/risk/cells",
            Some(&token),
            Some(json!({"cells": [cell9(hl, hn), cell9(43.70, -79.30)]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cells}");
    assert_eq!(cells["version"], published.version.as_str());
    let list = cells["cells"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{cells}");
    assert_eq!(list[0]["cell"], cell9(hl, hn));
    assert!(
        list[0]["features"]["n365"].as_u64().unwrap() > 100,
        "{}",
        list[0]
    );
    assert_eq!(list[0]["hours"].as_array().unwrap().len(), 168);

    // Bad cells are refused by position; too many by count.
    let (status, err) = app
        .call(
            Method::POST,
            "/v1/risk/cells",
            Some(&token),
            Some(json!({"cells": [cell9(hl, hn), "nope"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["field"], "cells[1]");
    let many: Vec<String> = (0..5001).map(|_| cell9(hl, hn)).collect();
    let (status, err) = app
        .call(
            Method::POST,
            "/v1/risk/cells",
            Some(&token),
            Some(json!({"cells": many})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["field"], "cells");

    // A newer model replaces it once published; a damaged one is an error, not a crash.
    lake.put(LATEST_KEY, Bytes::from_static(b"19990101T000000000Z"))
        .await
        .unwrap();
    let (status, body) = app
        .call(Method::GET, "/v1/risk/model", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let (status, pull) = app
        .call(Method::GET, "/v1/sync/pull", Some(&token), None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a broken model must not stop a sync"
    );
    assert!(pull.get("risk_model").is_none(), "{pull}");
}

#[tokio::test]
async fn no_model_yet_is_a_404_that_says_when_one_comes() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::new(Engine::Sqlite)
        .await
        .with_risk(RiskServing::new(Lake::local(dir.path().join("lake"))));
    let token = app.user("nemo").await;
    let (status, body) = app
        .call(Method::GET, "/v1/risk/model", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no_risk_model");
    assert!(body["message"].as_str().unwrap().contains("vigil batch"));
    let (_, pull) = app
        .call(Method::GET, "/v1/sync/pull", Some(&token), None)
        .await;
    assert!(pull.get("risk_model").is_none());
}
