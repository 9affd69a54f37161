//! The watch areas in memory, indexed for matching: an R-tree of bounding boxes finds the
//! few areas that may hold a point, and each candidate's own shape decides.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use rstar::{AABB, RTree, primitives::GeomWithData, primitives::Rectangle};
use vigil_sync::{
    Category, Location,
    watch::{QuietMinutes, WatchArea, WatchAreaSpec},
};

use crate::db::AreaRow;

type Entry = GeomWithData<Rectangle<[f64; 2]>, usize>;

/// One area ready for matching.
#[derive(Debug, Clone)]
pub struct IndexedArea {
    pub id: String,
    pub user_id: String,
    pub area: WatchArea,
    /// Quiet hours and the zone they are in.
    pub quiet: Option<(QuietMinutes, Tz)>,
}

impl IndexedArea {
    /// Reads a stored area; `Err` says why it cannot be matched (it was valid when saved, so
    /// this means the rules changed since).
    pub fn from_row(row: &AreaRow) -> Result<IndexedArea, String> {
        let spec: WatchAreaSpec = serde_json::from_str(&row.spec).map_err(|e| e.to_string())?;
        let area = spec.validate().map_err(|e| e.to_string())?;
        let quiet = match &area.quiet {
            None => None,
            Some((minutes, zone)) => Some((
                *minutes,
                zone.parse::<Tz>()
                    .map_err(|_| format!("unknown time zone {zone:?}"))?,
            )),
        };
        Ok(IndexedArea {
            id: row.id.clone(),
            user_id: row.user_id.clone(),
            area,
            quiet,
        })
    }

    /// When the area's quiet hours end, if `now` is within them: the end's wall-clock
    /// time in the area's zone (on a night the clocks change, the zone's own answer).
    pub fn quiet_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        use chrono::{NaiveTime, TimeZone};
        let (minutes, zone) = self.quiet?;
        let local = now.with_timezone(&zone);
        let minute = (local.hour() * 60 + local.minute()) as u16;
        if minutes.minutes_left(minute) == 0 {
            return None;
        }
        let end =
            NaiveTime::from_hms_opt(u32::from(minutes.end / 60), u32::from(minutes.end % 60), 0)?;
        let mut date = local.date_naive();
        if minute >= minutes.end {
            date = date.succ_opt()?;
        }
        let naive = date.and_time(end);
        // A time skipped by a spring-forward gap ends the quiet at the first moment after.
        let end = zone.from_local_datetime(&naive).earliest().or_else(|| {
            zone.from_local_datetime(&(naive + TimeDelta::hours(1)))
                .earliest()
        })?;
        Some(end.with_timezone(&Utc))
    }
}

/// Every live watch area, by id and in an R-tree over (lon, lat).
#[derive(Debug, Default)]
pub struct AreaIndex {
    tree: RTree<Entry>,
    slots: Vec<Option<(IndexedArea, Rectangle<[f64; 2]>)>>,
    free: Vec<usize>,
    by_id: HashMap<String, usize>,
}

fn rectangle(area: &WatchArea) -> Rectangle<[f64; 2]> {
    let b = area.shape.bounds();
    Rectangle::from_corners([b.min_lon, b.min_lat], [b.max_lon, b.max_lat])
}

impl AreaIndex {
    /// How many areas it holds.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Adds many areas at once (faster than one by one into an empty index).
    pub fn extend(&mut self, areas: Vec<IndexedArea>) {
        if !self.is_empty() || areas.len() < 1_000 {
            for a in areas {
                self.put(a);
            }
            return;
        }
        let mut entries = Vec::with_capacity(areas.len());
        for a in areas {
            if self.by_id.contains_key(&a.id) {
                self.put(a);
                continue;
            }
            let rect = rectangle(&a.area);
            let slot = self.slots.len();
            self.by_id.insert(a.id.clone(), slot);
            entries.push(GeomWithData::new(rect, slot));
            self.slots.push(Some((a, rect)));
        }
        self.tree = RTree::bulk_load(entries);
    }

    /// Adds or replaces an area.
    pub fn put(&mut self, area: IndexedArea) {
        self.remove(&area.id);
        let rect = rectangle(&area.area);
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        self.by_id.insert(area.id.clone(), slot);
        self.tree.insert(GeomWithData::new(rect, slot));
        self.slots[slot] = Some((area, rect));
    }

