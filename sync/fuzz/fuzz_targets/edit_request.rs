//! Reporters' edits as the server parses them: parse, validate each edited report, and
//! check the wire form survives a round trip.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use vigil_sync::{EditRequest, Limits};

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<EditRequest>(data) else {
        return;
    };
    let text = serde_json::to_string(&request).expect("a parsed request serialises");
    let back: EditRequest = serde_json::from_str(&text).expect("and parses back");
    assert_eq!(back, request);
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
    for edit in &request.edits {
        if let Err(e) = edit.report.validate(now, &Limits::default()) {
            assert!(!e.field.is_empty() && !e.reason.is_empty());
        }
    }
});
