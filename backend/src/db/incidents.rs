//! Incidents and the change feed that pull sync pages through.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use sqlx::Row;
use vigil_sync::{
    AreaCell, Audience, Category, Change, Incident, IncidentId, Location, Source, Status,
};

use super::{Db, Pool, StoreError, UserId, advisory_lock, on_pool};

/// The PostgreSQL advisory lock that orders appends to the change feed (see the migration).
pub(super) const CHANGE_FEED_LOCK: i64 = 0x5649_4749_4c00_0001;

/// An incident to store, with who reported it (never shown publicly), its area cell and
/// who may see it.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub incident: Incident,
    pub reporter: Option<UserId>,
    pub cell: AreaCell,
    pub audience: Audience,
}

/// What storing one incident did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored now.
    Inserted,
    /// The same reporter (or feed) stored it before; nothing changed.
    Duplicate,
    /// Another reporter's incident has this id; nothing changed.
    IdTaken,
}

/// Which incidents a query wants. Every part is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentFilter {
    /// `[min_lon, min_lat, max_lon, max_lat]`.
    pub bbox: Option<[f64; 4]>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub category: Option<Category>,
    pub limit: u32,
}

/// Rows per multi-row `INSERT` (22 parameters each keeps us under SQLite's 32,766).
const ROWS_PER_STATEMENT: usize = 1_000;

/// `$3` is the viewer: a private report is visible to its reporter and its group's members
/// only. `exact` says the viewer may see it precisely (see [`Visible`]).
const CHANGES_AFTER: &str = concat!(
    "SELECT c.seq, c.kind, c.version AS change_version, ",
    incident_columns!(),
    ", ",
    viewer_exact!("$3"),
    " FROM changes c JOIN incidents i ON i.id = c.incident_id WHERE c.seq > $1 AND ",
    visible_to!("$3"),
    " ORDER BY c.seq LIMIT $2"
);

const QUERY_INCIDENTS: &str = concat!(
    "SELECT ",
    incident_columns!(),
    ", ",
    viewer_exact!("$9"),
    " FROM incidents i
     WHERE i.status <> 'rejected' AND ",
    visible_to!("$9"),
    "
       AND ($1 IS NULL OR i.lon >= $1) AND ($2 IS NULL OR i.lat >= $2)
       AND ($3 IS NULL OR i.lon <= $3) AND ($4 IS NULL OR i.lat <= $4)
       AND ($5 IS NULL OR i.occurred_at >= $5) AND ($6 IS NULL OR i.occurred_at < $6)
       AND ($7 IS NULL OR i.category = $7)
     ORDER BY i.occurred_at DESC, i.id LIMIT $8"
);

