//! Configuration: defaults, then a TOML file (`--config` or `VIGIL_CONFIG`), then
//! `VIGIL_*` environment variables (`__` separates sections: `VIGIL_DATABASE__URL`), then
//! command-line flags.

use std::{fmt, net::SocketAddr, path::PathBuf};

use anyhow::Context;
use chrono::TimeDelta;
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

use crate::{
    api::ApiConfig, batch::cassandra::CassandraConfig, events::INCIDENT_TOPIC, lake::S3Config,
    log::KafkaConfig,
};

/// Top-level sections; environment variables outside them (such as `VIGIL_CONFIG`) are
/// not configuration keys.
const SECTIONS: [&str; 20] = [
    "listen",
    "data_dir",
    "database",
    "auth",
    "reports",
    "log",
    "events",
    "kafka",
    "redis",
    "relay",
    "speed",
    "lake",
    "archive",
    "batch",
    "cassandra",
    "ingest",
    "alerts",
    "push",
    "security",
    "privacy",
];

/// Everything `vigil` can be configured with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// Where the embedded engines keep their files (the SQLite store, later the log and lake).
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub reports: ReportsConfig,
    pub log: LogConfig,
    pub events: EventsConfig,
    /// Kafka as the event log (scale-out); unset brokers keep the embedded log.
    pub kafka: KafkaConfig,
    pub redis: RedisConfig,
    pub relay: RelayConfig,
    pub speed: SpeedConfig,
    pub lake: LakeConfig,
    pub archive: ArchiveConfig,
    pub batch: BatchConfig,
    /// Cassandra for the batch views (scale-out); unset nodes keep them in SQLite.
    pub cassandra: CassandraConfig,
    /// Public crime feeds read by `vigil ingest`.
    pub ingest: crate::ingest::config::IngestConfig,
    pub alerts: AlertsConfig,
    /// Push notifications to phones and browsers.
    pub push: crate::push::PushConfig,
    pub security: SecurityConfig,
    pub privacy: PrivacyConfig,
}

/// Abuse resistance of the HTTP API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Requests per minute from one address; 0 turns the limit off.
    pub per_address_per_minute: u32,
    /// Requests per minute with one account; 0 turns the limit off.
    pub per_account_per_minute: u32,
    /// Failed logins (per username, and per address) before a lockout.
    pub failures_before_lock: u32,
    /// The first lockout in seconds; it doubles with each further failure, up to an hour.
    pub first_lock_seconds: u32,
    /// Take the client's address from `X-Forwarded-For` (only behind your own proxy).
    pub trust_forwarded_for: bool,
    /// Browser origins allowed to call the API (exact, e.g. `https://map.example.org`);
    /// empty: none (the desktop and mobile apps do not need CORS).
    pub cors_origins: Vec<String>,
    /// Send `Strict-Transport-Security` (set when a TLS proxy serves the API).
    pub hsts: bool,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        let g = crate::api::guard::GuardConfig::default();
        SecurityConfig {
            per_address_per_minute: g.per_address_per_minute,
            per_account_per_minute: g.per_account_per_minute,
            failures_before_lock: g.failures_before_lock,
            first_lock_seconds: g.first_lock.as_secs() as u32,
            trust_forwarded_for: g.trust_forwarded_for,
            cors_origins: g.cors_origins,
            hsts: g.hsts,
        }
    }
}

/// What is kept about residents, and for how long.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// Days a resident's report keeps its precise location, typed place and reporter
    /// link; after that they are coarsened as public views show them. 0 keeps them.
    pub raw_report_days: u32,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            raw_report_days: 365,
        }
    }
}

/// The alert matcher (in `vigil serve` embedded, in `vigil speed` scale-out).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Match incidents against watch areas at all.
    pub enabled: bool,
    /// Consumer group of the matcher on the incident topic.
    pub group: String,
    /// Alerts a person gets within `window_minutes` before the rest wait for one digest.
    pub rate_limit: u32,
    pub window_minutes: u32,
    /// Incidents that occurred longer ago than this alert nobody (imports, late feeds).
    pub max_age_hours: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            enabled: true,
            group: "vigil-alerts".into(),
            rate_limit: 5,
            window_minutes: 10,
            max_age_hours: 12,
        }
    }
}