    /// Removes an area; `false` when it was not there.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(slot) = self.by_id.remove(id) else {
            return false;
        };
        if let Some((_, rect)) = self.slots[slot].take() {
            self.tree.remove(&GeomWithData::new(rect, slot));
        }
        self.free.push(slot);
        true
    }

    /// The areas that want an incident of `category` at `at`.
    pub fn matching<'a>(
        &'a self,
        category: Category,
        at: &'a Location,
    ) -> impl Iterator<Item = &'a IndexedArea> + 'a {
        self.tree
            .locate_in_envelope_intersecting(&AABB::from_point([at.lon, at.lat]))
            .filter_map(move |e| self.slots[e.data].as_ref().map(|(a, _)| a))
            .filter(move |a| a.area.wants(category, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, user: &str, spec: serde_json::Value) -> AreaRow {
        AreaRow {
            id: id.into(),
            user_id: user.into(),
            spec: spec.to_string(),
            created_at: 0,
            updated_at: 0,
            deleted: false,
            rev: 1,
        }
    }

    fn circle(id: &str, lat: f64, lon: f64, r: f64) -> IndexedArea {
        IndexedArea::from_row(&row(
            id,
            "u",
            serde_json::json!({"name": id, "shape": {"circle": {"lat": lat, "lon": lon, "radius_m": r}}}),
        ))
        .unwrap()
    }

    fn ids(index: &AreaIndex, lat: f64, lon: f64) -> Vec<String> {
        let at = Location {
            lat,
            lon,
            accuracy_m: None,
        };
        let mut v: Vec<String> = index
            .matching(Category::Theft, &at)
            .map(|a| a.id.clone())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn finds_exactly_the_areas_that_hold_a_point() {
        let mut index = AreaIndex::default();
        index.put(circle("a", 43.65, -79.38, 500.0));
        index.put(circle("b", 43.652, -79.38, 500.0));
        index.put(circle("c", 43.70, -79.40, 300.0));
        assert_eq!(ids(&index, 43.651, -79.38), ["a", "b"]);
        assert_eq!(ids(&index, 43.70, -79.40), ["c"]);
        // Inside a's bounding box, outside its circle (the box's corner).
        assert!(ids(&index, 43.6544, -79.3745).is_empty());
        assert!(index.remove("a"));
        assert_eq!(ids(&index, 43.651, -79.38), ["b"]);
        // Replacing moves it.
        index.put(circle("b", 43.70, -79.40, 300.0));
        assert!(ids(&index, 43.651, -79.38).is_empty());
        assert_eq!(ids(&index, 43.70, -79.40), ["b", "c"]);
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn bulk_load_matches_one_by_one() {
        let areas: Vec<IndexedArea> = (0..2_000)
            .map(|i| {
                circle(
                    &format!("{i:04}"),
                    43.6 + (i % 50) as f64 * 0.002,
                    -79.4 + (i / 50) as f64 * 0.002,
                    150.0,
                )
            })
            .collect();
        let mut bulk = AreaIndex::default();
        bulk.extend(areas.clone());
        let mut single = AreaIndex::default();
        for a in areas {
            single.put(a);
        }
        for (lat, lon) in [(43.6, -79.4), (43.641, -79.361), (43.7, -79.3)] {
            assert_eq!(ids(&bulk, lat, lon), ids(&single, lat, lon));
        }
        assert_eq!(ids(&bulk, 43.6, -79.4), ["0000"]);
    }

    #[test]
    fn quiet_hours_end_in_the_areas_zone() {
        let area = IndexedArea::from_row(&row(
            "q",
            "u",
            serde_json::json!({"name": "q", "shape": {"circle": {"lat": 43.65, "lon": -79.38, "radius_m": 500.0}},
                "quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "America/Toronto"}}),
        ))
        .unwrap();
        // 2026-11-29 04:30 UTC is 23:30 in Toronto (UTC-5): quiet until 12:00 UTC.
        let now = DateTime::parse_from_rfc3339("2026-11-29T04:30:15Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            area.quiet_until(now).unwrap().to_rfc3339(),
            "2026-11-29T12:00:00+00:00"
        );
        // The night clocks go forward (2027-03-14 in Toronto): 07:00 is EDT, 11:00 UTC.
        let spring = DateTime::parse_from_rfc3339("2027-03-14T04:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            area.quiet_until(spring).unwrap().to_rfc3339(),
            "2027-03-14T11:00:00+00:00"
        );
        let noon = DateTime::parse_from_rfc3339("2026-11-29T17:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(area.quiet_until(noon), None);
    }
}
