//! The batch layer: recomputes every batch view from the whole master dataset in the lake.
//!
//! 1. Read every Parquet object under `incidents/` into DataFusion (an object that is not
//!    readable Parquet of the incidents table fails the batch, or is skipped, as
//!    `batch.on_corrupt` says; either way it is named).
//! 2. Fix the watermark: the newest commit time (`at`) in the lake. The batch covers
//!    exactly the changes at or before it; the speed layer answers for what came after.
//! 3. Keep the last version of each incident (tombstoned and rejected ones drop out) as
//!    the table `latest`.
//! 4. Compute the views with SQL over `latest` ([`view_queries`]), and keep `latest`
//!    itself, so the serving layer can take out an incident the speed layer has newer.
//! 5. Write them under a new batch id, and switch the serving pointer to it only once all
//!    are written ([`store::BatchStore`]).

pub mod cassandra;
pub mod store;

use std::{sync::Arc, time::Instant};

use arrow::{
    array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray},
    datatypes::{DataType, Int64Type},
};
use datafusion::{
    datasource::MemTable,
    error::DataFusionError,
    execution::context::SQLOptions,
    logical_expr::{ColumnarValue, Volatility, create_udf},
    prelude::{SessionConfig, SessionContext},
};
use indicatif::{ProgressBar, ProgressStyle};
use vigil_sync::AreaCell;

use crate::{
    config::OnCorrupt,
    lake::{INCIDENTS_PREFIX, Lake, LakeError, parquet},
};
pub use store::{BatchIncident, BatchStore, ViewRow};

/// Why a batch (or a `vigil sql` query) failed.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("lake: {0}")]
    Lake(#[from] LakeError),
    #[error(
        "lake object {key} is not readable Parquet of the incidents table ({detail}); move it \
         aside, or set batch.on_corrupt = \"skip\" to leave it out"
    )]
    Corrupt { key: String, detail: String },
    #[error("query: {0}")]
    Query(#[from] DataFusionError),
    #[error("batch views: {0}")]
    Store(#[from] store::StoreError),
}

/// The lake loaded into a DataFusion session as the table `incidents`.
pub struct LoadedLake {
    pub ctx: SessionContext,
    /// Objects read.
    pub objects: usize,
    /// Rows (incident changes) read.
    pub rows: usize,
    /// Objects left out, with why (only with [`OnCorrupt::Skip`]).
    pub skipped: Vec<(String, String)>,
}

impl std::fmt::Debug for LoadedLake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedLake")
            .field("objects", &self.objects)
            .field("rows", &self.rows)
            .field("skipped", &self.skipped)
            .finish()
    }
}

/// A progress bar for one stage, hidden when `show` is false.
pub fn stage_bar(show: bool, len: u64, stage: &str) -> ProgressBar {
    let bar = if show {
        ProgressBar::new(len)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {prefix:>14} {wide_bar} {pos}/{len} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(stage.to_owned());
    bar
}

/// `h3_parent(cell, resolution)`: the cell's parent at a coarser resolution (NULL when the
/// text is not a cell or the resolution is finer).
fn h3_parent(args: &[ColumnarValue]) -> datafusion::error::Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let cells = arrays[0].as_string::<i32>();
    let resolutions = arrays[1].as_primitive::<Int64Type>();
    let out: StringArray = (0..cells.len())
        .map(|i| {
            if cells.is_null(i) || resolutions.is_null(i) {
                return None;
            }
            let res = u8::try_from(resolutions.value(i)).ok()?;
            let cell: AreaCell = cells.value(i).parse().ok()?;
            cell.parent(res).map(|p| p.to_string())
        })
        .collect();
    Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
}