/// The body of [`WriteTx::insert_incidents`], compiled once per engine: `$db` names the
/// sqlx database type and `$tx` the open transaction.
macro_rules! insert_in {
    ($db:ty, $tx:ident, $items:ident, $now_ms:ident, $is_postgres:ident) => {{
        // The same id twice in one batch: the first one counts, later ones are duplicates.
        let mut first = HashSet::with_capacity($items.len());
        let fresh: Vec<&NewIncident> = $items.iter().filter(|i| first.insert(i.incident.id)).collect();
        let mut inserted: HashSet<String> = HashSet::with_capacity(fresh.len());
        for chunk in fresh.chunks(ROWS_PER_STATEMENT) {
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "INSERT INTO incidents (id, source_kind, feed, record_id, reporter_id, category, occurred_at, \
                 occurred_offset, reported_at, lat, lon, accuracy_m, cell, place, description, status, version, \
                 source_url, fetched_at, group_id, private, anonymous) ",
            );
            qb.push_values(chunk, |mut row, item| {
                let inc = &item.incident;
                let (kind, feed, record, url, fetched) = match &inc.source {
                    Source::UserReport => ("user_report", None, None, None, None),
                    Source::Feed { feed, record_id, url, fetched_at } => (
                        "feed",
                        Some(feed.clone()),
                        Some(record_id.clone()),
                        url.clone(),
                        fetched_at.map(|t| t.timestamp_millis()),
                    ),
                };
                row.push_bind(inc.id.to_string())
                    .push_bind(kind)
                    .push_bind(feed)
                    .push_bind(record)
                    .push_bind(item.reporter.as_ref().map(|u| u.0.clone()))
                    .push_bind(inc.category.as_str())
                    .push_bind(inc.occurred_at.timestamp_millis())
                    .push_bind(i64::from(inc.occurred_at.offset().local_minus_utc()))
                    .push_bind(inc.reported_at.timestamp_millis())
                    .push_bind(inc.location.lat)
                    .push_bind(inc.location.lon)
                    .push_bind(inc.location.accuracy_m)
                    .push_bind(item.cell.to_string())
                    .push_bind(inc.place.clone())
                    .push_bind(inc.description.clone())
                    .push_bind(inc.status.as_str())
                    .push_bind(i64::from(inc.version))
                    .push_bind(url)
                    .push_bind(fetched)
                    .push_bind(item.audience.group.map(|g| g.to_string()))
                    .push_bind(item.audience.private)
                    .push_bind(item.audience.anonymous);
            });
            qb.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
            let ids: Vec<String> = qb.build_query_scalar().fetch_all(&mut **$tx).await?;
            inserted.extend(ids);
        }
        let mut outcomes = Vec::with_capacity($items.len());
        let mut answered = HashSet::with_capacity($items.len());
        for item in $items {
            let id = item.incident.id.to_string();
            if inserted.contains(&id) && answered.insert(item.incident.id) {
                outcomes.push(InsertOutcome::Inserted);
                continue;
            }
            // Stored before (or earlier in this batch): the same reporter's no-op, or someone
            // else's id. Rare, so one lookup each is fine.
            let owner: Option<String> = sqlx::query_scalar("SELECT reporter_id FROM incidents WHERE id = $1")
                .bind(&id)
                .fetch_one(&mut **$tx)
                .await?;
            let reporter = item.reporter.as_ref().map(|u| u.0.as_str());
            outcomes.push(if owner.as_deref() == reporter {
                InsertOutcome::Duplicate
            } else {
                InsertOutcome::IdTaken
            });
        }
        let new: Vec<&NewIncident> =
            $items.iter().zip(&outcomes).filter(|(_, o)| **o == InsertOutcome::Inserted).map(|(i, _)| i).collect();
        if !new.is_empty() {
            advisory_lock!($tx, $is_postgres, CHANGE_FEED_LOCK);
            for chunk in new.chunks(ROWS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::<$db>::new("INSERT INTO changes (incident_id, kind, version, at) ");
                qb.push_values(chunk, |mut row, item| {
                    row.push_bind(item.incident.id.to_string())
                        .push_bind("upsert")
                        .push_bind(i64::from(item.incident.version))
                        .push_bind($now_ms);
                });
                qb.build().execute(&mut **$tx).await?;
            }
        }
        Ok(outcomes)
    }};
}

/// The body of [`Db::set_status`], compiled once per engine.
macro_rules! set_status_in {
    ($tx:ident, $id:ident, $status:ident, $now_ms:ident, $is_postgres:literal) => {{
        advisory_lock!($tx, $is_postgres, CHANGE_FEED_LOCK);
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE incidents SET status = $2, version = version + 1 WHERE id = $1 RETURNING version",
        )
        .bind($id)
        .bind($status.as_str())
        .fetch_optional(&mut **$tx)
        .await?;
        if let Some(v) = version {
            sqlx::query("INSERT INTO changes (incident_id, kind, version, at) VALUES ($1, 'status', $2, $3)")
                .bind($id)
                .bind(v)
                .bind($now_ms)
                .execute(&mut **$tx)
                .await?;
        }
        version
    }};
}

impl Db {
    /// Stores incidents in one transaction, answering per item in order; see
    /// [`WriteTx::insert_incidents`]. Returns only after the commit is durable.
    pub async fn insert_incidents(
        &self,
        items: &[NewIncident],
        now_ms: i64,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        let mut tx = self.begin_write().await?;
        let outcomes = tx.insert_incidents(items, now_ms).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Starts a write transaction. Dropping it without [`WriteTx::commit`] rolls back.
    pub async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        Ok(WriteTx {
            tx: match &self.pool {
                // IMMEDIATE: take the write lock at the start, so a transaction that reads
                // before it writes waits for other writers instead of failing with
                // SQLITE_BUSY_SNAPSHOT when one commits in between.
                Pool::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
                Pool::Postgres(pool) => Tx::Postgres(pool.begin().await?),
            },
        })
    }

