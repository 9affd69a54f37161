//! The batch views in Cassandra (scale-out), through the scylla driver. The schema is
//! `migrations/cassandra/*.cql`, applied in order on connect (every statement is `IF NOT
//! EXISTS`, so applying again changes nothing).

use std::{fmt::Display, sync::Arc, time::Duration};

use futures::{StreamExt, TryStreamExt, stream};
use scylla::{
    client::{session::Session, session_builder::SessionBuilder},
    statement::prepared::PreparedStatement,
};
use serde::{Deserialize, Serialize};

use super::store::{BatchIncident, Served, StoreError, ViewRow};

/// The schema, in order.
const MIGRATIONS: &[&str] = &[include_str!(
    "../../../migrations/cassandra/0001_batch_views.cql"
)];

/// Buckets of `batch_incidents` per batch.
const BUCKETS: i32 = 64;
/// Requests in flight at once when writing or reading many partitions.
const IN_FLIGHT: usize = 64;

/// `[cassandra]`: where the batch views live in scale-out mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CassandraConfig {
    /// Contact points, `host:port`, comma-separated; unset keeps the views in SQLite.
    pub nodes: Option<String>,
    /// The keyspace Vigil creates and uses.
    pub keyspace: String,
    /// Replicas of every row (SimpleStrategy) when Vigil creates the keyspace.
    pub replication_factor: u32,
    /// Seconds a request may take before it fails.
    pub request_timeout_s: u32,
}

impl Default for CassandraConfig {
    fn default() -> Self {
        CassandraConfig {
            nodes: None,
            keyspace: "vigil".into(),
            replication_factor: 1,
            request_timeout_s: 10,
        }
    }
}

fn cql<E: Display>(what: &'static str) -> impl Fn(E) -> StoreError {
    move |e| StoreError::Cassandra(format!("{what}: {e}"))
}

fn bucket(id: &str) -> i32 {
    (crc32fast::hash(id.as_bytes()) % BUCKETS as u32) as i32
}

/// A connection to the batch views in Cassandra.
#[derive(Clone)]
pub struct CassandraViews {
    session: Arc<Session>,
    keyspace: String,
    statements: Arc<Statements>,
}

impl std::fmt::Debug for CassandraViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CassandraViews")
            .field("keyspace", &self.keyspace)
            .finish_non_exhaustive()
    }
}

struct Statements {
    insert_row: PreparedStatement,
    insert_key: PreparedStatement,
    insert_incident: PreparedStatement,
    select_rows: PreparedStatement,
    select_incidents: PreparedStatement,
}

