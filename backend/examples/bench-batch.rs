//! The batch layer's full recompute, timed: `cargo xtask bench batch` runs this.
//!
//! Builds a local lake from the Toronto MCI file as the archive would write it (one upsert
//! per incident, objects of 100,000 changes), and a second lake with `--copies` copies of
//! every incident under new ids (and slightly moved, so the cells differ). Then runs
//! `batch::run` over each lake `--runs` times, each into a fresh views store, and prints
//! every run and the median as JSON lines.

use std::{path::PathBuf, time::Instant};

use anyhow::Context;
use chrono::Utc;
use vigil_backend::{
    archive::object_key,
    batch::{self, BatchStore},
    config::OnCorrupt,
    events::{EVENT_VERSION, IncidentEvent},
    import::TorontoMci,
    lake::{
        Lake,
        parquet::{ArchivedChange, to_parquet},
    },
    log::Delivered,
};
use vigil_sync::{AreaCell, CELL_RESOLUTION, Change, IncidentId};

const OBJECT_ROWS: usize = 100_000;
const PARTITIONS: u32 = 4;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

async fn build_lake(
    lake: &Lake,
    incidents: &[vigil_backend::db::NewIncident],
    copies: u32,
) -> anyhow::Result<usize> {
    let now = Utc::now().timestamp_millis();
    let day = Utc::now().format("%Y-%m-%d").to_string();
    let mut rows = Vec::with_capacity(OBJECT_ROWS);
    let mut offsets = [0u64; PARTITIONS as usize];
    let mut seq = 0u64;
    let mut total = 0;
    for copy in 0..copies {
        for item in incidents {
            let mut incident = item.incident.clone();
            if copy > 0 {
                incident.id = IncidentId::for_feed_record(
                    "bench-copy",
                    &format!("{}#{copy}", item.incident.id),
                );
                incident.location.lat += f64::from(copy) * 0.0011;
                incident.location.lon -= f64::from(copy) * 0.0013;
            }
            let cell = AreaCell::of(&incident.location, CELL_RESOLUTION)?;
            let partition = (cell.index() % u64::from(PARTITIONS)) as u32;
            seq += 1;
            let event = IncidentEvent {
                v: EVENT_VERSION,
                seq,
                cell,
                change: Change::Upsert { incident },
                at: Some(now),
            };
            let from = Delivered {
                partition,
                offset: offsets[partition as usize],
                timestamp_ms: now,
                key: Vec::new(),
                payload: Vec::new(),
            };
            offsets[partition as usize] += 1;
            rows.push(ArchivedChange::new(&event, &from));
            if rows.len() == OBJECT_ROWS {
                total += flush(lake, &day, &mut rows).await?;
            }
        }
    }
    total += flush(lake, &day, &mut rows).await?;
    Ok(total)
}

async fn flush(lake: &Lake, day: &str, rows: &mut Vec<ArchivedChange>) -> anyhow::Result<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    let first = rows.iter().map(|r| r.log_offset).min().unwrap_or(0);
    let last = rows.iter().map(|r| r.log_offset).max().unwrap_or(0);
    let key = object_key(day, rows[0].log_partition, first, last);
    lake.put(&key, to_parquet(rows)?).await?;
    let n = rows.len();
    rows.clear();
    Ok(n)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let data = PathBuf::from(arg("--data").context("--data FILE.csv.gz is required")?);
    let runs: usize = arg("--runs").map_or(Ok(3), |r| r.parse())?;
    let copies: u32 = arg("--copies").map_or(Ok(10), |r| r.parse())?;
    let mut file = TorontoMci::open(&data)?;
    let mut incidents = Vec::new();
    loop {
        let batch = file.next_batch(50_000)?;
        if batch.is_empty() {
            break;
        }
        incidents.extend(batch);
    }
    eprintln!("read {} incidents from {}", incidents.len(), data.display());
    let scratch = tempfile::tempdir()?;
    for (label, n) in [("toronto", 1), ("toronto_x10", copies)] {
        let lake = Lake::local(scratch.path().join(label));
        let started = Instant::now();
        let changes = build_lake(&lake, &incidents, n).await?;
        eprintln!(
            "{label}: lake of {changes} changes built in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let mut seconds = Vec::new();
        for run in 0..runs {
            let views = scratch.path().join(format!("views-{label}-{run}"));
            let store = BatchStore::open_sqlite(&views).await?;
            let summary = batch::run(&lake, &store, OnCorrupt::Fail, false).await?;
            store.close().await;
            println!(
                "{{\"lake\":\"{label}\",\"run\":{run},\"changes\":{},\"incidents\":{},\"seconds\":{:.3}}}",
                summary.changes, summary.incidents, summary.seconds
            );
            seconds.push(summary.seconds);
        }
        seconds.sort_by(f64::total_cmp);
        println!(
            "{{\"lake\":\"{label}\",\"median_seconds\":{:.3},\"runs\":{runs}}}",
            seconds[seconds.len() / 2]
        );
    }
    Ok(())
}
