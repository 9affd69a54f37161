//! The serving layer: answers that merge the batch views (exact up to the batch's
//! watermark `W`) with the speed layer's delta (every incident changed after `W`).
//!
//! For a query that counts incidents into buckets (cell and day, area and month, ...):
//!
//! 1. read the served batch's rows for the query's keys and bucket range;
//! 2. for each delta entry (newest change after `W`): if the batch may hold the incident,
//!    take the batch's contribution out (its state is kept by the batch); then put the
//!    entry's newest state in, unless it is rejected or withdrawn.
//!
//! The result equals counting every incident's newest state directly (the property test
//! in `tests/serving.rs` checks exactly that). When a layer cannot be read the answer comes
//! from the other with `partial: true`, never as an error.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
};

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc};
use serde::Serialize;
use vigil_sync::{AreaCell, Category, Location};

use crate::{
    batch::{BatchIncident, BatchStore, store::Fold},
    speed::{
        ViewStore,
        delta::{DeltaEntry, Fact},
    },
};

/// The two layers a merged answer reads.
#[derive(Debug, Clone)]
pub struct Layers {
    pub batch: Option<BatchStore>,
    pub speed: Option<ViewStore>,
    /// The last watermark read from the batch store (used while it is unreachable).
    last_watermark: Arc<AtomicI64>,
    /// The watermark the speed layer's delta was last trimmed to.
    trimmed: Arc<AtomicI64>,
}

/// How fresh and how complete an answer is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Freshness {
    /// Every change committed up to this time that the layers hold is counted (RFC 3339).
    pub as_of: Option<String>,
    /// The batch views cover changes committed up to this time (RFC 3339).
    pub watermark: Option<String>,
    /// True when a layer could not be read: the answer lacks its part.
    pub partial: bool,
    /// The layers that could not be read (`batch`, `speed`).
    pub unavailable: Vec<&'static str>,
}

/// A query that counts incidents into `(key, sub)` buckets of one batch view.
pub trait Bucketing {
    /// The batch view holding these buckets.
    fn view(&self) -> &'static str;
    /// The keys to read.
    fn keys(&self) -> Vec<String>;
    /// The range of `sub` to read (text order, inclusive).
    fn sub_range(&self) -> (String, String);
    /// Whether a batch row's `sub` is in the query (the range may be wider).
    fn accepts(&self, sub: &str) -> bool;
    /// How the answer folds the batch rows' `sub` (the store sums rows that fold alike,
    /// so a long range moves few rows). Unless [`Fold::Keep`], `sub_range` must be exact
    /// and `bucket` must give folded subs.
    fn fold(&self) -> Fold {
        Fold::Keep
    }
    /// Only this category, if any.
    fn category(&self) -> Option<Category>;
    /// The bucket an incident with `fact` counts in, if the query covers it.
    fn bucket(&self, fact: &Fact) -> Option<(String, String)>;
}

/// Counts per `(key, sub, category)`.
pub type Counts = BTreeMap<(String, String, Category), i64>;

fn rfc3339(ms: i64) -> Option<String> {
    DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339())
}

impl Layers {
    pub fn new(batch: Option<BatchStore>, speed: Option<ViewStore>) -> Layers {
        Layers {
            batch,
            speed,
            last_watermark: Arc::new(AtomicI64::new(i64::MIN)),
            trimmed: Arc::new(AtomicI64::new(i64::MIN)),
        }
    }

    fn add(counts: &mut Counts, q: &impl Bucketing, fact: &Fact, n: i64) {
        if q.category().is_some_and(|c| c != fact.category) {
            return;
        }
        if let Some((key, sub)) = q.bucket(fact) {
            *counts.entry((key, sub, fact.category)).or_default() += n;
        }
    }

