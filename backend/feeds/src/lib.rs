//! Public crime feeds' records mapped onto Vigil's model: the pure half of the
//! connectors that `vigil ingest` and `vigil import` run. Each mapper takes one record as
//! the source publishes it (a JSON object, a CSV row) and returns a [`FeedRecord`] or a
//! [`Rejected`] with a reason naming the field; [`taxonomy`] is the one table from every
//! source's labels to [`vigil_sync::Category`]. No I/O: the backend fetches and stores,
//! and `backend/feeds/fuzz` feeds the mappers arbitrary input.
//!
//! - [`socrata`]: Chicago, San Francisco and New York datasets.
//! - [`arcgis`]: ArcGIS layers (Toronto Police's Major Crime Indicators).
//! - [`police_uk`]: data.police.uk street-level crimes.
//! - [`toronto`]: the Toronto Major Crime Indicators CSV export.
//! - [`fields`]: the configurable mapping of the generic CSV and JSON sources.

pub mod arcgis;
pub mod fields;
pub mod police_uk;
mod record;
pub mod socrata;
pub mod taxonomy;
pub mod toronto;

pub use record::{FeedRecord, Fields, Rejected, local_time, normalise_name, parse_time};
