//! The evaluation protocol: roll through a period one horizon at a time, rank every cell
//! of a square grid by its score from the incidents before the window only, and count the
//! window's incidents that fall in the top 1% and 5% of the area (hit rate, and PAI: hit
//! rate over area fraction), for the model and for the plain all-history count map.

use std::collections::HashMap;

use serde::Serialize;

use super::features::{Features, History};
use super::grid::{CellGrid, CellId};
use super::model::{RiskError, RiskModel};

/// The area fractions reported.
pub const FRACTIONS: [f64; 2] = [0.01, 0.05];

/// Hit rate and PAI at one area fraction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rates {
    pub fraction: f64,
    /// Cells in the top fraction: round(fraction · cells).
    pub cells: u64,
    pub hits: u64,
    pub hit_rate: f64,
    pub pai: f64,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub windows: u32,
    pub horizon_days: u32,
    /// Incidents in the grid during the period.
    pub incidents: u64,
    /// Cells of the grid.
    pub cells: u64,
    pub model: Vec<Rates>,
    pub count_map: Vec<Rates>,
}

impl Evaluation {
    /// The model's PAI relative to the count map's at each fraction, in percent.
    pub fn gains(&self) -> Vec<f64> {
        self.model
            .iter()
            .zip(&self.count_map)
            .map(|(m, c)| (m.pai / c.pai - 1.0) * 100.0)
            .collect()
    }
}

/// The cells of the top `k` by score, highest first, ties to the lower cell id.
fn ranked(scores: &[f32]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..scores.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        scores[b as usize]
            .total_cmp(&scores[a as usize])
            .then(a.cmp(&b))
    });
    order
}

/// Scores for every cell of an `n`-cell square grid from sparse per-cell values.
fn dense(n: usize, empty: f32, values: impl IntoIterator<Item = (CellId, f32)>) -> Vec<f32> {
    let mut out = vec![empty; n];
    for (cell, v) in values {
        if let Some(slot) = out.get_mut(cell as usize) {
            *slot = v;
        }
    }
    out
}

/// The model's expected incidents for every cell of the square grid of `history` on `day`,
/// from the incidents before `day` only.
pub fn model_scores(model: &RiskModel, history: &History, day: i32) -> Result<Vec<f32>, RiskError> {
    let CellGrid::Square(grid) = history.grid() else {
        return Err(RiskError::BadRequest(
            "scoring every cell needs a square grid (--bbox and --cell-m)".into(),
        ));
    };
    let features: HashMap<CellId, Features> = history.features(day);
    let (cells, feats): (Vec<CellId>, Vec<Features>) = features.into_iter().unzip();
    let expected = model.expected_many(&feats)?;
    Ok(dense(
        grid.len() as usize,
        model.expected_empty(),
        cells.into_iter().zip(expected),
    ))
}

/// Evaluates over the windows `[s, min(s + horizon, to))` for `s = from, from + horizon, …`
/// while `s < to`. `progress(done, total)` is called after each window.
pub fn evaluate(
    model: &RiskModel,
    history: &History,
    from: i32,
    to: i32,
    horizon_days: u32,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<Evaluation, RiskError> {
    let CellGrid::Square(grid) = history.grid() else {
        return Err(RiskError::BadRequest(
            "evaluation needs a square grid (--bbox and --cell-m)".into(),
        ));
    };
    if from >= to {
        return Err(RiskError::BadRequest("--from must be before --to".into()));
    }
    let h = i32::try_from(horizon_days)
        .ok()
        .filter(|h| (1..=366).contains(h))
        .ok_or_else(|| RiskError::BadRequest("--horizon: must be from 1 to 366 days".into()))?;
    let n = grid.len() as usize;
    let ks: Vec<u64> = FRACTIONS
        .iter()
        .map(|f| ((f * n as f64).round() as u64).max(1))
        .collect();
    let starts: Vec<i32> = (from..to).step_by(h as usize).collect();
    let mut model_hits = vec![0u64; ks.len()];
    let mut count_hits = vec![0u64; ks.len()];
    let mut incidents = 0u64;
    for (done, &s) in starts.iter().enumerate() {
        let end = (s + h).min(to);
        let actual = history.counts(s, end);
        incidents += actual.values().map(|&v| u64::from(v)).sum::<u64>();
        let by_model = ranked(&model_scores(model, history, s)?);
        let by_count = ranked(&dense(
            n,
            0.0,
            history.count_map(s).into_iter().map(|(c, v)| (c, v as f32)),
        ));
        for (i, &k) in ks.iter().enumerate() {
            let hits = |order: &[u32]| -> u64 {
                order[..k as usize]
                    .iter()
                    .map(|&c| u64::from(actual.get(&u64::from(c)).copied().unwrap_or(0)))
                    .sum()
            };
            model_hits[i] += hits(&by_model);
            count_hits[i] += hits(&by_count);
        }
        progress(done as u32 + 1, starts.len() as u32);
    }
    let rates = |hits: &[u64]| -> Vec<Rates> {
        FRACTIONS
            .iter()
            .zip(&ks)
            .zip(hits)
            .map(|((&fraction, &cells), &hits)| {
                let hit_rate = if incidents == 0 {
                    0.0
                } else {
                    hits as f64 / incidents as f64
                };
                Rates {
                    fraction,
                    cells,
                    hits,
                    hit_rate,
                    pai: hit_rate / (cells as f64 / n as f64),
                }
            })
            .collect()
    };
    Ok(Evaluation {
        windows: starts.len() as u32,
        horizon_days,
        incidents,
        cells: n as u64,
        model: rates(&model_hits),
        count_map: rates(&count_hits),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking_breaks_ties_by_the_lower_cell() {
        assert_eq!(ranked(&[1.0, 3.0, 3.0, 0.5, 3.0]), vec![1, 2, 4, 0, 3]);
        assert_eq!(
            dense(4, 0.1, [(2, 5.0), (9, 1.0)]),
            vec![0.1, 0.1, 5.0, 0.1]
        );
    }
}
