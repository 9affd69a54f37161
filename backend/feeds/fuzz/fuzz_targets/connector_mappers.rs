//! Every connector's mapper on arbitrary records: the first byte picks the mapper, the rest
//! is the record as its source publishes it (a JSON object, or a CSV row under the Toronto
//! export's header). A mapper answers a record or a rejection naming what is wrong, never
//! a panic; a record it answers has an id, finite coordinates and a label, survives a
//! JSON round trip, and merging it with itself changes nothing but its part id.
#![no_main]

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use vigil_feeds::{
    FeedRecord, Fields, Rejected, arcgis, fields, police_uk, socrata, toronto,
};

const TORONTO_HEADER: &str = "occurrencedate,occurrencehour,premises_type,occurrencemonth,occurrencedayofweek,MCI,Neighbourhood,occurrenceday,occurrencedayofyear,Pub_Id,Park_Id,PS_Id,Lat,Long\n";

fn check(record: Result<FeedRecord, String>) {
    let Ok(r) = record else { return };
    assert!(!r.record_id.trim().is_empty(), "a record without an id: {r:?}");
    assert!(r.lat.is_finite() && r.lon.is_finite(), "{r:?}");
    assert!(!r.label.is_empty(), "{r:?}");
    let text = serde_json::to_string(&r).expect("a record serialises");
    let back: FeedRecord = serde_json::from_str(&text).expect("and parses back");
    assert_eq!(back, r);
    let merged = FeedRecord::merge(vec![r.clone(), r.clone()]).expect("two parts merge");
    assert_eq!(FeedRecord { part_id: None, ..r }, merged);
}

fn rejected(e: Rejected) -> String {
    assert!(!e.reason.is_empty());
    e.reason
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    if which % 5 == 3 {
        let mut text = TORONTO_HEADER.as_bytes().to_vec();
        text.extend_from_slice(rest);
        let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(&text[..]);
        let columns = toronto::Columns::find(&csv.headers().expect("the header").clone())
            .expect("the real header has every column");
        for row in csv.records().flatten() {
            check(toronto::map_row(&row, &columns, "row".into()));
        }
        return;
    }
    let Ok(value) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    let Some(object) = value.as_object() else {
        return;
    };
    let f = Fields::new(object);
    let record = match which % 5 {
        0 => {
            let mapping = [
                socrata::SocrataMapping::Chicago,
                socrata::SocrataMapping::SanFrancisco,
                socrata::SocrataMapping::NewYork,
            ][usize::from(which / 5) % 3];
            socrata::map_row(mapping, &f)
        }
        1 => {
            let attributes = object
                .get("attributes")
                .or_else(|| object.get("properties"))
                .and_then(Value::as_object);
            let Some(attributes) = attributes else { return };
            let point = arcgis::geometry_point(object.get("geometry"), which & 0x80 != 0);
            arcgis::toronto_mci(&Fields::new(attributes), point)
        }
        2 => {
            let month = NaiveDate::from_ymd_opt(2024, 5, 1).expect("a date");
            police_uk::crime(&f, &value, month)
        }
        _ => {
            let mapping = fields::Mapping::new(&fields::FieldMap::default(), "fuzz")
                .expect("the default mapping is valid");
            mapping.map(&|name| f.text(name))
        }
    };
    check(record.map_err(rejected));
});
