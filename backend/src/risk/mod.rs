//! `vigil risk`: the risk model for analysts (train, score a grid, evaluate against the
//! count map, from a Toronto MCI CSV) and for the batch layer (train on the lake's
//! incidents, publish the model and the cell snapshot devices cache).

pub mod publish;

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use chrono::{NaiveDate, NaiveDateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use vigil_sync::{
    Category,
    risk::{
        CellGrid, Event, GridSpec, History, RiskModel, SquareGrid, TrainOptions,
        eval::{Evaluation, evaluate, model_scores},
        features::day_number,
        model::{MANIFEST_FILE, MODEL_FILE},
        train,
    },
};

use crate::import::TorontoMci;

/// One incident as the risk model reads it.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
    /// Local time where it happened.
    pub local: NaiveDateTime,
    pub category: Category,
}

/// The incidents of a file, with the rows that could not be read.
#[derive(Debug, Default)]
pub struct Incidents {
    pub points: Vec<Point>,
    /// Rows read (the header is not counted).
    pub rows: u64,
    /// Rows skipped, by reason, with the first row number that had it.
    pub skipped: BTreeMap<String, (u64, u64)>,
}

impl Incidents {
    /// The smallest box on a 0.01° lattice that holds every point.
    pub fn extent(&self) -> Option<[f64; 4]> {
        let first = self.points.first()?;
        let mut b = [first.lon, first.lat, first.lon, first.lat];
        for p in &self.points {
            b = [
                b[0].min(p.lon),
                b[1].min(p.lat),
                b[2].max(p.lon),
                b[3].max(p.lat),
            ];
        }
        let down = |v: f64| (v * 100.0).floor() / 100.0;
        // Strictly above the largest value: the box's east and north edges are outside it.
        let up = |v: f64| (v * 100.0).floor() / 100.0 + 0.01;
        Some([down(b[0]), down(b[1]), up(b[2]), up(b[3])])
    }

    /// The incidents as a history in `grid`, and how many fell outside it.
    pub fn history(&self, grid: CellGrid) -> (History, u64) {
        let events: Vec<Event> = self
            .points
            .iter()
            .filter_map(|p| Event::at(&grid, p.lat, p.lon, p.local, p.category))
            .collect();
        let outside = self.points.len() as u64 - events.len() as u64;
        (History::new(grid, events), outside)
    }
}

fn bar(progress: bool, len: u64, template: &str) -> ProgressBar {
    let bar = if progress {
        ProgressBar::new(len)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Reads a Toronto Police MCI CSV (plain or `.gz`).
pub fn read_mci(path: &Path, progress: bool) -> anyhow::Result<Incidents> {
    let mut file = TorontoMci::open(path)?;
    let bar = bar(
        progress,
        file.progress().1,
        "{spinner} reading [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
    );
    let mut out = Incidents::default();
    loop {
        let rows = file.next_records(10_000)?;
        if rows.is_empty() {
            break;
        }
        for (n, row) in rows {
            out.rows += 1;
            match row {
                Ok(r) => out.points.push(Point {
                    lat: r.lat,
                    lon: r.lon,
                    local: r.occurred_at.naive_local(),
                    category: r.category,
                }),
                Err(reason) => out.skipped.entry(reason).or_insert((0, n)).0 += 1,
            }
        }
        bar.set_position(file.progress().0);
        bar.set_message(format!("{} rows", out.rows));
    }
    bar.finish_and_clear();
    if out.points.is_empty() {
        bail!(
            "{}: no usable rows ({} read); is this the Toronto Police MCI CSV export?",
            path.display(),
            out.rows
        );
    }
    Ok(out)
}

/// Parses `MINLON,MINLAT,MAXLON,MAXLAT`.
pub fn parse_bbox(text: &str) -> Result<[f64; 4], String> {
    let parts: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("--bbox {text:?}: give four numbers MINLON,MINLAT,MAXLON,MAXLAT"))?;
    <[f64; 4]>::try_from(parts)
        .map_err(|_| format!("--bbox {text:?}: give four numbers MINLON,MINLAT,MAXLON,MAXLAT"))
}

/// Parses a horizon such as `7d` or `1w` into whole days.
pub fn parse_horizon(text: &str) -> Result<u32, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("--horizon {text:?}: {e}; write it like 7d"))?;
    let secs = d.as_secs();
    if secs == 0 || secs % 86_400 != 0 || d.subsec_nanos() != 0 {
        return Err(format!("--horizon {text:?}: must be whole days, like 7d"));
    }
    u32::try_from(secs / 86_400)
        .ok()
        .filter(|d| (1..=366).contains(d))
        .ok_or_else(|| format!("--horizon {text:?}: must be from 1d to 366d"))
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{text:?} is not a date like 2019-01-01"))
}

fn square(bbox: [f64; 4], cell_m: f64) -> anyhow::Result<SquareGrid> {
    SquareGrid::new(bbox, cell_m)
        .map_err(|e| anyhow::anyhow!("--{}: {}", e.field.replace('_', "-"), e.reason))
}