    /// The merged counts of `q`, and how fresh they are.
    pub async fn counts(&self, q: &impl Bucketing) -> (Counts, Freshness) {
        let mut counts = Counts::new();
        let mut unavailable = Vec::new();
        // 1. The batch: its watermark and its rows.
        let mut watermark = None;
        let mut batch_ok = false;
        if let Some(batch) = &self.batch {
            match batch.served().await {
                Ok(served) => {
                    let w = served.as_ref().map_or(i64::MIN, |s| s.watermark_ms);
                    self.last_watermark.store(w, Ordering::Relaxed);
                    watermark = served.map(|s| s.watermark_ms);
                    let (from, to) = q.sub_range();
                    let rows = batch
                        .rows_for(q.view(), &q.keys(), &from, &to, q.fold())
                        .await;
                    match rows {
                        Ok(rows) => {
                            batch_ok = true;
                            for r in rows {
                                let Ok(category) = r.category.parse::<Category>() else {
                                    continue;
                                };
                                if q.category().is_some_and(|c| c != category)
                                    || (q.fold() == Fold::Keep && !q.accepts(&r.sub))
                                {
                                    continue;
                                }
                                *counts.entry((r.key, r.sub, category)).or_default() += r.n;
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "batch views unreadable; answering from the speed layer");
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "batch store unreachable; answering from the speed layer");
                }
            }
            if !batch_ok {
                unavailable.push("batch");
                counts.clear();
            }
        }
        let w = watermark.unwrap_or_else(|| self.last_watermark.load(Ordering::Relaxed));
        let mut as_of = watermark;
        // 2. The speed layer's delta after the watermark.
        if let Some(speed) = &self.speed {
            match speed.delta_after(w).await {
                Ok(delta) => {
                    as_of = delta.iter().map(|e| e.at_ms).max().max(as_of);
                    let states = if batch_ok {
                        self.batch_states(&delta, w).await
                    } else {
                        Some(HashMap::new())
                    };
                    match states {
                        Some(states) => {
                            for e in &delta {
                                let held = states.get(&e.id.to_string());
                                if let Some(old) = held.filter(|b| b.counted).and_then(fact_of) {
                                    Self::add(&mut counts, q, &old, -1);
                                }
                                let fact = e.fact.or_else(|| held.and_then(fact_of));
                                if let (true, Some(fact)) = (e.counted, fact) {
                                    Self::add(&mut counts, q, &fact, 1);
                                }
                            }
                        }
                        None => unavailable.push("batch"),
                    }
                    self.trim(speed, w);
                }
                Err(error) => {
                    tracing::warn!(%error, "speed layer unreachable; answering from the batch views");
                    unavailable.push("speed");
                }
            }
        }
        counts.retain(|_, n| *n > 0);
        unavailable.dedup();
        (
            counts,
            Freshness {
                as_of: as_of.and_then(rfc3339),
                watermark: watermark.and_then(rfc3339),
                partial: !unavailable.is_empty(),
                unavailable,
            },
        )
    }

    /// The batch's states of the delta's incidents that the batch may hold.
    async fn batch_states(
        &self,
        delta: &[DeltaEntry],
        w: i64,
    ) -> Option<HashMap<String, BatchIncident>> {
        let batch = self.batch.as_ref()?;
        let ids: Vec<String> = delta
            .iter()
            .filter(|e| e.maybe_in_batch(w))
            .map(|e| e.id.to_string())
            .collect();
        if ids.is_empty() {
            return Some(HashMap::new());
        }
        match batch.incidents(&ids).await {
            Ok(states) => Some(states.into_iter().map(|s| (s.id.clone(), s)).collect()),
            Err(error) => {
                tracing::warn!(%error, "batch incident states unreadable");
                None
            }
        }
    }

    /// Drops the delta a newer batch covers, in the background, once per watermark.
    fn trim(&self, speed: &ViewStore, w: i64) {
        if w == i64::MIN || self.trimmed.fetch_max(w, Ordering::Relaxed) >= w {
            return;
        }
        let speed = speed.clone();
        tokio::spawn(async move {
            match speed.drop_delta_through(w).await {
                Ok(n) if n > 0 => {
                    tracing::info!(dropped = n, "speed delta trimmed to the batch watermark")
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "could not trim the speed delta"),
            }
        });
    }
}

/// The fields of a batch state (none if the row is unreadable).
fn fact_of(b: &BatchIncident) -> Option<Fact> {
    Some(Fact {
        cell: b.cell.parse().ok()?,
        category: b.category.parse().ok()?,
        occurred_ms: b.occurred_ms,
        offset_s: b.offset_s,
    })
}

fn day_of(ms: i64) -> NaiveDate {
    DateTime::from_timestamp_millis(ms).map_or(NaiveDate::MIN, |t| t.date_naive())
}

fn local(ms: i64) -> chrono::NaiveDateTime {
    DateTime::from_timestamp_millis(ms).map_or(chrono::NaiveDateTime::MIN, |t| t.naive_utc())
}

/// `GET /v1/stats/heatmap`: incidents per cell (resolution 8 or 6) whose centre lies in a
/// box, occurred on a UTC day in `[from, to)`; one bucket per cell and category.
#[derive(Debug, Clone)]
pub struct Heatmap {
    pub res: u8,
    pub cells: BTreeSet<AreaCell>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub category: Option<Category>,
}

/// The cells at `res` whose centre lies in `bbox` (`[min_lon, min_lat, max_lon, max_lat]`);
/// `None` when there would be more than `max`.
pub fn cells_in(bbox: [f64; 4], res: u8, max: usize) -> Option<BTreeSet<AreaCell>> {
    let [min_lon, min_lat, max_lon, max_lat] = bbox;
    // Sample at a third of the cell edge so every cell with its centre inside is hit.
    let edge_km = match res {
        6 => 3.7,
        8 => 0.53,
        _ => return None,
    };
    let step_lat = edge_km / 3.0 / 111.32;
    let mid = ((min_lat + max_lat) / 2.0).to_radians().cos().max(0.05);
    let step_lon = step_lat / mid;
    let (rows, cols) = (
        ((max_lat - min_lat) / step_lat).ceil() as usize + 1,
        ((max_lon - min_lon) / step_lon).ceil() as usize + 1,
    );
    if rows.saturating_mul(cols) > max.saturating_mul(20) {
        return None;
    }
    let mut cells = BTreeSet::new();
    for i in 0..rows {
        for j in 0..cols {
            let lat = (min_lat + i as f64 * step_lat).min(max_lat);
            let lon = (min_lon + j as f64 * step_lon).min(max_lon);
            if let Ok(cell) = AreaCell::of(
                &Location {
                    lat,
                    lon,
                    accuracy_m: None,
                },
                res,
            ) {
                let c = cell.centre();
                if c.lat >= min_lat && c.lat <= max_lat && c.lon >= min_lon && c.lon <= max_lon {
                    cells.insert(cell);
                }
            }
        }
    }
    (cells.len() <= max).then_some(cells)
}

impl Bucketing for Heatmap {
    fn view(&self) -> &'static str {
        "cell_day"
    }

