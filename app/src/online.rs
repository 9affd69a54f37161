//! What needs the server at the time it is asked: the dashboard's statistics (served by
//! the batch views merged with the speed layer, `/v1/stats/*`) and the export of one's
//! data (`/v1/me/export`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vigil_sync::{AreaCell, Location};

use crate::store::StoreError;
use crate::sync::{Server, SyncError};

/// The map's view: `min_lon,min_lat,max_lon,max_lat` in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bbox {
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

impl Bbox {
    fn checked(self) -> Result<Bbox, SyncError> {
        let ok = [self.min_lon, self.min_lat, self.max_lon, self.max_lat]
            .iter()
            .all(|x| x.is_finite())
            && self.min_lat >= -90.0
            && self.max_lat <= 90.0
            && self.min_lat < self.max_lat
            && self.min_lon < self.max_lon;
        if ok {
            // Leaflet's view may run past the antimeridian; the server takes degrees.
            Ok(Bbox {
                min_lon: self.min_lon.max(-180.0),
                max_lon: self.max_lon.min(180.0),
                ..self
            })
        } else {
            Err(SyncError::Refused {
                status: 0,
                message: format!(
                    "bbox: {self:?} is not a box on the map; pan or zoom and try again"
                ),
            })
        }
    }

    fn centre(self) -> Location {
        Location {
            lat: (self.min_lat + self.max_lat) / 2.0,
            lon: (self.min_lon + self.max_lon) / 2.0,
            accuracy_m: None,
        }
    }

    /// Its area in km², roughly (enough to choose a cell size).
    fn km2(self) -> f64 {
        let mid = ((self.min_lat + self.max_lat) / 2.0).to_radians();
        let h = (self.max_lat - self.min_lat) * 111.2;
        let w = (self.max_lon - self.min_lon) * 111.2 * mid.cos();
        (h * w).abs()
    }

    fn query(self) -> String {
        format!(
            "{:.5},{:.5},{:.5},{:.5}",
            self.min_lon, self.min_lat, self.max_lon, self.max_lat
        )
    }
}

/// One cell of the heat map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeatCell {
    pub cell: String,
    pub lat: f64,
    pub lon: f64,
    pub count: i64,
}

/// Incidents of one category in one local month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthCount {
    /// `YYYY-MM`.
    pub month: String,
    pub category: String,
    pub count: i64,
}

/// What the dashboard shows for the map's view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    /// H3 resolution of the heat map's cells: 8 (blocks) or 6 (districts, for wide views).
    pub res: u8,
    pub cells: Vec<HeatCell>,
    /// The district (H3 resolution 6, about 36 km²) at the view's centre, which the
    /// trends and the hour-of-week chart describe.
    pub district: String,
    /// Per month and category, oldest first, over the last `months` months with data.
    pub months: Vec<MonthCount>,
    /// 168 counts, Monday 00:00–00:59 local time first.
    pub hour_of_week: Vec<i64>,
    /// Up to when the counts are exact, and whether a layer could not be read.
    pub as_of: Option<String>,
    pub partial: bool,
}

/// Views wider than this (km²) are shown in district cells rather than blocks.
const BLOCKS_UP_TO_KM2: f64 = 8_000.0;
/// Months of trend shown at most, ending with the newest month that has data.
const TREND_MONTHS: usize = 24;

#[derive(Deserialize)]
struct HeatAnswer {
    cells: Vec<HeatCell>,
    as_of: Option<String>,
    #[serde(default)]
    partial: bool,
}

#[derive(Deserialize)]
struct Bucket {
    bucket: serde_json::Value,
    category: String,
    count: i64,
}

#[derive(Deserialize)]
struct TrendAnswer {
    series: Vec<Bucket>,
    #[serde(default)]
    partial: bool,
}

impl Server {
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, SyncError> {
        self.send(
            self.http()
                .get(format!("{}{path}", self.base()))
                .query(query),
        )
        .await
    }

    /// The heat map, monthly trends and hour-of-week profile for the map's view.
    pub async fn dashboard(&self, view: Bbox) -> Result<Dashboard, SyncError> {
        let view = view.checked()?;
        let res = if view.km2() <= BLOCKS_UP_TO_KM2 { 8 } else { 6 };
        let district = AreaCell::of(&view.centre(), 6)
            .map_err(|e| SyncError::Refused {
                status: 0,
                message: e.to_string(),
            })?
            .to_string();
        let heat: HeatAnswer = self
            .get_json(
                "/v1/stats/heatmap",
                &[("bbox", view.query()), ("res", res.to_string())],
            )
            .await?;
        let months: TrendAnswer = self
            .get_json(
                "/v1/stats/trends",
                &[("area", district.clone()), ("by", "month".into())],
            )
            .await?;
        let how: TrendAnswer = self
            .get_json(
                "/v1/stats/trends",
                &[("area", district.clone()), ("by", "hour_of_week".into())],
            )
            .await?;
        Ok(Dashboard {
            res,
            cells: heat.cells,
            district,
            months: last_months(&months.series, TREND_MONTHS),
            hour_of_week: hour_of_week(&how.series),
            as_of: heat.as_of,
            partial: heat.partial || months.partial || how.partial,
        })
    }