/// Writes a model's two files into `dir` (created if missing), each through a temporary
/// file so a reader never sees half a model.
pub fn save_model(model: &RiskModel, dir: &Path) -> anyhow::Result<(u64, u64)> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (manifest, weights) = model.to_parts()?;
    for (name, bytes) in [(MODEL_FILE, &weights), (MANIFEST_FILE, &manifest)] {
        write_atomic(&dir.join(name), bytes)?;
    }
    Ok((manifest.len() as u64, weights.len() as u64))
}

/// Reads the model saved in `dir`.
pub fn load_model(dir: &Path) -> anyhow::Result<RiskModel> {
    let read = |name: &str| {
        let path = dir.join(name);
        fs::read(&path).with_context(|| {
            format!(
                "cannot read {}; is {} a model directory from `vigil risk train --out`?",
                path.display(),
                dir.display()
            )
        })
    };
    Ok(RiskModel::from_parts(
        &read(MANIFEST_FILE)?,
        &read(MODEL_FILE)?,
    )?)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::log::file::replace_file(path, bytes)
        .map_err(|(p, e)| anyhow::anyhow!("cannot write {}: {e}", p.display()))
}

fn print_skipped(incidents: &Incidents, outside: u64) {
    let skipped: u64 = incidents.skipped.values().map(|(n, _)| n).sum();
    eprintln!(
        "read {} rows: {} incidents, {skipped} skipped, {outside} outside the grid",
        incidents.rows,
        incidents.points.len()
    );
    for (reason, (n, first)) in &incidents.skipped {
        eprintln!("  {n:>8} × {reason} (first at row {first})");
    }
}

/// `vigil risk train`.
#[derive(Debug)]
pub struct TrainArgs {
    pub incidents: PathBuf,
    pub until: NaiveDate,
    pub out: PathBuf,
    pub bbox: Option<[f64; 4]>,
    pub cell_m: f64,
    pub horizon_days: u32,
    pub windows: u32,
    pub progress: bool,
}

