//! The Lambda pipeline under test: a store, an incident topic and its dead-letter topic
//! (embedded files or a fresh Kafka topic), and the views (in memory or under a fresh
//! Redis key prefix). Scale-out engines come from `cargo xtask services up`, found through
//! VIGIL_TEST_KAFKA_BROKERS and VIGIL_TEST_REDIS_URL.

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use uuid::Uuid;
use vigil_backend::{
    api::{ApiConfig, AppState, router},
    log::{EventLog, FileLog, KafkaConfig, KafkaConsumer, KafkaLog, LogConsumer, Start},
    relay::Relay,
    speed::{SharedViews, Speed, SpeedOptions, ViewStore, redis::RedisViews},
};

use super::{Engine, TestApp};

/// Which event log a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    File,
    Kafka,
}

/// Which views a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    Memory,
    Redis,
}

pub const PARTITIONS: u32 = 4;

pub fn kafka_config() -> KafkaConfig {
    KafkaConfig {
        brokers: Some(std::env::var("VIGIL_TEST_KAFKA_BROKERS").expect(
            "VIGIL_TEST_KAFKA_BROKERS is not set: run `cargo xtask test` (it starts Kafka)",
        )),
        delivery_timeout_ms: 60_000,
        ..KafkaConfig::default()
    }
}

pub fn redis_url() -> String {
    std::env::var("VIGIL_TEST_REDIS_URL")
        .expect("VIGIL_TEST_REDIS_URL is not set: run `cargo xtask test` (it starts Redis)")
}

/// A lake under a fresh prefix of the test bucket on the S3 service `cargo xtask services
/// up` starts (Garage), found through the VIGIL_TEST_S3_* variables.
pub fn s3_lake() -> vigil_backend::lake::Lake {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run `cargo xtask test` (it starts Garage)")
        })
    };
    vigil_backend::lake::Lake::S3(
        vigil_backend::lake::S3Lake::new(&vigil_backend::lake::S3Config {
            bucket: Some(var("VIGIL_TEST_S3_BUCKET")),
            endpoint: Some(var("VIGIL_TEST_S3_ENDPOINT")),
            region: var("VIGIL_TEST_S3_REGION"),
            prefix: unique("test-") + "/",
            access_key_id: var("VIGIL_TEST_S3_ACCESS_KEY_ID"),
            secret_access_key: var("VIGIL_TEST_S3_SECRET_ACCESS_KEY"),
            path_style: true,
        })
        .unwrap(),
    )
}

/// Batch views in a fresh keyspace on the Cassandra `cargo xtask services up` starts
/// (VIGIL_TEST_CASSANDRA_NODES).
pub async fn cassandra_store() -> vigil_backend::batch::BatchStore {
    let nodes = std::env::var("VIGIL_TEST_CASSANDRA_NODES").expect(
        "VIGIL_TEST_CASSANDRA_NODES is not set: run `cargo xtask test` (it starts Cassandra)",
    );
    let config = vigil_backend::batch::cassandra::CassandraConfig {
        nodes: Some(nodes),
        keyspace: unique("test_"),
        ..Default::default()
    };
    vigil_backend::batch::BatchStore::open_cassandra(&config)
        .await
        .unwrap()
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", Uuid::now_v7().simple())
}

pub struct Pipeline {
    pub app: TestApp,
    pub log: EventLog,
    pub dlq: EventLog,
    pub views: ViewStore,
    pub log_kind: LogKind,
    pub topic: String,
    pub prefix: String,
    dir: tempfile::TempDir,
}

impl Pipeline {
    pub async fn new(store: Engine, log_kind: LogKind, view_kind: ViewKind) -> Pipeline {
        Self::with_retention(store, log_kind, view_kind, TimeDelta::days(30)).await
    }

