//! Users and their bearer tokens.

use std::fmt;

use sqlx::Row;
use uuid::Uuid;

use vigil_sync::{Incident, privacy};

use super::{
    Db, StoreError, advisory_lock,
    incidents::{CHANGE_FEED_LOCK, IncidentRow},
    on_pool, on_tx,
    watch::AREA_REVISION_LOCK,
};

/// A user's id (a UUIDv7, stored as text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(pub String);

impl UserId {
    pub fn new() -> UserId {
        UserId(Uuid::now_v7().to_string())
    }
}

impl Default for UserId {
    fn default() -> Self {
        UserId::new()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Db {
    /// Creates a user; fails with [`StoreError::UsernameTaken`] when the name is in use.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> Result<UserId, StoreError> {
        let id = UserId::new();
        let inserted = on_pool!(self, pool => sqlx::query(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(&id.0)
        .bind(username)
        .bind(password_hash)
        .bind(now_ms)
        .execute(pool)
        .await?
        .rows_affected());
        if inserted == 0 {
            return Err(StoreError::UsernameTaken);
        }
        Ok(id)
    }

    /// The id and password hash of the user with this name.
    pub async fn user_by_name(
        &self,
        username: &str,
    ) -> Result<Option<(UserId, String)>, StoreError> {
        let row = on_pool!(self, pool => sqlx::query(
            "SELECT id, password_hash FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(pool)
        .await?
        .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1))));
        Ok(row.map(|(id, hash)| (UserId(id), hash)))
    }