    /// Up to `limit` changes after sequence number `after` that `viewer` may see, oldest
    /// first, with their sequence numbers; `true` when more are waiting. Each change says
    /// whether the viewer may see its incident precisely.
    pub async fn changes_after(
        &self,
        viewer: &UserId,
        after: u64,
        limit: u32,
    ) -> Result<(Vec<(u64, Visible<Change>)>, bool), StoreError> {
        let after =
            i64::try_from(after).map_err(|_| StoreError::Corrupt("cursor beyond i64".into()))?;
        let rows = on_pool!(self, pool => {
            let rows = sqlx::query(CHANGES_AFTER)
                .bind(after)
                .bind(i64::from(limit) + 1)
                .bind(&viewer.0)
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let seq: i64 = row.try_get("seq")?;
                let kind: String = row.try_get("kind")?;
                let version: i64 = row.try_get("change_version")?;
                let exact: Option<bool> = row.try_get("exact")?;
                let incident: IncidentRow = sqlx::FromRow::from_row(row)?;
                out.push((seq, kind, version, exact.unwrap_or(false), incident));
            }
            out
        });
        let has_more = rows.len() > limit as usize;
        let mut changes = Vec::with_capacity(rows.len().min(limit as usize));
        for (seq, kind, version, exact, row) in rows.into_iter().take(limit as usize) {
            let item = row.into_change(&kind, version)?;
            changes.push((seq as u64, Visible { item, exact }));
        }
        Ok((changes, has_more))
    }

    /// Incidents matching `filter` that `viewer` may see, newest first. Rejected reports
    /// are never listed.
    pub async fn query_incidents(
        &self,
        viewer: &UserId,
        filter: &IncidentFilter,
    ) -> Result<Vec<Visible<Incident>>, StoreError> {
        let [min_lon, min_lat, max_lon, max_lat] = match filter.bbox {
            Some(b) => b.map(Some),
            None => [None; 4],
        };
        let rows: Vec<ViewedRow> = on_pool!(self, pool => sqlx::query_as(QUERY_INCIDENTS)
            .bind(min_lon)
            .bind(min_lat)
            .bind(max_lon)
            .bind(max_lat)
            .bind(filter.since.map(|t| t.timestamp_millis()))
            .bind(filter.until.map(|t| t.timestamp_millis()))
            .bind(filter.category.map(|c| c.as_str()))
            .bind(i64::from(filter.limit))
            .bind(&viewer.0)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(ViewedRow::into_visible).collect()
    }
}

impl Db {
    /// Moves incident `id` to `status` (moderation), as its next version, with a `status`
    /// entry in the change feed. Returns the new version, or `None` when there is no such
    /// incident.
    pub async fn set_status(
        &self,
        id: &str,
        status: Status,
        now_ms: i64,
    ) -> Result<Option<u32>, StoreError> {
        let mut tx = self.begin_write().await?;
        let version: Option<i64> = match &mut tx.tx {
            Tx::Sqlite(t) => set_status_in!(t, id, status, now_ms, false),
            Tx::Postgres(t) => set_status_in!(t, id, status, now_ms, true),
        };
        tx.commit().await?;
        version
            .map(|v| {
                u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("incident {id}: version")))
            })
            .transpose()
    }
}

/// An open write transaction on either engine.
#[derive(Debug)]
pub struct WriteTx {
    pub(super) tx: Tx,
}

#[derive(Debug)]
pub(super) enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl WriteTx {
    /// Inserts incidents, answering per item in order. New incidents get an `upsert`
    /// entry in the change feed in the same transaction, so the feed never lags the table.
    ///
    /// On PostgreSQL the append takes a transaction-scoped advisory lock first, so change
    /// sequence numbers become visible in commit order: a concurrent writer waits here
    /// until this transaction ends. SQLite has one writer at a time anyway.
    pub async fn insert_incidents(
        &mut self,
        items: &[NewIncident],
        now_ms: i64,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        let is_postgres = matches!(self.tx, Tx::Postgres(_));
        match &mut self.tx {
            Tx::Sqlite(tx) => insert_in!(sqlx::Sqlite, tx, items, now_ms, is_postgres),
            Tx::Postgres(tx) => insert_in!(sqlx::Postgres, tx, items, now_ms, is_postgres),
        }
    }

    /// Commits; returns once the commit is durable.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.tx {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// Something a viewer may see, and whether they may see its place precisely: their own
/// reports and their groups' reports are exact; a public view snaps everything else
/// ([`vigil_sync::privacy::public_view`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Visible<T> {
    pub item: T,
    pub exact: bool,
}