    fn keys(&self) -> Vec<String> {
        self.cells
            .iter()
            .map(|c| format!("{}:{c}", self.res))
            .collect()
    }

    fn sub_range(&self) -> (String, String) {
        (
            self.from.to_string(),
            (self.to - TimeDelta::days(1)).to_string(),
        )
    }

    fn accepts(&self, sub: &str) -> bool {
        sub.parse::<NaiveDate>()
            .is_ok_and(|d| d >= self.from && d < self.to)
    }

    fn fold(&self) -> Fold {
        Fold::All
    }

    fn category(&self) -> Option<Category> {
        self.category
    }

    fn bucket(&self, fact: &Fact) -> Option<(String, String)> {
        let cell = fact.cell.parent(self.res)?;
        let day = day_of(fact.occurred_ms);
        (self.cells.contains(&cell) && day >= self.from && day < self.to)
            .then(|| (format!("{}:{cell}", self.res), String::new()))
    }
}

/// Where a trend is counted: a cell at resolution 8 or 6, or the whole city.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Cell(AreaCell),
    City,
}

impl Area {
    pub fn key(&self) -> String {
        match self {
            Area::Cell(c) => format!("{}:{c}", c.resolution()),
            Area::City => "city".into(),
        }
    }

    fn holds(&self, fact: &Fact) -> bool {
        match self {
            Area::Cell(c) => fact.cell.parent(c.resolution()) == Some(*c),
            Area::City => true,
        }
    }
}