/// The data lake: a local directory (embedded) or an S3 bucket (scale-out).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LakeConfig {
    /// The lake's directory when no bucket is set [default: `data_dir/lake`].
    pub dir: Option<PathBuf>,
    pub s3: S3Config,
}

/// `vigil archive`: the consumer group that writes the lake.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// Consumer group of the archive on the incident topic.
    pub group: String,
    /// Changes per Parquet roll (the buffer rolls at this size...).
    pub max_rows: u32,
    /// ...or when its oldest change has waited this many seconds.
    pub max_seconds: u32,
    /// Where `vigil archive` serves `/metrics`.
    pub metrics_listen: SocketAddr,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            group: "vigil-archive".into(),
            max_rows: 200_000,
            max_seconds: 60,
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 9103)),
        }
    }
}

/// `vigil batch`: recomputing the views from the whole lake.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// What to do with a lake object that is not readable Parquet of the incidents table:
    /// `fail` (the batch stops and names it) or `skip` (it is named, counted and left out).
    pub on_corrupt: OnCorrupt,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            on_corrupt: OnCorrupt::Fail,
        }
    }
}

/// See [`BatchConfig::on_corrupt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnCorrupt {
    Fail,
    Skip,
}

/// Redis for the real-time views (scale-out).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port/db`; unset keeps the views in the serving process.
    pub url: Option<String>,
    /// Prefix of every key the views write (letters, digits, `:._-`).
    pub key_prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: None,
            key_prefix: "vigil:".into(),
        }
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

/// `vigil relay`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// Changes published per round.
    pub batch: u32,
    /// Where `vigil relay` serves `/metrics`.
    pub metrics_listen: SocketAddr,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            batch: 1_000,
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 9101)),
        }
    }
}

/// `vigil speed` and the real-time views.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpeedConfig {
    /// Consumer group of the speed layer on the incident topic.
    pub group: String,
    /// Days of incidents (by occurrence) the real-time views keep.
    pub retention_days: u32,
    /// Records applied per round.
    pub batch: u32,
    /// Where `vigil speed` serves `/metrics`.
    pub metrics_listen: SocketAddr,
}

impl Default for SpeedConfig {
    fn default() -> Self {
        SpeedConfig {
            group: "vigil-speed".into(),
            retention_days: 30,
            batch: 2_000,
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 9102)),
        }
    }
}

/// The operational database.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://user:password@host/db` for PostgreSQL; unset for the embedded SQLite store.
    pub url: Option<String>,
    /// Most connections in the PostgreSQL pool.
    pub max_connections: u32,
}

/// Accounts and tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Days a login token stays valid.
    pub token_ttl_days: u32,
}

/// Rules for incoming reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Oldest occurrence a user report may have, in days.
    pub max_age_days: u32,
    /// Largest request body in bytes (a push of 500 reports is about 250 KB).
    pub max_body_bytes: usize,
}

/// The event log that carries incidents to the Lambda layers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Partitions of the incident topic; fixed once the topic exists.
    pub partitions: u32,
    /// The incident topic; unreadable records go to `<topic>.dlq`.
    pub topic: String,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            partitions: 4,
            topic: INCIDENT_TOPIC.into(),
        }
    }
}

impl EventsConfig {
    /// Where consumers put records they cannot read.
    pub fn dead_letter_topic(&self) -> String {
        format!("{}.dlq", self.topic)
    }
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `vigil_backend=debug,info` (`RUST_LOG` wins).
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: dirs::data_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join("vigil"),
            database: DatabaseConfig::default(),
            auth: AuthConfig::default(),
            reports: ReportsConfig::default(),
            log: LogConfig::default(),
            events: EventsConfig::default(),
            kafka: KafkaConfig::default(),
            redis: RedisConfig::default(),
            relay: RelayConfig::default(),
            speed: SpeedConfig::default(),
            lake: LakeConfig::default(),
            archive: ArchiveConfig::default(),
            batch: BatchConfig::default(),
            cassandra: CassandraConfig::default(),
            ingest: crate::ingest::config::IngestConfig::default(),
            alerts: AlertsConfig::default(),
            push: crate::push::PushConfig::default(),
            security: SecurityConfig::default(),
            privacy: PrivacyConfig::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            max_connections: 16,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { token_ttl_days: 30 }
    }
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            max_age_days: 365,
            max_body_bytes: 2 * 1024 * 1024,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// Hides the password in a database URL.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

