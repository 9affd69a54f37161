//! What the risk model and the hints count: per cell and day, the incidents before that day
//! in the cell and its neighbour rings, over several windows; the cell's hour-of-week
//! profile and category mix.
//!
//! Everything is computed from the incidents *before* a day and nothing else, so a score
//! for a window never sees the window's own incidents.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use serde::{Deserialize, Serialize};

use super::grid::{CellGrid, CellId};
use crate::Category;

/// Hours in a week: Monday 00:00–01:00 is hour 0, Sunday 23:00–24:00 hour 167.
pub const HOURS_PER_WEEK: usize = 168;

/// Days since 1970-01-01.
pub fn day_number(date: NaiveDate) -> i32 {
    date.signed_duration_since(NaiveDate::default()).num_days() as i32
}

/// The date of a day number.
pub fn date_of(day: i32) -> NaiveDate {
    NaiveDate::default() + chrono::Duration::days(i64::from(day))
}

/// The hour of the week of a local time (Monday 00:00 is 0).
pub fn hour_of_week(local: NaiveDateTime) -> u8 {
    (local.weekday().num_days_from_monday() * 24 + local.hour()) as u8
}

/// One past incident, as the features count it: its local day and hour, kind and cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Event {
    pub day: i32,
    pub cell: CellId,
    pub hour_of_week: u8,
    pub category: Category,
}

impl Event {
    /// The event at a place and local time, or `None` when the place is outside the grid.
    pub fn at(
        grid: &CellGrid,
        lat: f64,
        lon: f64,
        local: NaiveDateTime,
        category: Category,
    ) -> Option<Event> {
        Some(Event {
            day: day_number(local.date()),
            cell: grid.cell(lat, lon)?,
            hour_of_week: hour_of_week(local),
            category,
        })
    }
}

/// A cell's counts before a day. The model reads some of them (see
/// [`super::model::MODEL_FEATURES`]); all are kept with the cached cells for the hints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// Incidents in the last 7, 30, 90 and 365 days and all before the day.
    pub n7: u32,
    pub n30: u32,
    pub n90: u32,
    pub n365: u32,
    pub all: u32,
    /// Σ 2^(−age/365) and Σ 2^(−age/1095) over the cell's incidents, age in days: a count
    /// that forgets with a half-life of one and of three years.
    pub dec365: f32,
    pub dec1095: f32,
    /// `dec365` and `n365` summed over the cells one step away (ring 1) and two steps away
    /// (ring 2).
    pub r1_dec365: f32,
    pub r2_dec365: f32,
    pub r1_n365: u32,
    pub r2_n365: u32,
}

/// The decay of a count with half-life `half_life` days, for an incident `age` days old.
fn decay(age: i32, half_life: f64) -> f64 {
    (-(f64::from(age)) * std::f64::consts::LN_2 / half_life).exp()
}

/// A cell's own counts before accumulation into f32.
#[derive(Default, Clone, Copy)]
struct Own {
    n7: u32,
    n30: u32,
    n90: u32,
    n365: u32,
    all: u32,
    dec365: f64,
    dec1095: f64,
}

/// Incidents in one grid, ordered by day, with the features of any day computed from the
/// ones before it.
#[derive(Debug, Clone)]
pub struct History {
    grid: CellGrid,
    events: Vec<Event>,
    /// Rings 1 and 2 of every cell with an incident, computed once.
    rings: HashMap<CellId, [Vec<CellId>; 2]>,
}

impl History {
    /// The history of `events` (in any order) in `grid`.
    pub fn new(grid: CellGrid, mut events: Vec<Event>) -> History {
        // A total order, so sums (and so scores) do not depend on the input's order.
        events.sort_unstable();
        let mut rings = HashMap::new();
        for e in &events {
            rings.entry(e.cell).or_insert_with(|| {
                let (mut one, mut two) = (Vec::new(), Vec::new());
                grid.ring(e.cell, 1, &mut one);
                grid.ring(e.cell, 2, &mut two);
                [one, two]
            });
        }
        History {
            grid,
            events,
            rings,
        }
    }

    pub fn grid(&self) -> &CellGrid {
        &self.grid
    }

    /// The incidents with `from <= day < to`.
    pub fn between(&self, from: i32, to: i32) -> &[Event] {
        let a = self.events.partition_point(|e| e.day < from);
        let b = self.events.partition_point(|e| e.day < to);
        &self.events[a..b.max(a)]
    }

    /// The incidents before `day`.
    pub fn before(&self, day: i32) -> &[Event] {
        &self.events[..self.events.partition_point(|e| e.day < day)]
    }

