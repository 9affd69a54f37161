//! Synthetic but valid incident reports for the push benchmark, reproducible from a seed.
//!
//! Content (places, categories, times, descriptions) comes from a seeded SplitMix64, so two
//! runs with the same seed push the same reports; ids are fresh UUIDv7s from the `uuid` crate.

use chrono::{DateTime, FixedOffset, SecondsFormat, TimeDelta, Utc};
use serde::Serialize;
use uuid::Uuid;

/// Every category the backend accepts.
pub const CATEGORIES: [&str; 11] = [
    "assault",
    "robbery",
    "break_and_enter",
    "auto_theft",
    "theft",
    "vandalism",
    "harassment",
    "suspicious_activity",
    "drugs",
    "weapons",
    "other",
];

/// Toronto's bounding box, roughly the city limits.
/// Toronto, roughly: where generated reports fall.
pub const LAT: (f64, f64) = (43.58, 43.85);
pub const LON: (f64, f64) = (-79.64, -79.12);

/// How far back `occurred_at` may go, and the minimum age (so clock skew never makes a
/// report look like it is from the future).
const MAX_AGE_SECS: u64 = 30 * 24 * 3600;
const MIN_AGE_SECS: u64 = 60;

const PLACES: [&str; 10] = [
    "Queen St W & Spadina Ave",
    "Yonge St & Dundas St",
    "Bloor St W & Bathurst St",
    "King St E & Jarvis St",
    "Danforth Ave & Pape Ave",
    "Eglinton Ave W & Dufferin St",
    "College St & Ossington Ave",
    "Finch Ave W & Jane St",
    "Lawrence Ave E & Victoria Park Ave",
    "Gerrard St E & Broadview Ave",
];
const WHO: [&str; 8] = [
    "A man in a dark hoodie",
    "Two people in work boots",
    "A group of teenagers",
    "A woman with a red backpack",
    "Someone on a black bicycle",
    "The driver of a grey sedan",
    "An older man with a cane",
    "A person in a hi-vis vest",
];
const DID: [&str; 8] = [
    "was trying car door handles",
    "broke a window and ran off",
    "was shouting at people passing",
    "took a parcel from a porch",
    "was spray-painting a wall",
    "followed a resident for a block",
    "was cutting a bike lock",
    "left fast toward the subway",
];
const WHERE: [&str; 7] = [
    "near the bus shelter",
    "behind the plaza",
    "by the school gate",
    "outside the laundromat",
    "in the laneway",
    "at the corner store",
    "by the park entrance",
];

/// SplitMix64: tiny, fast and stable across versions, which is all a load generator needs.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        // The top 53 bits fill an f64 mantissa exactly.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn range(&mut self, (lo, hi): (f64, f64)) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    pub fn below(&mut self, n: u64) -> u64 {
        // The modulo bias is below 2^-40 for the small n used here.
        self.next_u64() % n
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// A report as `POST /v1/sync/push` takes it.
#[derive(Debug, Serialize)]
pub struct Report {
    pub id: Uuid,
    pub category: &'static str,
    pub occurred_at: String,
    pub location: Location,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<&'static str>,
    pub description: String,
}

#[derive(Debug, Serialize)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: f64,
}

#[derive(Debug, Serialize)]
struct PushRequest<'a> {
    reports: &'a [Report],
}

/// One ready-to-send batch: its JSON body and the ids it carries.
#[derive(Debug)]
pub struct Batch {
    pub ids: Vec<Uuid>,
    pub body: Vec<u8>,
}

/// Makes one report that happened at most 30 days before `now`, in Toronto local time.
pub fn report(rng: &mut Rng, now: DateTime<Utc>) -> Report {
    let age = MIN_AGE_SECS + rng.below(MAX_AGE_SECS - MIN_AGE_SECS);
    let toronto = FixedOffset::west_opt(5 * 3600).expect("-05:00 is a valid offset");
    let occurred_at = (now - TimeDelta::seconds(age as i64))
        .with_timezone(&toronto)
        .to_rfc3339_opts(SecondsFormat::Secs, false);
    let place = (rng.below(2) == 0).then(|| rng.pick(&PLACES));
    let description = format!(
        "{} {} {}.",
        rng.pick(&WHO),
        rng.pick(&DID),
        rng.pick(&WHERE)
    );
    Report {
        id: Uuid::now_v7(),
        category: rng.pick(&CATEGORIES),
        occurred_at,
        location: Location {
            lat: round6(rng.range(LAT)),
            lon: round6(rng.range(LON)),
            accuracy_m: (5 + rng.below(46)) as f64,
        },
        place,
        description,
    }
}

/// `count` reports from `seed`, serialised in batches of `batch_size`.
pub fn batches(count: usize, batch_size: usize, seed: u64) -> serde_json::Result<Vec<Batch>> {
    let mut rng = Rng::new(seed);
    let now = Utc::now();
    let reports: Vec<Report> = (0..count).map(|_| report(&mut rng, now)).collect();
    reports
        .chunks(batch_size)
        .map(|chunk| {
            Ok(Batch {
                ids: chunk.iter().map(|r| r.id).collect(),
                body: serde_json::to_vec(&PushRequest { reports: chunk })?,
            })
        })
        .collect()
}

/// Six decimals is about 10 cm, finer than any phone's fix.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_content() {
        let now = Utc::now();
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..50 {
            let (x, y) = (report(&mut a, now), report(&mut b, now));
            assert_eq!(
                (x.category, &x.occurred_at, x.place),
                (y.category, &y.occurred_at, y.place)
            );
            assert_eq!(
                (x.location.lat, x.location.lon),
                (y.location.lat, y.location.lon)
            );
            assert_eq!(x.description, y.description);
            assert_ne!(x.id, y.id);
        }
    }

    #[test]
    fn reports_stay_inside_the_contract() {
        let now = Utc::now();
        let mut rng = Rng::new(1);
        for _ in 0..2_000 {
            let r = report(&mut rng, now);
            assert_eq!(r.id.get_version_num(), 7);
            assert!(CATEGORIES.contains(&r.category));
            assert!((LAT.0..=LAT.1).contains(&r.location.lat));
            assert!((LON.0..=LON.1).contains(&r.location.lon));
            assert!((5.0..=50.0).contains(&r.location.accuracy_m));
            let at = DateTime::parse_from_rfc3339(&r.occurred_at).unwrap();
            let age = now.signed_duration_since(at).num_seconds();
            assert!((60..=30 * 24 * 3600).contains(&age), "age {age}");
            assert!(r.occurred_at.ends_with("-05:00"));
            assert!(
                (40..=120).contains(&r.description.len()),
                "{}",
                r.description
            );
        }
    }

    #[test]
    fn batches_split_and_serialise() {
        let batches = batches(1_201, 500, 3).unwrap();
        let sizes: Vec<usize> = batches.iter().map(|b| b.ids.len()).collect();
        assert_eq!(sizes, [500, 500, 201]);
        let json: serde_json::Value = serde_json::from_slice(&batches[2].body).unwrap();
        let reports = json["reports"].as_array().unwrap();
        assert_eq!(reports.len(), 201);
        assert_eq!(reports[0]["id"], batches[2].ids[0].to_string());
        assert!(reports[0]["location"]["accuracy_m"].is_f64());
    }
}
