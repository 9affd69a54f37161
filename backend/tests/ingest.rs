//! `vigil ingest` against a local server that answers in each API's documented format:
//! Socrata SODA, ArcGIS FeatureServer, data.police.uk and a SpotCrime-style JSON feed,
//! with paging, error pages, 429 with Retry-After, malformed records and older lowercase
//! field names; plus CSV files with a column mapping.

mod common;

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::http::Method;
use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use common::{Engine, TestApp};
use rstest::rstest;
use serde_json::{Value, json};
use vigil_backend::{
    db::Db,
    ingest::{
        IngestSummary, Runner,
        config::{IngestConfig, SourceConfig},
        run_once,
    },
};
use vigil_sync::{Category, Change, Incident, IncidentId, Source};

/// A fault the server answers with instead of the page, once.
#[derive(Debug, Clone)]
struct Fault {
    status: u16,
    retry_after: Option<&'static str>,
    body: &'static str,
    /// Only for a request whose `$where` names this (a Socrata page after this row id);
    /// any request when `None`.
    after: Option<&'static str>,
}

impl Fault {
    fn new(status: u16, retry_after: Option<&'static str>, body: &'static str) -> Fault {
        Fault {
            status,
            retry_after,
            body,
            after: None,
        }
    }
}

#[derive(Default)]
struct Portal {
    /// Every request: route key and query string.
    log: Vec<(String, HashMap<String, String>)>,
    /// Faults per route key, applied in order before real answers.
    faults: HashMap<&'static str, VecDeque<Fault>>,
    chicago: Vec<Value>,
    san_francisco: Vec<Value>,
    /// ArcGIS features as (OBJECTID, attributes).
    features: Vec<(u64, Value)>,
    police_months: Vec<&'static str>,
    police: HashMap<String, Value>,
    spot: Value,
    /// Socrata offset at which the server stops answering (a stalled page).
    stall_after: Option<&'static str>,
}

type Shared = Arc<Mutex<Portal>>;

fn fault(portal: &Shared, key: &'static str, query: &HashMap<String, String>) -> Option<Response> {
    let mut p = portal.lock().unwrap();
    p.log.push((key.to_owned(), query.clone()));
    let queue = p.faults.get_mut(key)?;
    let due = queue
        .front()?
        .after
        .is_none_or(|o| after(query).as_deref() == Some(o));
    if !due {
        return None;
    }
    let f = queue.pop_front()?;
    let mut headers = HeaderMap::new();
    if let Some(ra) = f.retry_after {
        headers.insert("retry-after", ra.parse().unwrap());
    }
    Some(
        (
            StatusCode::from_u16(f.status).unwrap(),
            headers,
            f.body.to_owned(),
        )
            .into_response(),
    )
}

/// The `(:updated_at, :id)` a SODA query pages after, from its `$where` (the only
/// condition understood here: `(:updated_at > 'T' OR (:updated_at = 'T' AND :id > 'I'))`).
fn key_after(q: &HashMap<String, String>) -> Option<(String, String)> {
    let w = q.get("$where")?;
    let quoted = |marker: &str| {
        w.split(marker)
            .nth(1)
            .and_then(|rest| rest.strip_prefix('\''))
            .and_then(|rest| rest.split('\'').next())
            .map(str::to_owned)
    };
    Some((quoted(":updated_at > ")?, quoted(":id > ")?))
}

/// The row id a SODA query pages after.
fn after(q: &HashMap<String, String>) -> Option<String> {
    key_after(q).map(|(_, id)| id)
}

/// SODA: `$where` after a key, `$order=:updated_at, :id`, `$limit`; system fields only
/// with `$select=:*, *`.
fn soda(rows: &[Value], q: &HashMap<String, String>) -> Vec<Value> {
    let key = |r: &Value| {
        (
            r[":updated_at"]
                .as_str()
                .unwrap()
                .trim_end_matches('Z')
                .to_owned(),
            r[":id"].as_str().unwrap().to_owned(),
        )
    };
    let from = key_after(q);
    let mut out: Vec<Value> = rows
        .iter()
        .filter(|r| from.as_ref().is_none_or(|f| key(r) > *f))
        .cloned()
        .collect();
    assert_eq!(
        q.get("$order").map(String::as_str),
        Some(":updated_at, :id")
    );
    out.sort_by_key(key);
    let limit: usize = q["$limit"].parse().unwrap();
    let with_system = q.get("$select").is_some_and(|s| s.contains(":*"));
    out.into_iter()
        .take(limit)
        .map(|mut r| {
            if !with_system {
                r.as_object_mut()
                    .unwrap()
                    .retain(|k, _| !k.starts_with(':'));
            }
            r
        })
        .collect()
}

