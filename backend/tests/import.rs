//! `vigil import toronto-mci` on a sample of the real file's layout.

use std::io::Write;

use vigil_backend::{db::Db, import::import_toronto_mci, ingest::taxonomy::Scheme};

const SAMPLE: &str = "\
occurrencedate,occurrencehour,premises_type,occurrencemonth,occurrencedayofweek,MCI,Neighbourhood,occurrenceday,occurrencedayofyear,Pub_Id,Park_Id,PS_Id,Lat,Long
2013/12/24 05:00:00+00,22,Commercial,December,Tuesday,Robbery,West Humber-Clairville,24,358,0,0,0,43.73183406,-79.60070124
2017/07/01 04:00:00+00,0,House,July,Saturday,Assault,Newtonbrook East,1,182,0,0,0,43.78346555,-79.39868453
2017/07/01 04:00:00+00,0,House,July,Saturday,Assault,Newtonbrook East,1,182,0,0,0,43.78346555,-79.39868453
2017/07/01 04:00:00+00,0,Outside,July,Saturday,Arson,Willowdale East,1,182,0,0,0,43.77976942,-79.41553623
2017/07/01 04:00:00+00,0,Outside,July,Saturday,Assault,Willowdale East,1,182,0,0,0,0,0
2017/07/01 04:00:00+00,0,Outside,July,Saturday,Assault,Willowdale East,1,182,0,0,0,north,-79.4
";

#[tokio::test]
async fn imports_counts_rejects_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mci.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(SAMPLE.as_bytes()).unwrap();
    gz.finish().unwrap();
    let db = Db::open_sqlite(&dir.path().join("store")).await.unwrap();

    let first = import_toronto_mci(&db, &path, false).await.unwrap();
    assert_eq!(
        (
            first.read,
            first.imported,
            first.duplicate,
            first.rejected_total()
        ),
        (6, 4, 0, 2)
    );
    let reasons: Vec<_> = first.rejected.keys().cloned().collect();
    assert_eq!(
        reasons,
        vec![
            "Lat: not a number".to_owned(),
            "location: withheld by the source (0, 0)".to_owned(),
        ]
    );

    // A category the taxonomy does not know is stored as `other`, keeps its label and is
    // counted.
    assert_eq!(first.unmapped.total(), 1);
    assert_eq!(
        first.unmapped.by_count(),
        vec![(Scheme::TorontoMci.as_str(), "Arson", 1)]
    );
    assert!(first.to_string().contains("unmapped:  1 (stored as other)"));

    // The two identical rows are two incidents; a second import stores nothing new.
    let again = import_toronto_mci(&db, &path, false).await.unwrap();
    assert_eq!((again.read, again.imported, again.duplicate), (6, 0, 4));

    let (changes, more) = db
        .changes_after(&vigil_backend::db::UserId::new(), 0, 100)
        .await
        .unwrap();
    assert!(!more);
    assert_eq!(changes.len(), 4);
    let arson: Vec<_> = changes
        .iter()
        .filter_map(|(_, c)| match &c.item {
            vigil_sync::Change::Upsert { incident }
                if incident.place.as_deref() == Some("Willowdale East") =>
            {
                Some(incident)
            }
            _ => None,
        })
        .collect();
    assert_eq!(arson.len(), 1);
    assert_eq!(arson[0].category, vigil_sync::Category::Other);
    assert!(
        arson[0]
            .description
            .starts_with("Arson (reported to Toronto Police Service). Premises: Outside."),
        "{}",
        arson[0].description
    );
    let vigil_sync::Change::Upsert { incident } = &changes[0].1.item else {
        panic!("not an upsert")
    };
    assert_eq!(
        incident.occurred_at.to_rfc3339(),
        "2013-12-24T22:00:00-05:00"
    );
    assert_eq!(incident.category, vigil_sync::Category::Robbery);
    assert_eq!(incident.status, vigil_sync::Status::Verified);
    assert_eq!(incident.place.as_deref(), Some("West Humber-Clairville"));
    assert!(
        matches!(&incident.source, vigil_sync::Source::Feed { feed, .. } if feed == "toronto-mci")
    );
}
