//! The event log that carries every incident from the relay to the speed layer and the
//! archive: Apache Kafka in scale-out mode, an on-disk log in the data directory when
//! embedded. Both keep Kafka's model: topics split into partitions, records with a key and
//! an offset, and consumer groups that commit the offset they have processed.

pub mod file;

pub use file::FileLog;

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