/// A SODA dataset endpoint: `key` names it in the log and the faults.
async fn dataset(portal: Shared, key: &'static str, q: HashMap<String, String>) -> Response {
    if let Some(r) = fault(&portal, key, &q) {
        return r;
    }
    let stall = portal.lock().unwrap().stall_after;
    if key == "chicago" && stall.is_some() && after(&q).as_deref() == stall {
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
    let p = portal.lock().unwrap();
    let rows = soda(
        if key == "chicago" {
            &p.chicago
        } else {
            &p.san_francisco
        },
        &q,
    );
    Json(rows).into_response()
}

/// FeatureServer `query`: `orderByFields`, `resultOffset`, `resultRecordCount`, `f`.
async fn arcgis(
    State(portal): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = fault(&portal, "arcgis", &q) {
        return r;
    }
    let p = portal.lock().unwrap();
    assert_eq!(q["orderByFields"], "OBJECTID");
    let offset: usize = q["resultOffset"].parse().unwrap();
    let count: usize = q["resultRecordCount"].parse().unwrap();
    let mut all = p.features.clone();
    all.sort_by_key(|(id, _)| *id);
    let page: Vec<_> = all.iter().skip(offset).take(count).collect();
    let exceeded = offset + page.len() < all.len();
    match q["f"].as_str() {
        "geojson" => Json(json!({
            "type": "FeatureCollection",
            "features": page.iter().map(|(id, a)| json!({
                "type": "Feature", "id": id,
                "geometry": {"type": "Point", "coordinates": [a["LONG_WGS84"].clone(), a["LAT_WGS84"].clone()]},
                "properties": a,
            })).collect::<Vec<_>>(),
            "properties": {"exceededTransferLimit": exceeded},
        }))
        .into_response(),
        "json" => {
            // Web Mercator geometry, no WGS84 attributes.
            let features: Vec<Value> = page
                .iter()
                .map(|(_, a)| {
                    let mut a = a.clone();
                    let lon = a["LONG_WGS84"].as_f64().unwrap_or(0.0);
                    let lat = a["LAT_WGS84"].as_f64().unwrap_or(0.0);
                    let o = a.as_object_mut().unwrap();
                    o.remove("LAT_WGS84");
                    o.remove("LONG_WGS84");
                    let x = lon.to_radians() * 6_378_137.0;
                    let y = ((std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0).tan()).ln() * 6_378_137.0;
                    json!({"attributes": a, "geometry": {"x": x, "y": y}})
                })
                .collect();
            Json(json!({
                "objectIdFieldName": "OBJECTID",
                "spatialReference": {"wkid": 102100, "latestWkid": 3857},
                "features": features,
                "exceededTransferLimit": exceeded,
            }))
            .into_response()
        }
        other => panic!("unexpected f={other}"),
    }
}

async fn police_dates(State(portal): State<Shared>) -> Response {
    let p = portal.lock().unwrap();
    let dates: Vec<Value> = p
        .police_months
        .iter()
        .map(|m| json!({"date": m, "stop-and-search": ["avon-and-somerset"]}))
        .collect();
    drop(p);
    fault(&portal, "police-dates", &HashMap::new());
    Json(dates).into_response()
}

async fn police_crimes(
    State(portal): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = fault(&portal, "police", &q) {
        return r;
    }
    assert!(q["poly"].contains(':'));
    let p = portal.lock().unwrap();
    Json(p.police.get(&q["date"]).cloned().unwrap_or(json!([]))).into_response()
}

async fn spot(State(portal): State<Shared>) -> Response {
    if let Some(r) = fault(&portal, "spot", &HashMap::new()) {
        return r;
    }
    Json(portal.lock().unwrap().spot.clone()).into_response()
}

/// Starts the portal on a free loopback port.
async fn serve(portal: Shared) -> SocketAddr {
    let app = Router::new()
        .route(
            "/chicago/resource/ijzp-q8t2.json",
            get(|State(p): State<Shared>, Query(q)| dataset(p, "chicago", q)),
        )
        .route(
            "/sf/resource/wg3w-h783.json",
            get(|State(p): State<Shared>, Query(q)| dataset(p, "sf", q)),
        )
        .route("/arcgis/MCI/FeatureServer/0/query", get(arcgis))
        .route("/uk/api/crimes-street-dates", get(police_dates))
        .route("/uk/api/crimes-street/all-crime", get(police_crimes))
        .route("/spot/crimes.json", get(spot))
        .with_state(portal);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A Chicago Crimes row (`ijzp-q8t2`), with the system fields SODA adds.
fn chicago_row(n: u32, primary_type: &str, updated: &str) -> Value {
    json!({
        ":id": format!("row-{n:04}"),
        ":updated_at": updated,
        "id": format!("{}", 13_000_000 + n),
        "case_number": format!("JG5{n:05}"),
        "date": format!("2024-03-{:02}T{:02}:15:00.000", 1 + n % 28, n % 24),
        "block": format!("0{n}XX W MADISON ST"),
        "iucr": "0820",
        "primary_type": primary_type,
        "description": "$500 AND UNDER",
        "location_description": "STREET",
        "latitude": format!("{:.6}", 41.88 + f64::from(n) * 0.001),
        "longitude": format!("{:.6}", -87.63 - f64::from(n) * 0.001),
    })
}

fn source(toml: &str) -> SourceConfig {
    toml::from_str(toml).unwrap_or_else(|e| panic!("{e}\n{toml}"))
}

fn ingest_config(sources: Vec<SourceConfig>) -> IngestConfig {
    IngestConfig {
        sources,
        ..IngestConfig::default()
    }
}

async fn run(db: &Db, config: &IngestConfig) -> IngestSummary {
    let runner = Runner::new(db.clone(), config, Default::default(), false).unwrap();
    run_once(&runner, config, &[]).await.unwrap()
}

/// Every upsert in the change feed, in order.
async fn upserts(db: &Db) -> Vec<Incident> {
    let (changes, more) = db
        .changes_after(&vigil_backend::db::UserId::new(), 0, 100_000)
        .await
        .unwrap();
    assert!(!more);
    changes
        .into_iter()
        .filter_map(|(_, c)| match c.item {
            Change::Upsert { incident } => Some(incident),
            _ => None,
        })
        .collect()
}

fn chicago_source(addr: SocketAddr) -> SourceConfig {
    source(&format!(
        r#"
name = "chicago"
page_size = 10
requests_per_second = 50.0
retries = 3
backoff_ms = 50
[socrata]
base_url = "http://{addr}/chicago"
dataset = "ijzp-q8t2"
mapping = "chicago"
"#
    ))
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn socrata_pages_retry_reject_and_update(#[case] engine: Engine) {
    let app = TestApp::new(engine).await;
    let portal = Shared::default();
    {
        let mut p = portal.lock().unwrap();
        p.chicago = (0..25)
            .map(|n| chicago_row(n, "THEFT", "2024-04-01T10:00:00.000Z"))
            .collect();
        // A malformed record: no coordinates.
        p.chicago[7].as_object_mut().unwrap().remove("latitude");
        // A type the taxonomy does not know.
        p.chicago[12]["primary_type"] = json!("RITUALISTIC OFFENSE");
        // The second page first fails with an error page, then is rate limited.
        p.faults.insert(
            "chicago",
            VecDeque::from([
                Fault {
                    after: Some("row-0009"),
                    ..Fault::new(500, None, "<html><body>Internal Server Error</body></html>")
                },
                Fault {
                    after: Some("row-0009"),
                    ..Fault::new(
                        429,
                        Some("1"),
                        r#"{"code":"too_many_requests","error":true,"message":"Too many requests"}"#,
                    )
                },
            ]),
        );
    }
    let addr = serve(portal.clone()).await;
    let config = ingest_config(vec![chicago_source(addr)]);
    let started = Instant::now();
    let summary = run(&app.db, &config).await;
    let s = &summary.sources[0];
    assert_eq!(s.error, None, "{summary}");
    assert_eq!(
        (s.read, s.inserted, s.updated, s.rejected_total()),
        (25, 24, 0, 1),
        "{summary}"
    );
    assert_eq!(s.rejected["latitude: missing"], (1, "13000007".to_owned()));
    assert_eq!(
        s.unmapped.by_count(),
        vec![("chicago", "RITUALISTIC OFFENSE", 1)]
    );
    // The 429's Retry-After was honoured.
    assert!(started.elapsed() >= Duration::from_secs(1));
    let offsets: Vec<String> = portal
        .lock()
        .unwrap()
        .log
        .iter()
        .map(|(_, q)| after(q).unwrap_or_default())
        .collect();
    // Page 2 asked three times (500, 429, then the page); page 3 is short, so the end.
    assert_eq!(
        offsets,
        vec!["", "row-0009", "row-0009", "row-0009", "row-0019"]
    );

    // Nothing duplicated, nothing skipped.
    let stored = upserts(&app.db).await;
    assert_eq!(stored.len(), 24);
    let ids: std::collections::HashSet<_> = stored.iter().map(|i| i.id).collect();
    assert_eq!(ids.len(), 24);
    for n in (0..25).filter(|n| *n != 7) {
        assert!(ids.contains(&IncidentId::for_feed_record(
            "chicago",
            &format!("{}", 13_000_000 + n)
        )));
    }
    let odd = stored
        .iter()
        .find(|i| i.id == IncidentId::for_feed_record("chicago", "13000012"))
        .unwrap();
    assert_eq!(odd.category, Category::Other);
    assert!(
        odd.description
            .starts_with("RITUALISTIC OFFENSE (reported to Chicago Police Department).")
    );
    let theft = stored
        .iter()
        .find(|i| i.id == IncidentId::for_feed_record("chicago", "13000003"))
        .unwrap();
    assert_eq!(theft.category, Category::Theft);
    assert_eq!(theft.occurred_at.to_rfc3339(), "2024-03-04T03:15:00-06:00");

    // The checkpoint: the key of the last row stored.
    let checkpoint: Value =
        serde_json::from_str(&app.db.checkpoint("chicago").await.unwrap().unwrap()).unwrap();
    assert_eq!(
        checkpoint,
        json!({"updated_at": "2024-04-01T10:00:00.000", "id": "row-0024"})
    );

    // At the source: one record changes, one is new. The next run reads only the rows
    // changed after the last one stored; the changed record becomes version 2.
    {
        let mut p = portal.lock().unwrap();
        p.log.clear();
        p.chicago[3]["primary_type"] = json!("ROBBERY");
        p.chicago[3][":updated_at"] = json!("2024-04-02T08:00:00.000Z");
        p.chicago
            .push(chicago_row(30, "BURGLARY", "2024-04-02T09:00:00.000Z"));
    }
    let summary = run(&app.db, &config).await;
    let s = &summary.sources[0];
    assert_eq!(
        (s.read, s.inserted, s.updated, s.unchanged),
        (2, 1, 1, 0),
        "{summary}"
    );
    let wheres: Vec<String> = portal
        .lock()
        .unwrap()
        .log
        .iter()
        .map(|(_, q)| q["$where"].clone())
        .collect();
    assert_eq!(
        wheres,
        vec![
            "(:updated_at > '2024-04-01T10:00:00.000' OR (:updated_at = '2024-04-01T10:00:00.000' AND :id > 'row-0024'))"
        ]
    );
    let stored = upserts(&app.db).await;
    assert_eq!(stored.len(), 26);
    let robbery = stored
        .iter()
        .rfind(|i| i.id == IncidentId::for_feed_record("chicago", "13000003"))
        .unwrap();
    assert_eq!(
        robbery.id,
        IncidentId::for_feed_record("chicago", "13000003")
    );
    assert_eq!((robbery.category, robbery.version), (Category::Robbery, 2));

    // A third run finds nothing after the last row stored.
    portal.lock().unwrap().log.clear();
    let summary = run(&app.db, &config).await;
    let s = &summary.sources[0];
    assert_eq!((s.read, s.pages), (0, 1), "{summary}");
    assert_eq!(upserts(&app.db).await.len(), 26);

    // Forgetting the checkpoint reads everything again, and stores nothing twice.
    assert!(app.db.reset_checkpoint("chicago").await.unwrap());
    let summary = run(&app.db, &config).await;
    let s = &summary.sources[0];
    assert_eq!(
        (s.read, s.inserted, s.updated, s.unchanged),
        (26, 0, 0, 25),
        "{summary}"
    );
    assert_eq!(upserts(&app.db).await.len(), 26);

    // Provenance is part of what the API shows.
    let token = app.user("resident").await;
    let (status, body) = app
        .call(Method::GET, "/v1/incidents?limit=100", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = body["incidents"].as_array().unwrap();
    let shown = listed
        .iter()
        .find(|i| i["source"]["record_id"] == "13000003")
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(shown["source"]["kind"], "feed");
    assert_eq!(shown["source"]["feed"], "chicago");
    let url = shown["source"]["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("http://{addr}/chicago/resource/ijzp-q8t2.json?")),
        "{url}"
    );
    assert!(shown["source"]["fetched_at"].as_str().is_some(), "{shown}");
}

#[tokio::test]
async fn san_francisco_rows_of_one_incident_are_one_incident() {
    let app = TestApp::new(Engine::Sqlite).await;
    let portal = Shared::default();
    let row = |row_id: &str, incident: &str, category: &str, updated: &str| {
        json!({
            ":id": format!("row-{row_id}"), ":updated_at": updated,
            "row_id": row_id, "incident_id": incident, "incident_number": "230167874",
            "incident_datetime": "2023-03-13T23:41:00.000", "incident_category": category,
            "incident_description": format!("{category} description"),
            "intersection": "MISSION ST \\ 16TH ST", "analysis_neighborhood": "Mission",
            "latitude": "37.765", "longitude": "-122.419",
        })
    };
    portal.lock().unwrap().san_francisco = vec![
        row("1", "A", "Larceny Theft", "2023-03-14T10:00:00.000Z"),
        row("2", "B", "Burglary", "2023-03-14T10:00:00.000Z"),
        row("3", "A", "Assault", "2023-03-14T10:00:00.000Z"),
    ];
    let addr = serve(portal.clone()).await;
    let config = ingest_config(vec![source(&format!(
        r#"
name = "sf"
page_size = 2
requests_per_second = 50.0
[socrata]
base_url = "http://{addr}/sf"
dataset = "wg3w-h783"
mapping = "san_francisco"
"#
    ))]);
    let summary = run(&app.db, &config).await;
    let s = &summary.sources[0];
    assert_eq!(s.error, None, "{summary}");
    // Page 1 brings A's first row and B; page 2 A's second row: A becomes version 2.
    assert_eq!((s.read, s.inserted, s.updated), (3, 2, 1), "{summary}");
    let stored = upserts(&app.db).await;
    let a: Vec<_> = stored
        .iter()
        .filter(|i| i.id == IncidentId::for_feed_record("sf", "A"))
        .collect();
    assert_eq!(a.len(), 2);
    let a = a[1];
    assert_eq!((a.category, a.version), (Category::Assault, 2));
    assert!(
        a.description
            .starts_with("Larceny Theft; Assault (reported to San Francisco Police Department)."),
        "{}",
        a.description
    );
    assert_eq!(a.place.as_deref(), Some("MISSION ST \\ 16TH ST"));

    // Reading everything again changes nothing (A is looked at once per page it is on).
    app.db.reset_checkpoint("sf").await.unwrap();
    let summary = run(&app.db, &config).await;
    let s = &summary.sources[0];
    assert_eq!((s.inserted, s.updated, s.unchanged), (0, 0, 3), "{summary}");
    assert_eq!(upserts(&app.db).await.len(), 3);
}

/// A Toronto MCI layer feature's attributes.
fn mci(event: &str, offence: &str, category: &str, ucr: u32) -> Value {
    json!({
        "EVENT_UNIQUE_ID": event, "OCC_DATE": 1_704_085_200_000i64, "OCC_HOUR": 23,
        "MCI_CATEGORY": category, "OFFENCE": offence, "UCR_CODE": ucr, "UCR_EXT": 100,
        "PREMISES_TYPE": "Apartment", "NEIGHBOURHOOD_158": "Moss Park (73)", "DIVISION": "D51",
        "LAT_WGS84": 43.6561, "LONG_WGS84": -79.3690,
    })
}

#[tokio::test]
async fn arcgis_pages_while_exceeded_and_merges_offences_of_one_event() {
    let app = TestApp::new(Engine::Sqlite).await;
    let portal = Shared::default();
    {
        let mut p = portal.lock().unwrap();
        // Lowercase names: an older export of the layer (schema drift).
        let drift: Value = mci("GO-4", "Theft Of Motor Vehicle", "Auto Theft", 2135)
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.clone()))
            .collect::<serde_json::Map<_, _>>()
            .into();
        let mut no_hour = mci("GO-5", "Assault", "Assault", 1430);
        no_hour["OCC_HOUR"] = json!("late");
        p.features = vec![
            (1, mci("GO-1", "B&E", "Break and Enter", 2120)),
            (2, mci("GO-2", "Theft Over", "Theft Over", 2130)),
            (3, mci("GO-3", "Robbery - Mugging", "Robbery", 1610)),
            (4, mci("GO-1", "Assault With Weapon", "Assault", 1420)),
            (5, drift),
            (6, no_hour),
        ];
        // The first page is answered once with ArcGIS's way of failing: HTTP 200 and an
        // error document with code 500 (retried like an HTTP 500).
        p.faults.insert(
            "arcgis",
            VecDeque::from([Fault::new(
                200,
                None,
                r#"{"error":{"code":500,"message":"Unable to complete operation.","details":[]}}"#,
            )]),
        );
    }
    let addr = serve(portal.clone()).await;
    let layer = |name: &str, format: &str| {
        source(&format!(
            r#"
name = "{name}"
page_size = 2
requests_per_second = 50.0
backoff_ms = 10
[arcgis]
url = "http://{addr}/arcgis/MCI/FeatureServer/0"
mapping = "toronto_mci"
format = "{format}"
out_sr = {sr}
"#,
            sr = if format == "json" { 3857 } else { 4326 }
        ))
    };
    let config = ingest_config(vec![layer("toronto", "geojson")]);
    let summary = run(&app.db, &config).await;
    let s = &summary.sources[0];
    assert_eq!(s.error, None, "{summary}");
    assert_eq!(
        (s.pages, s.read, s.inserted, s.updated, s.rejected_total()),
        (3, 6, 4, 1, 1),
        "{summary}"
    );
    assert_eq!(s.rejected["OCC_HOUR: not 0 to 23"], (1, "GO-5".to_owned()));
    let offsets: Vec<String> = portal
        .lock()
        .unwrap()
        .log
        .iter()
        .map(|(_, q)| q["resultOffset"].clone())
        .collect();
    assert_eq!(offsets, vec!["0", "0", "2", "4"]);

    let stored = upserts(&app.db).await;
    let go1 = stored
        .iter()
        .rfind(|i| i.id == IncidentId::for_feed_record("toronto", "GO-1"))
        .unwrap();
    // Two offences, one incident: the more serious category, both labels (in the order
    // of their offence codes, whichever page brought them).
    assert_eq!((go1.category, go1.version), (Category::Assault, 2));
    assert!(
        go1.description
            .starts_with("Assault; Break and Enter (reported to Toronto Police Service)."),
        "{}",
        go1.description
    );
    assert!(
        go1.description.contains("Offence: B&E."),
        "{}",
        go1.description
    );
    assert_eq!(go1.occurred_at.to_rfc3339(), "2024-01-01T23:00:00-05:00");
    let go4 = stored
        .iter()
        .find(|i| i.id == IncidentId::for_feed_record("toronto", "GO-4"))
        .unwrap();
    assert_eq!(go4.category, Category::AutoTheft);
    assert!((go4.location.lat - 43.6561).abs() < 1e-9);

    // Again: nothing new, nothing changed (GO-1 is looked at on both its pages).
    let summary = run(&app.db, &config).await;
    let s = &summary.sources[0];
    assert_eq!((s.inserted, s.updated, s.unchanged), (0, 0, 5), "{summary}");

    // The same layer as Esri JSON in Web Mercator, without the WGS84 attributes.
    let config = ingest_config(vec![layer("toronto-3857", "json")]);
    let summary = run(&app.db, &config).await;
    let s = &summary.sources[0];
    assert_eq!((s.inserted, s.rejected_total()), (4, 1), "{summary}");
    let go4 = upserts(&app.db)
        .await
        .into_iter()
        .find(|i| i.id == IncidentId::for_feed_record("toronto-3857", "GO-4"))
        .unwrap();
    assert!(
        (go4.location.lat - 43.6561).abs() < 1e-6,
        "{:?}",
        go4.location
    );
    assert!(
        (go4.location.lon - -79.3690).abs() < 1e-6,
        "{:?}",
        go4.location
    );
}

#[tokio::test]
async fn police_uk_reads_each_published_month_once() {
    let app = TestApp::new(Engine::Sqlite).await;
    let portal = Shared::default();
    let crime = |pid: &str, id: u64, category: &str, month: &str| {
        json!({
            "category": category, "location_type": "Force",
            "location": {"latitude": "51.4545", "street": {"id": 883498, "name": "On or near Park Street"}, "longitude": "-2.5879"},
            "context": "", "outcome_status": null, "persistent_id": pid, "id": id,
            "location_subtype": "", "month": month,
        })
    };
    {
        let mut p = portal.lock().unwrap();
        p.police_months = vec!["2024-02", "2024-01"];
        p.police.insert(
            "2024-01".into(),
            json!([
                crime("aa11", 1, "burglary", "2024-01"),
                crime("bb22", 2, "vehicle-crime", "2024-01"),
            ]),
        );
        p.police.insert("2024-02".into(), json!([
            crime("cc33", 3, "violent-crime", "2024-02"),
            crime("", 4, "anti-social-behaviour", "2024-02"),
            {"category": "shoplifting", "location": {"latitude": "", "longitude": "-2.5"}, "persistent_id": "dd44", "id": 5, "month": "2024-02"},
        ]));
    }
    let addr = serve(portal.clone()).await;
    let config = ingest_config(vec![source(&format!(
        r#"
name = "bristol"
requests_per_second = 10.0
[police_uk]
base_url = "http://{addr}/uk/api"
poly = "51.46,-2.60:51.46,-2.57:51.44,-2.57:51.44,-2.60"
from_month = "2023-12"
"#
    ))]);
    let summary = run(&app.db, &config).await;
    let s = &summary.sources[0];
    assert_eq!(s.error, None, "{summary}");
    assert_eq!(
        (s.pages, s.inserted, s.rejected_total()),
        (3, 4, 1),
        "{summary}"
    );
    assert_eq!(
        s.rejected["location.latitude: not a number"],
        (1, "dd44".to_owned())
    );
    let months: Vec<String> = portal
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|(k, _)| k == "police")
        .map(|(_, q)| q["date"].clone())
        .collect();
    assert_eq!(months, vec!["2023-12", "2024-01", "2024-02"]);
    let stored = upserts(&app.db).await;
    let asb = stored
        .iter()
        .find(|i| i.id == IncidentId::for_feed_record("bristol", "2024-02/4"))
        .unwrap();
    assert_eq!(asb.category, Category::Harassment);
    assert_eq!(asb.occurred_at.to_rfc3339(), "2024-02-01T00:00:00+00:00");

    // Nothing new published: only the list of months is asked for.
    portal.lock().unwrap().log.clear();
    let summary = run(&app.db, &config).await;
    assert_eq!(summary.sources[0].read, 0, "{summary}");
    assert!(
        portal
            .lock()
            .unwrap()
            .log
            .iter()
            .all(|(k, _)| k != "police")
    );

    // March is published: only March is read.
    {
        let mut p = portal.lock().unwrap();
        p.police_months.insert(0, "2024-03");
        p.police.insert(
            "2024-03".into(),
            json!([crime("ee55", 6, "robbery", "2024-03")]),
        );
        p.log.clear();
    }
    let summary = run(&app.db, &config).await;
    assert_eq!(summary.sources[0].inserted, 1, "{summary}");
    let months: Vec<String> = portal
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|(k, _)| k == "police")
        .map(|(_, q)| q["date"].clone())
        .collect();
    assert_eq!(months, vec!["2024-03"]);

    // Too many crimes in the polygon: police.uk answers 503, which no retry mends.
    {
        let mut p = portal.lock().unwrap();
        p.police_months.insert(0, "2024-04");
        p.faults
            .insert("police", VecDeque::from([Fault::new(503, None, "")]));
        p.log.clear();
    }
    let summary = run(&app.db, &config).await;
    let error = summary.sources[0].error.clone().unwrap_or_default();
    assert!(error.contains("make police_uk.poly smaller"), "{summary}");
    assert_eq!(
        portal
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|(k, _)| k == "police")
            .count(),
        1
    );
}

