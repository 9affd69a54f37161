//! The CSV connector's mapping, timed: `cargo xtask bench ingest` runs this.
//!
//! Reads the Toronto MCI file through the `vigil ingest` CSV connector (`layout =
//! "toronto_mci"`) page by page, and turns every record into a validated incident (the
//! taxonomy, time zones, coordinates, the incident id), without storing anything. Prints
//! every run and the median as JSON lines.

use std::{path::PathBuf, time::Instant};

use anyhow::Context;
use chrono::Utc;
use vigil_backend::ingest::{
    IntoIncident,
    config::{CsvConfig, CsvLayout},
    files::{CsvSource, Position},
};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let data = PathBuf::from(arg("--data").context("--data FILE.csv.gz is required")?);
    let runs: usize = arg("--runs").map_or(Ok(3), |r| r.parse())?;
    let mut rates = Vec::new();
    for run in 0..runs {
        let mut source = CsvSource::new(
            CsvConfig {
                path: data.clone(),
                layout: Some(CsvLayout::TorontoMci),
                columns: None,
                delimiter: None,
            },
            "toronto-mci",
            5_000,
        );
        let started = Instant::now();
        let (mut records, mut incidents, mut rejected) = (0u64, 0u64, 0u64);
        let mut position = Position::default();
        loop {
            let page = source.page(position).await?;
            let now = Utc::now();
            for record in page.records {
                records += 1;
                match record.map(|r| r.into_incident("toronto-mci", &page.url, now)) {
                    Ok(Ok(_)) => incidents += 1,
                    _ => rejected += 1,
                }
            }
            position = serde_json::from_value(page.next)?;
            if page.done {
                break;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let rate = records as f64 / seconds;
        println!(
            "{{\"stage\":\"map\",\"run\":{run},\"records\":{records},\"incidents\":{incidents},\"rejected\":{rejected},\"seconds\":{seconds:.3},\"records_per_s\":{rate:.0}}}"
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "{{\"stage\":\"map\",\"median_records_per_s\":{:.0},\"runs\":{runs}}}",
        rates[rates.len() / 2]
    );
    Ok(())
}
