//! Photos attached on the device: checked when attached, kept with the draft, uploaded by
//! the sync once the report is sent, refused ones marked and not retried; and the place
//! lookup and anonymous reports that the report form uses. Against the embedded backend.

mod common;

use chrono::{TimeDelta, Utc};
use vigil_app::{DraftInput, Store, StoreError, photos, sync};
use vigil_sync::Location;

fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut s = vec![0xFF, marker];
    s.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    s.extend_from_slice(payload);
    s
}

/// A JPEG's structure as a canvas encodes it: JFIF, tables, a frame of 16×16, one scan.
fn jpeg() -> Vec<u8> {
    [
        vec![0xFF, 0xD8],
        segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"),
        segment(0xDB, &[0; 65]),
        segment(0xC0, &[8, 0, 16, 0, 16, 1, 1, 0x11, 0]),
        segment(0xC4, &[0; 20]),
        segment(0xDA, &[1, 1, 0, 0, 63, 0]),
        vec![0x12, 0x34, 0x56, 0xFF, 0xD9],
    ]
    .concat()
}

fn draft(store: &Store, text: &str, anonymous: bool) -> String {
    let input = DraftInput {
        place: Some("Nathan Phillips Square".into()),
        anonymous,
        ..common::input(43.6535, -79.384, text)
    };
    store.new_draft(input, Utc::now()).unwrap().id
}

#[test]
fn attaching_checks_the_image_and_the_limit_and_deleting_the_draft_drops_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("vigil.db")).unwrap();
    let id = draft(&store, "Bike taken", false);

    let err = store
        .attach_photo(&id, b"GIF89a....", 10, 10, Utc::now())
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid { field, reason } if field == "photo" && reason.contains("JPEG or PNG")),
        "{err}"
    );
    let err = store
        .attach_photo("no-such-draft", &jpeg(), 16, 16, Utc::now())
        .unwrap_err();
    assert!(matches!(err, StoreError::NoSuchDraft(_)), "{err}");

    for n in 1..=4 {
        let p = store
            .attach_photo(&id, &jpeg(), 1600, 1200, Utc::now())
            .unwrap();
        assert_eq!(
            (p.n, p.content_type.as_str(), p.width, p.uploaded),
            (n, "image/jpeg", 1600, false)
        );
    }
    let err = store
        .attach_photo(&id, &jpeg(), 16, 16, Utc::now())
        .unwrap_err();
    assert!(err.to_string().contains("at most 4 photos"), "{err}");

    store.remove_photo(&id, 2).unwrap();
    let left: Vec<u32> = store.photos(&id).unwrap().iter().map(|p| p.n).collect();
    assert_eq!(left, vec![1, 3, 4]);
    assert_eq!(store.photo_bytes(&id, 3).unwrap().unwrap().1, jpeg());

    store.delete_draft(&id).unwrap();
    assert!(
        store.photos(&id).unwrap().is_empty(),
        "the draft's photos went with it"
    );
}

#[tokio::test]
async fn photos_upload_once_their_report_is_sent_and_the_server_keeps_them() {
    let backend = common::backend().await;
    let server = common::signed_in(&backend, "photographer").await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("vigil.db")).unwrap();

    let id = draft(&store, "Bike taken from the rack", true);
    store
        .attach_photo(&id, &jpeg(), 16, 16, Utc::now())
        .unwrap();
    // Not a photo the server takes: PNG signature, then nothing a PNG has.
    let mut broken = b"\x89PNG\r\n\x1a\n".to_vec();
    broken.extend_from_slice(b"not really a png");
    store
        .attach_photo(&id, &broken, 16, 16, Utc::now())
        .unwrap();
    let queued = store.submit(&id, Utc::now()).unwrap();
    assert!(
        queued.report.anonymous,
        "the draft's anonymous choice is in the report"
    );

    // Nothing goes before the report is on the server.
    assert!(store.photos_to_upload(10).unwrap().is_empty());
    let pushed = sync::push_outbox(&mut store, &server).await.unwrap();
    assert_eq!(pushed.sent, 1);
    let sent = photos::upload_photos(&mut store, &server).await.unwrap();
    assert_eq!((sent.uploaded, sent.refused), (1, 1));

    let kept = store.photos(&id).unwrap();
    assert!(kept[0].uploaded && !kept[0].refused);
    assert!(!kept[1].uploaded && kept[1].refused);
    assert!(kept[1].last_error.as_deref().is_some_and(|e| !e.is_empty()));
    // A refused photo is not tried again, an uploaded one not sent twice.
    assert!(store.photos_to_upload(10).unwrap().is_empty());
    assert_eq!(
        photos::upload_photos(&mut store, &server).await.unwrap(),
        Default::default()
    );
    // The uploaded one cannot be removed here any more.
    assert!(store.remove_photo(&id, 1).is_err());

    let http = reqwest::Client::new();
    let got = http
        .get(format!("{}/v1/incidents/{id}/photos/1", backend.url))
        .bearer_auth(server.token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "image/jpeg");
    assert_eq!(got.bytes().await.unwrap().as_ref(), jpeg().as_slice());

    // The report went out anonymous, as drafted.
    let export = server.export().await.unwrap();
    let export: serde_json::Value = serde_json::from_slice(&export).unwrap();
    assert_eq!(export["account"]["username"], "photographer", "{export}");
    let reports = export["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["incident"]["id"], id.as_str());
}

#[tokio::test]
async fn places_are_found_in_the_cached_incidents_offline() {
    let backend = common::backend().await;
    let server = common::signed_in(&backend, "cartographer").await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("vigil.db")).unwrap();
    for (place, lat) in [
        ("Nathan Phillips Square", 43.6530),
        ("nathan phillips square", 43.6540),
        ("Phillips Lane", 43.70),
        ("100% Corner", 43.80),
    ] {
        let id = store
            .new_draft(
                DraftInput {
                    category: Some("theft".into()),
                    occurred_at: Some(
                        (Utc::now() - TimeDelta::hours(2))
                            .fixed_offset()
                            .to_rfc3339(),
                    ),
                    location: Some(Location {
                        lat,
                        lon: -79.384,
                        accuracy_m: None,
                    }),
                    place: Some(place.into()),
                    description: "seen".into(),
                    anonymous: false,
                },
                Utc::now(),
            )
            .unwrap()
            .id;
        store.submit(&id, Utc::now()).unwrap();
    }
    sync::push_outbox(&mut store, &server).await.unwrap();
    sync::pull_changes(&mut store, &server).await.unwrap();

    // Two spellings of one place are one place, at the mean position of its incidents.
    let found = store.places("SQUARE", 10).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].name.eq_ignore_ascii_case("nathan phillips square"));
    assert_eq!(found[0].incidents, 2);
    assert!((found[0].location.lat - 43.6535).abs() < 1e-9);
    // A name starting with the text comes before a busier one only containing it.
    let found = store.places("phillips", 10).unwrap();
    let names: Vec<(&str, u64)> = found
        .iter()
        .map(|p| (p.name.as_str(), p.incidents))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(names[0], ("Phillips Lane", 1));
    // LIKE's wildcards are literal here.
    let pct = store.places("%", 10).unwrap();
    assert_eq!(
        pct.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        vec!["100% Corner"]
    );
    assert!(store.places("   ", 10).unwrap().is_empty());
}
