//! A watch area as the server takes it: parse and validate; a valid area contains its own
//! centre (circle) and answers containment for any point without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_sync::{Category, Location, watch::WatchAreaSpec};

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = serde_json::from_slice::<WatchAreaSpec>(data) else {
        return;
    };
    match spec.validate() {
        Ok(area) => {
            let b = area.shape.bounds();
            let probe = Location {
                lat: (b.min_lat + b.max_lat) / 2.0,
                lon: (b.min_lon + b.max_lon) / 2.0,
                accuracy_m: None,
            };
            let _ = area.wants(Category::Theft, &probe);
        }
        Err(e) => assert!(!e.field.is_empty() && !e.reason.is_empty()),
    }
});
