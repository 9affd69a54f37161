//! Watch areas and the alerts they produce.
//!
//! A resident watches places (a circle or a polygon) for some categories, at or above a
//! severity, with optional quiet hours. [`WatchAreaSpec`] is the wire form a device sends;
//! [`WatchAreaSpec::validate`] turns it into a [`WatchArea`] or names the field that is
//! wrong. [`Alert`] is what the backend sends back: one incident, a digest of several
//! (after a burst or quiet hours), or the retraction of an earlier alert.

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use crate::{Category, IncidentId, Location, ValidationError};

/// Smallest circle radius, in metres: less than a street is noise given GPS accuracy.
pub const MIN_RADIUS_M: f64 = 50.0;
/// Largest circle radius, in metres.
pub const MAX_RADIUS_M: f64 = 20_000.0;
/// Most vertices a polygon may have.
pub const MAX_VERTICES: usize = 100;
/// Largest extent of a polygon (its bounding box's diagonal), in metres.
pub const MAX_POLYGON_EXTENT_M: f64 = 50_000.0;
/// Longest area name, in characters.
pub const MAX_NAME_CHARS: usize = 80;

/// The shape of a watch area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Shape {
    /// Everything within `radius_m` metres of a centre.
    Circle { lat: f64, lon: f64, radius_m: f64 },
    /// A simple polygon: its vertices as `[lat, lon]` pairs, not closed (the last vertex
    /// connects back to the first).
    Polygon {
        #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<f64>>))]
        points: Vec<[f64; 2]>,
    },
}

/// A bounding box in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub min_lat: f64,
    pub min_lon: f64,
    pub max_lat: f64,
    pub max_lon: f64,
}

/// Metres per degree of latitude (and of longitude at the equator) on the haversine sphere.
const M_PER_DEG: f64 = 6_371_000.0 * std::f64::consts::PI / 180.0;

impl Shape {
    /// Whether `at` lies inside (a circle's rim and a polygon's edges count as inside).
    pub fn contains(&self, at: &Location) -> bool {
        match self {
            Shape::Circle { lat, lon, radius_m } => {
                let centre = Location {
                    lat: *lat,
                    lon: *lon,
                    accuracy_m: None,
                };
                centre.distance_m(at) <= *radius_m
            }
            Shape::Polygon { points } => point_in_polygon(points, at.lat, at.lon),
        }
    }

    /// A box that holds the whole shape.
    pub fn bounds(&self) -> Bounds {
        match self {
            Shape::Circle { lat, lon, radius_m } => {
                let dlat = radius_m / M_PER_DEG;
                let dlon = radius_m / (M_PER_DEG * lat.to_radians().cos().max(1e-6));
                Bounds {
                    min_lat: lat - dlat,
                    min_lon: lon - dlon,
                    max_lat: lat + dlat,
                    max_lon: lon + dlon,
                }
            }
            Shape::Polygon { points } => points.iter().fold(
                Bounds {
                    min_lat: f64::INFINITY,
                    min_lon: f64::INFINITY,
                    max_lat: f64::NEG_INFINITY,
                    max_lon: f64::NEG_INFINITY,
                },
                |b, [lat, lon]| Bounds {
                    min_lat: b.min_lat.min(*lat),
                    min_lon: b.min_lon.min(*lon),
                    max_lat: b.max_lat.max(*lat),
                    max_lon: b.max_lon.max(*lon),
                },
            ),
        }
    }