impl CassandraViews {
    /// Connects, creates the keyspace and tables if needed, and prepares the statements.
    pub async fn connect(config: &CassandraConfig) -> Result<CassandraViews, StoreError> {
        let nodes = config
            .nodes
            .as_deref()
            .ok_or_else(|| StoreError::Cassandra("cassandra.nodes is not set".into()))?;
        let ks = &config.keyspace;
        if ks.is_empty()
            || !ks.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || ks.len() > 48
        {
            return Err(StoreError::Cassandra(format!(
                "cassandra.keyspace {ks:?}: use letters, digits and '_' (at most 48)"
            )));
        }
        let mut builder = SessionBuilder::new()
            .connection_timeout(Duration::from_secs(5))
            .default_execution_profile_handle(
                scylla::client::execution_profile::ExecutionProfile::builder()
                    .request_timeout(Some(Duration::from_secs(u64::from(
                        config.request_timeout_s.max(1),
                    ))))
                    .build()
                    .into_handle(),
            );
        for node in nodes.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            builder = builder.known_node(node);
        }
        let session = builder.build().await.map_err(cql("connecting"))?;
        for migration in MIGRATIONS {
            let text = migration
                .replace("{keyspace}", ks)
                .replace("{replication}", &config.replication_factor.to_string());
            let statements = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n");
            for statement in statements
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                session
                    .query_unpaged(statement, &[])
                    .await
                    .map_err(cql("applying the schema"))?;
            }
        }
        session
            .await_schema_agreement()
            .await
            .map_err(cql("waiting for schema agreement"))?;
        let prepare = |q: String| {
            let session = &session;
            async move { session.prepare(q).await.map_err(cql("preparing")) }
        };
        let statements = Statements {
            insert_row: prepare(format!(
                "INSERT INTO {ks}.view_rows (batch_id, view_name, key, sub, category, n) VALUES (?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            insert_key: prepare(format!(
                "INSERT INTO {ks}.batch_keys (batch_id, view_name, key) VALUES (?, ?, ?)"
            ))
            .await?,
            insert_incident: prepare(format!(
                "INSERT INTO {ks}.batch_incidents (batch_id, bucket, id, cell, category, occurred_ms, offset_s, counted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            select_rows: prepare(format!(
                "SELECT key, sub, category, n FROM {ks}.view_rows WHERE batch_id = ? AND view_name = ? AND key = ? AND sub >= ? AND sub <= ?"
            ))
            .await?,
            select_incidents: prepare(format!(
                "SELECT id, cell, category, occurred_ms, offset_s, counted FROM {ks}.batch_incidents WHERE batch_id = ? AND bucket = ? AND id IN ?"
            ))
            .await?,
        };
        Ok(CassandraViews {
            session: Arc::new(session),
            keyspace: ks.clone(),
            statements: Arc::new(statements),
        })
    }

    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }

    pub async fn begin(&self, id: &str, watermark_ms: i64, now_ms: i64) -> Result<(), StoreError> {
        self.session
            .query_unpaged(
                format!(
                    "INSERT INTO {}.batches (id, watermark_ms, started_at) VALUES (?, ?, ?)",
                    self.keyspace
                ),
                (id, watermark_ms, now_ms),
            )
            .await
            .map_err(cql("starting a batch"))?;
        Ok(())
    }

    pub async fn write(
        &self,
        batch_id: &str,
        view: &str,
        rows: &[ViewRow],
    ) -> Result<(), StoreError> {
        let s = &self.statements;
        let mut keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        stream::iter(keys.into_iter().map(|key| async move {
            self.session
                .execute_unpaged(&s.insert_key, (batch_id, view, key))
                .await
                .map(|_| ())
        }))
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await
        .map_err(cql("writing batch keys"))?;
        stream::iter(rows.iter().map(|r| async move {
            self.session
                .execute_unpaged(
                    &s.insert_row,
                    (batch_id, view, &r.key, &r.sub, &r.category, r.n),
                )
                .await
                .map(|_| ())
        }))
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await
        .map_err(cql("writing view rows"))?;
        Ok(())
    }

    pub async fn write_incidents(
        &self,
        batch_id: &str,
        rows: &[BatchIncident],
    ) -> Result<(), StoreError> {
        let s = &self.statements;
        stream::iter(rows.iter().map(|r| async move {
            self.session
                .execute_unpaged(
                    &s.insert_incident,
                    (
                        batch_id,
                        bucket(&r.id),
                        &r.id,
                        &r.cell,
                        &r.category,
                        r.occurred_ms,
                        r.offset_s,
                        r.counted,
                    ),
                )
                .await
                .map(|_| ())
        }))
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await
        .map_err(cql("writing incident states"))?;
        Ok(())
    }

    /// Every batch: `(id, completed)`.
    async fn batches(&self) -> Result<Vec<(String, bool)>, StoreError> {
        let result = self
            .session
            .query_unpaged(
                format!("SELECT id, completed_at FROM {}.batches", self.keyspace),
                &[],
            )
            .await
            .map_err(cql("listing batches"))?
            .into_rows_result()
            .map_err(cql("listing batches"))?;
        let rows = result
            .rows::<(String, Option<i64>)>()
            .map_err(cql("listing batches"))?;
        rows.map(|r| {
            r.map(|(id, done)| (id, done.is_some()))
                .map_err(cql("listing batches"))
        })
        .collect()
    }

    /// Removes every row of batch `id`, partition by partition, then the batch itself.
    async fn remove(&self, id: &str) -> Result<(), StoreError> {
        let ks = &self.keyspace;
        let keys = self
            .session
            .query_iter(
                format!("SELECT view_name, key FROM {ks}.batch_keys WHERE batch_id = ?"),
                (id,),
            )
            .await
            .map_err(cql("listing a batch's partitions"))?
            .rows_stream::<(String, String)>()
            .map_err(cql("listing a batch's partitions"))?
            .try_collect::<Vec<_>>()
            .await
            .map_err(cql("listing a batch's partitions"))?;
        let delete_rows =
            format!("DELETE FROM {ks}.view_rows WHERE batch_id = ? AND view_name = ? AND key = ?");
        stream::iter(keys.iter().map(|(view, key)| {
            let q = delete_rows.clone();
            async move {
                self.session
                    .query_unpaged(q, (id, view, key))
                    .await
                    .map(|_| ())
            }
        }))
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await
        .map_err(cql("removing an old batch"))?;
        let delete_states =
            format!("DELETE FROM {ks}.batch_incidents WHERE batch_id = ? AND bucket = ?");
        stream::iter((0..BUCKETS).map(|b| {
            let q = delete_states.clone();
            async move { self.session.query_unpaged(q, (id, b)).await.map(|_| ()) }
        }))
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await
        .map_err(cql("removing an old batch"))?;
        for q in [
            format!("DELETE FROM {ks}.batch_keys WHERE batch_id = ?"),
            format!("DELETE FROM {ks}.batches WHERE id = ?"),
        ] {
            self.session
                .query_unpaged(q, (id,))
                .await
                .map_err(cql("removing an old batch"))?;
        }
        Ok(())
    }

    pub async fn complete(
        &self,
        batch_id: &str,
        incidents: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let ks = &self.keyspace;
        if !self
            .batches()
            .await?
            .iter()
            .any(|(id, done)| id == batch_id && !done)
        {
            return Err(StoreError::NoSuchBatch(batch_id.to_owned()));
        }
        self.session
            .query_unpaged(
                format!("UPDATE {ks}.batches SET completed_at = ?, incidents = ? WHERE id = ?"),
                (now_ms, incidents, batch_id),
            )
            .await
            .map_err(cql("completing the batch"))?;
        // The switch: one row, written whole.
        self.session
            .query_unpaged(
                format!("INSERT INTO {ks}.serving (name, batch_id) VALUES ('current', ?)"),
                (batch_id,),
            )
            .await
            .map_err(cql("switching serving"))?;
        for (id, _) in self.batches().await? {
            if id == batch_id {
                continue;
            }
            if let Err(error) = self.remove(&id).await {
                // Serving already moved on; the next batch removes it.
                tracing::warn!(%error, batch = %id, "could not remove an older batch yet");
            }
        }
        Ok(())
    }

    pub async fn abandon(&self, batch_id: &str) -> Result<(), StoreError> {
        if self.served().await?.is_some_and(|s| s.batch_id == batch_id) {
            return Ok(());
        }
        self.remove(batch_id).await
    }

    pub async fn served(&self) -> Result<Option<Served>, StoreError> {
        let ks = &self.keyspace;
        let result = self
            .session
            .query_unpaged(
                format!("SELECT batch_id FROM {ks}.serving WHERE name = 'current'"),
                &[],
            )
            .await
            .map_err(cql("reading the serving pointer"))?
            .into_rows_result()
            .map_err(cql("reading the serving pointer"))?;
        let Some((id,)) = result
            .maybe_first_row::<(String,)>()
            .map_err(cql("reading the serving pointer"))?
        else {
            return Ok(None);
        };
        let result = self
            .session
            .query_unpaged(
                format!(
                    "SELECT watermark_ms, completed_at, incidents FROM {ks}.batches WHERE id = ?"
                ),
                (&id,),
            )
            .await
            .map_err(cql("reading the served batch"))?
            .into_rows_result()
            .map_err(cql("reading the served batch"))?;
        let row = result
            .maybe_first_row::<(i64, Option<i64>, Option<i64>)>()
            .map_err(cql("reading the served batch"))?;
        Ok(row.map(|(watermark_ms, completed, incidents)| Served {
            batch_id: id,
            watermark_ms,
            completed_at_ms: completed.unwrap_or_default(),
            incidents: incidents.unwrap_or_default(),
        }))
    }

    pub async fn rows_for(
        &self,
        batch_id: &str,
        view: &str,
        keys: &[String],
        sub_from: &str,
        sub_to: &str,
    ) -> Result<Vec<ViewRow>, StoreError> {
        // Owned values in every future, so the stream is `Send` for any caller.
        let reads = keys.iter().map(|key| {
            let session = self.session.clone();
            let statements = self.statements.clone();
            let values = (
                batch_id.to_owned(),
                view.to_owned(),
                key.clone(),
                sub_from.to_owned(),
                sub_to.to_owned(),
            );
            async move {
                let result = session
                    .execute_unpaged(&statements.select_rows, values)
                    .await
                    .map_err(cql("reading view rows"))?
                    .into_rows_result()
                    .map_err(cql("reading view rows"))?;
                let rows = result
                    .rows::<(String, String, String, i64)>()
                    .map_err(cql("reading view rows"))?;
                rows.map(|r| {
                    r.map(|(key, sub, category, n)| ViewRow {
                        key,
                        sub,
                        category,
                        n,
                    })
                    .map_err(cql("reading view rows"))
                })
                .collect::<Result<Vec<_>, StoreError>>()
            }
        });
        let parts: Vec<Vec<ViewRow>> = stream::iter(reads.collect::<Vec<_>>())
            .buffer_unordered(IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(parts.into_iter().flatten().collect())
    }

    pub async fn all_keys(&self, batch_id: &str, view: &str) -> Result<Vec<String>, StoreError> {
        let ks = &self.keyspace;
        self.session
            .query_iter(
                format!("SELECT key FROM {ks}.batch_keys WHERE batch_id = ? AND view_name = ?"),
                (batch_id, view),
            )
            .await
            .map_err(cql("listing keys"))?
            .rows_stream::<(String,)>()
            .map_err(cql("listing keys"))?
            .map_ok(|(k,)| k)
            .try_collect()
            .await
            .map_err(cql("listing keys"))
    }

    pub async fn incidents(
        &self,
        batch_id: &str,
        ids: &[String],
    ) -> Result<Vec<BatchIncident>, StoreError> {
        let mut by_bucket: std::collections::BTreeMap<i32, Vec<String>> = Default::default();
        for id in ids {
            by_bucket.entry(bucket(id)).or_default().push(id.clone());
        }
        let mut reads = Vec::new();
        for (b, ids) in by_bucket {
            for chunk in ids.chunks(100) {
                let session = self.session.clone();
                let statements = self.statements.clone();
                let values = (batch_id.to_owned(), b, chunk.to_vec());
                reads.push(async move {
                    let result = session
                        .execute_unpaged(&statements.select_incidents, values)
                        .await
                        .map_err(cql("reading incident states"))?
                        .into_rows_result()
                        .map_err(cql("reading incident states"))?;
                    let rows = result
                        .rows::<(String, String, String, i64, i32, bool)>()
                        .map_err(cql("reading incident states"))?;
                    rows.map(|r| {
                        r.map(|(id, cell, category, occurred_ms, offset_s, counted)| {
                            BatchIncident {
                                id,
                                cell,
                                category,
                                occurred_ms,
                                offset_s,
                                counted,
                            }
                        })
                        .map_err(cql("reading incident states"))
                    })
                    .collect::<Result<Vec<_>, StoreError>>()
                });
            }
        }
        let parts: Vec<Vec<BatchIncident>> = stream::iter(reads)
            .buffer_unordered(IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(parts.into_iter().flatten().collect())
    }
}
