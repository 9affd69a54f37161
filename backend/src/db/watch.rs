//! Residents' watch areas: stored per person under an id the device makes, so saving the
//! same area again is an update, never a second area. A deleted area stays as a tombstone
//! that the matchers read as a change.

use super::{Db, StoreError, UserId, on_pool, on_tx};

/// Most watch areas one person may have.
pub const MAX_AREAS_PER_USER: i64 = 50;

/// A stored watch area.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AreaRow {
    pub id: String,
    pub user_id: String,
    /// The area as the device sent it (a `WatchAreaSpec` in JSON).
    pub spec: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted: bool,
}

/// What saving an area did.
#[derive(Debug, Clone, PartialEq)]
pub enum PutArea {
    Created(AreaRow),
    Updated(AreaRow),
    /// The id is someone else's area.
    NotYours,
    /// The person already has [`MAX_AREAS_PER_USER`] areas.
    TooMany,
}

/// The `watch_areas` columns an [`AreaRow`] reads, as a literal for `concat!`.
macro_rules! area_columns {
    () => {
        "id, user_id, spec, created_at, updated_at, deleted"
    };
}

impl Db {
    /// Creates or replaces `user`'s area `id` (a deleted one comes back).
    pub async fn put_area(
        &self,
        user: &UserId,
        id: &str,
        name: &str,
        spec: &str,
        now_ms: i64,
    ) -> Result<PutArea, StoreError> {
        let mut tx = self.begin_write().await?;
        let outcome = on_tx!(tx, t => {
            let owner: Option<(String, bool)> =
                sqlx::query_as("SELECT user_id, deleted FROM watch_areas WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut **t)
                    .await?;
            match owner {
                Some((owner, _)) if owner != user.0 => PutArea::NotYours,
                _ => {
                    let live: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM watch_areas WHERE user_id = $1 AND NOT deleted AND id <> $2",
                    )
                    .bind(&user.0)
                    .bind(id)
                    .fetch_one(&mut **t)
                    .await?;
                    if live >= MAX_AREAS_PER_USER {
                        PutArea::TooMany
                    } else {
                        let row: AreaRow = sqlx::query_as(concat!(
                            "INSERT INTO watch_areas (id, user_id, name, spec, created_at, updated_at, deleted)
                             VALUES ($1, $2, $3, $4, $5, $5, FALSE)
                             ON CONFLICT (id) DO UPDATE SET name = excluded.name, spec = excluded.spec,
                                 updated_at = excluded.updated_at, deleted = FALSE
                             RETURNING ",
                            area_columns!()
                        ))
                        .bind(id)
                        .bind(&user.0)
                        .bind(name)
                        .bind(spec)
                        .bind(now_ms)
                        .fetch_one(&mut **t)
                        .await?;
                        match owner {
                            Some((_, false)) => PutArea::Updated(row),
                            _ => PutArea::Created(row),
                        }
                    }
                }
            }
        });
        tx.commit().await?;
        Ok(outcome)
    }

    /// `user`'s areas, oldest first.
    pub async fn list_areas(&self, user: &UserId) -> Result<Vec<AreaRow>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            area_columns!(),
            " FROM watch_areas WHERE user_id = $1 AND NOT deleted ORDER BY created_at, id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(SQL).bind(&user.0).fetch_all(pool).await)?)
    }

    /// Deletes `user`'s area `id`; `false` when there is none.
    pub async fn delete_area(
        &self,
        user: &UserId,
        id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE watch_areas SET deleted = TRUE, updated_at = $3 WHERE id = $1 AND user_id = $2 AND NOT deleted",
        )
        .bind(id)
        .bind(&user.0)
        .bind(now_ms)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Every area (tombstones too) saved at or after `since_ms`, oldest change first, at
    /// most `limit`, after the area `(since_ms, after_id)` when given: the matchers page
    /// through changes with this.
    pub async fn areas_changed(
        &self,
        since_ms: i64,
        after_id: &str,
        limit: i64,
    ) -> Result<Vec<AreaRow>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            area_columns!(),
            " FROM watch_areas WHERE updated_at > $1 OR (updated_at = $1 AND id > $2)
             ORDER BY updated_at, id LIMIT $3"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(since_ms)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }
}