pub fn train_cmd(args: TrainArgs) -> anyhow::Result<RiskModel> {
    let incidents = read_mci(&args.incidents, args.progress)?;
    let bbox = match args.bbox {
        Some(b) => b,
        None => incidents.extent().context("no incidents")?,
    };
    let grid = square(bbox, args.cell_m)?;
    let (history, outside) = incidents.history(CellGrid::Square(grid));
    print_skipped(&incidents, outside);
    let now = Utc::now();
    let mut options = TrainOptions::new(
        day_number(args.until),
        format!("{}-{}", args.until, now.format("%Y%m%dT%H%M%SZ")),
        now,
    );
    options.horizon_days = args.horizon_days;
    options.windows = args.windows;
    let bar = bar(
        args.progress,
        u64::from(args.windows),
        "{spinner} counting windows [{elapsed_precise}] {wide_bar} {pos}/{len}",
    );
    let model = train(&history, &options, &mut |done, total| {
        bar.set_length(u64::from(total));
        bar.set_position(u64::from(done));
    })?;
    bar.finish_and_clear();
    let (manifest_size, weight_size) = save_model(&model, &args.out)?;
    let m = model.manifest();
    println!("model {} saved in {}", m.version, args.out.display());
    println!(
        "grid: {} over {:?}; training windows: {} of {} days from {} to {} ({} rows)",
        m.grid.describe(),
        bbox,
        m.training.windows,
        m.horizon_days,
        m.training.first_window,
        m.training.until,
        m.training.rows
    );
    println!(
        "fit: {} Newton iterations, deviance explained {:.1}%",
        m.metrics.iterations,
        m.metrics.deviance_explained * 100.0
    );
    println!(
        "log(expected per {} days) = {:.4} {}",
        m.horizon_days,
        m.bias,
        m.features
            .iter()
            .zip(&m.weights)
            .map(|(f, w)| format!(
                "{} {:.4}·log1p({f})",
                if *w < 0.0 { "-" } else { "+" },
                w.abs()
            ))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("files: {MODEL_FILE} {weight_size} bytes, {MANIFEST_FILE} {manifest_size} bytes");
    Ok(model)
}

fn model_grid(
    model: &RiskModel,
    bbox: Option<[f64; 4]>,
    cell_m: Option<f64>,
) -> anyhow::Result<SquareGrid> {
    let GridSpec::Square {
        bbox: trained_bbox,
        cell_m: trained_cell,
    } = model.manifest().grid.clone()
    else {
        bail!(
            "this model was trained on {}; grids and evaluations need a model from `vigil risk train`",
            model.manifest().grid.describe()
        );
    };
    let cell_m = cell_m.unwrap_or(trained_cell);
    if (cell_m - trained_cell).abs() > 1e-9 {
        bail!(
            "--cell-m {cell_m}: the model was trained on {trained_cell} m cells, and its features count incidents per cell; pass --cell-m {trained_cell} or train a model with --cell-m {cell_m}"
        );
    }
    square(bbox.unwrap_or(trained_bbox), cell_m)
}

/// `vigil risk grid`: writes `lat,lon,score` for every cell; returns the number of cells.
#[allow(clippy::too_many_arguments)]
pub fn grid_cmd(
    model_dir: &Path,
    incidents: &Path,
    from: NaiveDate,
    to: NaiveDate,
    bbox: [f64; 4],
    cell_m: Option<f64>,
    out: &Path,
    progress: bool,
) -> anyhow::Result<u64> {
    if from >= to {
        bail!("--from {from} must be before --to {to}");
    }
    let model = load_model(model_dir)?;
    let square = model_grid(&model, Some(bbox), cell_m)?;
    let incidents = read_mci(incidents, progress)?;
    let (history, outside) = incidents.history(CellGrid::Square(square.clone()));
    print_skipped(&incidents, outside);
    let (from_day, to_day) = (day_number(from), day_number(to));
    let scale = f64::from(to_day - from_day) / f64::from(model.manifest().horizon_days);
    let scores = model_scores(&model, &history, from_day)?;
    let mut text = String::with_capacity(scores.len() * 40);
    text.push_str("lat,lon,score\n");
    for (cell, score) in scores.iter().enumerate() {
        let (lat, lon) = square.centre(cell as u64);
        text.push_str(&format!(
            "{lat:.6},{lon:.6},{:.6e}\n",
            f64::from(*score) * scale
        ));
    }
    write_atomic(out, text.as_bytes())?;
    Ok(scores.len() as u64)
}

/// `vigil risk eval`.
#[allow(clippy::too_many_arguments)]
pub fn eval_cmd(
    model_dir: &Path,
    incidents: &Path,
    from: NaiveDate,
    to: NaiveDate,
    horizon_days: Option<u32>,
    bbox: Option<[f64; 4]>,
    cell_m: Option<f64>,
    progress: bool,
) -> anyhow::Result<Evaluation> {
    let model = load_model(model_dir)?;
    let grid = model_grid(&model, bbox, cell_m)?;
    let incidents = read_mci(incidents, progress)?;
    let (history, outside) = incidents.history(CellGrid::Square(grid));
    print_skipped(&incidents, outside);
    let horizon = horizon_days.unwrap_or(model.manifest().horizon_days);
    let bar = bar(
        progress,
        0,
        "{spinner} evaluating [{elapsed_precise}] {wide_bar} {pos}/{len} windows",
    );
    let result = evaluate(
        &model,
        &history,
        day_number(from),
        day_number(to),
        horizon,
        &mut |done, total| {
            bar.set_length(u64::from(total));
            bar.set_position(u64::from(done));
        },
    )?;
    bar.finish_and_clear();
    if from < model.manifest().training.until {
        eprintln!(
            "warning: the model was trained on incidents up to {}, after --from {from}: the evaluation is not out of sample",
            model.manifest().training.until
        );
    }
    Ok(result)
}

/// The evaluation as a table for people.
pub fn format_evaluation(e: &Evaluation, from: NaiveDate, to: NaiveDate) -> String {
    let mut out = format!(
        "period {from} to {to}: {} windows of {} days, {} incidents, {} cells\n",
        e.windows, e.horizon_days, e.incidents, e.cells
    );
    out.push_str(&format!("{:<16}", ""));
    for r in &e.model {
        let pct = r.fraction * 100.0;
        out.push_str(&format!(
            "{:>10}{:>10}",
            format!("HR@{pct}%"),
            format!("PAI@{pct}%")
        ));
    }
    out.push('\n');
    for (name, rates) in [("model", &e.model), ("count map", &e.count_map)] {
        out.push_str(&format!("{name:<16}"));
        for r in rates {
            out.push_str(&format!("{:>10.4}{:>10.3}", r.hit_rate, r.pai));
        }
        out.push('\n');
    }
    out.push_str(&format!("{:<16}", "model vs count"));
    for g in e.gains() {
        out.push_str(&format!("{:>10}{:>10}", "", format!("{g:+.2}%")));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse_or_say_how_to_write_them() {
        assert_eq!(parse_horizon("7d"), Ok(7));
        assert_eq!(parse_horizon("1w"), Ok(7));
        assert!(parse_horizon("36h").unwrap_err().contains("whole days"));
        assert!(parse_horizon("soon").unwrap_err().contains("like 7d"));
        assert_eq!(
            parse_bbox("-79.64,43.58,-79.11,43.86"),
            Ok([-79.64, 43.58, -79.11, 43.86])
        );
        assert!(parse_bbox("1,2,3").unwrap_err().contains("four numbers"));
        assert!(
            parse_date("2019-13-01")
                .unwrap_err()
                .contains("like 2019-01-01")
        );
    }

    #[test]
    fn the_extent_covers_every_point_on_a_hundredth_lattice() {
        let p = |lat, lon| Point {
            lat,
            lon,
            local: NaiveDateTime::default(),
            category: Category::Theft,
        };
        let i = Incidents {
            points: vec![p(43.587, -79.639), p(43.85375, -79.12306)],
            ..Incidents::default()
        };
        let [a, b, c, d] = i.extent().unwrap();
        assert!((a + 79.64).abs() < 1e-9 && (b - 43.58).abs() < 1e-9);
        assert!((c + 79.12).abs() < 1e-9 && (d - 43.86).abs() < 1e-9);
    }
}