#[tokio::test]
async fn json_feed_and_generic_csv_follow_their_field_mappings() {
    let app = TestApp::new(Engine::Sqlite).await;
    let portal = Shared::default();
    portal.lock().unwrap().spot = json!({"crimes": [
        {"cdid": 101, "type": "Theft", "date": "11/25/26 10:20 PM", "address": "100 BLOCK OF MAIN ST", "lat": 39.7392, "lon": -104.9903, "link": "https://spotcrime.example/crime/101"},
        {"cdid": 102, "type": "Shooting", "date": "11/26/26 01:05 AM", "address": "5TH AVE & PINE", "lat": "39.7401", "lon": "-104.9851", "link": "https://spotcrime.example/crime/102"},
        {"cdid": 103, "type": "Arrest", "date": "11/26/26 02:00 AM", "address": "PARK", "lat": 39.74, "lon": -104.98},
        {"cdid": 104, "type": "Theft", "date": "yesterday", "address": "X", "lat": 39.74, "lon": -104.98},
    ]});
    let addr = serve(portal.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("denver.csv");
    // Lower-case, spaced headers: matched regardless of case and separators.
    std::fs::write(
        &csv,
        "incident id,offense type,reported date,geo lat,geo lon,incident address\n\
         D1,theft-from-motor-vehicle,2026-11-20 08:30:00,39.75,-104.99,1500 BLOCK OF LARIMER ST\n\
         D2,burglary-residence,2026-11-21 14:00:00,39.76,-104.98,\n\
         D3,burglary-residence,2026-11-21 14:00:00,,-104.98,\n",
    )
    .unwrap();
    let config = ingest_config(vec![
        source(&format!(
            r#"
name = "spotcrime"
requests_per_second = 50.0
[json]
url = "http://{addr}/spot/crimes.json"
records = "/crimes"
[json.fields]
id = "cdid"
date_format = "%m/%d/%y %I:%M %p"
timezone = "America/Denver"
categories = {{ "Theft" = "theft", "Shooting" = "weapons" }}
"#
        )),
        source(&format!(
            r#"
name = "denver"
[csv]
path = "{}"
[csv.columns]
id = "INCIDENT_ID"
type = "OFFENSE_TYPE"
date = "REPORTED_DATE"
lat = "GEO_LAT"
lon = "GEO_LON"
address = "INCIDENT_ADDRESS"
timezone = "America/Denver"
categories = {{ "theft-from-motor-vehicle" = "theft", "burglary-residence" = "break_and_enter" }}
"#,
            csv.display()
        )),
    ]);
    let summary = run(&app.db, &config).await;
    let spot = &summary.sources[0];
    assert_eq!(spot.error, None, "{summary}");
    assert_eq!(
        (spot.read, spot.inserted, spot.rejected_total()),
        (4, 3, 1),
        "{summary}"
    );
    assert!(
        spot.rejected
            .keys()
            .next()
            .unwrap()
            .starts_with("date: \"yesterday\" is not a date and time in the format"),
        "{summary}"
    );
    assert_eq!(spot.unmapped.by_count(), vec![("spotcrime", "Arrest", 1)]);
    let denver = &summary.sources[1];
    assert_eq!(
        (denver.read, denver.inserted, denver.rejected_total()),
        (3, 2, 1),
        "{summary}"
    );
    assert_eq!(denver.rejected["GEO_LAT: missing"], (1, "D3".to_owned()));

    let stored = upserts(&app.db).await;
    let shooting = stored
        .iter()
        .find(|i| i.id == IncidentId::for_feed_record("spotcrime", "102"))
        .unwrap();
    assert_eq!(shooting.category, Category::Weapons);
    assert_eq!(
        shooting.occurred_at.to_rfc3339(),
        "2026-11-26T01:05:00-07:00"
    );
    match &shooting.source {
        Source::Feed { url, .. } => {
            assert_eq!(url.as_deref(), Some("https://spotcrime.example/crime/102"))
        }
        other => panic!("{other:?}"),
    }
    let d1 = stored
        .iter()
        .find(|i| i.id == IncidentId::for_feed_record("denver", "D1"))
        .unwrap();
    assert_eq!(
        (d1.category, d1.place.as_deref()),
        (Category::Theft, Some("1500 BLOCK OF LARIMER ST"))
    );

    // The CSV is read again only once it changes.
    let summary = run(&app.db, &config).await;
    assert_eq!(summary.sources[1].read, 0, "{summary}");
}

#[tokio::test]
async fn one_failing_source_does_not_stop_the_others() {
    let app = TestApp::new(Engine::Sqlite).await;
    let portal = Shared::default();
    portal.lock().unwrap().chicago = (0..3)
        .map(|n| chicago_row(n, "ASSAULT", "2024-04-01T10:00:00.000Z"))
        .collect();
    portal.lock().unwrap().faults.insert(
        "sf",
        VecDeque::from(vec![Fault::new(503, Some("0"), "down for maintenance"); 3]),
    );
    let addr = serve(portal.clone()).await;
    let config = ingest_config(vec![
        source(&format!(
            r#"
name = "gone"
requests_per_second = 50.0
[socrata]
base_url = "http://{addr}/nowhere"
dataset = "abcd-1234"
mapping = "chicago"
"#
        )),
        source(&format!(
            r#"
name = "flaky"
requests_per_second = 50.0
retries = 2
backoff_ms = 10
[socrata]
base_url = "http://{addr}/sf"
dataset = "wg3w-h783"
mapping = "san_francisco"
"#
        )),
        chicago_source(addr),
    ]);
    let summary = run(&app.db, &config).await;
    let text = summary.to_string();
    let gone = summary.sources[0]
        .error
        .as_deref()
        .unwrap_or_else(|| panic!("{text}"));
    assert!(gone.contains("answered 404"), "{gone}");
    let flaky = summary.sources[1]
        .error
        .as_deref()
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        flaky.contains("failed after 3 attempts") && flaky.contains("down for maintenance"),
        "{flaky}"
    );
    assert_eq!(summary.sources[2].error, None, "{text}");
    assert_eq!(summary.sources[2].inserted, 3, "{text}");
    assert_eq!(summary.failed().len(), 2);
    assert!(text.contains("FAILED: "), "{text}");
    // A failed source keeps no checkpoint it did not earn.
    assert_eq!(app.db.checkpoint("flaky").await.unwrap(), None);
}

