//! Apache Kafka as the event log (scale-out mode), through librdkafka.
//!
//! The producer is idempotent with `acks=all`: an append returns only when every record
//! is on all in-sync replicas, and librdkafka's retries cannot reorder or duplicate within a
//! session. Keys are hashed with murmur2, as the Java clients do, so every client puts one
//! area cell in the same partition. Consumers join a group, never auto-commit, and commit
//! the offsets of what their caller has finished with.
//!
//! Nothing here connects at construction: a role starts while Kafka is down and catches up
//! when it is back. The topic is created (with the configured partitions) on first use.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use rdkafka::{
    ClientConfig, Message, Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{CommitMode, Consumer, StreamConsumer},
    error::{KafkaError, RDKafkaErrorCode},
    producer::{FutureProducer, FutureRecord, Producer},
    types::RDKafkaErrorCode as Code,
};
use serde::{Deserialize, Serialize};

use super::{Delivered, LogError, Record};

/// How long a blocking metadata, watermark or commit call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection settings for Kafka (`[kafka]` in the configuration).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port...]`; unset runs the embedded log.
    pub brokers: Option<String>,
    /// Replicas of each partition when the project creates a topic (1 on a single broker).
    pub replication_factor: i32,
    /// How long the producer keeps trying to deliver a record before the relay round
    /// fails and is retried, in milliseconds.
    pub delivery_timeout_ms: u32,
    /// Further librdkafka properties (`security.protocol`, `sasl.mechanism`, ...).
    pub client: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: None,
            replication_factor: 1,
            delivery_timeout_ms: 30_000,
            client: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    fn client_config(&self) -> Result<ClientConfig, LogError> {
        let brokers = self.brokers.as_deref().ok_or_else(|| {
            LogError::Kafka("kafka.brokers is not set (VIGIL_KAFKA__BROKERS)".into())
        })?;
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("log_level", "4")
            // Back within seconds of a broker restart (librdkafka's default waits up to 10 s
            // between attempts).
            .set("reconnect.backoff.max.ms", "2000");
        for (k, v) in &self.client {
            config.set(k, v);
        }
        Ok(config)
    }
}

impl From<KafkaError> for LogError {
    fn from(e: KafkaError) -> Self {
        LogError::Kafka(e.to_string())
    }
}