/// A DataFusion session with Vigil's functions.
pub fn session() -> SessionContext {
    let config = SessionConfig::new()
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    ctx.register_udf(create_udf(
        "h3_parent",
        vec![DataType::Utf8, DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(h3_parent),
    ));
    ctx
}

/// Reads every Parquet object under `incidents/` into a new session as `incidents`.
pub async fn load_lake(
    lake: &Lake,
    on_corrupt: OnCorrupt,
    progress: bool,
) -> Result<LoadedLake, BatchError> {
    let objects: Vec<_> = lake
        .list(INCIDENTS_PREFIX)
        .await?
        .into_iter()
        .filter(|o| o.key.ends_with(".parquet"))
        .collect();
    let bar = stage_bar(progress, objects.len() as u64, "read lake");
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut skipped = Vec::new();
    let mut read = 0;
    for object in &objects {
        let bytes = lake.get(&object.key).await?;
        let decoded = tokio::task::spawn_blocking(move || parquet::from_parquet(bytes))
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        match decoded {
            Ok(b) => {
                batches.extend(b);
                read += 1;
            }
            Err(e) => match on_corrupt {
                OnCorrupt::Fail => {
                    bar.abandon_with_message(format!("{} is damaged", object.key));
                    return Err(BatchError::Corrupt {
                        key: object.key.clone(),
                        detail: e.to_string(),
                    });
                }
                OnCorrupt::Skip => {
                    tracing::warn!(key = %object.key, error = %e, "damaged lake object left out");
                    skipped.push((object.key.clone(), e.to_string()));
                }
            },
        }
        bar.inc(1);
    }
    bar.finish_with_message(format!("{read} objects"));
    let rows = batches.iter().map(RecordBatch::num_rows).sum();
    // Spread the batches over as many partitions as there are cores.
    let parts = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut partitions: Vec<Vec<RecordBatch>> = vec![Vec::new(); parts];
    for (i, b) in batches.into_iter().enumerate() {
        partitions[i % parts].push(b);
    }
    let ctx = session();
    ctx.register_table(
        "incidents",
        Arc::new(MemTable::try_new(parquet::schema(), partitions)?),
    )?;
    Ok(LoadedLake {
        ctx,
        objects: read,
        rows,
        skipped,
    })
}

/// Runs one read-only statement (`SELECT`, `WITH`, `EXPLAIN`, `SHOW`, `DESCRIBE`).
pub async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, BatchError> {
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    Ok(ctx.sql_with_options(sql, options).await?.collect().await?)
}

/// The last state of each incident at or before the watermark (milliseconds) `$W`: its
/// newest upsert's fields with its newest status; withdrawn (tombstoned) ones left out,
/// rejected ones kept but not `counted`.
const LATEST: &str = "
WITH upto AS (
    SELECT * FROM incidents WHERE CAST(at AS BIGINT) <= $W
), ranked AS (
    SELECT id, kind, status,
           ROW_NUMBER() OVER (PARTITION BY id ORDER BY version DESC, seq DESC, kind) AS rn
    FROM upto
), bodies AS (
    SELECT id, cell, category, CAST(occurred_at AS BIGINT) AS occurred_ms, occurred_offset_s,
           lat, lon,
           ROW_NUMBER() OVER (PARTITION BY id ORDER BY version DESC, seq DESC) AS rn
    FROM upto WHERE kind = 'upsert'
)
SELECT b.id, b.cell, b.category, b.occurred_ms, b.occurred_offset_s AS offset_s,
       b.occurred_ms + CAST(b.occurred_offset_s AS BIGINT) * 1000 AS local_ms,
       COALESCE(r.status, '') <> 'rejected' AS counted, b.lat, b.lon
FROM ranked r JOIN bodies b ON b.id = r.id AND b.rn = 1
WHERE r.rn = 1 AND r.kind <> 'tombstone'";

/// SQL for one view over `latest`, grouped per area at every level: the resolution-8 cell
/// (`8:<cell>`), its resolution-6 parent (`6:<cell>`) and the whole city (`city`).
fn by_area(sub: &str) -> String {
    let level = |key: &str| {
        format!(
            "SELECT {key} AS key, {sub} AS sub, category, COUNT(*) AS n
             FROM latest WHERE counted GROUP BY 1, 2, 3"
        )
    };
    [
        level("'8:' || cell"),
        level("'6:' || h3_parent(cell, 6)"),
        level("'city'"),
    ]
    .join(" UNION ALL ")
}

/// The UTC day of the occurrence, `YYYY-MM-DD`.
const UTC_DAY: &str = "to_char(to_timestamp_millis(occurred_ms), '%Y-%m-%d')";
/// The local month of the occurrence, `YYYY-MM`.
const LOCAL_MONTH: &str = "to_char(to_timestamp_millis(local_ms), '%Y-%m')";
/// The local Monday starting the occurrence's week, `YYYY-MM-DD`.
const LOCAL_WEEK: &str = "to_char(to_timestamp_millis(((local_ms / 86400000) - ((local_ms / 86400000) + 3) % 7) * 86400000), '%Y-%m-%d')";
/// The local month and hour of the week (0 = Monday 00:00-01:00), `YYYY-MM|h`.
const LOCAL_MONTH_HOW: &str = "to_char(to_timestamp_millis(local_ms), '%Y-%m') || '|' || CAST(((local_ms / 86400000) + 3) % 7 * 24 + (local_ms % 86400000) / 3600000 AS VARCHAR)";

/// The batch views, each as SQL over `latest` returning `(key, sub, category, n)`; keys
/// are areas (`8:<cell>`, `6:<cell>`, `city`):
///
/// - `cell_day`: per UTC day of occurrence (`YYYY-MM-DD`), cells only.
/// - `area_month`: per local month (`YYYY-MM`).
/// - `area_week`: per local week, named by its Monday (`YYYY-MM-DD`).
/// - `area_how`: per local month and hour of the week (`YYYY-MM|0`..`YYYY-MM|167`).
/// - `city_day`: city-wide totals per UTC day.
pub fn view_queries() -> Vec<(&'static str, String)> {
    vec![
        (
            "cell_day",
            format!(
                "SELECT '8:' || cell AS key, {UTC_DAY} AS sub, category, COUNT(*) AS n
                 FROM latest WHERE counted GROUP BY 1, 2, 3
                 UNION ALL
                 SELECT '6:' || h3_parent(cell, 6), {UTC_DAY}, category, COUNT(*)
                 FROM latest WHERE counted GROUP BY 1, 2, 3"
            ),
        ),
        ("area_month", by_area(LOCAL_MONTH)),
        ("area_week", by_area(LOCAL_WEEK)),
        ("area_how", by_area(LOCAL_MONTH_HOW)),
        (
            "city_day",
            format!(
                "SELECT 'city' AS key, {UTC_DAY} AS sub, category, COUNT(*) AS n
                 FROM latest WHERE counted GROUP BY 1, 2, 3"
            ),
        ),
    ]
}

/// What a batch did.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchSummary {
    pub batch_id: String,
    /// Milliseconds: the batch covers every change committed at or before this.
    pub watermark_ms: i64,
    pub objects: usize,
    pub changes: usize,
    /// Incidents in the last state (after versions, tombstones and rejections).
    pub incidents: usize,
    /// Rows written per view, in [`view_queries`] order.
    pub view_rows: Vec<(String, usize)>,
    pub skipped: Vec<(String, String)>,
    /// The risk model trained on the same incidents, or why none was.
    pub risk: Result<crate::risk::publish::PublishSummary, String>,
    pub seconds: f64,
}

