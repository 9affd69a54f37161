//! Reporters' edits of stored reports, decided by [`vigil_sync::conflict::decide_edit`]: an
//! edit of an unverified report becomes its next version (with an `upsert` in the change
//! feed); an edit after moderation is kept as a revision for the moderators.

use sqlx::Row;
use vigil_sync::{
    AreaCell, Report, Status,
    conflict::{EditDecision, decide_edit},
};

use super::{
    Db, StoreError, UserId, WriteTx, advisory_lock, incidents::CHANGE_FEED_LOCK, incidents::Tx,
};

/// One validated edit to store.
#[derive(Debug, Clone)]
pub struct EditItem {
    /// The device's id for this edit (a UUID, checked by the caller).
    pub edit_id: String,
    pub base_version: u32,
    /// The report as the reporter now wants it.
    pub report: Report,
    /// The area cell of the edited location.
    pub cell: AreaCell,
    /// The edit as received, kept for the moderators.
    pub body: String,
}

/// What storing one edit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditStored {
    /// The report now has this version.
    Applied(u32),
    /// Kept as a revision; the report is unchanged.
    Kept,
    /// No report has this id.
    NoSuchReport,
    /// The report belongs to someone else (or to a feed).
    NotYours,
    /// This edit id was used for another report or by another user.
    EditIdTaken,
}

/// The body of [`WriteTx::apply_edits`], compiled once per engine.
macro_rules! edits_in {
    ($tx:ident, $author:ident, $items:ident, $now_ms:ident, $is_postgres:ident) => {{
        // An applied edit appends to the change feed: keep sequence numbers in commit order.
            advisory_lock!($tx, $is_postgres, CHANGE_FEED_LOCK);
        let mut out = Vec::with_capacity($items.len());
        for item in $items {
            let id = item.report.id.to_string();
            let earlier = sqlx::query("SELECT incident_id, author_id, decision, version FROM revisions WHERE edit_id = $1")
                .bind(&item.edit_id)
                .fetch_optional(&mut **$tx)
                .await?;
            if let Some(row) = earlier {
                let incident: String = row.try_get("incident_id")?;
                let author: Option<String> = row.try_get("author_id")?;
                let decision: String = row.try_get("decision")?;
                let version: Option<i64> = row.try_get("version")?;
                out.push(if incident != id || author.as_deref() != Some($author.0.as_str()) {
                    EditStored::EditIdTaken
                } else if decision == "applied" {
                    let v = version.and_then(|v| u32::try_from(v).ok()).ok_or_else(|| {
                        StoreError::Corrupt(format!("revision {}: applied without a version", item.edit_id))
                    })?;
                    EditStored::Applied(v)
                } else {
                    EditStored::Kept
                });
                continue;
            }
            let current = sqlx::query("SELECT reporter_id, status, version FROM incidents WHERE id = $1")
                .bind(&id)
                .fetch_optional(&mut **$tx)
                .await?;
            let Some(row) = current else {
                out.push(EditStored::NoSuchReport);
                continue;
            };
            let reporter: Option<String> = row.try_get("reporter_id")?;
            if reporter.as_deref() != Some($author.0.as_str()) {
                out.push(EditStored::NotYours);
                continue;
            }
            let status: String = row.try_get("status")?;
            let status: Status = status
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("incident {id}: bad status")))?;
            let version: i64 = row.try_get("version")?;
            let stored = match decide_edit(status) {
                EditDecision::Apply => {
                    let next = version + 1;
                    let r = &item.report;
                    sqlx::query(
                        "UPDATE incidents SET category = $2, occurred_at = $3, occurred_offset = $4, lat = $5,
                            lon = $6, accuracy_m = $7, cell = $8, place = $9, description = $10, version = $11
                         WHERE id = $1",
                    )
                    .bind(&id)
                    .bind(r.category.as_str())
                    .bind(r.occurred_at.timestamp_millis())
                    .bind(i64::from(r.occurred_at.offset().local_minus_utc()))
                    .bind(r.location.lat)
                    .bind(r.location.lon)
                    .bind(r.location.accuracy_m)
                    .bind(item.cell.to_string())
                    .bind(r.place.clone())
                    .bind(r.description.clone())
                    .bind(next)
                    .execute(&mut **$tx)
                    .await?;
                    sqlx::query("INSERT INTO changes (incident_id, kind, version, at) VALUES ($1, 'upsert', $2, $3)")
                        .bind(&id)
                        .bind(next)
                        .bind($now_ms)
                        .execute(&mut **$tx)
                        .await?;
                    let next = u32::try_from(next)
                        .map_err(|_| StoreError::Corrupt(format!("incident {id}: version overflow")))?;
                    EditStored::Applied(next)
                }
                EditDecision::KeepAsRevision => EditStored::Kept,
            };
            let (decision, version) = match stored {
                EditStored::Applied(v) => ("applied", Some(i64::from(v))),
                _ => ("kept", None),
            };
            sqlx::query(
                "INSERT INTO revisions (edit_id, incident_id, author_id, base_version, body, decision, version, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&item.edit_id)
            .bind(&id)
            .bind(&$author.0)
            .bind(i64::from(item.base_version))
            .bind(&item.body)
            .bind(decision)
            .bind(version)
            .bind($now_ms)
            .execute(&mut **$tx)
            .await?;
            out.push(stored);
        }
        Ok(out)
    }};
}

impl WriteTx {
    /// Stores a reporter's edits, answering per item in order. An edit id seen before gets
    /// the answer it got then, and changes nothing.
    pub async fn apply_edits(
        &mut self,
        author: &UserId,
        items: &[EditItem],
        now_ms: i64,
    ) -> Result<Vec<EditStored>, StoreError> {
        let is_postgres = matches!(self.tx, Tx::Postgres(_));
        match &mut self.tx {
            Tx::Sqlite(tx) => edits_in!(tx, author, items, now_ms, is_postgres),
            Tx::Postgres(tx) => edits_in!(tx, author, items, now_ms, is_postgres),
        }
    }
}

impl Db {
    /// Stores edits in one transaction; see [`WriteTx::apply_edits`]. Returns only after the
    /// commit is durable.
    pub async fn apply_edits(
        &self,
        author: &UserId,
        items: &[EditItem],
        now_ms: i64,
    ) -> Result<Vec<EditStored>, StoreError> {
        let mut tx = self.begin_write().await?;
        let stored = tx.apply_edits(author, items, now_ms).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// The revisions kept for the moderators of incident `id`, oldest first: the edit id
    /// and the edited report as received.
    pub async fn kept_revisions(&self, id: &str) -> Result<Vec<(String, String)>, StoreError> {
        let rows: Vec<(String, String)> = super::on_pool!(self, pool => sqlx::query_as(
            "SELECT edit_id, body FROM revisions WHERE incident_id = $1 AND decision = 'kept'
             ORDER BY received_at, edit_id",
        )
        .bind(id)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }
}