impl Config {
    /// Layers defaults, the TOML file (if any) and `VIGIL_*` variables.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            anyhow::ensure!(
                path.exists(),
                "config file {} does not exist",
                path.display()
            );
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(
            Env::prefixed("VIGIL_")
                .filter(|key| {
                    let section = key.as_str().split("__").next().unwrap_or("");
                    SECTIONS.iter().any(|s| s.eq_ignore_ascii_case(section))
                })
                .split("__"),
        );
        let config: Config = figment
            .extract()
            .context("invalid configuration (check the TOML file and VIGIL_* variables)")?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what the types alone do not.
    fn validate(&self) -> anyhow::Result<()> {
        let name_ok = |s: &str, extra: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c) || extra.contains(c))
        };
        anyhow::ensure!(
            name_ok(&self.redis.key_prefix, ":"),
            "redis.key_prefix {:?}: use letters, digits and ':', '.', '_', '-'",
            self.redis.key_prefix
        );
        anyhow::ensure!(
            name_ok(&self.events.topic, "") && self.events.topic.len() <= 200,
            "events.topic {:?}: use letters, digits and '.', '_', '-' (at most 200)",
            self.events.topic
        );
        anyhow::ensure!(
            name_ok(&self.speed.group, ""),
            "speed.group {:?}: use letters, digits and '.', '_', '-'",
            self.speed.group
        );
        anyhow::ensure!(
            name_ok(&self.archive.group, ""),
            "archive.group {:?}: use letters, digits and '.', '_', '-'",
            self.archive.group
        );
        anyhow::ensure!(
            self.archive.max_rows >= 1 && self.archive.max_seconds >= 1,
            "archive.max_rows and archive.max_seconds must be at least 1"
        );
        let prefix = &self.lake.s3.prefix;
        anyhow::ensure!(
            prefix.is_empty()
                || (prefix.ends_with('/') && !prefix.starts_with('/') && name_ok(prefix, "/=")),
            "lake.s3.prefix {prefix:?}: leave it empty or use letters, digits and '/', '.', '_', '-', ending with '/'"
        );
        if self.lake.s3.bucket.is_some() {
            anyhow::ensure!(
                !self.lake.s3.access_key_id.is_empty()
                    && !self.lake.s3.secret_access_key.is_empty(),
                "lake.s3.bucket is set but lake.s3.access_key_id or lake.s3.secret_access_key \
                 is empty; set both (VIGIL_LAKE__S3__ACCESS_KEY_ID, VIGIL_LAKE__S3__SECRET_ACCESS_KEY)"
            );
        }
        anyhow::ensure!(
            (1..=256).contains(&self.events.partitions),
            "events.partitions is {}: use 1 to 256",
            self.events.partitions
        );
        anyhow::ensure!(
            self.speed.retention_days >= 1,
            "speed.retention_days is 0: keep at least 1 day"
        );
        anyhow::ensure!(
            (1..=50_000).contains(&self.speed.batch) && (1..=50_000).contains(&self.relay.batch),
            "speed.batch and relay.batch must be from 1 to 50000"
        );
        anyhow::ensure!(
            name_ok(&self.alerts.group, ""),
            "alerts.group {:?}: use letters, digits and '.', '_', '-'",
            self.alerts.group
        );
        anyhow::ensure!(
            self.alerts.rate_limit >= 1
                && self.alerts.window_minutes >= 1
                && self.alerts.max_age_hours >= 1,
            "alerts.rate_limit, alerts.window_minutes and alerts.max_age_hours must be at least 1"
        );
        self.ingest.validate()?;
        Ok(())
    }

    /// The lake the config names: the S3 bucket when `lake.s3.bucket` is set, else the
    /// local directory.
    pub fn lake(&self) -> anyhow::Result<crate::lake::Lake> {
        if self.lake.s3.bucket.is_some() {
            return Ok(crate::lake::Lake::S3(
                crate::lake::S3Lake::new(&self.lake.s3).context("lake.s3")?,
            ));
        }
        Ok(crate::lake::Lake::local(
            self.lake
                .dir
                .clone()
                .unwrap_or_else(|| self.data_dir.join("lake")),
        ))
    }

    /// The batch views' store the config names: Cassandra when `cassandra.nodes` is set,
    /// else `views.db` in the data directory.
    pub async fn batch_store(&self) -> anyhow::Result<crate::batch::BatchStore> {
        use crate::batch::BatchStore;
        if self.cassandra.nodes.is_some() {
            return BatchStore::open_cassandra(&self.cassandra)
                .await
                .with_context(|| {
                    format!(
                        "cannot reach Cassandra at {}; is it running? (cassandra.nodes)",
                        self.cassandra.nodes.as_deref().unwrap_or_default()
                    )
                });
        }
        BatchStore::open_sqlite(&self.data_dir)
            .await
            .with_context(|| {
                format!(
                    "cannot open the batch views (views.db) in {}",
                    self.data_dir.display()
                )
            })
    }

    /// How long the real-time views keep an incident.
    pub fn retention(&self) -> TimeDelta {
        TimeDelta::days(i64::from(self.speed.retention_days))
    }

    /// How the alert matcher works.
    pub fn alert_options(&self) -> crate::alerts::AlertOptions {
        crate::alerts::AlertOptions {
            policy: crate::db::AlertPolicy {
                limit: self.alerts.rate_limit,
                window_ms: i64::from(self.alerts.window_minutes) * 60_000,
            },
            max_age: TimeDelta::hours(i64::from(self.alerts.max_age_hours)),
            batch: self.speed.batch as usize,
            ..Default::default()
        }
    }

    /// The settings the HTTP handlers use.
    pub fn api(&self) -> ApiConfig {
        ApiConfig {
            token_ttl: TimeDelta::days(i64::from(self.auth.token_ttl_days)),
            limits: vigil_sync::Limits {
                max_age: TimeDelta::days(i64::from(self.reports.max_age_days)),
                ..vigil_sync::Limits::default()
            },
            max_body_bytes: self.reports.max_body_bytes,
            allow_private_push_endpoints: self.push.allow_private_endpoints,
            guard: crate::api::guard::GuardConfig {
                per_address_per_minute: self.security.per_address_per_minute,
                per_account_per_minute: self.security.per_account_per_minute,
                failures_before_lock: self.security.failures_before_lock.max(1),
                first_lock: std::time::Duration::from_secs(u64::from(
                    self.security.first_lock_seconds,
                )),
                trust_forwarded_for: self.security.trust_forwarded_for,
                cors_origins: self.security.cors_origins.clone(),
                hsts: self.security.hsts,
            },
        }
    }
}

