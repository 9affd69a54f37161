//! Photos of residents' reports, kept in the store with their metadata already removed.

use super::{Db, StoreError, UserId, on_pool, on_tx};

/// Most photos one report may have.
pub const MAX_PHOTOS_PER_REPORT: i64 = 4;

/// What attaching a photo did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddPhoto {
    /// Stored as photo `n` (1, 2, ...).
    Added(i64),
    /// The same photo was attached before, as photo `n`.
    Duplicate(i64),
    NoSuchReport,
    /// Only a report's reporter may attach photos.
    NotYours,
    TooMany,
}

impl Db {
    /// Attaches a photo to `user`'s report `incident`.
    pub async fn add_photo(
        &self,
        user: &UserId,
        incident: &str,
        content_type: &str,
        sha256: &str,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<AddPhoto, StoreError> {
        let mut tx = self.begin_write().await?;
        let outcome = on_tx!(tx, t => {
            let owner: Option<(Option<String>,)> =
                sqlx::query_as("SELECT reporter_id FROM incidents WHERE id = $1 AND source_kind = 'user_report'")
                    .bind(incident)
                    .fetch_optional(&mut **t)
                    .await?;
            match owner {
                None => AddPhoto::NoSuchReport,
                Some((owner,)) if owner.as_deref() != Some(user.0.as_str()) => AddPhoto::NotYours,
                Some(_) => {
                    let same: Option<i64> = sqlx::query_scalar(
                        "SELECT n FROM photos WHERE incident_id = $1 AND sha256 = $2",
                    )
                    .bind(incident)
                    .bind(sha256)
                    .fetch_optional(&mut **t)
                    .await?;
                    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM photos WHERE incident_id = $1")
                        .bind(incident)
                        .fetch_one(&mut **t)
                        .await?;
                    match same {
                        Some(n) => AddPhoto::Duplicate(n),
                        None if count >= MAX_PHOTOS_PER_REPORT => AddPhoto::TooMany,
                        None => {
                            let n: i64 = sqlx::query_scalar(
                                "INSERT INTO photos (incident_id, n, content_type, sha256, bytes, created_at)
                                 VALUES ($1, (SELECT COALESCE(MAX(n), 0) + 1 FROM photos WHERE incident_id = $1), $2, $3, $4, $5)
                                 RETURNING n",
                            )
                            .bind(incident)
                            .bind(content_type)
                            .bind(sha256)
                            .bind(bytes)
                            .bind(now_ms)
                            .fetch_one(&mut **t)
                            .await?;
                            AddPhoto::Added(n)
                        }
                    }
                }
            }
        });
        tx.commit().await?;
        Ok(outcome)
    }

    /// Photo `n` of incident `incident` (its content type and bytes), if there is one.
    /// The caller decides whether the viewer may see it.
    pub async fn photo(
        &self,
        incident: &str,
        n: i64,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT content_type, bytes FROM photos WHERE incident_id = $1 AND n = $2",
        )
        .bind(incident)
        .bind(n)
        .fetch_optional(pool)
        .await)?)
    }

    /// How many photos incident `incident` has.
    pub async fn photo_count(&self, incident: &str) -> Result<i64, StoreError> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM photos WHERE incident_id = $1",
        )
        .bind(incident)
        .fetch_one(pool)
        .await)?)
    }
}