/// How a trend buckets time (in the reporter's local time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrendBy {
    Month,
    Week,
    HourOfWeek,
}

/// `GET /v1/stats/trends`: incidents in an area per local month, week (named by its
/// Monday) or hour of the week, over the buckets (months or weeks) starting in `[from, to)`.
#[derive(Debug, Clone)]
pub struct Trends {
    pub area: Area,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub by: TrendBy,
    pub category: Option<Category>,
}

fn month_start(sub: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{}-01", sub.get(..7)?), "%Y-%m-%d").ok()
}

impl Bucketing for Trends {
    fn view(&self) -> &'static str {
        match self.by {
            TrendBy::Month => "area_month",
            TrendBy::Week => "area_week",
            TrendBy::HourOfWeek => "area_how",
        }
    }

    fn keys(&self) -> Vec<String> {
        vec![self.area.key()]
    }

    fn sub_range(&self) -> (String, String) {
        let last = self.to - TimeDelta::days(1);
        match self.by {
            // Exactly the months that start in [from, to): the first is from's month only
            // when from is its first day.
            TrendBy::Month | TrendBy::HourOfWeek => {
                let first = if self.from.day() == 1 {
                    self.from
                } else {
                    self.from
                        .checked_add_months(chrono::Months::new(1))
                        .and_then(|d| d.with_day(1))
                        .unwrap_or(NaiveDate::MAX)
                };
                (
                    first.format("%Y-%m").to_string(),
                    format!("{}~", last.format("%Y-%m")),
                )
            }
            TrendBy::Week => (self.from.to_string(), last.to_string()),
        }
    }

    fn fold(&self) -> Fold {
        match self.by {
            TrendBy::HourOfWeek => Fold::AfterBar,
            TrendBy::Month | TrendBy::Week => Fold::Keep,
        }
    }

    fn accepts(&self, sub: &str) -> bool {
        let start = match self.by {
            TrendBy::Week => sub.parse::<NaiveDate>().ok(),
            TrendBy::Month | TrendBy::HourOfWeek => month_start(sub),
        };
        start.is_some_and(|d| d >= self.from && d < self.to)
    }

    fn category(&self) -> Option<Category> {
        self.category
    }

    fn bucket(&self, fact: &Fact) -> Option<(String, String)> {
        if !self.area.holds(fact) {
            return None;
        }
        let t = local(fact.local_ms());
        let date = t.date();
        let monday = date - TimeDelta::days(i64::from(date.weekday().num_days_from_monday()));
        let month = t.format("%Y-%m").to_string();
        let sub = match self.by {
            TrendBy::Month => month,
            TrendBy::Week => monday.to_string(),
            TrendBy::HourOfWeek => format!(
                "{month}|{}",
                date.weekday().num_days_from_monday() * 24 + t.hour()
            ),
        };
        self.accepts(&sub)
            .then(|| (self.area.key(), self.fold().apply(&sub)))
    }
}

/// Sums counts per `sub` and category (over keys), sorted.
pub fn by_sub(counts: &Counts) -> BTreeMap<(String, Category), i64> {
    let mut out = BTreeMap::new();
    for ((_, sub, category), n) in counts {
        *out.entry((sub.clone(), *category)).or_default() += n;
    }
    out
}

/// Today (UTC) plus one day: the default end of a range.
pub fn tomorrow() -> NaiveDate {
    Utc::now().date_naive() + TimeDelta::days(1)
}