    /// Stores a new token (by its hash) for `user`.
    pub async fn insert_token(
        &self,
        token_hash: &str,
        user: &UserId,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(&user.0)
        .bind(now_ms)
        .bind(expires_ms)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Revokes every token of `user` (sign out everywhere); returns how many were live.
    pub async fn revoke_all_tokens(&self, user: &UserId, now_ms: i64) -> Result<u64, StoreError> {
        Ok(on_pool!(self, pool => sqlx::query(
            "UPDATE tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(&user.0)
        .bind(now_ms)
        .execute(pool)
        .await?
        .rows_affected()))
    }

    /// The password hash of `user` (for confirming a deletion), unless deleted.
    pub async fn password_hash(&self, user: &UserId) -> Result<Option<String>, StoreError> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT password_hash FROM users WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(&user.0)
        .fetch_optional(pool)
        .await)?)
    }

    /// `user`'s name and when the account was made, unless deleted.
    pub async fn account(&self, user: &UserId) -> Result<Option<(String, i64)>, StoreError> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT username, created_at FROM users WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(&user.0)
        .fetch_optional(pool)
        .await)?)
    }

    /// Every report `user` made (anonymous ones too), oldest first, with the reason the
    /// moderators gave for a rejection.
    pub async fn reports_of(
        &self,
        user: &UserId,
    ) -> Result<Vec<(Incident, Option<String>, Option<String>)>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            incident_columns!(),
            ", i.status_reason, i.group_id FROM incidents i WHERE i.reporter_id = $1 ORDER BY i.reported_at, i.id"
        );
        let rows = on_pool!(self, pool => {
            let rows = sqlx::query(SQL).bind(&user.0).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let incident: IncidentRow = sqlx::FromRow::from_row(r)?;
                out.push((incident, r.try_get::<Option<String>, _>("status_reason")?, r.try_get::<Option<String>, _>("group_id")?));
            }
            out
        });
        rows.into_iter()
            .map(|(row, reason, group)| Ok((row.into_incident()?, reason, group)))
            .collect()
    }

    /// The groups where `user` is the only admin and others remain: deleting the account
    /// would leave them without one.
    pub async fn sole_admin_of(&self, user: &UserId) -> Result<Vec<String>, StoreError> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT g.name FROM group_members m JOIN groups g ON g.id = m.group_id
             WHERE m.user_id = $1 AND m.role = 'admin'
               AND (SELECT COUNT(*) FROM group_members a WHERE a.group_id = m.group_id AND a.role = 'admin') = 1
               AND (SELECT COUNT(*) FROM group_members o WHERE o.group_id = m.group_id) > 1
             ORDER BY g.name",
        )
        .bind(&user.0)
        .fetch_all(pool)
        .await)?)
    }

    /// Deletes `user`'s account in one transaction: their tokens, devices, alerts and
    /// memberships go; their watch areas become tombstones (so the matchers drop them);
    /// their reports stay but no longer name them; the user row keeps only its id (the
    /// audit log and tombstones refer to it).
    /// Returns how many reports were unlinked.
    pub async fn delete_account(&self, user: &UserId, now_ms: i64) -> Result<u64, StoreError> {
        let is_postgres = self.engine() == "postgres";
        let mut tx = self.begin_write().await?;
        let unlinked = on_tx!(tx, t => {
            advisory_lock!(t, is_postgres, AREA_REVISION_LOCK);
            let areas: Vec<String> = sqlx::query_scalar("SELECT id FROM watch_areas WHERE user_id = $1 AND NOT deleted")
                .bind(&user.0)
                .fetch_all(&mut **t)
                .await?;
            // One at a time: each tombstone takes the next revision.
            for area in areas {
                sqlx::query(
                    "UPDATE watch_areas SET deleted = TRUE, name = '', spec = '{}', updated_at = $2,
                     rev = (SELECT COALESCE(MAX(rev), 0) + 1 FROM watch_areas) WHERE id = $1",
                )
                .bind(&area)
                .bind(now_ms)
                .execute(&mut **t)
                .await?;
            }
            for sql in [
                "DELETE FROM tokens WHERE user_id = $1",
                "DELETE FROM devices WHERE user_id = $1",
                "DELETE FROM alerts WHERE user_id = $1",
                "DELETE FROM alert_keys WHERE user_id = $1",
                "DELETE FROM group_members WHERE user_id = $1",
                "UPDATE revisions SET author_id = NULL WHERE author_id = $1",
            ] {
                sqlx::query(sql).bind(&user.0).execute(&mut **t).await?;
            }
            let unlinked = sqlx::query("UPDATE incidents SET reporter_id = NULL WHERE reporter_id = $1")
                .bind(&user.0)
                .execute(&mut **t)
                .await?
                .rows_affected();
            sqlx::query("UPDATE users SET username = $2, password_hash = '', deleted_at = $3 WHERE id = $1")
                .bind(&user.0)
                .bind(format!("deleted:{}", user.0))
                .bind(now_ms)
                .execute(&mut **t)
                .await?;
            unlinked
        });
        tx.commit().await?;
        Ok(unlinked)
    }

    /// The retention policy for raw reports: residents' reports made before `cutoff_ms`
    /// lose their precise location (snapped as public views show it), typed place,
    /// accuracy, photos and reporter link, each as its next version with an `upsert` in the change
    /// feed. At most `limit` per call; returns how many were coarsened.
    pub async fn coarsen_reports(
        &self,
        cutoff_ms: i64,
        limit: i64,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            incident_columns!(),
            " FROM incidents i WHERE i.source_kind = 'user_report' AND i.coarsened_at IS NULL
               AND i.reported_at < $1 ORDER BY i.reported_at LIMIT $2"
        );
        let is_postgres = self.engine() == "postgres";
        let mut tx = self.begin_write().await?;
        let n = on_tx!(tx, t => {
            advisory_lock!(t, is_postgres, CHANGE_FEED_LOCK);
            let rows: Vec<IncidentRow> = sqlx::query_as(SQL)
                .bind(cutoff_ms)
                .bind(limit)
                .fetch_all(&mut **t)
                .await?;
            let mut n = 0u64;
            for row in rows {
                let incident = row.into_incident()?;
                let snapped = privacy::snap(&incident.location, incident.category);
                let cell = vigil_sync::AreaCell::of(&snapped, vigil_sync::CELL_RESOLUTION)
                    .map_err(|e| StoreError::Corrupt(format!("incident {}: {}", incident.id, e.reason)))?;
                let id = incident.id.to_string();
                let version: i64 = sqlx::query_scalar(
                    "UPDATE incidents SET lat = $2, lon = $3, accuracy_m = NULL, place = NULL, cell = $4,
                     reporter_id = NULL, coarsened_at = $5, version = version + 1 WHERE id = $1 RETURNING version",
                )
                .bind(&id)
                .bind(snapped.lat)
                .bind(snapped.lon)
                .bind(cell.to_string())
                .bind(now_ms)
                .fetch_one(&mut **t)
                .await?;
                sqlx::query("INSERT INTO changes (incident_id, kind, version, at) VALUES ($1, 'upsert', $2, $3)")
                    .bind(&id)
                    .bind(version)
                    .bind(now_ms)
                    .execute(&mut **t)
                    .await?;
                // A photo can show the place as well as any coordinate.
                sqlx::query("DELETE FROM photos WHERE incident_id = $1")
                    .bind(&id)
                    .execute(&mut **t)
                    .await?;
                n += 1;
            }
            n
        });
        tx.commit().await?;
        Ok(n)
    }

    /// The user a token belongs to, if it exists, has not expired and was not revoked.
    pub async fn token_user(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Option<UserId>, StoreError> {
        let id = on_pool!(self, pool => sqlx::query(
            "SELECT user_id FROM tokens WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(pool)
        .await?
        .map(|r| r.get::<String, _>(0)));
        Ok(id.map(UserId))
    }

    /// Revokes a token; later requests with it are refused.
    pub async fn revoke_token(&self, token_hash: &str, now_ms: i64) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .bind(now_ms)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}
