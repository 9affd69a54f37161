//! Socrata datasets (Chicago, San Francisco, New York): a row's fields to a feed record.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::{
    FeedRecord, Fields, Rejected, parse_time,
    taxonomy::{Scheme, classify},
};

/// Which dataset layout a Socrata source has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SocrataMapping {
    /// Chicago "Crimes - 2001 to Present" (`ijzp-q8t2`).
    Chicago,
    /// San Francisco "Police Department Incident Reports: 2018 to Present" (`wg3w-h783`).
    SanFrancisco,
    /// New York "NYPD Complaint Data" historic (`qgea-i56i`) or current year (`5uac-w243`).
    NewYork,
}

pub fn map_row(mapping: SocrataMapping, f: &Fields) -> Result<FeedRecord, Rejected> {
    let id_field = match mapping {
        SocrataMapping::Chicago => "id",
        SocrataMapping::SanFrancisco => "incident_id",
        SocrataMapping::NewYork => "cmplnt_num",
    };
    let record_id = f.text(id_field);
    let reject = |reason: String| Rejected::new(record_id.clone(), reason);
    let id = record_id
        .clone()
        .ok_or_else(|| reject(format!("{id_field}: missing")))?;
    let lat = f.number("latitude").map_err(reject)?;
    let lon = f.number("longitude").map_err(reject)?;
    let time = |field: &str, zone: Tz| {
        let text = f.need(field)?;
        parse_time(&text, None, zone)
            .ok_or_else(|| format!("{field}: {text:?} is not a date and time"))
    };
    let detail = |prefix: &str, field: &str| f.text(field).map(|v| format!("{prefix}{v}"));
    match mapping {
        SocrataMapping::Chicago => {
            let label = f.need("primary_type").map_err(reject)?;
            let (category, unmapped_in) = classify(Scheme::Chicago, &label);
            Ok(FeedRecord {
                record_id: id,
                part_id: None,
                category,
                label,
                unmapped_in,
                occurred_at: time("date", chrono_tz::America::Chicago).map_err(reject)?,
                lat,
                lon,
                place: f.text("block"),
                details: [
                    f.text("description").map(|d| match f.text("iucr") {
                        Some(code) => format!("{d} (IUCR {code})"),
                        None => d,
                    }),
                    detail("Location: ", "location_description"),
                    detail("Case ", "case_number"),
                ]
                .into_iter()
                .flatten()
                .collect(),
                publisher: "Chicago Police Department".into(),
                link: None,
            })
        }
        SocrataMapping::SanFrancisco => {
            let label = f
                .text("incident_category")
                .or_else(|| f.text("incident_subcategory"))
                .ok_or_else(|| reject("incident_category: missing".into()))?;
            let (category, unmapped_in) = classify(Scheme::SanFrancisco, &label);
            Ok(FeedRecord {
                record_id: id,
                part_id: Some(
                    f.text("row_id")
                        .or_else(|| f.text("incident_code"))
                        .ok_or_else(|| reject("row_id: missing".into()))?,
                ),
                category,
                label,
                unmapped_in,
                occurred_at: time("incident_datetime", chrono_tz::America::Los_Angeles)
                    .map_err(reject)?,
                lat,
                lon,
                place: f.text("intersection"),
                details: [
                    f.text("incident_description"),
                    detail("Neighbourhood: ", "analysis_neighborhood"),
                    detail("Report ", "incident_number"),
                ]
                .into_iter()
                .flatten()
                .collect(),
                publisher: "San Francisco Police Department".into(),
                link: None,
            })
        }
        SocrataMapping::NewYork => {
            let label = f.need("ofns_desc").map_err(reject)?;
            let (category, unmapped_in) = classify(Scheme::NewYork, &label);
            let date = f.need("cmplnt_fr_dt").map_err(reject)?;
            let day = date.get(..10).unwrap_or(&date);
            let when = match f.text("cmplnt_fr_tm") {
                Some(t) => format!("{day}T{t}"),
                None => format!("{day}T00:00:00"),
            };
            let occurred_at = parse_time(&when, None, chrono_tz::America::New_York)
                .ok_or_else(|| reject(format!("cmplnt_fr_dt: {date:?} is not a date")))?;
            let place = match (f.text("prem_typ_desc"), f.text("boro_nm")) {
                (Some(p), Some(b)) => Some(format!("{p}, {b}")),
                (p, b) => p.or(b),
            };
            Ok(FeedRecord {
                record_id: id,
                part_id: None,
                category,
                label,
                unmapped_in,
                occurred_at,
                lat,
                lon,
                place,
                details: [f.text("pd_desc"), detail("Law category: ", "law_cat_cd")]
                    .into_iter()
                    .flatten()
                    .collect(),
                publisher: "New York City Police Department".into(),
                link: None,
            })
        }
    }
}
