//! The watch-area form: what a person types, turned into the area the shell saves
//! (`vigil_sync::watch::WatchAreaSpec` on the wire). Numbers and points that cannot be
//! read are refused here, naming the field; the shell checks the rest with the server's
//! rules.

use serde_json::{Value, json};

use crate::text;

/// A circle, or a polygon typed as one `lat, lon` point per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeKind {
    Circle,
    Polygon,
}

/// The fields of the form, as typed.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaForm {
    pub name: String,
    pub shape: ShapeKind,
    pub lat: String,
    pub lon: String,
    pub radius_m: String,
    /// One `lat, lon` per line (or separated by `;`).
    pub points: String,
    /// A category code, or empty for all.
    pub category: String,
    /// `1`, `2` or `3`.
    pub min_severity: String,
    /// `HH:MM`, both empty for no quiet hours.
    pub quiet_start: String,
    pub quiet_end: String,
    pub time_zone: String,
}

fn number(text: &str, field: &str) -> Result<f64, String> {
    text.trim()
        .replace(',', ".")
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .ok_or_else(|| text::not_a_number(field))
}

/// Reads `lat, lon` pairs, one per line or separated by `;`.
pub fn parse_points(text: &str) -> Result<Vec<[f64; 2]>, String> {
    let mut points = Vec::new();
    for (i, line) in text
        .split(['\n', ';'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let bad = || text::bad_point(i + 1, line);
        let (lat, lon) = line
            .split_once(',')
            .or_else(|| line.split_once(char::is_whitespace))
            .ok_or_else(bad)?;
        let lat: f64 = lat.trim().parse().map_err(|_| bad())?;
        let lon: f64 = lon.trim().parse().map_err(|_| bad())?;
        points.push([lat, lon]);
    }
    Ok(points)
}

impl AreaForm {
    /// The area to save, or what to fix.
    pub fn spec(&self) -> Result<Value, String> {
        let shape = match self.shape {
            ShapeKind::Circle => json!({ "circle": {
                "lat": number(&self.lat, text::FIELD_LAT)?,
                "lon": number(&self.lon, text::FIELD_LON)?,
                "radius_m": number(&self.radius_m, text::FIELD_RADIUS)?,
            }}),
            ShapeKind::Polygon => {
                let points = parse_points(&self.points)?;
                if points.len() < 3 {
                    return Err(text::TOO_FEW_POINTS.to_owned());
                }
                json!({ "polygon": { "points": points } })
            }
        };
        let categories: Vec<&str> = Some(self.category.as_str())
            .filter(|c| !c.is_empty())
            .into_iter()
            .collect();
        let min_severity: u8 = self.min_severity.trim().parse().unwrap_or(1);
        let mut spec = json!({
            "name": self.name,
            "shape": shape,
            "categories": categories,
            "min_severity": min_severity,
        });
        let (start, end) = (self.quiet_start.trim(), self.quiet_end.trim());
        match (start.is_empty(), end.is_empty()) {
            (true, true) => {}
            (false, false) => {
                spec["quiet_hours"] = json!({
                    "start": start,
                    "end": end,
                    "time_zone": self.time_zone.trim(),
                });
            }
            _ => return Err(text::QUIET_BOTH.to_owned()),
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> AreaForm {
        AreaForm {
            name: "Home".into(),
            shape: ShapeKind::Circle,
            lat: "43.6535".into(),
            lon: "-79.3840".into(),
            radius_m: "800".into(),
            points: String::new(),
            category: String::new(),
            min_severity: "1".into(),
            quiet_start: String::new(),
            quiet_end: String::new(),
            time_zone: "America/Toronto".into(),
        }
    }

    /// What the shell would make of the form: the client core's own type.
    fn parsed(spec: Value) -> vigil_sync::watch::WatchAreaSpec {
        serde_json::from_value(spec).unwrap()
    }

    #[test]
    fn a_circle_becomes_the_wire_form_the_core_takes() {
        let spec = parsed(form().spec().unwrap());
        assert_eq!(
            spec.shape,
            vigil_sync::watch::Shape::Circle {
                lat: 43.6535,
                lon: -79.384,
                radius_m: 800.0
            }
        );
        assert!(spec.categories.is_empty() && spec.quiet_hours.is_none());
        assert!(spec.validate().is_ok());
    }

    #[test]
    fn a_polygon_with_categories_and_quiet_hours() {
        let f = AreaForm {
            shape: ShapeKind::Polygon,
            points: "43.65, -79.40\n43.66,-79.40\n 43.66 -79.39 ".into(),
            category: "assault".into(),
            min_severity: "2".into(),
            quiet_start: "22:00".into(),
            quiet_end: "07:00".into(),
            ..form()
        };
        let spec = parsed(f.spec().unwrap());
        assert_eq!(
            spec.shape,
            vigil_sync::watch::Shape::Polygon {
                points: vec![[43.65, -79.40], [43.66, -79.40], [43.66, -79.39]]
            }
        );
        assert_eq!(spec.categories, vec![vigil_sync::Category::Assault]);
        assert_eq!(spec.min_severity, 2);
        let quiet = spec.quiet_hours.unwrap();
        assert_eq!(
            (
                quiet.start.as_str(),
                quiet.end.as_str(),
                quiet.time_zone.as_str()
            ),
            ("22:00", "07:00", "America/Toronto")
        );
    }

    #[test]
    fn what_cannot_be_read_is_named() {
        let e = AreaForm {
            radius_m: "far".into(),
            ..form()
        }
        .spec()
        .unwrap_err();
        assert!(e.starts_with(text::FIELD_RADIUS), "{e}");
        let e = AreaForm {
            shape: ShapeKind::Polygon,
            points: "43.65, -79.40\nnorth of the park".into(),
            ..form()
        }
        .spec()
        .unwrap_err();
        assert!(
            e.contains("line 2") && e.contains("north of the park"),
            "{e}"
        );
        let e = AreaForm {
            shape: ShapeKind::Polygon,
            points: "43.65, -79.40; 43.66, -79.40".into(),
            ..form()
        }
        .spec()
        .unwrap_err();
        assert_eq!(e, text::TOO_FEW_POINTS);
        let e = AreaForm {
            quiet_start: "22:00".into(),
            ..form()
        }
        .spec()
        .unwrap_err();
        assert_eq!(e, text::QUIET_BOTH);
    }
}