#[cfg(test)]
// figment's Jail returns its own large error type; that is fine in tests.
#[allow(clippy::result_large_err)]
mod tests {
    #[test]
    fn every_section_can_be_set_from_the_environment() {
        let value = serde_json::to_value(super::Config::default()).unwrap();
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut sections = super::SECTIONS.to_vec();
        keys.sort_unstable();
        sections.sort_unstable();
        assert_eq!(
            keys, sections,
            "SECTIONS must list every top-level key of Config"
        );
    }

    use super::*;

    #[test]
    fn file_then_env_layering() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "vigil.toml",
                "listen = \"127.0.0.1:9000\"\n[database]\nurl = \"postgres://a:secret@h/db\"\n",
            )?;
            jail.set_env("VIGIL_DATABASE__MAX_CONNECTIONS", "3");
            jail.set_env("VIGIL_CONFIG", "ignored.toml");
            let c = Config::load(Some(std::path::Path::new("vigil.toml")))
                .map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 9000);
            assert_eq!(c.database.max_connections, 3);
            assert!(!format!("{:?}", c.database).contains("secret"));
            Ok(())
        });
    }

    #[test]
    fn scale_out_sections_come_from_env() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("VIGIL_KAFKA__BROKERS", "127.0.0.1:9092");
            jail.set_env("VIGIL_REDIS__URL", "redis://:pw@127.0.0.1:6379/0");
            jail.set_env("VIGIL_SPEED__RETENTION_DAYS", "7");
            jail.set_env("VIGIL_EVENTS__TOPIC", "test.incidents");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.kafka.brokers.as_deref(), Some("127.0.0.1:9092"));
            assert_eq!(c.retention(), TimeDelta::days(7));
            assert_eq!(c.events.dead_letter_topic(), "test.incidents.dlq");
            assert!(!format!("{:?}", c.redis).contains("pw"));
            Ok(())
        });
    }

    #[test]
    fn bad_names_are_refused_with_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("VIGIL_REDIS__KEY_PREFIX", "vigil*");
            let err = Config::load(None).unwrap_err();
            assert!(format!("{err:#}").contains("redis.key_prefix"), "{err:#}");
            Ok(())
        });
    }

    #[test]
    fn the_example_file_parses_and_states_the_defaults() {
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("ops")
            .join("vigil.example.toml");
        figment::Jail::expect_with(|_| {
            let c = Config::load(Some(&example)).map_err(|e| format!("{e:#}"))?;
            let shown = |c: &Config| toml::to_string(c).unwrap();
            assert_eq!(shown(&c), shown(&Config::default()));
            Ok(())
        });
    }

    #[test]
    fn the_ingest_example_file_parses_and_validates() {
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("ops")
            .join("ingest.example.toml");
        figment::Jail::expect_with(|_| {
            let c = Config::load(Some(&example)).map_err(|e| format!("{e:#}"))?;
            let kinds: Vec<_> = c
                .ingest
                .sources
                .iter()
                .map(|s| s.kind().map(|k| k.as_str()).unwrap_or("?"))
                .collect();
            assert_eq!(
                kinds,
                [
                    "socrata",
                    "socrata",
                    "socrata",
                    "arcgis",
                    "police_uk",
                    "csv",
                    "csv",
                    "json"
                ]
            );
            Ok(())
        });
    }

    #[test]
    fn bad_ingest_sources_are_named() {
        let cases = [
            ("name = \"x\"\n", "has no kind"),
            (
                "name = \"x\"\nevery = \"often\"\n[ingest.sources.json]\nurl = \"http://a\"\n",
                "every = \"often\" is not a duration",
            ),
            (
                "name = \"x y\"\n[ingest.sources.json]\nurl = \"http://a\"\n",
                "ingest source name \"x y\"",
            ),
            (
                "name = \"x\"\n[ingest.sources.json]\nurl = \"http://a\"\n[ingest.sources.json.fields]\ntimezone = \"Mars/Base\"\n",
                "timezone \"Mars/Base\" is not an IANA zone",
            ),
            (
                "name = \"x\"\n[ingest.sources.police_uk]\npoly = \"1,2:3,4\"\nfrom_month = \"2024\"\n",
                "from_month \"2024\" is not YYYY-MM",
            ),
        ];
        for (source, expected) in cases {
            figment::Jail::expect_with(|jail| {
                jail.create_file("vigil.toml", &format!("[[ingest.sources]]\n{source}"))?;
                let err = Config::load(Some(std::path::Path::new("vigil.toml"))).unwrap_err();
                assert!(format!("{err:#}").contains(expected), "{err:#}");
                Ok(())
            });
        }
    }

    #[test]
    fn unknown_keys_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("vigil.toml", "[database]\nulr = \"x\"\n")?;
            let err = Config::load(Some(std::path::Path::new("vigil.toml"))).unwrap_err();
            assert!(format!("{err:#}").contains("ulr"), "{err:#}");
            Ok(())
        });
    }
}
