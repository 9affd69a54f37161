//! The Toronto Police Service "Major Crime Indicators" CSV export, as packaged in
//! `shared/data/toronto_mci_2014_2020.csv.gz`.
//!
//! The file has no event id, so each row's id is the UUIDv5 of its full content plus how
//! many identical rows came before it in the file: re-importing the same file finds every
//! row already stored, and identical rows (several offences at one intersection in one
//! hour) stay separate incidents.
//!
//! `vigil import toronto-mci` and the CSV connector of `vigil ingest` (`layout =
//! "toronto_mci"`) both read the file through [`TorontoMci`].

use std::{
    collections::HashMap,
    fs::File,
    io::{BufReader, Read},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};

use vigil_feeds::toronto::{Columns, map_row};

use super::ImportSummary;
use crate::db::{Db, InsertOutcome, NewIncident};
use crate::ingest::{FeedRecord, IntoIncident, taxonomy::Mapped};

/// The feed name under which these records are stored.
pub const FEED: &str = "toronto-mci";
const BATCH: usize = 1_000;

/// Counts the bytes read from the file, for the progress bar.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The rows of a Toronto MCI file (plain or `.gz`) as incidents, a batch at a time, with
/// what was read and refused so far.
pub struct TorontoMci {
    csv: csv::Reader<Box<dyn Read + Send>>,
    columns: Columns,
    read: Arc<AtomicU64>,
    size: u64,
    now: DateTime<Utc>,
    url: String,
    seen: HashMap<String, u32>,
    row: csv::StringRecord,
    /// Data rows read so far (the header is not counted).
    rows: u64,
    pub summary: ImportSummary,
}

impl TorontoMci {
    pub fn open(path: &Path) -> anyhow::Result<TorontoMci> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let read = Arc::new(AtomicU64::new(0));
        let counting = Counting {
            inner: BufReader::new(file),
            read: read.clone(),
        };
        let reader: Box<dyn Read + Send> = if path.extension().is_some_and(|e| e == "gz") {
            Box::new(flate2::read::MultiGzDecoder::new(counting))
        } else {
            Box::new(counting)
        };
        let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
        let columns = Columns::find(csv.headers().context("cannot read the CSV header")?)?;
        Ok(TorontoMci {
            csv,
            columns,
            read,
            size,
            now: Utc::now(),
            url: file_url(path),
            seen: HashMap::new(),
            row: csv::StringRecord::new(),
            rows: 0,
            summary: ImportSummary::default(),
        })
    }

    /// Bytes of the file read so far, and its size.
    pub fn progress(&self) -> (u64, u64) {
        (self.read.load(Ordering::Relaxed), self.size)
    }

    /// The file's address, kept as provenance.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Up to `max` more rows as feed records or rejections (numbered by row, from 1);
    /// empty at the end of the file. The record id is the row's content and how many
    /// identical rows came before it.
    ///
    /// A file that cannot be read on (a truncated `.gz`, a disk error) is an error, not a
    /// bad row.
    pub fn next_records(
        &mut self,
        max: usize,
    ) -> anyhow::Result<Vec<(u64, Result<FeedRecord, String>)>> {
        let mut out = Vec::with_capacity(max.min(BATCH));
        while out.len() < max {
            match self.csv.read_record(&mut self.row) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) if e.is_io_error() => {
                    anyhow::bail!(
                        "{}: cannot read on after row {}: {e}; is the file complete?",
                        self.url,
                        self.rows
                    );
                }
                Err(e) => {
                    self.rows += 1;
                    out.push((self.rows, Err(format!("unreadable row: {e}"))));
                    continue;
                }
            }
            self.rows += 1;
            let content = self.row.iter().collect::<Vec<_>>().join("|");
            let n = self.seen.entry(content.clone()).or_insert(0);
            *n += 1;
            let record_id = format!("{content}#{n}");
            out.push((self.rows, map_row(&self.row, &self.columns, record_id)));
        }
        Ok(out)
    }

    /// Up to `max` more incidents of feed [`FEED`]; empty at the end of the file. What
    /// was read, refused and unmapped is added to [`TorontoMci::summary`].
    pub fn next_batch(&mut self, max: usize) -> anyhow::Result<Vec<NewIncident>> {
        let mut batch = Vec::with_capacity(max.min(BATCH));
        while batch.len() < max {
            let rows = self.next_records(max - batch.len())?;
            if rows.is_empty() {
                break;
            }
            for (n, row) in rows {
                self.summary.read += 1;
                let mapped = row.and_then(|r| {
                    let unmapped = r.unmapped_in.clone().zip(Some(r.label.clone()));
                    let item = r.into_incident(FEED, &self.url, self.now)?;
                    Ok((item, unmapped))
                });
                match mapped {
                    Ok((item, unmapped)) => {
                        if let Some((scheme, label)) = unmapped {
                            self.summary.unmapped.note(
                                &scheme,
                                &Mapped {
                                    category: item.incident.category,
                                    label,
                                    known: false,
                                },
                            );
                        }
                        batch.push(item);
                    }
                    Err(reason) => self.summary.reject(n, reason),
                }
            }
        }
        Ok(batch)
    }
}

/// A file's `file://` address.
pub fn file_url(path: &Path) -> String {
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    url::Url::from_file_path(&absolute)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| format!("file://{}", absolute.display()))
}

/// Imports the file at `path` (plain or `.gz`), showing a progress bar when `progress`.
pub async fn import_toronto_mci(
    db: &Db,
    path: &Path,
    progress: bool,
) -> anyhow::Result<ImportSummary> {
    let mut rows = TorontoMci::open(path)?;
    let bar = if progress {
        ProgressBar::new(rows.progress().1)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    loop {
        let mut batch = rows.next_batch(BATCH)?;
        if batch.is_empty() {
            break;
        }
        store(db, &mut batch, &mut rows.summary).await?;
        bar.set_position(rows.progress().0);
        bar.set_message(format!("{} rows", rows.summary.read));
    }
    bar.finish_and_clear();
    Ok(rows.summary)
}

async fn store(
    db: &Db,
    batch: &mut Vec<NewIncident>,
    summary: &mut ImportSummary,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let outcomes = db
        .insert_incidents(batch, Utc::now().timestamp_millis())
        .await?;
    for outcome in outcomes {
        match outcome {
            InsertOutcome::Inserted => summary.imported += 1,
            InsertOutcome::Duplicate | InsertOutcome::IdTaken => summary.duplicate += 1,
        }
    }
    batch.clear();
    Ok(())
}