impl std::fmt::Display for BatchSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "batch {}", self.batch_id)?;
        writeln!(
            f,
            "  watermark: {}",
            chrono::DateTime::from_timestamp_millis(self.watermark_ms)
                .map_or_else(|| self.watermark_ms.to_string(), |t| t.to_rfc3339())
        )?;
        writeln!(
            f,
            "  read {} objects, {} changes; {} incidents",
            self.objects, self.changes, self.incidents
        )?;
        for (view, rows) in &self.view_rows {
            writeln!(f, "  {view}: {rows} rows")?;
        }
        for (key, why) in &self.skipped {
            writeln!(f, "  skipped {key}: {why}")?;
        }
        match &self.risk {
            Ok(r) => writeln!(
                f,
                "  risk model {}: {} training windows, {} cells, {} bytes (+ {} bytes of cells)",
                r.version, r.windows, r.cells, r.model_bytes, r.cells_bytes
            )?,
            Err(why) => writeln!(f, "  risk model not trained: {why}")?,
        }
        write!(f, "  took {:.1} s", self.seconds)
    }
}

fn rows_of(batches: &[RecordBatch]) -> Result<Vec<ViewRow>, BatchError> {
    let mut out = Vec::new();
    for b in batches {
        let text = |i: usize| -> Result<StringArray, BatchError> {
            let col = arrow::compute::cast(b.column(i), &DataType::Utf8)?;
            Ok(col.as_string::<i32>().clone())
        };
        let (key, sub, category) = (text(0)?, text(1)?, text(2)?);
        let n = arrow::compute::cast(b.column(3), &DataType::Int64)?;
        let n: &Int64Array = n.as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            if key.is_null(i) || sub.is_null(i) || category.is_null(i) {
                continue;
            }
            out.push(ViewRow {
                key: key.value(i).to_owned(),
                sub: sub.value(i).to_owned(),
                category: category.value(i).to_owned(),
                n: n.value(i),
            });
        }
    }
    Ok(out)
}

