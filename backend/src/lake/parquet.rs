//! The lake's one table, `incidents`: a row per incident change as it crossed the event
//! log, written as Parquet (zstd). Upserts carry the whole incident; status changes carry
//! the new status; tombstones only the id. Times are UTC milliseconds; the reporter's UTC
//! offset is kept beside the occurrence time so local hours can be computed.

use std::sync::{Arc, LazyLock};

use arrow::{
    array::{
        ArrayRef, Float64Array, Int32Array, RecordBatch, StringArray, TimestampMillisecondArray,
        UInt32Array, UInt64Array,
    },
    datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit},
};
use bytes::Bytes;
use parquet::{
    arrow::{ArrowWriter, arrow_reader::ParquetRecordBatchReaderBuilder},
    basic::{Compression, ZstdLevel},
    errors::ParquetError,
    file::properties::WriterProperties,
};
use vigil_sync::{Change, Source};

use crate::{events::IncidentEvent, log::Delivered};

/// One incident change as archived.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivedChange {
    /// Sequence number in the operational store's change feed.
    pub seq: u64,
    /// Where it was read from the event log (lineage).
    pub log_partition: u32,
    pub log_offset: u64,
    pub id: String,
    pub version: u32,
    /// `upsert`, `status` or `tombstone`.
    pub kind: &'static str,
    /// H3 cell, resolution 8.
    pub cell: String,
    pub category: Option<String>,
    pub status: Option<String>,
    pub occurred_at_ms: Option<i64>,
    pub occurred_offset_s: Option<i32>,
    pub reported_at_ms: Option<i64>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub accuracy_m: Option<f64>,
    /// `user_report` or `feed`.
    pub source: Option<&'static str>,
    pub feed: Option<String>,
    pub record_id: Option<String>,
    pub place: Option<String>,
    pub description: Option<String>,
    /// When the change was committed to the operational store.
    pub at_ms: i64,
}

impl ArchivedChange {
    /// The row for `event`, read from the log at `from`.
    pub fn new(event: &IncidentEvent, from: &Delivered) -> ArchivedChange {
        let mut row = ArchivedChange {
            seq: event.seq,
            log_partition: from.partition,
            log_offset: from.offset,
            id: String::new(),
            version: 0,
            kind: "upsert",
            cell: event.cell.to_string(),
            category: None,
            status: None,
            occurred_at_ms: None,
            occurred_offset_s: None,
            reported_at_ms: None,
            lat: None,
            lon: None,
            accuracy_m: None,
            source: None,
            feed: None,
            record_id: None,
            place: None,
            description: None,
            // Records of builds before `at` carry only the log's own timestamp.
            at_ms: event.at.unwrap_or(from.timestamp_ms),
        };
        match &event.change {
            Change::Upsert { incident: i } => {
                row.id = i.id.to_string();
                row.version = i.version;
                row.category = Some(i.category.as_str().to_owned());
                row.status = Some(i.status.as_str().to_owned());
                row.occurred_at_ms = Some(i.occurred_at.timestamp_millis());
                row.occurred_offset_s = Some(i.occurred_at.offset().local_minus_utc());
                row.reported_at_ms = Some(i.reported_at.timestamp_millis());
                row.lat = Some(i.location.lat);
                row.lon = Some(i.location.lon);
                row.accuracy_m = i.location.accuracy_m;
                match &i.source {
                    Source::UserReport => row.source = Some("user_report"),
                    Source::Feed {
                        feed, record_id, ..
                    } => {
                        row.source = Some("feed");
                        row.feed = Some(feed.clone());
                        row.record_id = Some(record_id.clone());
                    }
                }
                row.place = i.place.clone();
                row.description = Some(i.description.clone());
            }
            Change::Status {
                id,
                status,
                version,
            } => {
                row.id = id.to_string();
                row.version = *version;
                row.kind = "status";
                row.status = Some(status.as_str().to_owned());
            }
            Change::Tombstone { id } => {
                row.id = id.to_string();
                row.kind = "tombstone";
                // A tombstone ends every version before it.
                row.version = u32::MAX;
            }
        }
        row
    }
}

