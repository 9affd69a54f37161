//! The risk model: a Poisson regression in candle. The expected incidents of a cell over
//! the next horizon (a week) are `exp(bias + w · log1p(x))` for the features `x` of
//! [`MODEL_FEATURES`]. Trained by Newton's method (iteratively reweighted least squares)
//! with the heavy sums done as candle tensor products; saved as safetensors (`weight`
//! 1 × 5, `bias` 1) beside a JSON [`Manifest`].

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{Linear, Module};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::features::{CellStats, Features, HOURS_PER_WEEK, History, date_of};
use super::grid::{CellId, GridSpec};
use super::hint::{CityReference, RiskHint, hint};

/// The features the model reads, in the order of its weights.
pub const MODEL_FEATURES: [&str; 5] = ["dec365", "dec1095", "n30", "r1_dec365", "r2_dec365"];
/// The manifest format this code reads and writes.
pub const MODEL_FORMAT: u32 = 1;
/// File names of a saved model.
pub const MODEL_FILE: &str = "model.safetensors";
pub const MANIFEST_FILE: &str = "manifest.json";

/// The model's inputs for a cell: `log1p` of each of [`MODEL_FEATURES`].
pub fn inputs(f: &Features) -> [f32; 5] {
    [
        f.dec365.ln_1p(),
        f.dec1095.ln_1p(),
        (f.n30 as f32).ln_1p(),
        f.r1_dec365.ln_1p(),
        f.r2_dec365.ln_1p(),
    ]
}

