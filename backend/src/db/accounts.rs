//! Users and their bearer tokens.

use std::fmt;

use sqlx::Row;
use uuid::Uuid;

use super::{Db, StoreError, on_pool};

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
