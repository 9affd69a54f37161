//! Residents' watch areas: stored per person under an id the device makes, so saving the
//! same area again is an update, never a second area. Each save or delete takes the next
//! revision (`rev`) under a lock, so the matchers page through changes by revision and see
//! every one; a deleted area stays as a tombstone.

use super::{Db, StoreError, UserId, advisory_lock, on_pool, on_tx};

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
    /// Grows with every save or delete of any area.
    pub rev: i64,
}

/// Taken (PostgreSQL) before an area takes its revision, so revisions commit in order.
pub(crate) const AREA_REVISION_LOCK: i64 = 0x5649_4749_4c00_0002;

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
        "id, user_id, spec, created_at, updated_at, deleted, rev"
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
        let is_postgres = self.engine() == "postgres";
        let mut tx = self.begin_write().await?;
        let outcome = on_tx!(tx, t => {
            advisory_lock!(t, is_postgres, AREA_REVISION_LOCK);
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
                            "INSERT INTO watch_areas (id, user_id, name, spec, created_at, updated_at, deleted, rev)
                             VALUES ($1, $2, $3, $4, $5, $5, FALSE, (SELECT COALESCE(MAX(rev), 0) + 1 FROM watch_areas))
                             ON CONFLICT (id) DO UPDATE SET name = excluded.name, spec = excluded.spec,
                                 updated_at = excluded.updated_at, deleted = FALSE, rev = excluded.rev
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
        let is_postgres = self.engine() == "postgres";
        let mut tx = self.begin_write().await?;
        let done = on_tx!(tx, t => {
            advisory_lock!(t, is_postgres, AREA_REVISION_LOCK);
            sqlx::query(concat!(
                "UPDATE watch_areas SET deleted = TRUE, updated_at = $3, rev = ",
                "(SELECT COALESCE(MAX(rev), 0) + 1 FROM watch_areas)",
                " WHERE id = $1 AND user_id = $2 AND NOT deleted"
            ))
            .bind(id)
            .bind(&user.0)
            .bind(now_ms)
            .execute(&mut **t)
            .await?
            .rows_affected()
        });
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Every area (tombstones too) whose revision is after `after_rev`, in revision
    /// order, at most `limit`: the matchers page through changes with this.
    pub async fn areas_changed(
        &self,
        after_rev: i64,
        limit: i64,
    ) -> Result<Vec<AreaRow>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            area_columns!(),
            " FROM watch_areas WHERE rev > $1 ORDER BY rev LIMIT $2"
        );
        Ok(on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(after_rev)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }
}