#[derive(Debug, thiserror::Error)]
pub enum RiskError {
    #[error("not enough history: {0}")]
    NotEnoughHistory(String),
    #[error("the model files are not usable: {0}")]
    BadModel(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// What a model is, how it was trained and how well it fits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub version: String,
    pub created_at: DateTime<Utc>,
    /// The cells its features are counted in.
    pub grid: GridSpec,
    /// The features, in the order of the weights; each enters as `log1p(x)`.
    pub features: Vec<String>,
    /// The weights, repeated for people (the safetensors file is the source).
    pub weights: Vec<f32>,
    pub bias: f32,
    /// The period one prediction covers.
    pub horizon_days: u32,
    pub training: Training,
    pub metrics: Metrics,
    /// The city's yardstick for hints.
    pub city: CityReference,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Training {
    /// No incident on or after this day was read.
    pub until: NaiveDate,
    /// The first training window's start; windows follow each other up to `until`.
    pub first_window: NaiveDate,
    pub windows: u32,
    /// (cell, window) rows: cells with an incident within two steps before the window.
    pub rows: u64,
    /// Incidents before `until` in the grid.
    pub incidents: u64,
    /// The L2 penalty on the standardised weights.
    pub l2: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub iterations: u32,
    /// Mean Poisson deviance per row of the model and of a constant rate.
    pub deviance: f64,
    pub deviance_constant: f64,
    /// 1 − deviance / deviance_constant.
    pub deviance_explained: f64,
}

/// How to train.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Day number (see [`super::features::day_number`]) of the first day not read.
    pub until: i32,
    pub horizon_days: u32,
    /// Training windows before `until` (156 weekly windows: three years).
    pub windows: u32,
    pub l2: f64,
    pub version: String,
    pub created_at: DateTime<Utc>,
}

impl TrainOptions {
    pub fn new(until: i32, version: impl Into<String>, created_at: DateTime<Utc>) -> Self {
        TrainOptions {
            until,
            horizon_days: 7,
            windows: 156,
            l2: 1e-4,
            version: version.into(),
            created_at,
        }
    }
}

/// Training needs at least this many windows with history.
pub const MIN_WINDOWS: u32 = 4;

/// A loaded model.
#[derive(Debug, Clone)]
pub struct RiskModel {
    manifest: Manifest,
    linear: Linear,
    /// The expectation of a cell with no incidents near it, computed once.
    empty: f32,
}

impl RiskModel {
    fn new(manifest: Manifest, weight: Tensor, bias: Tensor) -> Result<RiskModel, RiskError> {
        let linear = Linear::new(weight, Some(bias));
        let mut model = RiskModel {
            manifest,
            linear,
            empty: 0.0,
        };
        model.empty = model.expected(&Features::default())?;
        Ok(model)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn version(&self) -> &str {
        &self.manifest.version
    }

    /// Reads a model from its manifest (JSON) and weights (safetensors).
    pub fn from_parts(manifest: &[u8], weights: &[u8]) -> Result<RiskModel, RiskError> {
        let manifest: Manifest = serde_json::from_slice(manifest)
            .map_err(|e| RiskError::BadModel(format!("{MANIFEST_FILE}: {e}")))?;
        if manifest.format != MODEL_FORMAT {
            return Err(RiskError::BadModel(format!(
                "{MANIFEST_FILE}: format {} is not {MODEL_FORMAT}; use a Vigil of the same version as the model",
                manifest.format
            )));
        }
        if manifest.features != MODEL_FEATURES {
            return Err(RiskError::BadModel(format!(
                "{MANIFEST_FILE}: features {:?} are not {MODEL_FEATURES:?}; retrain with this version (vigil risk train)",
                manifest.features
            )));
        }
        let tensors = candle_core::safetensors::load_buffer(weights, &Device::Cpu)
            .map_err(|e| RiskError::BadModel(format!("{MODEL_FILE}: {e}")))?;
        let get = |name: &str, dims: &[usize]| -> Result<Tensor, RiskError> {
            let t = tensors
                .get(name)
                .ok_or_else(|| RiskError::BadModel(format!("{MODEL_FILE}: no tensor {name:?}")))?;
            if t.dims() != dims || t.dtype() != DType::F32 {
                return Err(RiskError::BadModel(format!(
                    "{MODEL_FILE}: {name} is {:?} {:?}, not f32 {dims:?}",
                    t.dtype(),
                    t.dims()
                )));
            }
            let values = t.flatten_all()?.to_vec1::<f32>()?;
            if values.iter().any(|v| !v.is_finite()) {
                return Err(RiskError::BadModel(format!(
                    "{MODEL_FILE}: {name} is not finite"
                )));
            }
            Ok(t.clone())
        };
        let weight = get("weight", &[1, MODEL_FEATURES.len()])?;
        let bias = get("bias", &[1])?;
        RiskModel::new(manifest, weight, bias)
    }

    /// The manifest (pretty JSON) and the weights (safetensors).
    pub fn to_parts(&self) -> Result<(Vec<u8>, Vec<u8>), RiskError> {
        let manifest = serde_json::to_vec_pretty(&self.manifest)
            .map_err(|e| RiskError::BadModel(e.to_string()))?;
        let bias = self
            .linear
            .bias()
            .ok_or_else(|| RiskError::BadModel("no bias".into()))?;
        let metadata = HashMap::from([("version".to_owned(), self.manifest.version.clone())]);
        let weights = safetensors::serialize(
            [("bias", bias), ("weight", self.linear.weight())],
            Some(metadata),
        )
        .map_err(|e| RiskError::BadModel(e.to_string()))?;
        Ok((manifest, weights))
    }

    /// Expected incidents over the horizon in a cell with these features.
    pub fn expected(&self, features: &Features) -> Result<f32, RiskError> {
        let x = Tensor::from_slice(
            &inputs(features)[..],
            (1, MODEL_FEATURES.len()),
            &Device::Cpu,
        )?;
        let y = self.linear.forward(&x)?.exp()?;
        Ok(y.flatten_all()?.to_vec1::<f32>()?[0])
    }

    /// [`RiskModel::expected`] for many cells at once.
    pub fn expected_many(&self, features: &[Features]) -> Result<Vec<f32>, RiskError> {
        if features.is_empty() {
            return Ok(Vec::new());
        }
        let flat: Vec<f32> = features.iter().flat_map(inputs).collect();
        let x = Tensor::from_vec(flat, (features.len(), MODEL_FEATURES.len()), &Device::Cpu)?;
        Ok(self
            .linear
            .forward(&x)?
            .exp()?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }

    /// The expectation of a cell with no incidents within two steps.
    pub fn expected_empty(&self) -> f32 {
        self.empty
    }

    /// The hint for a place whose cached cell is `stats` (`None`: no incidents near it),
    /// at local time `at`.
    pub fn hint(
        &self,
        stats: Option<&CellStats>,
        at: NaiveDateTime,
    ) -> Result<RiskHint, RiskError> {
        let expected = match stats {
            Some(s) => self.expected(&s.features)?,
            None => self.empty,
        };
        Ok(hint(
            expected,
            stats,
            &self.manifest.city,
            at,
            &self.manifest.version,
        ))
    }
}

/// Trains a model on `history` (see [`TrainOptions`]); `progress(done, total)` is called
/// as training windows are counted.
pub fn train(
    history: &History,
    options: &TrainOptions,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<RiskModel, RiskError> {
    let h = i32::try_from(options.horizon_days)
        .ok()
        .filter(|h| (1..=366).contains(h))
        .ok_or_else(|| RiskError::BadRequest("horizon: must be from 1 to 366 days".into()))?;
    let until = options.until;
    let first_day = history
        .before(until)
        .first()
        .map(|e| e.day)
        .ok_or_else(|| {
            RiskError::NotEnoughHistory(format!(
                "no incidents in the grid before {}",
                date_of(until)
            ))
        })?;
    // Windows [s, s+h) ending at `until`, newest first, each with at least one horizon of
    // history before it.
    let starts: Vec<i32> = (1..=options.windows as i32)
        .map(|k| until - k * h)
        .filter(|&s| s - h >= first_day)
        .collect();
    if (starts.len() as u32) < MIN_WINDOWS {
        return Err(RiskError::NotEnoughHistory(format!(
            "training needs {MIN_WINDOWS} windows of {h} days with incidents before them, but the data starts on {} and training stops at {}; move --until later",
            date_of(first_day),
            date_of(until)
        )));
    }
    let n_features = MODEL_FEATURES.len();
    let mut xs: Vec<f32> = Vec::new();
    let mut ys: Vec<f32> = Vec::new();
    let total = starts.len() as u32;
    for (done, &s) in starts.iter().rev().enumerate() {
        let features = history.features(s);
        let counts = history.counts(s, s + h);
        let mut cells: Vec<(&CellId, &Features)> = features.iter().collect();
        cells.sort_unstable_by_key(|(c, _)| **c);
        for (cell, f) in cells {
            xs.extend_from_slice(&inputs(f));
            ys.push(counts.get(cell).copied().unwrap_or(0) as f32);
        }
        progress(done as u32 + 1, total);
    }
    let rows = ys.len();
    let events = ys.iter().map(|&y| f64::from(y)).sum::<f64>();
    if events == 0.0 {
        return Err(RiskError::NotEnoughHistory(
            "no incidents in the training windows near earlier incidents".into(),
        ));
    }
    let fit = fit_poisson(&xs, &ys, n_features, options.l2)?;

    let weight = Tensor::from_vec(fit.weights.clone(), (1, n_features), &Device::Cpu)?;
    let bias = Tensor::from_vec(vec![fit.bias], 1, &Device::Cpu)?;
    let mut manifest = Manifest {
        format: MODEL_FORMAT,
        version: options.version.clone(),
        created_at: options.created_at,
        grid: history.grid().spec(),
        features: MODEL_FEATURES.map(str::to_owned).to_vec(),
        weights: fit.weights.clone(),
        bias: fit.bias,
        horizon_days: options.horizon_days,
        training: Training {
            until: date_of(until),
            first_window: date_of(*starts.last().unwrap_or(&until)),
            windows: total,
            rows: rows as u64,
            incidents: history.before(until).len() as u64,
            l2: options.l2,
        },
        metrics: fit.metrics,
        city: CityReference::new(Vec::new(), &[0; HOURS_PER_WEEK]),
    };
    // The city's yardstick, from the cells with an incident in the last year.
    let model = RiskModel::new(manifest.clone(), weight.clone(), bias.clone())?;
    let now = history.features(until);
    let active: Vec<Features> = now.values().filter(|f| f.n365 > 0).copied().collect();
    let mut hours = [0u64; HOURS_PER_WEEK];
    for e in history.before(until) {
        hours[usize::from(e.hour_of_week) % HOURS_PER_WEEK] += 1;
    }
    manifest.city = CityReference::new(model.expected_many(&active)?, &hours);
    RiskModel::new(manifest, weight, bias)
}

struct Fit {
    weights: Vec<f32>,
    bias: f32,
    metrics: Metrics,
}

/// Poisson regression with a log link by Newton's method on standardised columns, with an
/// L2 penalty `l2` on the weights (not the intercept) and step halving.
fn fit_poisson(xs: &[f32], ys: &[f32], p: usize, l2: f64) -> Result<Fit, RiskError> {
    let n = ys.len();
    // Column means and standard deviations.
    let mut mean = vec![0f64; p];
    let mut sd = vec![0f64; p];
    for row in xs.chunks_exact(p) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += f64::from(*v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    for row in xs.chunks_exact(p) {
        for ((s, v), m) in sd.iter_mut().zip(row).zip(&mean) {
            *s += (f64::from(*v) - m).powi(2);
        }
    }
    sd.iter_mut().for_each(|s| {
        *s = (*s / n as f64).sqrt();
        if *s < 1e-12 {
            *s = 1.0;
        }
    });
    // The design matrix: a column of ones, then the standardised features.
    let q = p + 1;
    let mut design = Vec::with_capacity(n * q);
    for row in xs.chunks_exact(p) {
        design.push(1.0f64);
        for ((v, m), s) in row.iter().zip(&mean).zip(&sd) {
            design.push((f64::from(*v) - m) / s);
        }
    }
    let dev = Device::Cpu;
    let x = Tensor::from_vec(design, (n, q), &dev)?;
    let xt = x.t()?.contiguous()?;
    let y = Tensor::from_vec(
        ys.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
        (n, 1),
        &dev,
    )?;
    let nf = n as f64;
    let y_mean = y.sum_all()?.to_scalar::<f64>()? / nf;

    // Penalised mean negative log-likelihood (without the log y! constant).
    let objective = |w: &[f64]| -> Result<(f64, Tensor, Tensor), RiskError> {
        let wt = Tensor::from_slice(w, (q, 1), &dev)?;
        let eta = x.matmul(&wt)?;
        let mu = eta.exp()?;
        let nll = (mu.sub(&y.mul(&eta)?)?).sum_all()?.to_scalar::<f64>()? / nf;
        let penalty = 0.5 * l2 * w[1..].iter().map(|v| v * v).sum::<f64>();
        Ok((nll + penalty, eta, mu))
    };
    let mut w = vec![0f64; q];
    w[0] = y_mean.ln();
    let (mut value, _, mut mu) = objective(&w)?;
    let mut iterations = 0;
    for _ in 0..100 {
        iterations += 1;
        let mut grad = xt.matmul(&mu.sub(&y)?)?.flatten_all()?.to_vec1::<f64>()?;
        let mut hess = xt.matmul(&x.broadcast_mul(&mu)?)?.to_vec2::<f64>()?;
        for i in 0..q {
            grad[i] /= nf;
            for v in hess[i].iter_mut() {
                *v /= nf;
            }
            if i > 0 {
                grad[i] += l2 * w[i];
                hess[i][i] += l2;
            }
        }
        let step = solve(hess, grad).ok_or_else(|| {
            RiskError::BadRequest("the training data are degenerate (singular Hessian)".into())
        })?;
        let mut t = 1.0;
        let (next, next_value, next_mu) = loop {
            let candidate: Vec<f64> = w.iter().zip(&step).map(|(a, b)| a - t * b).collect();
            let (v, _, m) = objective(&candidate)?;
            if v <= value + 1e-12 || t < 1e-6 {
                break (candidate, v, m);
            }
            t /= 2.0;
        };
        let moved = step.iter().map(|s| (t * s).abs()).fold(0.0, f64::max);
        w = next;
        value = next_value;
        mu = next_mu;
        if moved < 1e-9 {
            break;
        }
    }
    // Deviance of the fit and of the constant rate.
    let mus = mu.flatten_all()?.to_vec1::<f64>()?;
    let deviance = |y: f64, m: f64| {
        let term = if y > 0.0 { y * (y / m).ln() } else { 0.0 };
        2.0 * (term - (y - m))
    };
    let (mut d_model, mut d_const) = (0.0, 0.0);
    for (&yv, &m) in ys.iter().zip(&mus) {
        d_model += deviance(f64::from(yv), m);
        d_const += deviance(f64::from(yv), y_mean);
    }
    // Back to the raw log1p scale.
    let weights: Vec<f64> = (0..p).map(|k| w[k + 1] / sd[k]).collect();
    let bias = w[0] - (0..p).map(|k| w[k + 1] * mean[k] / sd[k]).sum::<f64>();
    Ok(Fit {
        weights: weights.iter().map(|&v| v as f32).collect(),
        bias: bias as f32,
        metrics: Metrics {
            iterations,
            deviance: d_model / nf,
            deviance_constant: d_const / nf,
            deviance_explained: 1.0 - d_model / d_const,
        },
    })
}

/// Solves `a · x = b` by Gaussian elimination with partial pivoting; `None` if singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (top, bottom) = a.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for (r, row) in bottom.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[col + 1 + r] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Category;
    use crate::risk::features::{Event, day_number};
    use crate::risk::grid::{CellGrid, SquareGrid};

    #[test]
    fn solve_finds_the_solution() {
        let x = solve(vec![vec![2.0, 1.0], vec![1.0, 3.0]], vec![3.0, 5.0]).unwrap();
        assert!((x[0] - 0.8).abs() < 1e-12 && (x[1] - 1.4).abs() < 1e-12);
        assert!(solve(vec![vec![1.0, 2.0], vec![2.0, 4.0]], vec![1.0, 2.0]).is_none());
    }

    /// Cells with steady rates: hot cells get 3 incidents a week, warm ones 1 every other
    /// week, and a few cold ones one a year.
    fn steady_history(weeks: i32) -> (History, i32) {
        let grid = CellGrid::Square(SquareGrid::new([0.0, 0.0, 0.5, 0.5], 500.0).unwrap());
        let start = day_number(NaiveDate::from_ymd_opt(2015, 1, 5).unwrap());
        let mut events = Vec::new();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for week in 0..weeks {
            for cell in 0..300u64 {
                let rate_per_week = match cell % 30 {
                    0 => 3.0,
                    1..=5 => 0.5,
                    _ => 1.0 / 52.0,
                };
                // Bernoulli thinning of 7 daily chances.
                for day in 0..7 {
                    if (next() % 1_000_000) as f64 / 1e6 < rate_per_week / 7.0 {
                        events.push(Event {
                            day: start + week * 7 + day,
                            cell: cell * 7,
                            hour_of_week: (next() % 168) as u8,
                            category: Category::Theft,
                        });
                    }
                }
            }
        }
        (History::new(grid, events), start + weeks * 7)
    }

    #[test]
    fn training_learns_that_busy_cells_stay_busy() {
        let (history, end) = steady_history(120);
        let options = TrainOptions::new(end, "test", DateTime::UNIX_EPOCH);
        let mut calls = 0;
        let model = train(&history, &options, &mut |_, _| calls += 1).unwrap();
        let m = model.manifest();
        assert_eq!(
            m.training.windows, 119,
            "one window has no history before it"
        );
        assert_eq!(calls, 119);
        assert!(
            m.metrics.deviance < m.metrics.deviance_constant,
            "{:?}",
            m.metrics
        );
        assert!(m.metrics.deviance_explained > 0.2, "{:?}", m.metrics);
        // A busy cell's expectation is near its rate, a cold one's far below.
        let now = history.features(end);
        let hot = model.expected(&now[&0]).unwrap();
        let warm = model.expected(&now[&7]).unwrap();
        let cold = model.expected(&now[&(7 * 7)]).unwrap();
        assert!((2.0..4.5).contains(&hot), "hot {hot}");
        assert!((0.2..1.0).contains(&warm), "warm {warm}");
        assert!(cold < 0.2, "cold {cold}");
        assert!(model.expected_empty() < warm);
        let many = model.expected_many(&[now[&0], now[&7]]).unwrap();
        assert!((many[0] - hot).abs() < 1e-5 && (many[1] - warm).abs() < 1e-5);
        // The city median is a cold cell's.
        assert!(m.city.median_expected < 0.2, "{:?}", m.city.median_expected);
    }

    #[test]
    fn a_saved_model_reads_back_the_same() {
        let (history, end) = steady_history(30);
        let options = TrainOptions::new(end, "v-roundtrip", DateTime::UNIX_EPOCH);
        let model = train(&history, &options, &mut |_, _| {}).unwrap();
        let (manifest, weights) = model.to_parts().unwrap();
        assert!(weights.len() < 1024, "{} bytes", weights.len());
        let back = RiskModel::from_parts(&manifest, &weights).unwrap();
        assert_eq!(back.manifest(), model.manifest());
        let f = history.features(end)[&0];
        assert_eq!(back.expected(&f).unwrap(), model.expected(&f).unwrap());
        // Damaged files are refused with the file's name.
        let err = RiskModel::from_parts(&manifest, &weights[..weights.len() - 3]).unwrap_err();
        assert!(err.to_string().contains(MODEL_FILE), "{err}");
        let err = RiskModel::from_parts(b"{}", &weights).unwrap_err();
        assert!(err.to_string().contains(MANIFEST_FILE), "{err}");
        let mut other: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        other["features"] = serde_json::json!(["n7"]);
        let err = RiskModel::from_parts(other.to_string().as_bytes(), &weights).unwrap_err();
        assert!(err.to_string().contains("retrain"), "{err}");
    }

    #[test]
    fn too_little_history_is_refused_with_what_to_do() {
        let (history, end) = steady_history(3);
        let err = train(
            &history,
            &TrainOptions::new(end, "x", DateTime::UNIX_EPOCH),
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("move --until later"), "{err}");
    }
}
