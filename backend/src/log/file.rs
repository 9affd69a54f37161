//! The embedded event log: one directory per topic, one append-only file per partition.
//!
//! Each record is framed as `len u32 | crc32 u32 | offset u64 | timestamp i64 | key_len u32 |
//! key | payload` (little-endian; `len` counts everything after itself, the CRC covers
//! everything after itself). An append writes the whole batch and calls `fdatasync` before
//! it returns, so an acknowledged record survives a crash. On open, a torn or corrupt tail
//! (a record that was never acknowledged) is cut off. Consumer groups keep their committed
//! offsets in small files replaced atomically.

use std::{
    collections::BTreeMap,
    fs::{self, File, OpenOptions},
    io::{BufReader, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

use tokio::sync::{Mutex, Notify};

use super::{Delivered, LogError, Record, partition_for};

const HEADER: usize = 4 + 4 + 8 + 8 + 4;
/// Largest record accepted, so a corrupt length cannot make us allocate gigabytes.
const MAX_RECORD: usize = 16 * 1024 * 1024;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One partition: its file, and the byte position of every record for reads by offset.
#[derive(Debug)]
struct Partition {
    path: PathBuf,
    file: File,
    /// `positions[o]` is where the record with offset `o` starts.
    positions: Vec<u64>,
    end: u64,
}

impl Partition {
    fn open(path: PathBuf) -> Result<Partition, LogError> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        let len = file.metadata().map_err(io(&path))?.len();
        let mut reader = BufReader::new(&mut file);
        let mut positions = Vec::new();
        let mut pos = 0u64;
        // Scan every frame; stop at the first that is short or fails its CRC.
        while let Some(frame_len) = read_frame(&mut reader, positions.len() as u64)? {
            positions.push(pos);
            pos += frame_len;
        }
        if pos < len {
            tracing::warn!(path = %path.display(), kept = pos, dropped = len - pos, "cutting a torn tail off the event log");
            file.set_len(pos).map_err(io(&path))?;
            file.sync_all().map_err(io(&path))?;
        }
        Ok(Partition {
            path,
            file,
            positions,
            end: pos,
        })
    }

    fn append(&mut self, records: &[(i64, &Record)]) -> Result<u64, LogError> {
        let first = self.positions.len() as u64;
        let mut buf = Vec::new();
        for (i, (ts, r)) in records.iter().enumerate() {
            let offset = first + i as u64;
            let start = buf.len();
            buf.extend_from_slice(&[0u8; 8]); // len and crc, filled below
            buf.extend_from_slice(&offset.to_le_bytes());
            buf.extend_from_slice(&ts.to_le_bytes());
            buf.extend_from_slice(&(r.key.len() as u32).to_le_bytes());
            buf.extend_from_slice(&r.key);
            buf.extend_from_slice(&r.payload);
            let len = (buf.len() - start - 4) as u32;
            let crc = crc32fast::hash(&buf[start + 8..]);
            buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
            buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
            self.positions.push(self.end + start as u64);
        }
        let write = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = write {
            // Nothing of this batch counts: forget it and cut the file back.
            self.positions.truncate(first as usize);
            let _ = self.file.set_len(self.end);
            return Err(io(&self.path)(e));
        }
        self.end += buf.len() as u64;
        Ok(first)
    }

    fn read(&self, partition: u32, from: u64, max: usize) -> Result<Vec<Delivered>, LogError> {
        let Some(&start) = self.positions.get(from as usize) else {
            return Ok(Vec::new());
        };
        let mut file = File::open(&self.path).map_err(io(&self.path))?;
        file.seek(SeekFrom::Start(start)).map_err(io(&self.path))?;
        let mut reader = BufReader::new(file);
        let mut out = Vec::new();
        let end = (from as usize + max).min(self.positions.len());
        for offset in from..end as u64 {
            let mut len = [0u8; 4];
            reader.read_exact(&mut len).map_err(io(&self.path))?;
            let mut frame = vec![0u8; u32::from_le_bytes(len) as usize];
            reader.read_exact(&mut frame).map_err(io(&self.path))?;
            out.push(decode(partition, offset, &frame).ok_or_else(|| {
                LogError::Corrupt(format!(
                    "{}: record {offset} changed on disk",
                    self.path.display()
                ))
            })?);
        }
        Ok(out)
    }
}

/// Reads one frame; `None` at a clean end, a short frame, or a bad CRC.
fn read_frame(reader: &mut impl Read, expect_offset: u64) -> Result<Option<u64>, LogError> {
    let mut len = [0u8; 4];
    if reader.read_exact(&mut len).is_err() {
        return Ok(None);
    }
    let len = u32::from_le_bytes(len) as usize;
    if !(HEADER - 4..=MAX_RECORD).contains(&len) {
        return Ok(None);
    }
    let mut frame = vec![0u8; len];
    if reader.read_exact(&mut frame).is_err() {
        return Ok(None);
    }
    match decode(0, expect_offset, &frame) {
        Some(_) => Ok(Some(4 + len as u64)),
        None => Ok(None),
    }
}

/// Decodes a frame (without its length prefix), checking the CRC and the offset.
fn decode(partition: u32, offset: u64, frame: &[u8]) -> Option<Delivered> {
    let crc = u32::from_le_bytes(frame.get(..4)?.try_into().ok()?);
    let body = frame.get(4..)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    let stored_offset = u64::from_le_bytes(body.get(..8)?.try_into().ok()?);
    let timestamp_ms = i64::from_le_bytes(body.get(8..16)?.try_into().ok()?);
    let key_len = u32::from_le_bytes(body.get(16..20)?.try_into().ok()?) as usize;
    let key = body.get(20..20 + key_len)?.to_vec();
    let payload = body.get(20 + key_len..)?.to_vec();
    (stored_offset == offset).then_some(Delivered {
        partition,
        offset,
        timestamp_ms,
        key,
        payload,
    })
}

/// An embedded topic: a directory with `partitions` files and the groups' offsets.
#[derive(Debug, Clone)]
pub struct FileLog {
    dir: PathBuf,
    partitions: Arc<Vec<Mutex<Partition>>>,
    appended: Arc<Notify>,
}

impl FileLog {
    /// Opens (creating) topic directory `dir` with `partitions` partitions. Reopening with
    /// another partition count is refused, since keys would move between partitions.
    pub fn open(dir: &Path, partitions: u32) -> Result<FileLog, LogError> {
        fs::create_dir_all(dir.join("groups")).map_err(io(dir))?;
        let meta = dir.join("partitions");
        match fs::read_to_string(&meta) {
            Ok(text) if text.trim() != partitions.to_string() => {
                return Err(LogError::Corrupt(format!(
                    "{} has {} partitions; open it with that many",
                    dir.display(),
                    text.trim()
                )));
            }
            Ok(_) => {}
            Err(_) => write_atomically(&meta, partitions.to_string().as_bytes())?,
        }
        let parts = (0..partitions)
            .map(|p| Partition::open(dir.join(format!("p{p:04}.log"))).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FileLog {
            dir: dir.to_owned(),
            partitions: Arc::new(parts),
            appended: Arc::new(Notify::new()),
        })
    }

    pub fn partitions(&self) -> u32 {
        self.partitions.len() as u32
    }

    /// Appends records, each to the partition of its key, and returns `(partition, offset)`
    /// for each in order once they are on disk.
    pub async fn append(
        &self,
        records: &[Record],
        timestamp_ms: i64,
    ) -> Result<Vec<(u32, u64)>, LogError> {
        let n = self.partitions();
        // Per partition: (index in `records`, (timestamp, record)).
        type Slot<'a> = (usize, (i64, &'a Record));
        let mut by_partition: BTreeMap<u32, Vec<Slot>> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            by_partition
                .entry(partition_for(&r.key, n))
                .or_default()
                .push((i, (timestamp_ms, r)));
        }
        let mut out = vec![(0, 0); records.len()];
        for (p, items) in by_partition {
            let batch: Vec<(i64, &Record)> = items.iter().map(|(_, r)| *r).collect();
            let mut part = self.partitions[p as usize].lock().await;
            let dir = self.dir.clone();
            // The write and fsync block; keep them off the async workers.
            let first =
                tokio::task::block_in_place(|| part.append(&batch)).map_err(|e| match e {
                    LogError::Io { source, .. } => LogError::Io {
                        path: dir.display().to_string(),
                        source,
                    },
                    other => other,
                })?;
            for (k, (i, _)) in items.iter().enumerate() {
                out[*i] = (p, first + k as u64);
            }
        }
        self.appended.notify_waiters();
        Ok(out)
    }

    /// Up to `max` records of `partition` from offset `from` on.
    pub async fn read(
        &self,
        partition: u32,
        from: u64,
        max: usize,
    ) -> Result<Vec<Delivered>, LogError> {
        let part = self
            .partitions
            .get(partition as usize)
            .ok_or(LogError::NoSuchPartition {
                partition,
                partitions: self.partitions(),
            })?;
        let part = part.lock().await;
        tokio::task::block_in_place(|| part.read(partition, from, max))
    }

    /// The offset the next record of `partition` will get.
    pub async fn end_offset(&self, partition: u32) -> u64 {
        match self.partitions.get(partition as usize) {
            Some(p) => p.lock().await.positions.len() as u64,
            None => 0,
        }
    }

    /// Waits until something is appended (or `timeout` passes).
    pub async fn wait_for_append(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.appended.notified()).await;
    }

    /// The offsets `group` has committed, per partition (the next offset to process).
    pub fn committed(&self, group: &str) -> Result<Vec<u64>, LogError> {
        let path = self.group_path(group)?;
        let mut offsets = vec![0; self.partitions() as usize];
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(offsets),
            Err(e) => return Err(io(&path)(e)),
        };
        for (p, line) in text.lines().enumerate().take(offsets.len()) {
            offsets[p] = line
                .trim()
                .parse()
                .map_err(|_| LogError::Corrupt(format!("{}: line {}", path.display(), p + 1)))?;
        }
        Ok(offsets)
    }

    /// Durably records that `group` has processed everything before `offsets`.
    pub fn commit(&self, group: &str, offsets: &[u64]) -> Result<(), LogError> {
        let text: String = offsets.iter().map(|o| format!("{o}\n")).collect();
        write_atomically(&self.group_path(group)?, text.as_bytes())
    }

    fn group_path(&self, group: &str) -> Result<PathBuf, LogError> {
        let ok = !group.is_empty()
            && group
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(LogError::Corrupt(format!(
                "consumer group name {group:?}: use letters, digits, '-', '_', '.'"
            )));
        }
        Ok(self.dir.join("groups").join(format!("{group}.offsets")))
    }
}

/// Replaces `path` with `bytes` so that a crash leaves the old or the new content, never a
/// mix: a temporary file, synced, renamed over `path`, and the directory synced. On failure,
/// the path that failed and why.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), (PathBuf, std::io::Error)> {
    let at = |p: &Path| {
        let p = p.to_path_buf();
        move |e| (p, e)
    };
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(at(&tmp))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(at(&tmp))?;
    fs::rename(&tmp, path).map_err(at(path))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(at(dir))?;
    }
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    replace_file(path, bytes).map_err(|(p, e)| io(&p)(e))
}

#[cfg(test)]
mod tests;