    /// Everything the server holds about the signed-in account, as it sends it (JSON).
    pub async fn export(&self) -> Result<bytes::Bytes, SyncError> {
        let request = self.http().get(format!("{}/v1/me/export", self.base()));
        let value: serde_json::Value = self.send(request).await?;
        let pretty =
            serde_json::to_vec_pretty(&value).map_err(|e| SyncError::Garbage(e.to_string()))?;
        Ok(pretty.into())
    }
}

/// The series' newest `keep` months (those with data and every month between), oldest
/// first; months with no incidents are kept with no rows, so charts leave them empty.
fn last_months(series: &[Bucket], keep: usize) -> Vec<MonthCount> {
    let mut by_month: BTreeMap<String, Vec<MonthCount>> = BTreeMap::new();
    for b in series {
        let Some(month) = b.bucket.as_str() else {
            continue;
        };
        by_month
            .entry(month.to_owned())
            .or_default()
            .push(MonthCount {
                month: month.to_owned(),
                category: b.category.clone(),
                count: b.count,
            });
    }
    let skip = by_month.len().saturating_sub(keep);
    by_month.into_values().skip(skip).flatten().collect()
}

/// The 168 hours of the week, summed over categories.
fn hour_of_week(series: &[Bucket]) -> Vec<i64> {
    let mut hours = vec![0; 168];
    for b in series {
        if let Some(h) = b.bucket.as_u64().filter(|h| *h < 168) {
            hours[h as usize] += b.count;
        }
    }
    hours
}

/// Writes an export to `dir` as `vigil-export-<username>-<UTC time>.json`, durably (a
/// temporary file, synced, then renamed), and returns its path.
pub fn save_export(
    dir: &Path,
    username: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<PathBuf, StoreError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| StoreError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let safe: String = username
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = format!("vigil-export-{safe}-{}.json", now.format("%Y%m%d-%H%M%S"));
    let path = dir.join(&name);
    let partial = dir.join(format!(".{name}.part"));
    let mut file = std::fs::File::create(&partial).map_err(io(&partial))?;
    file.write_all(body).map_err(io(&partial))?;
    file.sync_all().map_err(io(&partial))?;
    drop(file);
    std::fs::rename(&partial, &path).map_err(io(&path))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(b: serde_json::Value, category: &str, count: i64) -> Bucket {
        Bucket {
            bucket: b,
            category: category.into(),
            count,
        }
    }

    #[test]
    fn months_keep_the_newest_and_hours_sum_over_categories() {
        let series = vec![
            bucket("2019-01".into(), "theft", 3),
            bucket("2019-02".into(), "theft", 1),
            bucket("2019-02".into(), "assault", 2),
            bucket("2019-03".into(), "assault", 5),
        ];
        let kept = last_months(&series, 2);
        assert_eq!(
            kept.iter()
                .map(|m| (m.month.as_str(), m.category.as_str(), m.count))
                .collect::<Vec<_>>(),
            vec![
                ("2019-02", "theft", 1),
                ("2019-02", "assault", 2),
                ("2019-03", "assault", 5)
            ]
        );
        let hours = hour_of_week(&[
            bucket(0.into(), "theft", 2),
            bucket(0.into(), "assault", 1),
            bucket(167.into(), "theft", 4),
            bucket(168.into(), "theft", 9),
        ]);
        assert_eq!(
            (hours.len(), hours[0], hours[167], hours.iter().sum::<i64>()),
            (168, 3, 4, 7)
        );
    }

    #[test]
    fn a_box_must_be_a_box_and_wide_views_use_districts() {
        let toronto = Bbox {
            min_lon: -79.64,
            min_lat: 43.58,
            max_lon: -79.12,
            max_lat: 43.86,
        };
        assert!(toronto.checked().is_ok());
        assert!((toronto.km2() - 1300.0).abs() < 200.0, "{}", toronto.km2());
        let flipped = Bbox {
            min_lat: 44.0,
            ..toronto
        };
        let err = flipped.checked().unwrap_err().to_string();
        assert!(err.contains("bbox"), "{err}");
        let nan = Bbox {
            min_lon: f64::NAN,
            ..toronto
        };
        assert!(nan.checked().is_err());
    }

    #[test]
    fn an_export_is_written_whole_under_a_safe_name() {
        let dir = tempfile::tempdir().unwrap();
        let now = DateTime::parse_from_rfc3339("2026-12-03T20:15:00Z")
            .unwrap()
            .to_utc();
        let path = save_export(dir.path(), "../ana b", b"{\"account\":{}}", now).unwrap();
        assert_eq!(
            path,
            dir.path()
                .join("vigil-export-___ana_b-20261203-201500.json")
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"account\":{}}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no partial file left"
        );
    }
}
