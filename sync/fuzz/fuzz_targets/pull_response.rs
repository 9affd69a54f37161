//! What a device parses from the server: a pull page, and the cursor it sends back. A
//! cursor that decodes re-encodes to one that decodes to the same position; a page that
//! parses serialises and parses back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_sync::{Cursor, PullResponse};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(cursor) = Cursor::decode(text)
    {
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
    }
    let Ok(page) = serde_json::from_slice::<PullResponse>(data) else {
        return;
    };
    let text = serde_json::to_string(&page).expect("a parsed page serialises");
    let back: PullResponse = serde_json::from_str(&text).expect("and parses back");
    assert_eq!(back.changes.len(), page.changes.len());
    assert_eq!(back.cursor, page.cursor);
});
