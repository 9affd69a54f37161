//! A JSON feed with a field mapping in config (SpotCrime-style: id, type, date, address,
//! lat, lon, link). One document per run; identity makes records seen before a no-op.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    Fields, Page, Rejected,
    config::JsonConfig,
    files::Mapping,
    http::{FetchError, Http},
};

/// A JSON feed has no position of its own: every run reads the whole document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {}

pub struct JsonFeed {
    config: JsonConfig,
    mapping: Mapping,
}

impl JsonFeed {
    pub fn new(config: JsonConfig, source: &str) -> anyhow::Result<JsonFeed> {
        Ok(JsonFeed {
            mapping: Mapping::new(&config.fields, source)?,
            config,
        })
    }

    pub async fn page(&self, http: &Http) -> Result<Page, FetchError> {
        let (body, url) = http.get_json(&self.config.url, &[]).await?;
        let Some(Value::Array(items)) = body.pointer(&self.config.records) else {
            return Err(FetchError::Unreadable {
                url,
                message: format!(
                    "no array of records at {:?}; set records to the JSON pointer of the array (e.g. \"/crimes\")",
                    self.config.records
                ),
            });
        };
        let records = items
            .iter()
            .map(|item| match item {
                Value::Object(o) => {
                    let fields = Fields::new(o);
                    self.mapping.map(&|name: &str| fields.text(name))
                }
                _ => Err(Rejected::new(None, "record: not a JSON object")),
            })
            .collect();
        Ok(Page {
            records,
            url,
            next: serde_json::to_value(Position {}).unwrap_or_default(),
            done: true,
        })
    }
}
