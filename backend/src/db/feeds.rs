//! Public-feed records: new versions when a source changes a record, the parts of
//! multi-row records, and each source's checkpoint.

use super::{
    Db, StoreError,
    incidents::{CHANGE_FEED_LOCK, InsertOutcome, NewIncident, Tx, WriteTx},
    on_pool, on_tx,
};
use vigil_sync::Source;

/// What storing one feed record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedOutcome {
    /// A record not seen before: a new incident.
    Inserted,
    /// The source changed the record: the incident's next version.
    Updated,
    /// Stored before with the same content: nothing changed.
    Unchanged,
}

const UPDATE_CHANGED: &str = "UPDATE incidents SET category = $2, occurred_at = $3, occurred_offset = $4, \
     lat = $5, lon = $6, accuracy_m = $7, cell = $8, place = $9, description = $10, source_url = $11, \
     fetched_at = $12, version = version + 1 \
     WHERE id = $1 AND source_kind = 'feed' AND (category <> $2 OR occurred_at <> $3 \
     OR occurred_offset <> $4 OR lat <> $5 OR lon <> $6 OR accuracy_m IS DISTINCT FROM $7 \
     OR place IS DISTINCT FROM $9 OR description <> $10) \
     RETURNING version";

/// The body of [`WriteTx::update_feed_records`], compiled once per engine.
macro_rules! update_in {
    ($tx:ident, $items:ident, $now_ms:ident, $is_postgres:ident) => {{
        let mut versions = Vec::with_capacity($items.len());
        let mut locked = false;
        for item in $items {
            let inc = &item.incident;
            let (url, fetched) = match &inc.source {
                Source::Feed {
                    url, fetched_at, ..
                } => (url.clone(), fetched_at.map(|t| t.timestamp_millis())),
                Source::UserReport => (None, None),
            };
            if $is_postgres && !locked {
                // Before the first update, so change sequence numbers stay in commit order.
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(CHANGE_FEED_LOCK)
                    .execute(&mut **$tx)
                    .await?;
                locked = true;
            }
            let id = inc.id.to_string();
            let version: Option<i64> = sqlx::query_scalar(UPDATE_CHANGED)
                .bind(&id)
                .bind(inc.category.as_str())
                .bind(inc.occurred_at.timestamp_millis())
                .bind(i64::from(inc.occurred_at.offset().local_minus_utc()))
                .bind(inc.location.lat)
                .bind(inc.location.lon)
                .bind(inc.location.accuracy_m)
                .bind(item.cell.to_string())
                .bind(inc.place.clone())
                .bind(inc.description.clone())
                .bind(url)
                .bind(fetched)
                .fetch_optional(&mut **$tx)
                .await?;
            if let Some(v) = version {
                sqlx::query("INSERT INTO changes (incident_id, kind, version, at) VALUES ($1, 'upsert', $2, $3)")
                    .bind(&id)
                    .bind(v)
                    .bind($now_ms)
                    .execute(&mut **$tx)
                    .await?;
            }
            versions.push(version.is_some());
        }
        versions
    }};
}

impl WriteTx {
    /// Stores feed records, answering per item in order: a record not seen before is
    /// inserted; one already stored whose content (category, time, place, text) changed at
    /// the source becomes the incident's next version with an `upsert` in the change feed;
    /// one stored with the same content changes nothing. Only feed incidents are ever
    /// updated here, never a resident's report.
    pub async fn store_feed_records(
        &mut self,
        items: &[NewIncident],
        now_ms: i64,
    ) -> Result<Vec<FeedOutcome>, StoreError> {
        let inserted = self.insert_incidents(items, now_ms).await?;
        // A record twice in one batch: the last copy is the newest.
        let mut last = std::collections::HashMap::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            last.insert(item.incident.id, i);
        }
        let again: Vec<NewIncident> = items
            .iter()
            .enumerate()
            .filter(|(i, item)| {
                inserted[*i] != InsertOutcome::Inserted && last[&item.incident.id] == *i
            })
            .map(|(_, item)| item.clone())
            .collect();
        let is_postgres = matches!(self.tx, Tx::Postgres(_));
        let updated = on_tx!(self, tx => update_in!(tx, again, now_ms, is_postgres));
        let mut updated = updated.into_iter();
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                if inserted[i] == InsertOutcome::Inserted {
                    FeedOutcome::Inserted
                } else if last[&item.incident.id] == i && updated.next() == Some(true) {
                    FeedOutcome::Updated
                } else {
                    FeedOutcome::Unchanged
                }
            })
            .collect())
    }

    /// Records one row of a multi-row record (replacing an earlier copy of that row) and
    /// returns the bodies of all the record's rows, ordered by part id.
    pub async fn put_feed_part(
        &mut self,
        feed: &str,
        record_id: &str,
        part_id: &str,
        body: &str,
    ) -> Result<Vec<String>, StoreError> {
        const PUT: &str = "INSERT INTO feed_parts (feed, record_id, part_id, body) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (feed, record_id, part_id) DO UPDATE SET body = excluded.body";
        const ALL: &str =
            "SELECT body FROM feed_parts WHERE feed = $1 AND record_id = $2 ORDER BY part_id";
        Ok(on_tx!(self, tx => {
            sqlx::query(PUT)
                .bind(feed)
                .bind(record_id)
                .bind(part_id)
                .bind(body)
                .execute(&mut **tx)
                .await?;
            sqlx::query_scalar(ALL)
                .bind(feed)
                .bind(record_id)
                .fetch_all(&mut **tx)
                .await?
        }))
    }

    /// Saves where source `source` has got to, in this transaction.
    pub async fn save_checkpoint(
        &mut self,
        source: &str,
        position: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        const SAVE: &str = "INSERT INTO ingest_checkpoints (source, position, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (source) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at";
        on_tx!(self, tx => {
            sqlx::query(SAVE)
                .bind(source)
                .bind(position)
                .bind(now_ms)
                .execute(&mut **tx)
                .await?;
        });
        Ok(())
    }
}

impl Db {
    /// The saved position of source `source`, if it has one.
    pub async fn checkpoint(&self, source: &str) -> Result<Option<String>, StoreError> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT position FROM ingest_checkpoints WHERE source = $1",
        )
        .bind(source)
        .fetch_optional(pool)
        .await)?)
    }

    /// Forgets source `source`'s position, so its next run starts from the beginning
    /// (re-ingesting adds nothing twice).
    pub async fn reset_checkpoint(&self, source: &str) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => sqlx::query(
            "DELETE FROM ingest_checkpoints WHERE source = $1",
        )
        .bind(source)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }
}
