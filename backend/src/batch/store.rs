//! Where batch views are kept and served from: SQLite tables in `views.db` (embedded) or
//! Cassandra (scale-out, [`super::cassandra`]).
//!
//! Every view is rows of `(key, sub, category) -> n` under the batch id that computed
//! them. A batch writes all its rows first and then, in one transaction, marks itself
//! complete, moves the serving pointer to itself and drops the rows of older batches.
//! A batch that fails leaves the pointer (and what it points at) untouched.

use std::{path::Path, str::FromStr, time::Duration};

use chrono::Utc;

use super::cassandra::{CassandraConfig, CassandraViews};
use sqlx::{
    Row, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

/// Why the batch views could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error("applying the batch-view migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("batch {0} is not a batch in progress")]
    NoSuchBatch(String),
    #[error("cassandra: {0}")]
    Cassandra(String),
}

/// One row of a view.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ViewRow {
    pub key: String,
    pub sub: String,
    pub category: String,
    pub n: i64,
}

/// An incident's last state in a batch (what the serving layer takes out when the speed
/// layer has a newer one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchIncident {
    pub id: String,
    /// H3 cell, resolution 8.
    pub cell: String,
    pub category: String,
    pub occurred_ms: i64,
    pub offset_s: i32,
    /// False for rejected incidents (kept so a later change can bring them back).
    pub counted: bool,
}

/// The batch being served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub batch_id: String,
    pub watermark_ms: i64,
    pub completed_at_ms: i64,
    pub incidents: i64,
}

/// How a query folds the `sub` of the rows it reads: rows whose folded `sub` agree are
/// summed by the store, so a long range moves one row per bucket of the answer instead
/// of one per day or month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// Every row as it is.
    Keep,
    /// One row per key and category, `sub` empty (a heatmap's total over its range).
    All,
    /// `sub` becomes what follows its first `|` (`2019-06|37` -> `37`: the hour of the
    /// week summed over the months).
    AfterBar,
}

impl Fold {
    /// The folded `sub`.
    pub fn apply(self, sub: &str) -> String {
        match self {
            Fold::Keep => sub.to_owned(),
            Fold::All => String::new(),
            Fold::AfterBar => sub.split_once('|').map_or(sub, |(_, rest)| rest).to_owned(),
        }
    }

    /// The same as SQL over a row `v` of `view_rows` (SQLite).
    fn sql(self) -> &'static str {
        match self {
            Fold::Keep => "v.sub",
            Fold::All => "''",
            Fold::AfterBar => "substr(v.sub, instr(v.sub, '|') + 1)",
        }
    }

    /// `rows` folded and summed per key, folded sub and category.
    fn rows(self, rows: Vec<ViewRow>) -> Vec<ViewRow> {
        if self == Fold::Keep {
            return rows;
        }
        let mut sums: std::collections::BTreeMap<(String, String, String), i64> =
            Default::default();
        for r in rows {
            *sums
                .entry((r.key, self.apply(&r.sub), r.category))
                .or_default() += r.n;
        }
        sums.into_iter()
            .map(|((key, sub, category), n)| ViewRow {
                key,
                sub,
                category,
                n,
            })
            .collect()
    }
}

fn view_row(r: &sqlx::sqlite::SqliteRow) -> Result<ViewRow, StoreError> {
    Ok(ViewRow {
        key: r.try_get("key")?,
        sub: r.try_get("sub")?,
        category: r.try_get("category")?,
        n: r.try_get("n")?,
    })
}