/// The rows of `latest` as incident states.
fn incident_states(latest: &[RecordBatch]) -> Result<Vec<BatchIncident>, BatchError> {
    let mut out = Vec::new();
    for b in latest {
        let col = |name: &str| {
            b.column_by_name(name).cloned().ok_or_else(|| {
                BatchError::Query(DataFusionError::Internal(format!("latest has no {name}")))
            })
        };
        let text = |name: &str| -> Result<StringArray, BatchError> {
            Ok(arrow::compute::cast(&col(name)?, &DataType::Utf8)?
                .as_string::<i32>()
                .clone())
        };
        let int = |name: &str| -> Result<Int64Array, BatchError> {
            Ok(arrow::compute::cast(&col(name)?, &DataType::Int64)?
                .as_primitive::<Int64Type>()
                .clone())
        };
        let (ids, cells, categories) = (text("id")?, text("cell")?, text("category")?);
        let (occurred, offsets) = (int("occurred_ms")?, int("offset_s")?);
        let counted = arrow::compute::cast(&col("counted")?, &DataType::Boolean)?;
        let counted = counted.as_boolean();
        for i in 0..b.num_rows() {
            if ids.is_null(i) || cells.is_null(i) || categories.is_null(i) || occurred.is_null(i) {
                continue;
            }
            out.push(BatchIncident {
                id: ids.value(i).to_owned(),
                cell: cells.value(i).to_owned(),
                category: categories.value(i).to_owned(),
                occurred_ms: occurred.value(i),
                offset_s: if offsets.is_null(i) {
                    0
                } else {
                    offsets.value(i) as i32
                },
                counted: !counted.is_null(i) && counted.value(i),
            });
        }
    }
    Ok(out)
}

impl From<arrow::error::ArrowError> for BatchError {
    fn from(e: arrow::error::ArrowError) -> Self {
        BatchError::Query(DataFusionError::ArrowError(Box::new(e), None))
    }
}

/// The counted incidents of `latest` as the risk model reads them (local time, place,
/// kind); rows without a place or with an unknown category are left out.
fn risk_points(latest: &[RecordBatch]) -> Result<Vec<crate::risk::Point>, BatchError> {
    let mut out = Vec::new();
    for b in latest {
        let col = |name: &str| {
            b.column_by_name(name).cloned().ok_or_else(|| {
                BatchError::Query(DataFusionError::Internal(format!("latest has no {name}")))
            })
        };
        let float = |name: &str| -> Result<arrow::array::Float64Array, BatchError> {
            Ok(arrow::compute::cast(&col(name)?, &DataType::Float64)?
                .as_primitive::<arrow::datatypes::Float64Type>()
                .clone())
        };
        let (lat, lon) = (float("lat")?, float("lon")?);
        let local = arrow::compute::cast(&col("local_ms")?, &DataType::Int64)?;
        let local = local.as_primitive::<Int64Type>();
        let category = arrow::compute::cast(&col("category")?, &DataType::Utf8)?;
        let category = category.as_string::<i32>();
        let counted = arrow::compute::cast(&col("counted")?, &DataType::Boolean)?;
        let counted = counted.as_boolean();
        for i in 0..b.num_rows() {
            if lat.is_null(i) || lon.is_null(i) || local.is_null(i) || category.is_null(i) {
                continue;
            }
            if counted.is_null(i) || !counted.value(i) {
                continue;
            }
            let (Some(at), Ok(category)) = (
                chrono::DateTime::from_timestamp_millis(local.value(i)),
                category.value(i).parse::<vigil_sync::Category>(),
            ) else {
                continue;
            };
            out.push(crate::risk::Point {
                lat: lat.value(i),
                lon: lon.value(i),
                local: at.naive_utc(),
                category,
            });
        }
    }
    Ok(out)
}