    fn validate(&self) -> Result<(), ValidationError> {
        match self {
            Shape::Circle { lat, lon, radius_m } => {
                check_coordinate("shape.circle", *lat, *lon)?;
                if !radius_m.is_finite() || !(MIN_RADIUS_M..=MAX_RADIUS_M).contains(radius_m) {
                    return Err(ValidationError::new(
                        "shape.circle.radius_m",
                        format!(
                            "use a radius from {MIN_RADIUS_M} to {MAX_RADIUS_M} metres; for a larger \
                             region, watch several areas"
                        ),
                    ));
                }
            }
            Shape::Polygon { points } => {
                if !(3..=MAX_VERTICES).contains(&points.len()) {
                    return Err(ValidationError::new(
                        "shape.polygon.points",
                        format!("give 3 to {MAX_VERTICES} vertices as [lat, lon] pairs"),
                    ));
                }
                for (i, [lat, lon]) in points.iter().enumerate() {
                    check_coordinate(&format!("shape.polygon.points[{i}]"), *lat, *lon)?;
                }
                let b = self.bounds();
                if b.max_lon - b.min_lon > 180.0 {
                    return Err(ValidationError::new(
                        "shape.polygon.points",
                        "the polygon crosses the antimeridian; split it in two",
                    ));
                }
                let diagonal = Location {
                    lat: b.min_lat,
                    lon: b.min_lon,
                    accuracy_m: None,
                }
                .distance_m(&Location {
                    lat: b.max_lat,
                    lon: b.max_lon,
                    accuracy_m: None,
                });
                if diagonal > MAX_POLYGON_EXTENT_M {
                    return Err(ValidationError::new(
                        "shape.polygon.points",
                        format!(
                            "the polygon spans {:.0} km; keep it within {:.0} km or watch several areas",
                            diagonal / 1000.0,
                            MAX_POLYGON_EXTENT_M / 1000.0
                        ),
                    ));
                }
                if signed_area(points).abs() < 1e-12 {
                    return Err(ValidationError::new(
                        "shape.polygon.points",
                        "the vertices enclose no area; give at least three points not on one line",
                    ));
                }
                if let Some((a, b)) = crossing_edges(points) {
                    return Err(ValidationError::new(
                        "shape.polygon.points",
                        format!(
                            "edges {a} and {b} cross; list the vertices in order around the area"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn check_coordinate(field: &str, lat: f64, lon: f64) -> Result<(), ValidationError> {
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(ValidationError::new(
            format!("{field}.lat"),
            "use a latitude from -90 to 90 degrees",
        ));
    }
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(ValidationError::new(
            format!("{field}.lon"),
            "use a longitude from -180 to 180 degrees",
        ));
    }
    Ok(())
}

/// Ray casting in the (lon, lat) plane; fine for areas of a city's size.
fn point_in_polygon(points: &[[f64; 2]], lat: f64, lon: f64) -> bool {
    let mut inside = false;
    let n = points.len();
    for i in 0..n {
        let [ya, xa] = points[i];
        let [yb, xb] = points[(i + 1) % n];
        if on_segment((xa, ya), (xb, yb), (lon, lat)) {
            return true;
        }
        if (ya > lat) != (yb > lat) {
            let x = xa + (lat - ya) * (xb - xa) / (yb - ya);
            if lon < x {
                inside = !inside;
            }
        }
    }
    inside
}

fn cross(o: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

fn on_segment(a: (f64, f64), b: (f64, f64), p: (f64, f64)) -> bool {
    cross(a, b, p).abs() < 1e-12
        && p.0 >= a.0.min(b.0)
        && p.0 <= a.0.max(b.0)
        && p.1 >= a.1.min(b.1)
        && p.1 <= a.1.max(b.1)
}

fn signed_area(points: &[[f64; 2]]) -> f64 {
    let n = points.len();
    (0..n)
        .map(|i| {
            let [y1, x1] = points[i];
            let [y2, x2] = points[(i + 1) % n];
            x1 * y2 - x2 * y1
        })
        .sum::<f64>()
        / 2.0
}

/// The first pair of non-adjacent edges that intersect, if any (edge i runs from vertex i
/// to vertex i + 1).
fn crossing_edges(points: &[[f64; 2]]) -> Option<(usize, usize)> {
    let n = points.len();
    let p = |i: usize| (points[i % n][1], points[i % n][0]);
    for i in 0..n {
        for j in i + 1..n {
            if j == i + 1 || (i == 0 && j == n - 1) {
                continue;
            }
            let (a, b, c, d) = (p(i), p(i + 1), p(j), p(j + 1));
            let d1 = cross(c, d, a);
            let d2 = cross(c, d, b);
            let d3 = cross(a, b, c);
            let d4 = cross(a, b, d);
            let proper = ((d1 > 0.0) != (d2 > 0.0)) && ((d3 > 0.0) != (d4 > 0.0));
            let touching = on_segment(c, d, a)
                || on_segment(c, d, b)
                || on_segment(a, b, c)
                || on_segment(a, b, d);
            if proper || touching {
                return Some((i, j));
            }
        }
    }
    None
}

/// Hours, in the area's own time zone, when alerts wait for a digest instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuietHours {
    /// Local start, `HH:MM` (24-hour clock).
    pub start: String,
    /// Local end, `HH:MM`; before `start` means the quiet spans midnight.
    pub end: String,
    /// An IANA time zone, e.g. `America/Toronto`.
    pub time_zone: String,
}

/// Quiet hours as minutes after local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietMinutes {
    pub start: u16,
    pub end: u16,
}

impl QuietMinutes {
    /// Whether `minute` (after local midnight) is quiet; the end is not.
    pub fn contains(self, minute: u16) -> bool {
        if self.start <= self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// Minutes from `minute` to the end of the quiet period (0 when not quiet).
    pub fn minutes_left(self, minute: u16) -> u16 {
        if !self.contains(minute) {
            0
        } else if minute < self.end {
            self.end - minute
        } else {
            24 * 60 - minute + self.end
        }
    }
}

fn parse_hhmm(field: &str, text: &str) -> Result<u16, ValidationError> {
    let bad = || ValidationError::new(field, "use a 24-hour time such as 22:00 or 07:30");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// A watch area as a device sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchAreaSpec {
    /// A name the person recognises, e.g. `Home` (1 to 80 characters).
    pub name: String,
    pub shape: Shape,
    /// Categories to be alerted about; empty means all.
    #[serde(default)]
    pub categories: Vec<Category>,
    /// Alert only at or above this severity (1 to 3; see [`Category::severity`]).
    #[serde(default = "default_severity")]
    pub min_severity: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
}

fn default_severity() -> u8 {
    1
}

/// A validated watch area.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchArea {
    pub name: String,
    pub shape: Shape,
    /// Empty: every category.
    pub categories: Vec<Category>,
    pub min_severity: u8,
    /// Quiet hours and their time zone (checked by the caller, which has the zone data).
    pub quiet: Option<(QuietMinutes, String)>,
}

impl WatchAreaSpec {
    /// Checks every field; the error names the first one that is wrong.
    pub fn validate(&self) -> Result<WatchArea, ValidationError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(ValidationError::new(
                "name",
                format!("give the area a name of 1 to {MAX_NAME_CHARS} characters, e.g. Home"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "name",
                "remove control characters such as line breaks from the name",
            ));
        }
        self.shape.validate()?;
        if !(1..=3).contains(&self.min_severity) {
            return Err(ValidationError::new(
                "min_severity",
                "use 1 (everything), 2 (serious) or 3 (violent crime only)",
            ));
        }
        let mut categories = self.categories.clone();
        categories.sort();
        categories.dedup();
        let quiet = match &self.quiet_hours {
            None => None,
            Some(q) => {
                let start = parse_hhmm("quiet_hours.start", &q.start)?;
                let end = parse_hhmm("quiet_hours.end", &q.end)?;
                if start == end {
                    return Err(ValidationError::new(
                        "quiet_hours.end",
                        "the end equals the start; leave quiet_hours out for no quiet time",
                    ));
                }
                let zone = q.time_zone.trim();
                if zone.is_empty() {
                    return Err(ValidationError::new(
                        "quiet_hours.time_zone",
                        "name an IANA time zone such as America/Toronto",
                    ));
                }
                Some((QuietMinutes { start, end }, zone.to_owned()))
            }
        };
        Ok(WatchArea {
            name: name.to_owned(),
            shape: self.shape.clone(),
            categories,
            min_severity: self.min_severity,
            quiet,
        })
    }
}

impl WatchArea {
    /// Whether an incident of `category` at `at` concerns this area (quiet hours aside).
    pub fn wants(&self, category: Category, at: &Location) -> bool {
        category.severity() >= self.min_severity
            && (self.categories.is_empty() || self.categories.contains(&category))
            && self.shape.contains(at)
    }
}

/// The incident an alert is about, as much as a notification needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertIncident {
    pub id: IncidentId,
    pub category: Category,
    pub occurred_at: DateTime<FixedOffset>,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// The description's first 280 characters.
    pub summary: String,
}

/// Why alerts were held back and sent together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DigestReason {
    /// More alerts than the per-user limit arrived within its window.
    RateLimit,
    /// They arrived during the area's quiet hours.
    QuietHours,
}

/// What an alert says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AlertBody {
    /// Something happened in one or more of the person's areas.
    Incident {
        incident: AlertIncident,
        /// The names of the areas it happened in.
        areas: Vec<String>,
    },
    /// Several incidents held back, in the order they arrived.
    Digest {
        reason: DigestReason,
        incidents: Vec<AlertIncident>,
        areas: Vec<String>,
    },
    /// An incident alerted earlier was rejected by moderation or withdrawn: take it back.
    Retraction { incident_id: IncidentId },
}

/// One alert in a person's inbox. Ids grow by one per person, so "after id N" resumes a
/// stream or a pull without a gap or a repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    pub id: u64,
    /// When the backend raised it.
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub body: AlertBody,
}