/// Creates `topic` with `partitions` partitions unless it exists.
async fn ensure_topic(config: &KafkaConfig, topic: &str, partitions: u32) -> Result<(), LogError> {
    let admin: AdminClient<DefaultClientContext> = config.client_config()?.create()?;
    let new = NewTopic::new(
        topic,
        partitions as i32,
        TopicReplication::Fixed(config.replication_factor),
    );
    let options = AdminOptions::new().request_timeout(Some(CALL_TIMEOUT));
    for result in admin.create_topics([&new], &options).await? {
        match result {
            Ok(_) | Err((_, Code::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(LogError::Kafka(format!(
                    "cannot create topic {name}: {code}"
                )));
            }
        }
    }
    Ok(())
}

/// A Kafka topic to append to. Cheap to clone; clones share one producer.
#[derive(Clone)]
pub struct KafkaLog {
    producer: FutureProducer,
    config: Arc<KafkaConfig>,
    topic: Arc<str>,
    partitions: u32,
    topic_ready: Arc<AtomicBool>,
}

impl std::fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLog")
            .field("brokers", &self.config.brokers)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaLog {
    /// A producer for `topic`, which is created with `partitions` partitions on first use.
    pub fn new(config: &KafkaConfig, topic: &str, partitions: u32) -> Result<KafkaLog, LogError> {
        let producer = config
            .client_config()?
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set("message.timeout.ms", config.delivery_timeout_ms.to_string())
            .create()?;
        Ok(KafkaLog {
            producer,
            config: Arc::new(config.clone()),
            topic: topic.into(),
            partitions,
            topic_ready: Arc::new(AtomicBool::new(false)),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Appends `records` and returns once the broker has acknowledged every one of them
    /// (or fails, in which case some may have been written: the caller retries the batch
    /// and consumers drop the repeats).
    pub async fn append(&self, records: &[Record]) -> Result<(), LogError> {
        if !self.topic_ready.load(Ordering::Acquire) {
            ensure_topic(&self.config, &self.topic, self.partitions).await?;
            self.topic_ready.store(true, Ordering::Release);
        }
        let mut pending = Vec::with_capacity(records.len());
        for r in records {
            let mut record = FutureRecord::to(&self.topic)
                .key(&r.key)
                .payload(&r.payload);
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // The local queue is full: let deliveries drain, then try again.
                        record = back;
                        self.producer.poll(Duration::from_millis(10));
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => return Err(e.into()),
                }
            }
        }
        let mut failure = None;
        for delivery in pending {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => failure = failure.or(Some(LogError::from(e))),
                Err(_) => {
                    failure = failure.or(Some(LogError::Kafka("the producer shut down".into())));
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Waits until queued records are delivered (at most `timeout`).
    pub fn flush(&self, timeout: Duration) -> Result<(), LogError> {
        Ok(self.producer.flush(timeout)?)
    }
}

/// A member of a consumer group on one topic.
pub struct KafkaConsumer {
    consumer: Arc<StreamConsumer>,
    topic: Arc<str>,
    /// Whether a lag measurement is under way (they block, so they run on their own).
    measuring: Arc<AtomicBool>,
}

impl std::fmt::Debug for KafkaConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConsumer")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaConsumer {
    /// Joins `group` on `topic` (created with `partitions` partitions if missing). A group
    /// with no committed offsets starts at the beginning of the topic.
    pub async fn join(
        config: &KafkaConfig,
        topic: &str,
        partitions: u32,
        group: &str,
    ) -> Result<KafkaConsumer, LogError> {
        ensure_topic(config, topic, partitions).await?;
        let consumer: StreamConsumer = config
            .client_config()?
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("session.timeout.ms", "10000")
            .create()?;
        consumer.subscribe(&[topic])?;
        Ok(KafkaConsumer {
            consumer: Arc::new(consumer),
            topic: topic.into(),
            measuring: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Up to `max` records: waits at most `wait` for the first, then takes what has
    /// already arrived.
    pub async fn poll(&self, max: usize, wait: Duration) -> Result<Vec<Delivered>, LogError> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while out.len() < max {
            // Wait for the first record until the deadline; after it, take only what has
            // already arrived.
            let timeout = if out.is_empty() {
                deadline.saturating_duration_since(tokio::time::Instant::now())
            } else {
                Duration::from_millis(2)
            };
            let message = match tokio::time::timeout(timeout, self.consumer.recv()).await {
                Err(_) => break,
                Ok(Err(error)) => {
                    // Broker or network trouble: librdkafka reconnects and rejoins by
                    // itself as long as it is polled, so keep polling.
                    tracing::warn!(%error, topic = %self.topic, "kafka consumer error");
                    if !out.is_empty() || tokio::time::Instant::now() >= deadline {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Ok(Ok(m)) => m,
            };
            out.push(Delivered {
                partition: message.partition() as u32,
                offset: message.offset() as u64,
                timestamp_ms: message.timestamp().to_millis().unwrap_or_default(),
                key: message.key().unwrap_or_default().to_vec(),
                payload: message.payload().unwrap_or_default().to_vec(),
            });
        }
        Ok(out)
    }

    /// Commits, synchronously, that everything up to and including `done` is processed.
    pub async fn commit(&self, done: &[Delivered]) -> Result<(), LogError> {
        let mut next: HashMap<u32, u64> = HashMap::new();
        for d in done {
            let n = next.entry(d.partition).or_default();
            *n = (*n).max(d.offset + 1);
        }
        if next.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for (p, o) in next {
            list.add_partition_offset(&self.topic, p as i32, Offset::Offset(o as i64))?;
        }
        let consumer = self.consumer.clone();
        tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync))
            .await
            .map_err(|e| LogError::Kafka(e.to_string()))??;
        Ok(())
    }

    /// Measures the lag in the background and sets `gauge`, unless a measurement is
    /// already under way: with the broker away, one can block for seconds, and the
    /// consumer must not wait for it.
    pub fn refresh_lag(&self, gauge: &prometheus_client::metrics::gauge::Gauge) {
        if self.measuring.swap(true, Ordering::AcqRel) {
            return;
        }
        let (consumer, topic, measuring, gauge) = (
            self.consumer.clone(),
            self.topic.clone(),
            self.measuring.clone(),
            gauge.clone(),
        );
        tokio::spawn(async move {
            match Self::measure(consumer, topic).await {
                Ok(lag) => {
                    gauge.set(lag as i64);
                }
                Err(error) => tracing::debug!(%error, "cannot measure consumer lag"),
            }
            measuring.store(false, Ordering::Release);
        });
    }

    /// Records in this member's partitions that the group has not committed yet.
    pub async fn lag(&self) -> Result<u64, LogError> {
        Self::measure(self.consumer.clone(), self.topic.clone()).await
    }

    async fn measure(consumer: Arc<StreamConsumer>, topic: Arc<str>) -> Result<u64, LogError> {
        tokio::task::spawn_blocking(move || -> Result<u64, LogError> {
            let assigned = consumer.assignment()?;
            let committed = consumer.committed_offsets(assigned, CALL_TIMEOUT)?;
            let mut lag = 0u64;
            for e in committed.elements_for_topic(&topic) {
                let (low, high) = consumer.fetch_watermarks(&topic, e.partition(), CALL_TIMEOUT)?;
                let done = match e.offset() {
                    Offset::Offset(o) => o.max(low),
                    _ => low,
                };
                lag += (high - done).max(0) as u64;
            }
            Ok(lag)
        })
        .await
        .map_err(|e| LogError::Kafka(e.to_string()))?
    }
}

/// Moves `group`'s committed offsets on `topic` back to the start of every partition, so
/// its next member re-reads everything. Refused by the broker while the group has members.
pub async fn rewind_group(
    config: &KafkaConfig,
    topic: &str,
    partitions: u32,
    group: &str,
) -> Result<(), LogError> {
    ensure_topic(config, topic, partitions).await?;
    let consumer: rdkafka::consumer::BaseConsumer = config
        .client_config()?
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let (topic, group) = (topic.to_owned(), group.to_owned());
    tokio::task::spawn_blocking(move || -> Result<(), LogError> {
        let metadata = consumer.fetch_metadata(Some(&topic), CALL_TIMEOUT)?;
        let mut list = TopicPartitionList::new();
        for t in metadata.topics() {
            for p in t.partitions() {
                let (low, _) = consumer.fetch_watermarks(&topic, p.id(), CALL_TIMEOUT)?;
                list.add_partition_offset(&topic, p.id(), Offset::Offset(low))?;
            }
        }
        consumer.commit(&list, CommitMode::Sync).map_err(|e| {
            LogError::Kafka(format!(
                "cannot rewind consumer group {group:?} ({e}); stop its other members first"
            ))
        })
    })
    .await
    .map_err(|e| LogError::Kafka(e.to_string()))?
}