    pub async fn with_retention(
        store: Engine,
        log_kind: LogKind,
        view_kind: ViewKind,
        retention: TimeDelta,
    ) -> Pipeline {
        let mut app = TestApp::new(store).await;
        let dir = tempfile::tempdir().unwrap();
        let topic = unique("test.incidents.");
        let (log, dlq) = match log_kind {
            LogKind::File => (
                EventLog::File(FileLog::open(&dir.path().join(&topic), PARTITIONS).unwrap()),
                EventLog::File(FileLog::open(&dir.path().join("dlq"), 1).unwrap()),
            ),
            LogKind::Kafka => (
                EventLog::Kafka(KafkaLog::new(&kafka_config(), &topic, PARTITIONS).unwrap()),
                EventLog::Kafka(
                    KafkaLog::new(&kafka_config(), &format!("{topic}.dlq"), 1).unwrap(),
                ),
            ),
        };
        let prefix = unique("test:") + ":";
        let views = match view_kind {
            ViewKind::Memory => ViewStore::memory(SharedViews::default(), retention),
            ViewKind::Redis => {
                ViewStore::redis(RedisViews::open(&redis_url(), &prefix).unwrap(), retention)
            }
        };
        app.router =
            router(AppState::new(app.db.clone(), ApiConfig::default()).with_views(views.clone()));
        Pipeline {
            app,
            log,
            dlq,
            views,
            log_kind,
            topic,
            prefix,
            dir,
        }
    }

    /// A member of consumer group `group` on the incident topic, from its commits.
    pub async fn consumer(&self, group: &str) -> LogConsumer {
        Self::consumer_on(&self.log, &self.topic, PARTITIONS, group).await
    }

    /// A member of `group` on the dead-letter topic.
    pub async fn dlq_consumer(&self, group: &str) -> LogConsumer {
        Self::consumer_on(&self.dlq, &format!("{}.dlq", self.topic), 1, group).await
    }

    async fn consumer_on(log: &EventLog, topic: &str, partitions: u32, group: &str) -> LogConsumer {
        match log {
            EventLog::File(f) => LogConsumer::file(f.clone(), group, Start::Committed).unwrap(),
            EventLog::Kafka(_) => LogConsumer::Kafka(
                KafkaConsumer::join(&kafka_config(), topic, partitions, group)
                    .await
                    .unwrap(),
            ),
        }
    }

    /// A speed-layer consumer in `group` writing to the views.
    pub async fn speed(&self, group: &str) -> Speed {
        self.speed_committing(group, true).await
    }

    /// A speed-layer consumer that commits its offsets or (to act out a crash between
    /// writing the views and committing) never does.
    pub async fn speed_committing(&self, group: &str, commit: bool) -> Speed {
        let options = SpeedOptions {
            batch: 500,
            idle: Duration::from_millis(100),
            commit,
        };
        self.speed_with(group, options).await
    }

    /// A speed-layer consumer with `options`.
    pub async fn speed_with(&self, group: &str, options: SpeedOptions) -> Speed {
        Speed::new(
            self.consumer(group).await,
            self.dlq.clone(),
            self.views.clone(),
            options,
        )
    }

    /// Publishes every pending change as relay `name`; returns how many.
    pub async fn relay(&self, name: &str) -> usize {
        let relay = Relay::new(self.app.db.clone(), self.log.clone(), name);
        let mut total = 0;
        loop {
            match relay.run_once().await.unwrap() {
                0 => return total,
                n => total += n,
            }
        }
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        if self.log_kind == LogKind::Kafka {
            delete_topics(vec![self.topic.clone(), format!("{}.dlq", self.topic)]);
        }
    }
}

/// Deletes test topics so the development broker does not collect them run after run.
pub fn delete_topics(topics: Vec<String>) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    // Drop runs inside the test's runtime; use a thread with its own.
    let _ = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let admin: Result<AdminClient<DefaultClientContext>, _> = rdkafka::ClientConfig::new()
                .set(
                    "bootstrap.servers",
                    kafka_config().brokers.unwrap_or_default(),
                )
                .create();
            if let Ok(admin) = admin {
                let names: Vec<&str> = topics.iter().map(String::as_str).collect();
                let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(5)));
                let _ = admin.delete_topics(&names, &options).await;
            }
        });
    })
    .join();
}

/// Runs `speed` until it has read `records` records (or panics after 60 s).
pub async fn consume(speed: &mut Speed, records: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut read = 0;
    while read < records {
        assert!(
            Instant::now() < deadline,
            "read {read} of {records} records in 60 s"
        );
        read += speed.run_once().await.unwrap();
    }
    assert_eq!(read, records, "read more records than were published");
}

/// Polls `consumer` until it has `n` records (or panics after 60 s).
pub async fn read_all(consumer: &mut LogConsumer, n: usize) -> Vec<vigil_backend::log::Delivered> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            Instant::now() < deadline,
            "got {} of {n} records in 60 s",
            out.len()
        );
        out.extend(
            consumer
                .poll(n - out.len(), Duration::from_millis(200))
                .await
                .unwrap(),
        );
    }
    out
}
