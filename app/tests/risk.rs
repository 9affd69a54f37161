//! On-device risk hints against the whole embedded backend: the batch layer's model (here
//! published to the server's lake directly) is offered by the pull, fetched with the cells
//! of the watch areas, kept in the store, and answers hints offline.

mod common;

use chrono::{
    DateTime, Datelike, Duration as Days, FixedOffset, NaiveDate, TimeZone, Utc, Weekday,
};
use common::serving;
use vigil_app::{Backoff, HintError, Store, sync};
use vigil_backend::{lake::Lake, risk::Point, risk::publish::train_and_publish};
use vigil_sync::{
    Category,
    risk::RiskLevel,
    watch::{Shape, WatchAreaSpec},
};

/// A busy corner (Yonge & Dundas) and a quiet street 600 m away.
const BUSY: (f64, f64) = (43.6561, -79.3802);
const QUIET: (f64, f64) = (43.6610, -79.3870);

/// Three years and a month of incidents: a busy corner with three a week, mostly on Friday
/// and Saturday nights, a dozen places with one every four weeks, and one place far off.
fn points(today: NaiveDate) -> Vec<Point> {
    let mut out = Vec::new();
    // From a Friday: the busy corner's nights are Friday and Saturday.
    let mut day = today - Days::days(3 * 365 + 30);
    while day.weekday() != Weekday::Fri {
        day -= Days::days(1);
    }
    let mut n = 0u32;
    while day < today {
        n += 1;
        let at = |h: u32| day.and_hms_opt(h, 0, 0).unwrap();
        for k in 0..3 {
            out.push(Point {
                lat: BUSY.0,
                lon: BUSY.1,
                local: at(if k < 2 { 22 } else { 14 }) + Days::days(i64::from((4 + k) % 2)),
                category: if k == 0 {
                    Category::Assault
                } else {
                    Category::Theft
                },
            });
        }
        for p in 0..12 {
            if (n + p).is_multiple_of(4) {
                out.push(Point {
                    lat: 43.64 + 0.005 * f64::from(p),
                    lon: -79.42 + 0.004 * f64::from(p),
                    local: at(12),
                    category: Category::BreakAndEnter,
                });
            }
        }
        out.push(Point {
            lat: 43.80,
            lon: -79.20,
            local: at(3),
            category: Category::AutoTheft,
        });
        day += Days::days(7);
    }
    out
}

fn friday_night() -> DateTime<FixedOffset> {
    FixedOffset::west_opt(5 * 3600)
        .unwrap()
        .with_ymd_and_hms(2026, 11, 27, 22, 30, 0)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn hints_come_from_the_published_model_and_work_offline() {
    let b = serving().await;
    let now = Utc::now();
    let lake = Lake::local(b.data_dir().join("lake"));
    let published = train_and_publish(&lake, points(now.date_naive()), now)
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.db");
    let server = common::signed_in_at(&b.url, "risa").await;
    {
        let mut store = Store::open(&path).unwrap();
        assert!(
            store.risk_hints().unwrap().is_none(),
            "no model before a sync"
        );
        let home = WatchAreaSpec {
            name: "Downtown".into(),
            shape: Shape::Circle {
                lat: BUSY.0,
                lon: BUSY.1,
                radius_m: 1000.0,
            },
            categories: vec![],
            min_severity: 1,
            quiet_hours: None,
        };
        store.save_area(None, home, now).unwrap();
        let summary = sync::sync(&mut store, &server, Backoff::default())
            .await
            .unwrap();
        assert_eq!(
            summary.risk.model.as_deref(),
            Some(published.version.as_str())
        );
        assert!(summary.risk.cells > 30, "{:?}", summary.risk);
        // The next sync has nothing new to fetch.
        let again = sync::sync(&mut store, &server, Backoff::default())
            .await
            .unwrap();
        assert_eq!(again.risk, Default::default());
    }
    drop(b);

    // Offline: the server is gone; the store answers.
    let store = Store::open(&path).unwrap();
    let hints = store.risk_hints().unwrap().expect("the model is kept");
    assert_eq!(hints.version(), published.version);
    let busy = hints.hint(BUSY.0, BUSY.1, friday_night()).unwrap();
    let quiet = hints.hint(QUIET.0, QUIET.1, friday_night()).unwrap();
    assert!(busy.level >= RiskLevel::Elevated, "{busy:?}");
    assert_eq!(quiet.level, RiskLevel::Low, "{quiet:?}");
    assert!(busy.ratio > 10.0 * quiet.ratio, "{busy:?} {quiet:?}");
    assert_eq!(busy.top_categories[0].category, Category::Theft, "{busy:?}");
    assert!(busy.reason.contains("Friday"), "{}", busy.reason);
    assert!(
        quiet
            .reason
            .contains("No reports within a few hundred metres"),
        "{}",
        quiet.reason
    );
    // Outside the watch areas there is no data, and the error says what to do.
    assert_eq!(
        hints.hint(43.80, -79.20, friday_night()).unwrap_err(),
        HintError::NotCovered
    );
    assert!(
        HintError::NotCovered
            .to_string()
            .contains("add one that covers it")
    );
    assert!(matches!(
        hints.hint(95.0, 0.0, friday_night()),
        Err(HintError::BadPlace(_))
    ));
}