    /// Incidents per cell with `from <= day < to`.
    pub fn counts(&self, from: i32, to: i32) -> HashMap<CellId, u32> {
        let mut out = HashMap::new();
        for e in self.between(from, to) {
            *out.entry(e.cell).or_insert(0) += 1;
        }
        out
    }

    /// All-history incidents per cell before `day`: the plain count map.
    pub fn count_map(&self, day: i32) -> HashMap<CellId, u32> {
        self.counts(i32::MIN, day)
    }

    fn own(&self, day: i32) -> BTreeMap<CellId, Own> {
        let mut own: BTreeMap<CellId, Own> = BTreeMap::new();
        for e in self.before(day) {
            let age = day - e.day;
            let o = own.entry(e.cell).or_default();
            o.all += 1;
            o.n365 += u32::from(age <= 365);
            o.n90 += u32::from(age <= 90);
            o.n30 += u32::from(age <= 30);
            o.n7 += u32::from(age <= 7);
            o.dec365 += decay(age, 365.0);
            o.dec1095 += decay(age, 1095.0);
        }
        own
    }

    /// The features on `day` of every cell that has, or is within two steps of a cell that
    /// has, an incident before `day`. Every other cell's features are all zero.
    pub fn features(&self, day: i32) -> HashMap<CellId, Features> {
        let own = self.own(day);
        let mut out: HashMap<CellId, Features> = HashMap::with_capacity(own.len() * 8);
        for (&cell, o) in &own {
            let f = out.entry(cell).or_default();
            f.n7 = o.n7;
            f.n30 = o.n30;
            f.n90 = o.n90;
            f.n365 = o.n365;
            f.all = o.all;
            f.dec365 = o.dec365 as f32;
            f.dec1095 = o.dec1095 as f32;
        }
        // Ring sums in f64, cell by cell in id order: the same input gives the same bits.
        let mut rings: HashMap<CellId, [f64; 2]> = HashMap::with_capacity(own.len() * 8);
        for (&cell, o) in &own {
            let Some(around) = self.rings.get(&cell) else {
                continue;
            };
            for (k, ring) in around.iter().enumerate() {
                for &c in ring {
                    let f = out.entry(c).or_default();
                    let r = rings.entry(c).or_default();
                    if k == 0 {
                        f.r1_n365 += o.n365;
                        r[0] += o.dec365;
                    } else {
                        f.r2_n365 += o.n365;
                        r[1] += o.dec365;
                    }
                }
            }
        }
        for (cell, [r1, r2]) in rings {
            if let Some(f) = out.get_mut(&cell) {
                f.r1_dec365 = r1 as f32;
                f.r2_dec365 = r2 as f32;
            }
        }
        out
    }

    /// What a device caches per cell on `day`: the features, and the hour-of-week profile
    /// (all history) and category mix (last 365 days) of the cell together with its ring 1,
    /// for every cell with features. Sorted by cell.
    pub fn snapshot(&self, day: i32) -> Vec<CellStats> {
        let features = self.features(day);
        let mut own: BTreeMap<CellId, ([u32; HOURS_PER_WEEK], [u32; Category::ALL.len()])> =
            BTreeMap::new();
        for e in self.before(day) {
            let (hours, cats) = own
                .entry(e.cell)
                .or_insert(([0; HOURS_PER_WEEK], [0; Category::ALL.len()]));
            hours[usize::from(e.hour_of_week) % HOURS_PER_WEEK] += 1;
            if day - e.day <= 365 {
                cats[category_index(e.category)] += 1;
            }
        }
        let mut ring = Vec::new();
        let mut cells: Vec<CellStats> = features
            .into_iter()
            .map(|(cell, features)| {
                ring.clear();
                ring.push(cell);
                self.grid.ring(cell, 1, &mut ring);
                let mut hours = vec![0u32; HOURS_PER_WEEK];
                let mut cats = [0u32; Category::ALL.len()];
                for c in &ring {
                    if let Some((h, k)) = own.get(c) {
                        hours.iter_mut().zip(h).for_each(|(a, b)| *a += b);
                        cats.iter_mut().zip(k).for_each(|(a, b)| *a += b);
                    }
                }
                CellStats {
                    cell,
                    features,
                    hours,
                    categories: Category::ALL
                        .into_iter()
                        .zip(cats)
                        .filter(|&(_, n)| n > 0)
                        .collect(),
                }
            })
            .collect();
        cells.sort_unstable_by_key(|c| c.cell);
        cells
    }
}

fn category_index(c: Category) -> usize {
    Category::ALL.iter().position(|&x| x == c).unwrap_or(0)
}

