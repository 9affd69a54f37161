//! The change feed seen as a transactional outbox: what the relay reads and where it got to.

use sqlx::Row;
use vigil_sync::{AreaCell, Change};

use super::{Db, StoreError, incidents::IncidentRow, on_pool};

/// One change to publish, with the area cell that keys it in the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub seq: u64,
    pub cell: AreaCell,
    pub change: Change,
    /// When the change was committed to the store, Unix milliseconds.
    pub at: i64,
    /// A report only its group may see: it stays out of the public event log.
    pub private: bool,
}

const OUTBOX_AFTER: &str = concat!(
    "SELECT c.seq, c.kind, c.version AS change_version, c.at AS change_at, i.cell, i.private, ",
    incident_columns!(),
    " FROM changes c JOIN incidents i ON i.id = c.incident_id WHERE c.seq > $1 ORDER BY c.seq LIMIT $2"
);

impl Db {
    /// The last sequence number relay `name` has published (0 before its first run).
    pub async fn relay_position(&self, name: &str) -> Result<u64, StoreError> {
        let seq: Option<i64> = on_pool!(self, pool => sqlx::query_scalar("SELECT last_seq FROM relay_progress WHERE relay = $1")
            .bind(name)
            .fetch_optional(pool)
            .await)?;
        Ok(seq.map_or(0, |s| s.max(0) as u64))
    }

    /// Records that relay `name` has published everything up to `seq`. Never moves back, so
    /// a slower second relay cannot undo a faster one's progress.
    pub async fn set_relay_position(
        &self,
        name: &str,
        seq: u64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let seq = i64::try_from(seq)
            .map_err(|_| StoreError::Corrupt("relay position beyond i64".into()))?;
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO relay_progress (relay, last_seq, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (relay) DO UPDATE SET last_seq = excluded.last_seq, updated_at = excluded.updated_at
             WHERE relay_progress.last_seq < excluded.last_seq",
        )
        .bind(name)
        .bind(seq)
        .bind(now_ms)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The newest change's sequence number (0 when there is none).
    pub async fn last_change_seq(&self) -> Result<u64, StoreError> {
        let seq: i64 = on_pool!(self, pool => sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM changes")
            .fetch_one(pool)
            .await)?;
        Ok(seq.max(0) as u64)
    }

    /// Up to `limit` outbox entries after `after`, in commit order.
    pub async fn outbox_after(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let after =
            i64::try_from(after).map_err(|_| StoreError::Corrupt("position beyond i64".into()))?;
        let rows = on_pool!(self, pool => {
            let rows = sqlx::query(OUTBOX_AFTER).bind(after).bind(i64::from(limit)).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let seq: i64 = row.try_get("seq")?;
                let kind: String = row.try_get("kind")?;
                let version: i64 = row.try_get("change_version")?;
                let at: i64 = row.try_get("change_at")?;
                let cell: String = row.try_get("cell")?;
                let private: bool = row.try_get("private")?;
                let incident: IncidentRow = sqlx::FromRow::from_row(row)?;
                out.push((seq, kind, version, at, cell, private, incident));
            }
            out
        });
        rows.into_iter()
            .map(|(seq, kind, version, at, cell, private, row)| {
                let cell = cell
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("change {seq}: bad cell {cell:?}")))?;
                let change = row.into_change(&kind, version)?;
                Ok(OutboxEntry {
                    seq: seq as u64,
                    cell,
                    change,
                    at,
                    private,
                })
            })
            .collect()
    }
}