/// Deletes every row of the batches whose id compares to `batch_id` by `op` (`=` for that
/// batch, `<>` for all the others).
async fn delete_batches(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    op: &'static str,
    batch_id: &str,
) -> Result<(), StoreError> {
    for (table, column) in [
        ("view_rows", "batch_id"),
        ("batch_incidents", "batch_id"),
        ("batches", "id"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE {column} {op} $1"
        )))
        .bind(batch_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The most bound parameters SQLite takes in one statement (SQLITE_MAX_VARIABLE_NUMBER,
/// 32,766 since SQLite 3.32).
const SQLITE_MAX_PARAMETERS: usize = 32_766;

/// Inserts `rows` in one transaction with multi-row `INSERT`s of `head` (`INSERT INTO t
/// (a, b, ...) `), as many rows per statement as SQLite's parameter limit allows;
/// `bind` pushes one row's `PARAMS` values.
async fn insert_all<T, const PARAMS: usize>(
    pool: &SqlitePool,
    head: &str,
    rows: &[T],
    bind: impl Fn(sqlx::query_builder::Separated<'_, sqlx::Sqlite, &'static str>, &T),
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    for chunk in rows.chunks(SQLITE_MAX_PARAMETERS / PARAMS) {
        let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(head);
        qb.push_values(chunk, &bind);
        qb.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The batch views in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteViews(SqlitePool);

impl SqliteViews {
    /// Opens (creating) `views.db` in `data_dir` and migrates it.
    async fn open(data_dir: &Path) -> Result<SqliteViews, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(sqlx::Error::Io)?;
        let options = SqliteConnectOptions::from_str(&format!(
            "sqlite://{}",
            data_dir.join("views.db").display()
        ))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations/batch-sqlite")
            .run(&pool)
            .await?;
        Ok(SqliteViews(pool))
    }

    async fn begin(&self, id: &str, watermark_ms: i64) -> Result<(), StoreError> {
        let pool = &self.0;
        sqlx::query("INSERT INTO batches (id, watermark_ms, started_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(watermark_ms)
            .bind(Utc::now().timestamp_millis())
            .execute(pool)
            .await?;
        Ok(())
    }

    /// Writes the rows of `view` for batch `batch_id`.
    async fn write(&self, batch_id: &str, view: &str, rows: &[ViewRow]) -> Result<(), StoreError> {
        insert_all::<_, 6>(
            &self.0,
            "INSERT INTO view_rows (batch_id, view, key, sub, category, n) ",
            rows,
            |mut b, r| {
                b.push_bind(batch_id)
                    .push_bind(view)
                    .push_bind(&r.key)
                    .push_bind(&r.sub)
                    .push_bind(&r.category)
                    .push_bind(r.n);
            },
        )
        .await
    }

    /// Writes the incident states of batch `batch_id`.
    async fn write_incidents(
        &self,
        batch_id: &str,
        rows: &[BatchIncident],
    ) -> Result<(), StoreError> {
        insert_all::<_, 7>(
            &self.0,
            "INSERT INTO batch_incidents (batch_id, id, cell, category, occurred_ms, offset_s, counted) ",
            rows,
            |mut b, r| {
                b.push_bind(batch_id)
                    .push_bind(&r.id)
                    .push_bind(&r.cell)
                    .push_bind(&r.category)
                    .push_bind(r.occurred_ms)
                    .push_bind(r.offset_s)
                    .push_bind(r.counted);
            },
        )
        .await
    }

    /// The served batch's states of the incidents `ids` (those it has).
    async fn incidents(&self, ids: &[String]) -> Result<Vec<BatchIncident>, StoreError> {
        let pool = &self.0;
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "SELECT i.id, i.cell, i.category, i.occurred_ms, i.offset_s, i.counted
                 FROM batch_incidents i JOIN serving s ON s.name = 'current' AND i.batch_id = s.batch_id
                 WHERE i.id IN (",
            );
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id);
            }
            qb.push(")");
            for r in qb.build().fetch_all(pool).await? {
                out.push(BatchIncident {
                    id: r.try_get("id")?,
                    cell: r.try_get("cell")?,
                    category: r.try_get("category")?,
                    occurred_ms: r.try_get("occurred_ms")?,
                    offset_s: r.try_get("offset_s")?,
                    counted: r.try_get("counted")?,
                });
            }
        }
        Ok(out)
    }

    /// Rows of `view` in the served batch for every key in `keys`, with `sub` in
    /// `[sub_from, sub_to]` (text order), folded by `fold`.
    async fn rows_for(
        &self,
        view: &str,
        keys: &[String],
        sub_from: &str,
        sub_to: &str,
        fold: Fold,
    ) -> Result<Vec<ViewRow>, StoreError> {
        let pool = &self.0;
        let mut out = Vec::new();
        let (columns, group) = match fold {
            Fold::Keep => ("v.key, v.sub, v.category, v.n".to_owned(), ""),
            _ => (
                format!("v.key, {} AS sub, v.category, SUM(v.n) AS n", fold.sql()),
                " GROUP BY 1, 2, 3",
            ),
        };
        for chunk in keys.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
                "SELECT {columns} FROM view_rows v
                 JOIN serving s ON s.name = 'current' AND v.batch_id = s.batch_id
                 WHERE v.view = "
            ));
            qb.push_bind(view);
            qb.push(" AND v.sub >= ").push_bind(sub_from);
            qb.push(" AND v.sub <= ").push_bind(sub_to);
            qb.push(" AND v.key IN (");
            let mut list = qb.separated(", ");
            for k in chunk {
                list.push_bind(k);
            }
            qb.push(")");
            qb.push(group);
            for r in qb.build().fetch_all(pool).await? {
                out.push(view_row(&r)?);
            }
        }
        Ok(out)
    }

    /// Marks batch `batch_id` complete and serves it; drops the rows of older batches.
    async fn complete(&self, batch_id: &str, incidents: i64) -> Result<(), StoreError> {
        let pool = &self.0;
        let mut tx = pool.begin().await?;
        let done = sqlx::query(
            "UPDATE batches SET completed_at = $2, incidents = $3 WHERE id = $1 AND completed_at IS NULL",
        )
        .bind(batch_id)
        .bind(Utc::now().timestamp_millis())
        .bind(incidents)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NoSuchBatch(batch_id.to_owned()));
        }
        sqlx::query(
            "INSERT INTO serving (name, batch_id) VALUES ('current', $1)
             ON CONFLICT (name) DO UPDATE SET batch_id = excluded.batch_id",
        )
        .bind(batch_id)
        .execute(&mut *tx)
        .await?;
        delete_batches(&mut tx, "<>", batch_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets a batch that failed (the served one is untouched).
    async fn abandon(&self, batch_id: &str) -> Result<(), StoreError> {
        let pool = &self.0;
        let mut tx = pool.begin().await?;
        let served: Option<String> =
            sqlx::query_scalar("SELECT batch_id FROM serving WHERE name = 'current'")
                .fetch_optional(&mut *tx)
                .await?;
        if served.as_deref() != Some(batch_id) {
            delete_batches(&mut tx, "=", batch_id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The batch being served, if any has completed.
    async fn served(&self) -> Result<Option<Served>, StoreError> {
        let pool = &self.0;
        let row = sqlx::query(
            "SELECT b.id, b.watermark_ms, b.completed_at, b.incidents
             FROM serving s JOIN batches b ON b.id = s.batch_id WHERE s.name = 'current'",
        )
        .fetch_optional(pool)
        .await?;
        row.map(|r| {
            Ok(Served {
                batch_id: r.try_get("id")?,
                watermark_ms: r.try_get("watermark_ms")?,
                completed_at_ms: r.try_get("completed_at")?,
                incidents: r.try_get("incidents")?,
            })
        })
        .transpose()
    }

    /// Every row of `view` in the served batch (for tests and exports), sorted.
    async fn all_rows(&self, view: &str) -> Result<Vec<ViewRow>, StoreError> {
        let pool = &self.0;
        let rows = sqlx::query(
            "SELECT v.key, v.sub, v.category, v.n FROM view_rows v
             JOIN serving s ON s.name = 'current' AND v.batch_id = s.batch_id
             WHERE v.view = $1 ORDER BY v.key, v.sub, v.category",
        )
        .bind(view)
        .fetch_all(pool)
        .await?;
        rows.iter().map(view_row).collect()
    }

    async fn close(&self) {
        let pool = &self.0;
        pool.close().await;
    }
}

/// The batch views' store: SQLite (embedded) or Cassandra (scale-out).
#[derive(Debug, Clone)]
pub enum BatchStore {
    Sqlite(SqliteViews),
    Cassandra(CassandraViews),
}

impl BatchStore {
    /// Opens (creating) `views.db` in `data_dir` and migrates it.
    pub async fn open_sqlite(data_dir: &Path) -> Result<BatchStore, StoreError> {
        Ok(BatchStore::Sqlite(SqliteViews::open(data_dir).await?))
    }

    /// Connects to Cassandra and applies the schema.
    pub async fn open_cassandra(config: &CassandraConfig) -> Result<BatchStore, StoreError> {
        Ok(BatchStore::Cassandra(
            CassandraViews::connect(config).await?,
        ))
    }

    /// `"sqlite"` or `"cassandra"`.
    pub fn engine(&self) -> &'static str {
        match self {
            BatchStore::Sqlite(_) => "sqlite",
            BatchStore::Cassandra(_) => "cassandra",
        }
    }

    /// Starts a batch at `watermark_ms`; returns its id.
    pub async fn begin(&self, watermark_ms: i64) -> Result<String, StoreError> {
        let id = uuid::Uuid::now_v7().to_string();
        match self {
            BatchStore::Sqlite(s) => s.begin(&id, watermark_ms).await?,
            BatchStore::Cassandra(c) => {
                c.begin(&id, watermark_ms, Utc::now().timestamp_millis())
                    .await?
            }
        }
        Ok(id)
    }

    /// Writes the rows of `view` for batch `batch_id`.
    pub async fn write(
        &self,
        batch_id: &str,
        view: &str,
        rows: &[ViewRow],
    ) -> Result<(), StoreError> {
        match self {
            BatchStore::Sqlite(s) => s.write(batch_id, view, rows).await,
            BatchStore::Cassandra(c) => c.write(batch_id, view, rows).await,
        }
    }

    /// Writes the incident states of batch `batch_id`.
    pub async fn write_incidents(
        &self,
        batch_id: &str,
        rows: &[BatchIncident],
    ) -> Result<(), StoreError> {
        match self {
            BatchStore::Sqlite(s) => s.write_incidents(batch_id, rows).await,
            BatchStore::Cassandra(c) => c.write_incidents(batch_id, rows).await,
        }
    }

    /// Marks batch `batch_id` complete and serves it; drops older batches.
    pub async fn complete(&self, batch_id: &str, incidents: i64) -> Result<(), StoreError> {
        match self {
            BatchStore::Sqlite(s) => s.complete(batch_id, incidents).await,
            BatchStore::Cassandra(c) => {
                c.complete(batch_id, incidents, Utc::now().timestamp_millis())
                    .await
            }
        }
    }

    /// Forgets a batch that failed (the served one is untouched).
    pub async fn abandon(&self, batch_id: &str) -> Result<(), StoreError> {
        match self {
            BatchStore::Sqlite(s) => s.abandon(batch_id).await,
            BatchStore::Cassandra(c) => c.abandon(batch_id).await,
        }
    }

    /// The batch being served, if any has completed.
    pub async fn served(&self) -> Result<Option<Served>, StoreError> {
        match self {
            BatchStore::Sqlite(s) => s.served().await,
            BatchStore::Cassandra(c) => c.served().await,
        }
    }

    /// Rows of `view` in the served batch for every key in `keys`, with `sub` in
    /// `[sub_from, sub_to]` (text order), folded by `fold` (the range must then be exact).
    pub async fn rows_for(
        &self,
        view: &str,
        keys: &[String],
        sub_from: &str,
        sub_to: &str,
        fold: Fold,
    ) -> Result<Vec<ViewRow>, StoreError> {
        match self {
            BatchStore::Sqlite(s) => s.rows_for(view, keys, sub_from, sub_to, fold).await,
            BatchStore::Cassandra(c) => {
                let Some(served) = c.served().await? else {
                    return Ok(Vec::new());
                };
                let rows = c
                    .rows_for(&served.batch_id, view, keys, sub_from, sub_to)
                    .await?;
                Ok(fold.rows(rows))
            }
        }
    }

    /// The served batch's states of the incidents `ids` (those it has).
    pub async fn incidents(&self, ids: &[String]) -> Result<Vec<BatchIncident>, StoreError> {
        match self {
            BatchStore::Sqlite(s) => s.incidents(ids).await,
            BatchStore::Cassandra(c) => match c.served().await? {
                Some(served) => c.incidents(&served.batch_id, ids).await,
                None => Ok(Vec::new()),
            },
        }
    }

    /// Every row of `view` in the served batch (for tests and exports), sorted.
    pub async fn all_rows(&self, view: &str) -> Result<Vec<ViewRow>, StoreError> {
        let mut rows = match self {
            BatchStore::Sqlite(s) => s.all_rows(view).await?,
            BatchStore::Cassandra(c) => match c.served().await? {
                Some(served) => {
                    let keys = c.all_keys(&served.batch_id, view).await?;
                    c.rows_for(&served.batch_id, view, &keys, "", "\u{10ffff}")
                        .await?
                }
                None => Vec::new(),
            },
        };
        rows.sort();
        Ok(rows)
    }

    pub async fn close(&self) {
        if let BatchStore::Sqlite(s) = self {
            s.close().await;
        }
    }
}
