//! Property tests: validation accepts what it should and rejects what it should with the
//! right field, and every protocol message survives a JSON round trip.

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};
use proptest::prelude::*;
use uuid::Uuid;
use vigil_sync::{
    Category, Change, Cursor, Incident, IncidentId, Limits, Location, PullResponse,
    ReportSubmission, Source, Status,
};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
}

/// A UUIDv7 built from arbitrary bits (the crate has no clock: ids come from devices).
fn v7(bits: u128) -> String {
    let mut bytes = bits.to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes).to_string()
}

fn category() -> impl Strategy<Value = Category> {
    prop::sample::select(Category::ALL.to_vec())
}

fn location() -> impl Strategy<Value = Location> {
    (
        -90.0f64..=90.0,
        -180.0f64..=180.0,
        prop::option::of(0.0f64..=50_000.0),
    )
        .prop_filter("null island", |(lat, lon, _)| !(*lat == 0.0 && *lon == 0.0))
        .prop_map(|(lat, lon, accuracy_m)| Location {
            lat,
            lon,
            accuracy_m,
        })
}

fn offset() -> impl Strategy<Value = FixedOffset> {
    (-14 * 4..=14 * 4i32).prop_map(|q| FixedOffset::east_opt(q * 15 * 60).unwrap())
}

/// Text without control characters other than newline and tab.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::char::any().prop_filter("control", |c| !c.is_control() || *c == '\n'),
        1..max,
    )
    .prop_map(|cs| cs.into_iter().collect::<String>())
    .prop_filter("blank", |s| !s.trim().is_empty())
}

prop_compose! {
    fn submission()(
        bits in any::<u128>(),
        category in category(),
        minutes_ago in -4i64..(364 * 24 * 60),
        offset in offset(),
        location in location(),
        place in prop::option::of("[A-Za-z0-9 &.,'-]{1,60}"),
        description in text(300),
    ) -> ReportSubmission {
        let at = (now() - Duration::minutes(minutes_ago)).with_timezone(&offset);
        ReportSubmission {
            id: v7(bits),
            category: category.as_str().to_owned(),
            occurred_at: at.to_rfc3339(),
            location,
            place,
            description,
            group: None,
            visibility: None,
            anonymous: false,
        }
    }
}

proptest! {
    #[test]
    fn valid_reports_pass_and_round_trip(sub in submission()) {
        let report = sub.validate(now(), &Limits::default()).expect("valid report");
        // Validation is idempotent: the normalised report validates to itself.
        let again = report.submission().validate(now(), &Limits::default()).unwrap();
        prop_assert_eq!(&again, &report);
        let json = serde_json::to_string(&sub).unwrap();
        prop_assert_eq!(serde_json::from_str::<ReportSubmission>(&json).unwrap(), sub);
    }

    #[test]
    fn out_of_range_latitudes_name_the_field(sub in submission(), lat in prop_oneof![90.0001f64..1e6, -1e6f64..-90.0001]) {
        let mut sub = sub;
        sub.location.lat = lat;
        let err = sub.validate(now(), &Limits::default()).unwrap_err();
        prop_assert_eq!(err.field, "location.lat");
    }

    #[test]
    fn non_finite_coordinates_are_rejected(sub in submission(), bad in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)]) {
        let mut sub = sub;
        sub.location.lon = bad;
        prop_assert_eq!(sub.validate(now(), &Limits::default()).unwrap_err().field, "location.lon");
    }

    #[test]
    fn long_or_controlled_descriptions_are_rejected(sub in submission(), extra in 1usize..50, ctl in 0u32..0x20) {
        let mut long = sub.clone();
        long.description = "é".repeat(2_000 + extra);
        prop_assert_eq!(long.validate(now(), &Limits::default()).unwrap_err().field, "description");
        let c = char::from_u32(ctl).unwrap();
        prop_assume!(c != '\n' && c != '\t' && c != '\r');
        let mut ctl_sub = sub;
        ctl_sub.description = format!("before{c}after");
        prop_assert_eq!(ctl_sub.validate(now(), &Limits::default()).unwrap_err().field, "description");
    }

    #[test]
    fn future_times_beyond_five_minutes_are_rejected(sub in submission(), minutes in 6i64..100_000) {
        let mut sub = sub;
        sub.occurred_at = (now() + Duration::minutes(minutes)).to_rfc3339();
        prop_assert_eq!(sub.validate(now(), &Limits::default()).unwrap_err().field, "occurred_at");
    }

    #[test]
    fn unknown_categories_are_rejected(sub in submission(), code in "[a-z_]{1,20}") {
        prop_assume!(code.parse::<Category>().is_err());
        let mut sub = sub;
        sub.category = code;
        prop_assert_eq!(sub.validate(now(), &Limits::default()).unwrap_err().field, "category");
    }

    #[test]
    fn cursors_round_trip_and_garbage_never_panics(seq in any::<u64>(), garbage in ".{0,40}") {
        let c = Cursor::after(seq);
        prop_assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        let _ = Cursor::decode(&garbage);
    }

    #[test]
    fn pull_pages_round_trip(sub in submission(), feed in prop::bool::ANY, status in prop::sample::select(vec![Status::Unverified, Status::Verified, Status::Resolved, Status::Rejected]), seq in any::<u64>()) {
        let report = sub.validate(now(), &Limits::default()).unwrap();
        let source = if feed { Source::feed("toronto-mci", "r1") } else { Source::UserReport };
        let mut incident: Incident = report.into_incident(source, now());
        incident.status = status;
        let id = incident.id;
        let page = PullResponse {
            changes: vec![
                Change::Upsert { incident },
                Change::Status { id, status, version: 2 },
                Change::Tombstone { id: IncidentId::for_feed_record("f", "r") },
            ],
            cursor: Cursor::after(seq),
            has_more: feed,
            risk_model: feed.then(|| "20261129T030000000Z".to_owned()),
        };
        let json = serde_json::to_string(&page).unwrap();
        prop_assert_eq!(serde_json::from_str::<PullResponse>(&json).unwrap(), page);
    }
}