/// A browser's or distributor's push subscription keys (RFC 8291), base64url.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushKeys {
    /// The subscription's P-256 public key (65 bytes, uncompressed).
    pub p256dh: String,
    /// The 16-byte authentication secret.
    pub auth: String,
}

/// Where a device receives push notifications, as it registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DeviceAddress {
    /// A browser's Push API subscription.
    WebPush { endpoint: String, keys: PushKeys },
    /// A UnifiedPush distributor's endpoint (keys when the app encrypts, as most do).
    UnifiedPush {
        endpoint: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keys: Option<PushKeys>,
    },
    /// A Firebase Cloud Messaging registration token (Android).
    Fcm { token: String },
    /// An Apple Push Notification service device token (iOS), hex.
    Apns { token: String },
}

/// Longest push token or endpoint accepted.
pub const MAX_ADDRESS_CHARS: usize = 4_096;

/// The form of an endpoint; the server also checks where it points.
fn check_endpoint(endpoint: &str) -> Result<(), ValidationError> {
    let ok = (endpoint.starts_with("https://") || endpoint.starts_with("http://"))
        && endpoint.len() <= MAX_ADDRESS_CHARS
        && !endpoint.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "endpoint",
            "use the https:// endpoint the browser or distributor gave (at most 4096 characters)",
        ))
    }
}

