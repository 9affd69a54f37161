//! Devices registered for push notifications, and how far each has been pushed.

use vigil_sync::watch::DeviceAddress;

use super::{Db, StoreError, UserId, on_pool};

/// Most devices one person may register.
pub const MAX_DEVICES_PER_USER: i64 = 20;

/// A registered device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRow {
    pub id: String,
    pub user_id: String,
    pub address: DeviceAddress,
    /// Alerts after this id have not been pushed to it yet.
    pub last_alert_id: u64,
}

/// What registering a device did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutDevice {
    Created,
    Updated,
    /// The id is someone else's device.
    NotYours,
    TooMany,
}

type Row = (String, String, String, i64);

fn device(row: Row) -> Result<DeviceRow, StoreError> {
    let (id, user_id, address, last) = row;
    let address = serde_json::from_str(&address)
        .map_err(|e| StoreError::Corrupt(format!("device {id}: {e}")))?;
    Ok(DeviceRow {
        id,
        user_id,
        address,
        last_alert_id: last.max(0) as u64,
    })
}

impl Db {
    /// Registers (or re-registers) `user`'s device `id` at `address`.
    pub async fn put_device(
        &self,
        user: &UserId,
        id: &str,
        address: &DeviceAddress,
        now_ms: i64,
    ) -> Result<PutDevice, StoreError> {
        let json = serde_json::to_string(address)
            .map_err(|e| StoreError::Corrupt(format!("device address: {e}")))?;
        let mut tx = self.begin_write().await?;
        let outcome = super::on_tx!(tx, t => {
            let owner: Option<String> = sqlx::query_scalar("SELECT user_id FROM devices WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **t)
                .await?;
            match owner {
                Some(o) if o != user.0 => PutDevice::NotYours,
                Some(_) => {
                    sqlx::query("UPDATE devices SET provider = $2, address = $3, updated_at = $4 WHERE id = $1")
                        .bind(id)
                        .bind(address.provider())
                        .bind(&json)
                        .bind(now_ms)
                        .execute(&mut **t)
                        .await?;
                    PutDevice::Updated
                }
                None => {
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices WHERE user_id = $1")
                        .bind(&user.0)
                        .fetch_one(&mut **t)
                        .await?;
                    if n >= MAX_DEVICES_PER_USER {
                        PutDevice::TooMany
                    } else {
                        sqlx::query(
                            "INSERT INTO devices (id, user_id, provider, address, last_alert_id, created_at, updated_at)
                             VALUES ($1, $2, $3, $4, (SELECT COALESCE(MAX(seq), 0) FROM alerts WHERE user_id = $2), $5, $5)",
                        )
                        .bind(id)
                        .bind(&user.0)
                        .bind(address.provider())
                        .bind(&json)
                        .bind(now_ms)
                        .execute(&mut **t)
                        .await?;
                        PutDevice::Created
                    }
                }
            }
        });
        tx.commit().await?;
        Ok(outcome)
    }

    /// `user`'s devices, oldest first.
    pub async fn devices_of(&self, user: &str) -> Result<Vec<DeviceRow>, StoreError> {
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, user_id, address, last_alert_id FROM devices WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user)
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(device).collect()
    }

    /// Removes `user`'s device `id`; `false` when there is none.
    pub async fn delete_device(&self, user: &UserId, id: &str) -> Result<bool, StoreError> {
        let n = on_pool!(self, pool => sqlx::query("DELETE FROM devices WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(&user.0)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Records that device `id` has been pushed every alert up to `last_alert_id`.
    pub async fn device_pushed(&self, id: &str, last_alert_id: u64) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE devices SET last_alert_id = $2 WHERE id = $1 AND last_alert_id < $2",
        )
        .bind(id)
        .bind(i64::try_from(last_alert_id).unwrap_or(i64::MAX))
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Forgets device `id` (its provider says it is gone).
    pub async fn forget_device(&self, id: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query("DELETE FROM devices WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}