/// `vigil ingest --once` killed in the middle of a page, then run again: it resumes at
/// the page after the last one stored, and prints a summary per source.
#[tokio::test]
async fn a_killed_ingest_resumes_from_its_checkpoint() {
    let portal = Shared::default();
    {
        let mut p = portal.lock().unwrap();
        p.chicago = (0..35)
            .map(|n| chicago_row(n, "THEFT", "2024-04-01T10:00:00.000Z"))
            .collect();
        p.stall_after = Some("row-0019");
    }
    let addr = serve(portal.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            r#"
data_dir = "{}"
[[ingest.sources]]
name = "chicago"
page_size = 10
requests_per_second = 50.0
[ingest.sources.socrata]
base_url = "http://{addr}/chicago"
dataset = "ijzp-q8t2"
mapping = "chicago"
"#,
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let vigil = || {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"));
        c.args(["--config", config.to_str().unwrap(), "ingest", "--once"])
            .env("VIGIL_LOG__FILTER", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        c
    };
    let mut child = vigil().spawn().unwrap();
    // Wait until the third page is being fetched, then kill the process.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !portal
        .lock()
        .unwrap()
        .log
        .iter()
        .any(|(_, q)| after(q).as_deref() == Some("row-0019"))
    {
        assert!(
            Instant::now() < deadline,
            "the third page was never asked for"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().await.unwrap();
    child.wait().await.unwrap();

    let db = Db::open_sqlite(&dir.path().join("data")).await.unwrap();
    let checkpoint: Value =
        serde_json::from_str(&db.checkpoint("chicago").await.unwrap().unwrap()).unwrap();
    assert_eq!(
        checkpoint,
        json!({"updated_at": "2024-04-01T10:00:00.000", "id": "row-0019"})
    );
    assert_eq!(upserts(&db).await.len(), 20);
    db.close().await;

    {
        let mut p = portal.lock().unwrap();
        p.stall_after = None;
        p.log.clear();
    }
    let out = vigil().output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let offsets: Vec<String> = portal
        .lock()
        .unwrap()
        .log
        .iter()
        .map(|(_, q)| after(q).unwrap_or_default())
        .collect();
    assert_eq!(offsets, vec!["row-0019", "row-0029"]);
    // The per-source summary.
    let header = stdout.lines().next().unwrap_or("");
    assert!(
        header.starts_with("source") && header.contains("new") && header.contains("rejected"),
        "{stdout}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("chicago"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    // name, kind, pages, read, new, updated, unchanged, rejected, unmapped, time, status
    assert_eq!(
        &cols[..9],
        &["chicago", "socrata", "2", "15", "15", "0", "0", "0", "0"],
        "{stdout}"
    );
    assert_eq!(cols.last(), Some(&"ok"));

    let db = Db::open_sqlite(&dir.path().join("data")).await.unwrap();
    let stored = upserts(&db).await;
    assert_eq!(stored.len(), 35);
    let ids: std::collections::HashSet<_> = stored.iter().map(|i| i.id).collect();
    assert_eq!(ids.len(), 35);
    db.close().await;
}

/// `vigil ingest` on its schedule: runs each source at start, serves its counts on
/// `/metrics`, and stops cleanly on SIGTERM.
#[tokio::test]
async fn scheduled_ingest_serves_metrics_and_stops_on_sigterm() {
    let portal = Shared::default();
    portal.lock().unwrap().chicago = (0..5)
        .map(|n| chicago_row(n, "THEFT", "2024-04-01T10:00:00.000Z"))
        .collect();
    portal.lock().unwrap().chicago[2]["primary_type"] = json!("NEW CATEGORY");
    let addr = serve(portal.clone()).await;
    let metrics = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            r#"
data_dir = "{}"
[ingest]
metrics_listen = "{metrics}"
[[ingest.sources]]
name = "chicago"
every = "1h"
[ingest.sources.socrata]
base_url = "http://{addr}/chicago"
dataset = "ijzp-q8t2"
mapping = "chicago"
"#,
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["--config", config.to_str().unwrap(), "ingest", "--quiet"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        assert!(Instant::now() < deadline, "no ingest metrics within 60 s");
        if let Ok(r) = client.get(format!("http://{metrics}/metrics")).send().await {
            let text = r.text().await.unwrap();
            if text.contains(r#"vigil_ingest_runs_total{source="chicago",outcome="ok"} 1"#) {
                break text;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for line in [
        r#"vigil_ingest_records_total{source="chicago",outcome="inserted"} 5"#,
        r#"vigil_ingest_records_total{source="chicago",outcome="unmapped"} 1"#,
        r#"vigil_ingest_records_total{source="chicago",outcome="rejected"} 0"#,
        r#"vigil_ingest_requests_total{source="chicago",status="200"} 1"#,
        r#"vigil_ingest_runs_total{source="chicago",outcome="failed"} 0"#,
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
    assert!(text.contains(r#"vigil_ingest_last_success_timestamp_seconds{source="chicago"}"#));
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("vigil ingest did not stop within 20 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
}

/// The CSV connector reads the Toronto export through the same code as `vigil import`:
/// under the same name, the same ids.
#[tokio::test]
async fn the_toronto_csv_layout_gives_the_importers_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mci.csv");
    std::fs::write(
        &path,
        "occurrencedate,occurrencehour,premises_type,occurrencemonth,occurrencedayofweek,MCI,Neighbourhood,occurrenceday,occurrencedayofyear,Pub_Id,Park_Id,PS_Id,Lat,Long\n\
         2013/12/24 05:00:00+00,22,Commercial,December,Tuesday,Robbery,West Humber-Clairville,24,358,0,0,0,43.73183406,-79.60070124\n\
         2017/07/01 04:00:00+00,0,House,July,Saturday,Assault,Newtonbrook East,1,182,0,0,0,43.78346555,-79.39868453\n\
         2017/07/01 04:00:00+00,0,House,July,Saturday,Assault,Newtonbrook East,1,182,0,0,0,43.78346555,-79.39868453\n\
         2017/07/01 04:00:00+00,0,Outside,July,Saturday,Assault,Willowdale East,1,182,0,0,0,north,-79.4\n",
    )
    .unwrap();
    let imported = Db::open_sqlite(&dir.path().join("imported")).await.unwrap();
    let summary = vigil_backend::import::import_toronto_mci(&imported, &path, false)
        .await
        .unwrap();
    assert_eq!((summary.imported, summary.rejected_total()), (3, 1));
    let ingested = Db::open_sqlite(&dir.path().join("ingested")).await.unwrap();
    let config = ingest_config(vec![source(&format!(
        "name = \"toronto-mci\"\npage_size = 2\n[csv]\npath = {:?}\nlayout = \"toronto_mci\"\n",
        path
    ))]);
    let summary = run(&ingested, &config).await;
    let s = &summary.sources[0];
    assert_eq!(
        (s.read, s.inserted, s.rejected_total()),
        (4, 3, 1),
        "{summary}"
    );
    assert_eq!(s.rejected["Lat: not a number"], (1, "row 4".to_owned()));
    let ids = |v: Vec<Incident>| {
        v.into_iter()
            .map(|i| i.id)
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(ids(upserts(&imported).await), ids(upserts(&ingested).await));
    // Read to the end: the unchanged file is not read again.
    let summary = run(&ingested, &config).await;
    assert_eq!(
        (summary.sources[0].read, summary.sources[0].pages),
        (0, 1),
        "{summary}"
    );

    // A truncated .gz is a failed run, not a finished file.
    let gz = dir.path().join("mci.csv.gz");
    let mut long = std::fs::read_to_string(&path).unwrap();
    for i in 0..3000 {
        long.push_str(&format!(
            "2017/07/01 04:00:00+00,{},House,July,Saturday,Assault,Area {i},1,182,0,0,0,43.78,-79.39\n",
            i % 24
        ));
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, long.as_bytes()).unwrap();
    let bytes = encoder.finish().unwrap();
    std::fs::write(&gz, &bytes[..bytes.len() - 30]).unwrap();
    let config = ingest_config(vec![source(&format!(
        "name = \"truncated\"\npage_size = 10000\n[csv]\npath = {gz:?}\nlayout = \"toronto_mci\"\n"
    ))]);
    let summary = run(&ingested, &config).await;
    let error = summary.sources[0].error.clone().unwrap_or_default();
    assert!(error.contains("is the file complete?"), "{summary}");
    assert_eq!(ingested.checkpoint("truncated").await.unwrap(), None);
}