/// Recomputes every view from the lake and switches serving to them, then trains the risk
/// model on the same incidents and publishes it to the lake (a model that cannot be
/// trained, for want of history, leaves the previous one published and is reported).
pub async fn run(
    lake: &Lake,
    store: &BatchStore,
    on_corrupt: OnCorrupt,
    progress: bool,
) -> Result<BatchSummary, BatchError> {
    let started = Instant::now();
    let loaded = load_lake(lake, on_corrupt, progress).await?;
    let ctx = &loaded.ctx;
    let watermark_ms = {
        let b = ctx
            .sql("SELECT COALESCE(MAX(CAST(at AS BIGINT)), 0) FROM incidents")
            .await?
            .collect()
            .await?;
        b.first()
            .and_then(|b| {
                b.column(0)
                    .as_primitive_opt::<Int64Type>()
                    .map(|a| a.value(0))
            })
            .unwrap_or(0)
    };
    let views = view_queries();
    let bar = stage_bar(progress, views.len() as u64 + 3, "compute views");
    bar.set_message("last versions");
    let latest = ctx
        .sql(&LATEST.replace("$W", &watermark_ms.to_string()))
        .await?
        .collect()
        .await?;
    let states = incident_states(&latest)?;
    let points = risk_points(&latest)?;
    let incidents = states.iter().filter(|s| s.counted).count();
    let schema = latest
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| Arc::new(arrow::datatypes::Schema::empty()));
    if latest.is_empty() {
        // An empty lake still gets (empty) views: register the shape with no rows.
        ctx.register_table(
            "latest",
            Arc::new(MemTable::try_new(
                ctx.sql(&LATEST.replace("$W", "0"))
                    .await?
                    .schema()
                    .inner()
                    .clone(),
                vec![vec![]],
            )?),
        )?;
    } else {
        ctx.register_table("latest", Arc::new(MemTable::try_new(schema, vec![latest])?))?;
    }
    bar.inc(1);
    let batch_id = store.begin(watermark_ms).await?;
    let written = async {
        bar.set_message("incident states");
        store.write_incidents(&batch_id, &states).await?;
        bar.inc(1);
        let mut view_rows = Vec::new();
        for (view, sql) in &views {
            let view = *view;
            bar.set_message(view);
            let rows = rows_of(&ctx.sql(sql).await?.collect().await?)?;
            view_rows.push((view.to_owned(), rows.len()));
            store.write(&batch_id, view, &rows).await?;
            bar.inc(1);
        }
        bar.set_message("switch serving");
        store.complete(&batch_id, incidents as i64).await?;
        Ok::<_, BatchError>(view_rows)
    }
    .await;
    let view_rows = match written {
        Ok(v) => v,
        Err(e) => {
            bar.abandon_with_message("failed; the previous views stay served");
            if let Err(cleanup) = store.abandon(&batch_id).await {
                tracing::warn!(error = %cleanup, %batch_id, "could not remove the failed batch's rows");
            }
            return Err(e);
        }
    };
    bar.inc(1);
    bar.finish_with_message("done");
    let risk = crate::risk::publish::train_and_publish(lake, points, chrono::Utc::now())
        .await
        .map_err(|e| format!("{e:#}"));
    if let Err(why) = &risk {
        tracing::warn!(%why, "risk model not trained");
    }
    Ok(BatchSummary {
        batch_id,
        watermark_ms,
        objects: loaded.objects,
        changes: loaded.rows,
        incidents,
        view_rows,
        skipped: loaded.skipped,
        risk,
        seconds: started.elapsed().as_secs_f64(),
    })
}
