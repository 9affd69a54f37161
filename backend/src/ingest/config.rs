//! `[ingest]` and its `[[ingest.sources]]`: which public feeds `vigil ingest` reads, how
//! often and how politely.
//!
//! ```toml
//! [[ingest.sources]]
//! name = "chicago"             # stored with every record; part of each incident's id
//! every = "15m"                # schedule (also "1h", "1d"); `vigil ingest --once` ignores it
//! requests_per_second = 2.0    # at most this many requests to the source
//! [ingest.sources.socrata]
//! base_url = "https://data.cityofchicago.org"
//! dataset = "ijzp-q8t2"
//! mapping = "chicago"
//! ```

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context, bail, ensure};
use serde::{Deserialize, Serialize};

pub use vigil_feeds::{fields::FieldMap, socrata::SocrataMapping};

/// Everything about public-feed ingestion.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Where `vigil ingest` serves `/metrics` and `/healthz`.
    pub metrics_listen: SocketAddr,
    /// The `User-Agent` sent to sources (open-data portals ask for a contact).
    pub user_agent: String,
    /// Seconds before one request is given up (and retried).
    pub timeout_seconds: u32,
    pub sources: Vec<SourceConfig>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 9104)),
            user_agent: concat!("vigil/", env!("CARGO_PKG_VERSION"), " (public-feed ingest)")
                .into(),
            timeout_seconds: 60,
            sources: Vec::new(),
        }
    }
}

/// One configured source: common settings plus exactly one kind table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The source's name: letters, digits, '-', '_' and '.'. Part of every incident id
    /// from it, so renaming a source makes its records new incidents.
    pub name: String,
    /// How often to run, e.g. "15m", "1h", "1d".
    #[serde(default = "default_every")]
    pub every: String,
    /// At most this many requests per second to the source.
    #[serde(default = "default_rate")]
    pub requests_per_second: f64,
    /// Retries of a failed request (timeouts, 5xx, 429) before the run fails.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First wait before a retry; doubled each time (with jitter), up to 5 minutes.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// Records per page (Socrata `$limit`, ArcGIS `resultRecordCount`, CSV rows per commit).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Skipped by `vigil ingest` when false.
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socrata: Option<SocrataConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arcgis: Option<ArcGisConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub police_uk: Option<PoliceUkConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<JsonConfig>,
}

fn default_every() -> String {
    "1h".into()
}
fn default_rate() -> f64 {
    2.0
}
fn default_retries() -> u32 {
    5
}
fn default_backoff_ms() -> u64 {
    1_000
}
fn default_page_size() -> u32 {
    1_000
}
fn default_true() -> bool {
    true
}

/// A Socrata SODA dataset (`{base_url}/resource/{dataset}.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocrataConfig {
    /// The portal, e.g. "https://data.cityofchicago.org".
    pub base_url: String,
    /// The dataset id, e.g. "ijzp-q8t2".
    pub dataset: String,
    pub mapping: SocrataMapping,
    /// Sent as `X-App-Token` (raises the portal's rate limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_token: Option<String>,
    /// A SoQL condition added to every query, e.g. "date > '2024-01-01'".
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

/// An ArcGIS FeatureServer (or MapServer) layer (`{url}/query`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArcGisConfig {
    /// The layer, e.g. ".../FeatureServer/0".
    pub url: String,
    pub mapping: ArcGisMapping,
    /// `geojson` (default) or `json`.
    #[serde(default)]
    pub format: ArcGisFormat,
    /// The `where` clause (default every feature).
    #[serde(default = "default_where", rename = "where")]
    pub filter: String,
    /// Spatial reference asked for: 4326 (default) or 3857 (Web Mercator).
    #[serde(default = "default_sr")]
    pub out_sr: u32,
    /// The field the pages are ordered by (stable paging).
    #[serde(default = "default_order")]
    pub order_by: String,
}

