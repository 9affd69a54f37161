//! A device's push, as the server parses it: any bytes either fail to parse, or parse into
//! reports each accepted or refused with a field. An accepted report, sent again in the
//! form the server keeps, is accepted again unchanged (validation is idempotent).
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use vigil_sync::{Limits, PushRequest};

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<PushRequest>(data) else {
        return;
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
    for submission in &request.reports {
        match submission.validate(now, &Limits::default()) {
            Ok(report) => {
                let again = report
                    .submission()
                    .validate(now, &Limits::default())
                    .expect("a report that passed must pass again in its stored form");
                assert_eq!(again, report);
            }
            Err(e) => assert!(!e.field.is_empty() && !e.reason.is_empty()),
        }
    }
});