impl Visible<Incident> {
    /// The incident as this viewer is shown it: precise, or as a public view shows it.
    pub fn shown(self) -> Incident {
        if self.exact {
            self.item
        } else {
            vigil_sync::privacy::public_view(self.item)
        }
    }
}

impl Visible<Incident> {
    /// Whether this viewer may see the incident's photos: whoever sees it precisely, and
    /// everyone once a moderator has verified it.
    pub fn photos_shown(&self) -> bool {
        self.exact || matches!(self.item.status, Status::Verified | Status::Resolved)
    }
}

impl Visible<Change> {
    /// The change as this viewer is shown it (see [`Visible::<Incident>::shown`]).
    pub fn shown(self) -> Change {
        match self.item {
            Change::Upsert { incident } if !self.exact => Change::Upsert {
                incident: vigil_sync::privacy::public_view(incident),
            },
            other => other,
        }
    }
}

/// An [`IncidentRow`] with the viewer's `exact` column.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ViewedRow {
    #[sqlx(flatten)]
    row: IncidentRow,
    exact: Option<bool>,
}

impl ViewedRow {
    pub(super) fn into_visible(self) -> Result<Visible<Incident>, StoreError> {
        Ok(Visible {
            item: self.row.into_incident()?,
            exact: self.exact.unwrap_or(false),
        })
    }
}

/// An `incidents` row as both engines return it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct IncidentRow {
    id: String,
    source_kind: String,
    feed: Option<String>,
    record_id: Option<String>,
    category: String,
    occurred_at: i64,
    occurred_offset: i64,
    reported_at: i64,
    lat: f64,
    lon: f64,
    accuracy_m: Option<f64>,
    place: Option<String>,
    description: String,
    status: String,
    version: i64,
    source_url: Option<String>,
    fetched_at: Option<i64>,
}

impl IncidentRow {
    /// The change a `changes` row of `kind` describes, with this incident as it is now.
    pub(super) fn into_change(self, kind: &str, version: i64) -> Result<Change, StoreError> {
        let version =
            u32::try_from(version).map_err(|_| StoreError::Corrupt("change version".into()))?;
        let incident = self.into_incident()?;
        Ok(match kind {
            "upsert" => Change::Upsert { incident },
            "status" => Change::Status {
                id: incident.id,
                status: incident.status,
                version,
            },
            "tombstone" => Change::Tombstone { id: incident.id },
            other => return Err(StoreError::Corrupt(format!("change kind {other:?}"))),
        })
    }

    pub(super) fn into_incident(self) -> Result<Incident, StoreError> {
        let bad = |what: &str| StoreError::Corrupt(format!("incident {}: bad {what}", self.id));
        let source = match (self.source_kind.as_str(), &self.feed, &self.record_id) {
            ("user_report", _, _) => Source::UserReport,
            ("feed", Some(feed), Some(record_id)) => Source::Feed {
                feed: feed.clone(),
                record_id: record_id.clone(),
                url: self.source_url.clone(),
                fetched_at: match self.fetched_at {
                    Some(ms) => Some(
                        Utc.timestamp_millis_opt(ms)
                            .single()
                            .ok_or_else(|| bad("fetched_at"))?,
                    ),
                    None => None,
                },
            },
            _ => return Err(bad("source")),
        };
        let offset = i32::try_from(self.occurred_offset)
            .ok()
            .and_then(FixedOffset::east_opt)
            .ok_or_else(|| bad("occurred_offset"))?;
        let occurred_at = offset
            .timestamp_millis_opt(self.occurred_at)
            .single()
            .ok_or_else(|| bad("occurred_at"))?;
        let reported_at = Utc
            .timestamp_millis_opt(self.reported_at)
            .single()
            .ok_or_else(|| bad("reported_at"))?;
        Ok(Incident {
            id: self.id.parse::<IncidentId>().map_err(|_| bad("id"))?,
            source,
            category: self.category.parse().map_err(|_| bad("category"))?,
            occurred_at,
            reported_at,
            location: Location {
                lat: self.lat,
                lon: self.lon,
                accuracy_m: self.accuracy_m,
            },
            place: self.place,
            description: self.description,
            status: self.status.parse::<Status>().map_err(|_| bad("status"))?,
            version: u32::try_from(self.version).map_err(|_| bad("version"))?,
        })
    }
}