fn default_where() -> String {
    "1=1".into()
}
fn default_sr() -> u32 {
    4326
}
fn default_order() -> String {
    "OBJECTID".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArcGisMapping {
    /// Toronto Police Service "Major Crime Indicators" open data layer.
    TorontoMci,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArcGisFormat {
    #[default]
    Geojson,
    Json,
}

/// data.police.uk street-level crimes in a polygon, month by month.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoliceUkConfig {
    #[serde(default = "default_police_uk")]
    pub base_url: String,
    /// "lat,lng:lat,lng:..." (the API's `poly`), at most about 10,000 crimes a month.
    pub poly: String,
    /// The first month to read ("YYYY-MM") when the source has no checkpoint.
    pub from_month: String,
}

fn default_police_uk() -> String {
    "https://data.police.uk/api".into()
}

/// A CSV file: the Toronto MCI export layout, or any layout with a column mapping.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// The file (plain or `.gz`).
    pub path: PathBuf,
    /// `toronto_mci` for the Toronto Police export; leave out and give `columns` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<CsvLayout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<FieldMap>,
    #[serde(default)]
    pub delimiter: Option<char>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CsvLayout {
    TorontoMci,
}

/// A JSON feed (SpotCrime-style): one document with an array of records.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonConfig {
    pub url: String,
    /// JSON pointer to the array of records, e.g. "/crimes" (empty: the document is it).
    #[serde(default)]
    pub records: String,
    #[serde(default)]
    pub fields: FieldMap,
}

/// Which kind a source is, for summaries and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Socrata,
    ArcGis,
    PoliceUk,
    Csv,
    Json,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Socrata => "socrata",
            Kind::ArcGis => "arcgis",
            Kind::PoliceUk => "police_uk",
            Kind::Csv => "csv",
            Kind::Json => "json",
        }
    }
}

impl SourceConfig {
    /// The schedule as a duration.
    pub fn every(&self) -> anyhow::Result<Duration> {
        humantime::parse_duration(&self.every).with_context(|| {
            format!(
                "ingest source {:?}: every = {:?} is not a duration; write e.g. \"15m\", \"1h\" or \"1d\"",
                self.name, self.every
            )
        })
    }

    pub fn kind(&self) -> anyhow::Result<Kind> {
        let set: Vec<Kind> = [
            (self.socrata.is_some(), Kind::Socrata),
            (self.arcgis.is_some(), Kind::ArcGis),
            (self.police_uk.is_some(), Kind::PoliceUk),
            (self.csv.is_some(), Kind::Csv),
            (self.json.is_some(), Kind::Json),
        ]
        .into_iter()
        .filter_map(|(on, k)| on.then_some(k))
        .collect();
        match set.as_slice() {
            [one] => Ok(*one),
            [] => bail!(
                "ingest source {:?} has no kind: add one table [ingest.sources.socrata], .arcgis, .police_uk, .csv or .json",
                self.name
            ),
            _ => bail!(
                "ingest source {:?} has several kinds ({}): keep one",
                self.name,
                set.iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        let name = &self.name;
        ensure!(
            !name.is_empty()
                && name.len() <= 100
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
            "ingest source name {name:?}: use letters, digits and '.', '_', '-' (at most 100)"
        );
        ensure!(
            self.every()? >= Duration::from_secs(1),
            "ingest source {name:?}: every = {:?} is too short; use at least \"1s\"",
            self.every
        );
        self.kind()?;
        ensure!(
            (0.001..=1000.0).contains(&self.requests_per_second),
            "ingest source {name:?}: requests_per_second must be from 0.001 to 1000"
        );
        ensure!(
            (1..=50_000).contains(&self.page_size),
            "ingest source {name:?}: page_size must be from 1 to 50000"
        );
        if let Some(p) = &self.police_uk {
            ensure!(
                crate::ingest::police_uk::parse_month(&p.from_month).is_some(),
                "ingest source {name:?}: police_uk.from_month {:?} is not YYYY-MM",
                p.from_month
            );
        }
        if let Some(csv) = &self.csv {
            ensure!(
                csv.layout.is_some() != csv.columns.is_some(),
                "ingest source {name:?}: give csv.layout = \"toronto_mci\" or a [ingest.sources.csv.columns] table, not both or neither"
            );
            if let Some(c) = &csv.columns {
                c.validate(name)?;
            }
        }
        if let Some(j) = &self.json {
            j.fields.validate(name)?;
        }
        Ok(())
    }
}

impl IngestConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut names = std::collections::HashSet::new();
        for s in &self.sources {
            s.validate()?;
            ensure!(
                names.insert(s.name.as_str()),
                "ingest source name {:?} is used twice; names must be unique",
                s.name
            );
        }
        Ok(())
    }
}