fn utc_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::UInt64, false),
        Field::new("log_partition", DataType::UInt32, false),
        Field::new("log_offset", DataType::UInt64, false),
        Field::new("id", DataType::Utf8, false),
        Field::new("version", DataType::UInt32, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("cell", DataType::Utf8, false),
        Field::new("category", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, true),
        Field::new("occurred_at", utc_ms(), true),
        Field::new("occurred_offset_s", DataType::Int32, true),
        Field::new("reported_at", utc_ms(), true),
        Field::new("lat", DataType::Float64, true),
        Field::new("lon", DataType::Float64, true),
        Field::new("accuracy_m", DataType::Float64, true),
        Field::new("source", DataType::Utf8, true),
        Field::new("feed", DataType::Utf8, true),
        Field::new("record_id", DataType::Utf8, true),
        Field::new("place", DataType::Utf8, true),
        Field::new("description", DataType::Utf8, true),
        Field::new("at", utc_ms(), false),
    ]))
});

/// The Arrow schema of the `incidents` table.
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

fn strings<'a>(
    rows: &'a [ArchivedChange],
    f: impl Fn(&'a ArchivedChange) -> Option<&'a str>,
) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<StringArray>())
}

fn times(rows: &[ArchivedChange], f: impl Fn(&ArchivedChange) -> Option<i64>) -> ArrayRef {
    Arc::new(
        rows.iter()
            .map(f)
            .collect::<TimestampMillisecondArray>()
            .with_timezone("UTC"),
    )
}

fn floats(rows: &[ArchivedChange], f: impl Fn(&ArchivedChange) -> Option<f64>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<Float64Array>())
}

/// `rows` as one Arrow batch of [`schema`].
pub fn to_batch(rows: &[ArchivedChange]) -> Result<RecordBatch, ParquetError> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|r| r.seq).collect::<UInt64Array>()),
        Arc::new(
            rows.iter()
                .map(|r| r.log_partition)
                .collect::<UInt32Array>(),
        ),
        Arc::new(rows.iter().map(|r| r.log_offset).collect::<UInt64Array>()),
        strings(rows, |r| Some(r.id.as_str())),
        Arc::new(rows.iter().map(|r| r.version).collect::<UInt32Array>()),
        strings(rows, |r| Some(r.kind)),
        strings(rows, |r| Some(r.cell.as_str())),
        strings(rows, |r| r.category.as_deref()),
        strings(rows, |r| r.status.as_deref()),
        times(rows, |r| r.occurred_at_ms),
        Arc::new(
            rows.iter()
                .map(|r| r.occurred_offset_s)
                .collect::<Int32Array>(),
        ),
        times(rows, |r| r.reported_at_ms),
        floats(rows, |r| r.lat),
        floats(rows, |r| r.lon),
        floats(rows, |r| r.accuracy_m),
        strings(rows, |r| r.source),
        strings(rows, |r| r.feed.as_deref()),
        strings(rows, |r| r.record_id.as_deref()),
        strings(rows, |r| r.place.as_deref()),
        strings(rows, |r| r.description.as_deref()),
        times(rows, |r| Some(r.at_ms)),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

/// `rows` as a Parquet file, zstd-compressed.
pub fn to_parquet(rows: &[ArchivedChange]) -> Result<Bytes, ParquetError> {
    let batch = to_batch(rows)?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_created_by(format!("vigil {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut out = Vec::with_capacity(rows.len() * 64);
    let mut writer = ArrowWriter::try_new(&mut out, schema(), Some(properties))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(Bytes::from(out))
}

/// Reads a Parquet object of the `incidents` table; a file that is not Parquet, or whose
/// schema differs, is an error.
pub fn from_parquet(bytes: Bytes) -> Result<Vec<RecordBatch>, ParquetError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?
        .with_batch_size(65_536)
        .build()?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch?;
        if batch.schema().fields() != schema().fields() {
            return Err(ParquetError::General(
                "its columns are not those of the incidents table".into(),
            ));
        }
        out.push(batch);
    }
    Ok(out)
}
