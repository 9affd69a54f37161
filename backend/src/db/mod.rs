//! The operational store: accounts, tokens, incidents, reporters' edits and the change feed.
//!
//! One [`Db`] serves both engines: SQLite in a data directory (embedded, the default) and
//! PostgreSQL (scale-out). The SQL is written once in the dialect both understand; the
//! [`on_pool!`] macro compiles each query body once per driver. Each engine applies its own
//! migrations from `migrations/sqlite` or `migrations/postgres` at start.

/// The `incidents` columns an [`IncidentRow`] reads, as a literal for `concat!`.
macro_rules! incident_columns {
    () => {
        "i.id, i.source_kind, i.feed, i.record_id, i.category, i.occurred_at, i.occurred_offset,
         i.reported_at, i.lat, i.lon, i.accuracy_m, i.place, i.description, i.status, i.version,
         i.source_url, i.fetched_at"
    };
}

/// A condition (for `concat!`) true when the user bound at `$p` may see incident `i`:
/// public, their own, or a private report of a group they belong to.
macro_rules! visible_to {
    ($p:literal) => {
        concat!(
            "(NOT i.private OR i.reporter_id = ",
            $p,
            " OR i.group_id IN (SELECT gm.group_id FROM group_members gm WHERE gm.user_id = ",
            $p,
            "))"
        )
    };
}

/// A column `exact` (for `concat!`): the user bound at `$p` may see incident `i`'s place
/// precisely (their own report, or one of their group's).
macro_rules! viewer_exact {
    ($p:literal) => {
        concat!(
            "(COALESCE(i.reporter_id = ",
            $p,
            ", FALSE) OR i.group_id IN ",
            "(SELECT gm.group_id FROM group_members gm WHERE gm.user_id = ",
            $p,
            ")) AS exact"
        )
    };
}

mod accounts;
mod alerts;
mod devices;
mod feeds;
mod groups;
mod incidents;
mod photos;
mod relay;
mod revisions;
mod watch;

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

pub use accounts::UserId;
pub use alerts::{AlertPolicy, Candidate, Recorded};
pub use devices::{DeviceRow, MAX_DEVICES_PER_USER, PutDevice};
pub use feeds::FeedOutcome;
pub use groups::{
    AuditEntry, Decision, GroupRow, IncidentNotes, Joined, MemberChange, MemberRow, Moderated,
    NewInvite, QueuedReport, Role,
};
pub use incidents::{IncidentFilter, InsertOutcome, NewIncident, Visible, WriteTx};
pub use photos::{AddPhoto, MAX_PHOTOS_PER_REPORT};
pub use relay::OutboxEntry;
pub use revisions::{EditItem, EditStored};
pub use watch::{AreaRow, MAX_AREAS_PER_USER, PutArea};

/// Errors of the operational store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("username is already taken")]
    UsernameTaken,
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error("applying migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Which engine holds the data.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of either engine.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match &$db.pool {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Takes the transaction-scoped advisory lock `$key` in the open transaction `$tx` when
/// `$is_postgres` (SQLite has one writer at a time anyway): writers that take it append
/// to an ordered log (the change feed, watch-area revisions) in commit order.
macro_rules! advisory_lock {
    ($tx:expr, $is_postgres:expr, $key:expr) => {
        if $is_postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind($key)
                .execute(&mut **$tx)
                .await?;
        }
    };
}
pub(crate) use advisory_lock;

/// Runs `$body` with `$tx` bound to the open transaction of a [`WriteTx`] on either engine.
macro_rules! on_tx {
    ($write:ident, $tx:ident => $body:expr) => {
        match &mut $write.tx {
            $crate::db::incidents::Tx::Sqlite($tx) => $body,
            $crate::db::incidents::Tx::Postgres($tx) => $body,
        }
    };
}
pub(crate) use on_tx;

/// A handle to the operational store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pub(crate) pool: Pool,
}

impl Db {
    /// Opens (creating if needed) the embedded store `vigil.db` in `data_dir` and migrates it.
    pub async fn open_sqlite(data_dir: &Path) -> Result<Db, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Corrupt(format!(
                "cannot create data dir {}: {e}",
                data_dir.display()
            ))
        })?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join("vigil.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a transaction is on disk before its commit returns, so an
            // acknowledged report survives a power cut.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
        Ok(Db {
            pool: Pool::Sqlite(pool),
        })
    }

    /// Connects to PostgreSQL at `url` and migrates the database.
    pub async fn open_postgres(url: &str, max_connections: u32) -> Result<Db, StoreError> {
        let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        Ok(Db {
            pool: Pool::Postgres(pool),
        })
    }

    /// The engine's name, for logs and health answers.
    pub fn engine(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Answers when the engine does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Closes every connection (the embedded store checkpoints its WAL).
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}