/// One cell as a device caches it for offline hints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CellStats {
    /// The cell: an H3 index in hex (`89...ffff`), or the square grid's `j·nx + i` in hex.
    #[serde(with = "hex_cell")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "892b9bc4a1bffff"))]
    pub cell: CellId,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub features: Features,
    /// Incidents per hour of the week (168 numbers, Monday 00:00 first) in the cell and
    /// ring 1, all history.
    pub hours: Vec<u32>,
    /// Incidents per category in the cell and ring 1 over the last 365 days.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub categories: BTreeMap<Category, u32>,
}

/// Cells as hex text on the wire: an H3 index does not fit a JavaScript number.
mod hex_cell {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(cell: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{cell:x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        u64::from_str_radix(&text, 16)
            .map_err(|_| D::Error::custom(format!("cell {text:?} is not a hex cell index")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::grid::SquareGrid;

    fn grid() -> CellGrid {
        CellGrid::Square(SquareGrid::new([0.0, 0.0, 0.1, 0.1], 1000.0).unwrap())
    }

    fn ev(day: i32, cell: CellId) -> Event {
        Event {
            day,
            cell,
            hour_of_week: 0,
            category: Category::Theft,
        }
    }

    #[test]
    fn features_count_only_what_came_before() {
        let g = grid();
        let nx = match &g {
            CellGrid::Square(s) => s.nx,
            CellGrid::H3(_) => unreachable!(),
        };
        let c = 5 * nx + 5;
        let h = History::new(
            g,
            vec![ev(100, c), ev(95, c), ev(10, c), ev(100, c + 1), ev(200, c)],
        );
        let f = h.features(101);
        let own = f[&c];
        assert_eq!(
            (own.n7, own.n30, own.n90, own.n365, own.all),
            (2, 2, 2, 3, 3)
        );
        let want = 2f64.powf(-1.0 / 365.0) + 2f64.powf(-6.0 / 365.0) + 2f64.powf(-91.0 / 365.0);
        assert!((f64::from(own.dec365) - want).abs() < 1e-5);
        // The neighbour's incident is in ring 1; the cell's own are in its neighbour's ring 1.
        assert_eq!(own.r1_n365, 1);
        assert_eq!(f[&(c + 1)].r1_n365, 3);
        // Two steps away sees both cells in ring 2 or ring 1.
        assert_eq!(f[&(c + 3)].r2_n365, 1);
        assert_eq!(f[&(c + 3)].r1_n365, 0);
        assert!(
            !f.contains_key(&(c + 4)),
            "three steps from the last incident"
        );
        // The day of an incident does not see it.
        assert_eq!(h.features(100)[&c].all, 2);
        assert_eq!(h.counts(100, 101)[&c], 1);
        assert_eq!(h.count_map(1000)[&c], 4);
    }

    #[test]
    fn input_order_does_not_change_features() {
        let g = grid();
        let mut events: Vec<Event> = (0..500)
            .map(|i| ev(i % 97, (i * 7919) as u64 % 100))
            .collect();
        let a = History::new(g.clone(), events.clone()).features(90);
        events.reverse();
        let b = History::new(g, events).features(90);
        assert_eq!(a, b);
    }

    #[test]
    fn snapshot_holds_hours_and_categories_of_the_cell_and_ring_one() {
        let g = grid();
        let mut a = ev(10, 0);
        a.hour_of_week = 5;
        let mut b = ev(400, 1);
        b.category = Category::Assault;
        b.hour_of_week = 167;
        let h = History::new(g, vec![a, b]);
        let snap = h.snapshot(500);
        let zero = snap.iter().find(|c| c.cell == 0).unwrap();
        assert_eq!(zero.hours[5], 1);
        assert_eq!(zero.hours[167], 1);
        // Only b is within the last 365 days.
        assert_eq!(zero.categories.get(&Category::Assault), Some(&1));
        assert_eq!(zero.categories.get(&Category::Theft), None);
        let json = serde_json::to_string(zero).unwrap();
        assert!(json.starts_with("{\"cell\":\"0\""), "{json}");
        let back: CellStats = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, zero);
    }

    #[test]
    fn days_and_hours_of_week() {
        let d = NaiveDate::from_ymd_opt(2019, 1, 1).unwrap();
        assert_eq!(day_number(d), 17_897);
        assert_eq!(date_of(17_897), d);
        // 2019-01-01 was a Tuesday.
        assert_eq!(hour_of_week(d.and_hms_opt(13, 30, 0).unwrap()), 24 + 13);
    }
}