fn check_keys(keys: &PushKeys) -> Result<(), ValidationError> {
    let b64 = |s: &str| {
        !s.is_empty()
            && s.trim_end_matches('=')
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    // 65 bytes are 87 characters unpadded; 16 bytes 22.
    if !b64(&keys.p256dh) || keys.p256dh.trim_end_matches('=').len() != 87 {
        return Err(ValidationError::new(
            "keys.p256dh",
            "use the subscription's p256dh key as given (65 bytes, base64url)",
        ));
    }
    if !b64(&keys.auth) || keys.auth.trim_end_matches('=').len() != 22 {
        return Err(ValidationError::new(
            "keys.auth",
            "use the subscription's auth secret as given (16 bytes, base64url)",
        ));
    }
    Ok(())
}

impl DeviceAddress {
    /// The provider's wire name.
    pub fn provider(&self) -> &'static str {
        match self {
            DeviceAddress::WebPush { .. } => "web_push",
            DeviceAddress::UnifiedPush { .. } => "unified_push",
            DeviceAddress::Fcm { .. } => "fcm",
            DeviceAddress::Apns { .. } => "apns",
        }
    }

    /// Checks the fields; the error names the first one that is wrong.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            DeviceAddress::WebPush { endpoint, keys } => {
                check_endpoint(endpoint)?;
                check_keys(keys)
            }
            DeviceAddress::UnifiedPush { endpoint, keys } => {
                check_endpoint(endpoint)?;
                keys.as_ref().map_or(Ok(()), check_keys)
            }
            DeviceAddress::Fcm { token } => {
                if token.is_empty()
                    || token.len() > MAX_ADDRESS_CHARS
                    || token.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(ValidationError::new(
                        "token",
                        "use the registration token the Firebase SDK gave",
                    ));
                }
                Ok(())
            }
            DeviceAddress::Apns { token } => {
                if token.len() < 64
                    || token.len() > 200
                    || !token.chars().all(|c| c.is_ascii_hexdigit())
                {
                    return Err(ValidationError::new(
                        "token",
                        "use the device token from didRegisterForRemoteNotifications, in hex",
                    ));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(lat: f64, lon: f64) -> Location {
        Location {
            lat,
            lon,
            accuracy_m: None,
        }
    }

    fn spec(shape: Shape) -> WatchAreaSpec {
        WatchAreaSpec {
            name: "Home".into(),
            shape,
            categories: vec![],
            min_severity: 1,
            quiet_hours: None,
        }
    }

    #[test]
    fn circle_contains_within_its_radius() {
        let s = Shape::Circle {
            lat: 43.65,
            lon: -79.38,
            radius_m: 500.0,
        };
        assert!(s.contains(&loc(43.65, -79.38)));
        assert!(s.contains(&loc(43.654, -79.38))); // ~445 m north
        assert!(!s.contains(&loc(43.655, -79.38))); // ~556 m north
        let b = s.bounds();
        assert!(b.min_lat <= 43.6456 && b.max_lat >= 43.6544, "{b:?}");
        assert!(b.min_lon < -79.386 && b.max_lon > -79.374);
    }

    #[test]
    fn polygon_contains_by_ray_casting() {
        // An L shape: the notch at the top right is outside.
        let s = Shape::Polygon {
            points: vec![
                [0.0, 0.0],
                [0.0, 2.0],
                [1.0, 2.0],
                [1.0, 1.0],
                [2.0, 1.0],
                [2.0, 0.0],
            ],
        };
        assert!(s.contains(&loc(0.5, 0.5)));
        assert!(s.contains(&loc(0.5, 1.5)));
        assert!(s.contains(&loc(1.5, 0.5)));
        assert!(!s.contains(&loc(1.5, 1.5)));
        assert!(s.contains(&loc(0.0, 1.0)), "an edge counts as inside");
        assert!(!s.contains(&loc(-0.1, 0.5)));
    }

    #[test]
    fn bad_fields_are_named() {
        let cases: Vec<(WatchAreaSpec, &str)> = vec![
            (
                WatchAreaSpec {
                    name: " ".into(),
                    ..spec(Shape::Circle {
                        lat: 1.0,
                        lon: 1.0,
                        radius_m: 100.0,
                    })
                },
                "name",
            ),
            (
                spec(Shape::Circle {
                    lat: 91.0,
                    lon: 1.0,
                    radius_m: 100.0,
                }),
                "shape.circle.lat",
            ),
            (
                spec(Shape::Circle {
                    lat: 1.0,
                    lon: 1.0,
                    radius_m: 10.0,
                }),
                "shape.circle.radius_m",
            ),
            (
                spec(Shape::Circle {
                    lat: 1.0,
                    lon: 1.0,
                    radius_m: f64::NAN,
                }),
                "shape.circle.radius_m",
            ),
            (
                spec(Shape::Polygon {
                    points: vec![[0.0, 0.0], [0.0, 0.1]],
                }),
                "shape.polygon.points",
            ),
            (
                spec(Shape::Polygon {
                    points: vec![[0.0, 0.0], [0.0, 0.1], [0.1, 200.0]],
                }),
                "shape.polygon.points[2].lon",
            ),
            (
                // A bow tie: edges 0 and 2 cross.
                spec(Shape::Polygon {
                    points: vec![[0.0, 0.0], [0.01, 0.01], [0.0, 0.01], [0.01, 0.0]],
                }),
                "shape.polygon.points",
            ),
            (
                spec(Shape::Polygon {
                    points: vec![[0.0, 0.0], [0.0, 0.01], [0.0, 0.02]],
                }),
                "shape.polygon.points",
            ),
            (
                spec(Shape::Polygon {
                    points: vec![[0.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
                }),
                "shape.polygon.points",
            ),
            (
                WatchAreaSpec {
                    min_severity: 4,
                    ..spec(Shape::Circle {
                        lat: 1.0,
                        lon: 1.0,
                        radius_m: 100.0,
                    })
                },
                "min_severity",
            ),
            (
                WatchAreaSpec {
                    quiet_hours: Some(QuietHours {
                        start: "22:00".into(),
                        end: "7:00".into(),
                        time_zone: "America/Toronto".into(),
                    }),
                    ..spec(Shape::Circle {
                        lat: 1.0,
                        lon: 1.0,
                        radius_m: 100.0,
                    })
                },
                "quiet_hours.end",
            ),
        ];
        for (spec, field) in cases {
            let err = spec.validate().expect_err(field);
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn quiet_hours_span_midnight() {
        let q = QuietMinutes {
            start: 22 * 60,
            end: 7 * 60,
        };
        assert!(q.contains(23 * 60));
        assert!(q.contains(0));
        assert!(q.contains(6 * 60 + 59));
        assert!(!q.contains(7 * 60));
        assert!(!q.contains(12 * 60));
        assert_eq!(q.minutes_left(23 * 60), 8 * 60);
        assert_eq!(q.minutes_left(6 * 60), 60);
        assert_eq!(q.minutes_left(12 * 60), 0);
        let day = QuietMinutes {
            start: 9 * 60,
            end: 17 * 60,
        };
        assert!(day.contains(9 * 60) && !day.contains(17 * 60) && !day.contains(8 * 60));
    }

    #[test]
    fn wants_checks_category_severity_and_place() {
        let mut area = spec(Shape::Circle {
            lat: 43.65,
            lon: -79.38,
            radius_m: 500.0,
        })
        .validate()
        .unwrap();
        let here = loc(43.65, -79.38);
        assert!(area.wants(Category::Theft, &here));
        assert!(!area.wants(Category::Theft, &loc(43.7, -79.38)));
        area.min_severity = 3;
        assert!(!area.wants(Category::Theft, &here));
        assert!(area.wants(Category::Assault, &here));
        area.min_severity = 1;
        area.categories = vec![Category::AutoTheft];
        assert!(!area.wants(Category::Assault, &here));
        assert!(area.wants(Category::AutoTheft, &here));
    }

    #[test]
    fn alerts_read_back_what_they_write() {
        let alert = Alert {
            id: 7,
            at: DateTime::from_timestamp_millis(1_800_000_000_000).unwrap(),
            body: AlertBody::Retraction {
                incident_id: IncidentId::for_feed_record("f", "1"),
            },
        };
        let json = serde_json::to_value(&alert).unwrap();
        assert_eq!(json["kind"], "retraction");
        assert_eq!(json["id"], 7);
        assert_eq!(serde_json::from_value::<Alert>(json).unwrap(), alert);
    }

    #[test]
    fn device_addresses_name_their_bad_field() {
        let keys = PushKeys {
            p256dh: "B".repeat(87),
            auth: "A".repeat(22),
        };
        let ok = [
            DeviceAddress::WebPush {
                endpoint: "https://push.example/abc".into(),
                keys: keys.clone(),
            },
            DeviceAddress::UnifiedPush {
                endpoint: "https://ntfy.example/up123".into(),
                keys: None,
            },
            DeviceAddress::Fcm {
                token: "fcm:token-1".into(),
            },
            DeviceAddress::Apns {
                token: "ab".repeat(32),
            },
        ];
        for a in &ok {
            a.validate().unwrap();
        }
        let bad = [
            (
                DeviceAddress::WebPush {
                    endpoint: "ftp://push.example/abc".into(),
                    keys: keys.clone(),
                },
                "endpoint",
            ),
            (
                DeviceAddress::WebPush {
                    endpoint: "https://push.example/abc".into(),
                    keys: PushKeys {
                        p256dh: "short".into(),
                        auth: keys.auth.clone(),
                    },
                },
                "keys.p256dh",
            ),
            (
                DeviceAddress::UnifiedPush {
                    endpoint: "https://up.example/x".into(),
                    keys: Some(PushKeys {
                        p256dh: keys.p256dh.clone(),
                        auth: "!!".into(),
                    }),
                },
                "keys.auth",
            ),
            (DeviceAddress::Fcm { token: "".into() }, "token"),
            (
                DeviceAddress::Apns {
                    token: "not hex".into(),
                },
                "token",
            ),
        ];
        for (a, field) in bad {
            assert_eq!(a.validate().unwrap_err().field, field, "{a:?}");
        }
        let json = serde_json::to_value(&ok[2]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"provider": "fcm", "token": "fcm:token-1"})
        );
    }
}

/// One notification about new alerts: a title and a line, and which alert it is about.
/// The backend pushes it to phones and browsers; the desktop app shows it as an OS
/// notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub alert_id: u64,
    pub kind: &'static str,
    pub title: String,
    pub body: String,
}

impl Notice {
    /// The notification for `alerts` (new since the device's last push, oldest first):
    /// the newest alert's, counting the others. `None` when there is nothing to show.
    pub fn for_alerts(alerts: &[Alert]) -> Option<Notice> {
        let shown: Vec<&Alert> = alerts
            .iter()
            .filter(|a| !matches!(a.body, AlertBody::Retraction { .. }))
            .collect();
        let newest = shown.last()?;
        let (kind, mut title, body) = match &newest.body {
            AlertBody::Incident { incident, areas } => (
                "incident",
                format!("{} near {}", incident.category.label(), areas.join(", ")),
                incident
                    .place
                    .clone()
                    .unwrap_or_else(|| incident.summary.chars().take(120).collect()),
            ),
            AlertBody::Digest {
                incidents, areas, ..
            } => (
                "digest",
                format!("{} incidents near {}", incidents.len(), areas.join(", ")),
                "Held back during quiet hours or a burst of reports; open Vigil to see them"
                    .to_owned(),
            ),
            AlertBody::Retraction { .. } => return None,
        };
        // Short enough for a lock screen, and for one Web Push record whatever the names.
        title = title.chars().take(100).collect();
        if shown.len() > 1 {
            title = format!("{title} (+{} more)", shown.len() - 1);
        }
        Some(Notice {
            alert_id: newest.id,
            kind,
            title,
            body: body.chars().take(200).collect(),
        })
    }
}
