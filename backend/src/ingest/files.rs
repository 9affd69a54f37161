//! CSV files (the Toronto MCI export, or any layout with a column mapping) and the field
//! mapping the generic CSV and JSON sources share.
//!
//! A CSV source saves the number of rows stored and the file's fingerprint (size and
//! modification time) with every page: a crash resumes after the last stored row, and a
//! file read to the end is read again only once it changes.

use std::{collections::HashMap, io::Read, path::Path};

use serde::{Deserialize, Serialize};

pub use vigil_feeds::fields::Mapping;

use super::{FeedRecord, Page, Rejected, config::CsvConfig, normalise_name};
use crate::import::{TorontoMci, file_url};

/// Where a CSV source is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// The file these rows were counted in (size and modification time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Data rows already stored.
    #[serde(default)]
    pub rows: u64,
    /// The whole file is stored.
    #[serde(default)]
    pub complete: bool,
}

enum Reader {
    Toronto(Box<TorontoMci>),
    Columns(Box<ColumnsReader>),
}

/// A CSV file read through a column mapping.
struct ColumnsReader {
    csv: csv::Reader<Box<dyn Read + Send>>,
    /// Normalised header name → column.
    headers: HashMap<String, usize>,
    mapping: Mapping,
    row: u64,
    url: String,
}

/// A CSV source; reads the file once per run, a page of rows at a time.
pub struct CsvSource {
    config: CsvConfig,
    name: String,
    page_size: u32,
    reader: Option<Reader>,
    /// The fingerprint of the file the reader opened, and the rows read from it.
    opened: Option<(String, u64)>,
}

fn fingerprint(path: &Path) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read {}: {e}; check csv.path in the source's config",
            path.display()
        )
    })?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Ok(format!("{}-{modified}", meta.len()))
}

fn open(path: &Path) -> anyhow::Result<Box<dyn Read + Send>> {
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    let reader = std::io::BufReader::new(file);
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

impl CsvSource {
    pub fn new(config: CsvConfig, name: &str, page_size: u32) -> CsvSource {
        CsvSource {
            config,
            name: name.to_owned(),
            page_size,
            reader: None,
            opened: None,
        }
    }

    fn open_reader(&self) -> anyhow::Result<Reader> {
        let path = &self.config.path;
        if self.config.layout.is_some() {
            return Ok(Reader::Toronto(Box::new(TorontoMci::open(path)?)));
        }
        let spec = self.config.columns.clone().unwrap_or_default();
        let mut builder = csv::ReaderBuilder::new();
        builder.flexible(true);
        if let Some(d) = self.config.delimiter {
            builder.delimiter(
                u8::try_from(d).map_err(|_| {
                    anyhow::anyhow!("csv.delimiter {d:?} must be one ASCII character")
                })?,
            );
        }
        let mut csv = builder.from_reader(open(path)?);
        let headers: HashMap<String, usize> = csv
            .headers()
            .map_err(|e| anyhow::anyhow!("cannot read the header of {}: {e}", path.display()))?
            .iter()
            .enumerate()
            .map(|(i, h)| (normalise_name(h), i))
            .collect();
        for (key, column) in [
            ("id", &spec.id),
            ("type", &spec.kind),
            ("date", &spec.date),
            ("lat", &spec.lat),
            ("lon", &spec.lon),
        ] {
            anyhow::ensure!(
                headers.contains_key(&normalise_name(column)),
                "{}: column {column:?} (columns.{key}) is not in the header; set columns.{key} to one of its columns",
                path.display()
            );
        }
        Ok(Reader::Columns(Box::new(ColumnsReader {
            csv,
            headers,
            mapping: Mapping::new(&spec, &self.name)?,
            row: 0,
            url: file_url(path),
        })))
    }

    pub async fn page(&mut self, position: Position) -> anyhow::Result<Page> {
        if self.reader.is_none() {
            // The file as it is when opened is the one this run reads and counts in, even
            // if it is replaced meanwhile (the next run then reads the new one).
            let print = fingerprint(&self.config.path)?;
            let same_file = position.fingerprint.as_deref() == Some(print.as_str());
            if same_file && position.complete {
                return Ok(Page {
                    records: Vec::new(),
                    url: file_url(&self.config.path),
                    next: serde_json::to_value(position)?,
                    done: true,
                });
            }
            // A different file than the one counted in: start again (ids make it a no-op).
            let skip = if same_file { position.rows } else { 0 };
            let mut reader = self.open_reader()?;
            let mut skipped = 0;
            while skipped < skip {
                let n = read_page(&mut reader, (skip - skipped).min(50_000) as usize)?
                    .0
                    .len();
                if n == 0 {
                    break;
                }
                skipped += n as u64;
            }
            self.reader = Some(reader);
            self.opened = Some((print, skipped));
        }
        let (Some(reader), Some((print, rows))) = (self.reader.as_mut(), self.opened.as_mut())
        else {
            anyhow::bail!("the CSV reader did not open");
        };
        let (records, url) = read_page(reader, self.page_size as usize)?;
        let done = records.is_empty();
        *rows += records.len() as u64;
        Ok(Page {
            records,
            url,
            next: serde_json::to_value(Position {
                fingerprint: Some(print.clone()),
                rows: *rows,
                complete: done,
            })?,
            done,
        })
    }
}

/// Up to `max` rows. A file that cannot be read on (a truncated `.gz`, a disk error) is
/// an error, not a bad row: what was stored stays, and the next run resumes there.
fn read_page(
    reader: &mut Reader,
    max: usize,
) -> anyhow::Result<(Vec<Result<FeedRecord, Rejected>>, String)> {
    Ok(match reader {
        Reader::Toronto(t) => {
            let records = t
                .next_records(max)?
                .into_iter()
                .map(|(n, r)| r.map_err(|reason| Rejected::new(Some(format!("row {n}")), reason)))
                .collect();
            (records, t.url().to_owned())
        }
        Reader::Columns(c) => {
            let ColumnsReader {
                csv,
                headers,
                mapping,
                row,
                url,
            } = &mut **c;
            let mut out = Vec::with_capacity(max);
            let mut record = csv::StringRecord::new();
            while out.len() < max {
                match csv.read_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => {
                        *row += 1;
                        let get = |name: &str| {
                            headers
                                .get(&normalise_name(name))
                                .and_then(|i| record.get(*i))
                                .map(str::trim)
                                .filter(|v| !v.is_empty())
                                .map(str::to_owned)
                        };
                        out.push(mapping.map(&get));
                    }
                    Err(e) if e.is_io_error() => {
                        anyhow::bail!(
                            "{url}: cannot read on after row {row}: {e}; is the file complete?"
                        );
                    }
                    Err(e) => {
                        *row += 1;
                        out.push(Err(Rejected::new(
                            Some(format!("row {row}")),
                            format!("unreadable row: {e}"),
                        )));
                    }
                }
            }
            (out, url.clone())
        }
    })
}
