//! The event log that carries every incident from the relay to the speed layer and the
//! archive: Apache Kafka in scale-out mode, an on-disk log in the data directory when
//! embedded. Both keep Kafka's model: topics split into partitions, records with a key and
//! an offset, and consumer groups that commit the offset they have processed.

pub mod file;
pub mod kafka;

use std::time::Duration;

pub use file::FileLog;
pub use kafka::{KafkaConfig, KafkaConsumer, KafkaLog};

/// A record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Chooses the partition (records with one key keep their order); for incidents, the
    /// H3 area cell.
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
}

/// A record as read back, with where it sits in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub partition: u32,
    pub offset: u64,
    /// When it was appended, Unix milliseconds.
    pub timestamp_ms: i64,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
}

/// Errors of the event log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Corrupt(String),
    #[error("partition {partition} does not exist (the topic has {partitions})")]
    NoSuchPartition { partition: u32, partitions: u32 },
    #[error("kafka: {0}")]
    Kafka(String),
}

/// A topic to append to: the embedded log or Kafka. Cheap to clone.
#[derive(Debug, Clone)]
pub enum EventLog {
    File(FileLog),
    Kafka(KafkaLog),
}

impl EventLog {
    /// Appends `records`, each to the partition of its key, and returns once they are
    /// durable (fsynced, or acknowledged by every in-sync replica).
    pub async fn append(&self, records: &[Record], timestamp_ms: i64) -> Result<(), LogError> {
        match self {
            EventLog::File(log) => log.append(records, timestamp_ms).await.map(|_| ()),
            EventLog::Kafka(log) => log.append(records).await,
        }
    }

    /// `"file"` or `"kafka"`, for logs and metrics.
    pub fn engine(&self) -> &'static str {
        match self {
            EventLog::File(_) => "file",
            EventLog::Kafka(_) => "kafka",
        }
    }
}

/// Where a new embedded consumer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// After what its group has committed.
    Committed,
    /// At the first record (views that live in memory are rebuilt on every start).
    Beginning,
}

/// A consumer-group member on one topic: reads in offset order per partition, commits what
/// its caller has finished with. Records after the last commit are read again by the next
/// member, so callers must be idempotent.
#[derive(Debug)]
pub enum LogConsumer {
    File {
        log: FileLog,
        group: String,
        /// The next offset to read, per partition.
        next: Vec<u64>,
        /// What the group has committed, per partition (kept here so a commit does not
        /// read the offsets file first).
        committed: Vec<u64>,
    },
    Kafka(KafkaConsumer),
}

impl LogConsumer {
    /// A member of `group` on the embedded topic `log`.
    pub fn file(log: FileLog, group: &str, start: Start) -> Result<LogConsumer, LogError> {
        let committed = log.committed(group)?;
        let next = match start {
            Start::Committed => committed.clone(),
            Start::Beginning => vec![0; log.partitions() as usize],
        };
        Ok(LogConsumer::File {
            log,
            group: group.to_owned(),
            next,
            committed,
        })
    }

    /// Up to `max` records, waiting at most `wait` when there are none.
    pub async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivered>, LogError> {
        match self {
            LogConsumer::File { log, next, .. } => {
                for round in 0..2 {
                    let mut out = Vec::new();
                    for p in 0..log.partitions() {
                        let room = max.saturating_sub(out.len());
                        if room == 0 {
                            break;
                        }
                        let batch = log.read(p, next[p as usize], room).await?;
                        if let Some(last) = batch.last() {
                            next[p as usize] = last.offset + 1;
                        }
                        out.extend(batch);
                    }
                    if !out.is_empty() || round == 1 {
                        return Ok(out);
                    }
                    log.wait_for_append(wait).await;
                }
                Ok(Vec::new())
            }
            LogConsumer::Kafka(c) => c.poll(max, wait).await,
        }
    }

    /// Durably records that everything up to and including `done` is processed.
    pub async fn commit(&mut self, done: &[Delivered]) -> Result<(), LogError> {
        match self {
            LogConsumer::File {
                log,
                group,
                committed,
                ..
            } => {
                for d in done {
                    let o = &mut committed[d.partition as usize];
                    *o = (*o).max(d.offset + 1);
                }
                let (log, group, offsets) = (log.clone(), group.clone(), committed.clone());
                tokio::task::spawn_blocking(move || log.commit(&group, &offsets))
                    .await
                    .map_err(|e| LogError::Corrupt(e.to_string()))?
            }
            LogConsumer::Kafka(c) => c.commit(done).await,
        }
    }

    /// Sets `gauge` to the lag: at once for the embedded log, in the background for Kafka.
    pub async fn refresh_lag(&self, gauge: &prometheus_client::metrics::gauge::Gauge) {
        match self {
            LogConsumer::File { .. } => {
                if let Ok(lag) = self.lag().await {
                    gauge.set(lag as i64);
                }
            }
            LogConsumer::Kafka(c) => c.refresh_lag(gauge),
        }
    }

    /// Records not yet read (embedded) or not yet committed (Kafka) in this member's
    /// partitions.
    pub async fn lag(&self) -> Result<u64, LogError> {
        match self {
            LogConsumer::File { log, next, .. } => {
                let mut lag = 0;
                for p in 0..log.partitions() {
                    lag += log.end_offset(p).await.saturating_sub(next[p as usize]);
                }
                Ok(lag)
            }
            LogConsumer::Kafka(c) => c.lag().await,
        }
    }
}

/// The partition of `key` among `partitions`: FNV-1a, stable across runs and machines.
pub fn partition_for(key: &[u8], partitions: u32) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in key {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % partitions.max(1)
}
