//! Socrata SODA datasets (`/resource/{id}.json`): Chicago, San Francisco, New York.
//!
//! A run reads every row changed since the last stored one, in the order of change:
//! `$order=:updated_at, :id` and `$where` past the last `(:updated_at, :id)` stored (the
//! checkpoint, saved with every page), `$limit` rows a page. Paging by that key rather
//! than by `$offset` means a row changed or deleted while a run pages cannot shift a
//! later row out of sight: a changed row moves behind the key and is read again, in this
//! run or the next.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use vigil_feeds::socrata::map_row;

use super::{
    Fields, Page, Rejected,
    config::SocrataConfig,
    http::{FetchError, Http},
};

/// Where a Socrata source is: the `(:updated_at, :id)` of the last row stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

pub struct Socrata {
    config: SocrataConfig,
    page_size: u32,
}

/// A SoQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl Socrata {
    pub fn new(config: SocrataConfig, page_size: u32) -> Socrata {
        Socrata { config, page_size }
    }

    pub fn resource_url(&self) -> String {
        format!(
            "{}/resource/{}.json",
            self.config.base_url.trim_end_matches('/'),
            self.config.dataset
        )
    }

    pub async fn page(&self, http: &Http, position: Position) -> Result<Page, FetchError> {
        let mut conditions = Vec::new();
        if let (Some(at), Some(id)) = (&position.updated_at, &position.id) {
            conditions.push(format!(
                "(:updated_at > {at} OR (:updated_at = {at} AND :id > {id}))",
                at = literal(at),
                id = literal(id)
            ));
        }
        if let Some(filter) = &self.config.filter {
            conditions.push(format!("({filter})"));
        }
        let mut query = vec![
            ("$select", ":*, *".to_owned()),
            ("$order", ":updated_at, :id".to_owned()),
            ("$limit", self.page_size.to_string()),
        ];
        if !conditions.is_empty() {
            query.push(("$where", conditions.join(" AND ")));
        }
        let (body, url) = http.get_json(&self.resource_url(), &query).await?;
        let Value::Array(rows) = body else {
            return Err(FetchError::Unreadable {
                url,
                message: "expected a JSON array of rows".into(),
            });
        };
        let mut records = Vec::with_capacity(rows.len());
        let mut last = position.clone();
        for row in &rows {
            let Value::Object(object) = row else {
                records.push(Err(Rejected::new(None, "row: not a JSON object")));
                continue;
            };
            let fields = Fields::new(object);
            match (fields.text(":updated_at"), fields.text(":id")) {
                (Some(at), Some(id)) => {
                    last = Position {
                        updated_at: Some(at.trim_end_matches('Z').to_owned()),
                        id: Some(id),
                    }
                }
                _ => {
                    return Err(FetchError::Unreadable {
                        url,
                        message: "rows come without :updated_at and :id; is this a SODA 2 /resource/ endpoint?".into(),
                    });
                }
            }
            records.push(map_row(self.config.mapping, &fields));
        }
        // The key must move on, or a portal that ignored `$where` would be paged forever.
        let key = |p: &Position| (p.updated_at.clone(), p.id.clone());
        if !rows.is_empty() && position.id.is_some() && key(&last) <= key(&position) {
            return Err(FetchError::Unreadable {
                url,
                message: format!(
                    "the rows do not come after the checkpoint ({:?}, {:?}); does the portal apply $where and $order?",
                    position.updated_at.unwrap_or_default(),
                    position.id.unwrap_or_default()
                ),
            });
        }
        Ok(Page {
            records,
            url,
            next: serde_json::to_value(last).unwrap_or_default(),
            done: (rows.len() as u64) < u64::from(self.page_size),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_feeds::{FeedRecord, socrata::SocrataMapping};
    use vigil_sync::Category;

    fn row(v: Value) -> Result<FeedRecord, Rejected> {
        map_row(
            match v["_m"].as_str().unwrap() {
                "chi" => SocrataMapping::Chicago,
                "sf" => SocrataMapping::SanFrancisco,
                _ => SocrataMapping::NewYork,
            },
            &Fields::new(v.as_object().unwrap()),
        )
    }

    #[test]
    fn chicago_rows_map() {
        let r = row(
            serde_json::json!({"_m": "chi", "id": "13311263", "case_number": "JG503434",
            "date": "2023-11-29T21:30:00.000", "block": "073XX S SOUTH SHORE DR", "iucr": "0486",
            "primary_type": "BATTERY", "description": "DOMESTIC BATTERY SIMPLE",
            "location_description": "APARTMENT", "latitude": "41.761", "longitude": "-87.563"}),
        )
        .unwrap();
        assert_eq!(r.record_id, "13311263");
        assert_eq!(r.category, Category::Assault);
        assert_eq!(r.occurred_at.to_rfc3339(), "2023-11-29T21:30:00-06:00");
        assert_eq!(r.details[0], "DOMESTIC BATTERY SIMPLE (IUCR 0486)");
    }

    #[test]
    fn new_york_joins_date_and_time_and_rejects_without_coordinates() {
        let r = row(serde_json::json!({"_m": "ny", "cmplnt_num": "26505478", "cmplnt_fr_dt": "2023-07-14T00:00:00.000",
            "cmplnt_fr_tm": "18:20:00", "ofns_desc": "PETIT LARCENY", "law_cat_cd": "MISDEMEANOR",
            "latitude": "40.75", "longitude": "-73.99", "boro_nm": "MANHATTAN"}))
        .unwrap();
        assert_eq!(r.occurred_at.to_rfc3339(), "2023-07-14T18:20:00-04:00");
        assert_eq!(r.category, Category::Theft);
        let bad = row(serde_json::json!({"_m": "ny", "cmplnt_num": "1", "cmplnt_fr_dt": "2023-07-14T00:00:00.000",
            "ofns_desc": "ROBBERY"}))
        .unwrap_err();
        assert_eq!(bad, Rejected::new(Some("1".into()), "latitude: missing"));
    }
}
