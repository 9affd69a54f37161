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

use crate::api::ApiConfig;

/// Top-level sections; environment variables outside them (such as `VIGIL_CONFIG`) are
/// not configuration keys.
const SECTIONS: [&str; 7] = [
    "listen", "data_dir", "database", "auth", "reports", "log", "events",
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
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig { partitions: 4 }
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
        figment
            .extract()
            .context("invalid configuration (check the TOML file and VIGIL_* variables)")
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
        }
    }
}

#[cfg(test)]
// figment's Jail returns its own large error type; that is fine in tests.
#[allow(clippy::result_large_err)]
mod tests {
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
    fn unknown_keys_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("vigil.toml", "[database]\nulr = \"x\"\n")?;
            let err = Config::load(Some(std::path::Path::new("vigil.toml"))).unwrap_err();
            assert!(format!("{err:#}").contains("ulr"), "{err:#}");
            Ok(())
        });
    }
}
