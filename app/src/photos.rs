//! Photos attached to reports on this device, and their upload.
//!
//! The device resizes and re-encodes a photo before it is attached (the UI draws it on a
//! canvas, which also drops the camera's metadata); the store keeps the bytes with the
//! report's id. Once the server has the report (the outbox item is sent), the next sync
//! uploads its photos to `POST /v1/incidents/{id}/photos`. A photo the server refuses
//! (wrong type, too large) is marked refused with the reason and not tried again; a
//! network failure leaves it for the next sync.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError, now_ms};
use crate::sync::{Server, SyncError};

/// Most photos one report may carry (the server's limit too).
pub const MAX_PHOTOS: u32 = 4;
/// Largest photo accepted, in bytes (the server's limit).
pub const MAX_PHOTO_BYTES: usize = 8 * 1024 * 1024;
/// Photos uploaded per sync at most; the rest wait for the next one.
const UPLOAD_BATCH: usize = 16;

/// A photo on this device, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoItem {
    pub report_id: String,
    /// Its number on the report, from 1.
    pub n: u32,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub bytes: usize,
    /// The server has it.
    pub uploaded: bool,
    /// The server refused it for good; `last_error` says why.
    pub refused: bool,
    pub last_error: Option<String>,
}

/// What one upload pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PhotosSent {
    pub uploaded: usize,
    pub refused: usize,
}

/// The image type of `bytes` from its first bytes, if it is one the server takes.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else {
        None
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

const PHOTO_SELECT: &str = "SELECT report_id, n, content_type, width, height, length(bytes), \
     uploaded_at IS NOT NULL, refused, last_error FROM photos";

fn photo_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PhotoItem> {
    Ok(PhotoItem {
        report_id: r.get(0)?,
        n: r.get(1)?,
        content_type: r.get(2)?,
        width: r.get(3)?,
        height: r.get(4)?,
        bytes: r.get::<_, i64>(5)? as usize,
        uploaded: r.get(6)?,
        refused: r.get(7)?,
        last_error: r.get(8)?,
    })
}

impl Store {
    /// Attaches a photo to the draft or not-yet-sent report `report_id`. `bytes` must be
    /// a JPEG or PNG (as the device encoded it) of `width` × `height` pixels.
    pub fn attach_photo(
        &mut self,
        report_id: &str,
        bytes: &[u8],
        width: u32,
        height: u32,
        now: DateTime<Utc>,
    ) -> Result<PhotoItem, StoreError> {
        let Some(content_type) = sniff(bytes) else {
            return Err(invalid(
                "photo",
                "is not a JPEG or PNG image; choose a photo taken with a camera or a screenshot",
            ));
        };
        if bytes.len() > MAX_PHOTO_BYTES {
            return Err(invalid(
                "photo",
                format!(
                    "is {} KiB, more than the {} MiB a photo may be; choose a smaller one",
                    bytes.len() / 1024,
                    MAX_PHOTO_BYTES / 1024 / 1024
                ),
            ));
        }
        if width == 0 || height == 0 {
            return Err(invalid("photo", "has no pixels; choose another photo"));
        }
        let tx = self.conn.transaction()?;
        let is_draft: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM drafts WHERE id = ?1)",
            [report_id],
            |r| r.get(0),
        )?;
        let outbox: Option<String> = tx
            .query_row("SELECT state FROM outbox WHERE id = ?1", [report_id], |r| {
                r.get(0)
            })
            .optional()?;
        if !is_draft && outbox.is_none() {
            return Err(StoreError::NoSuchDraft(report_id.to_owned()));
        }
        let count: u32 = tx.query_row(
            "SELECT COUNT(*) FROM photos WHERE report_id = ?1",
            [report_id],
            |r| r.get(0),
        )?;
        if count >= MAX_PHOTOS {
            return Err(invalid(
                "photo",
                format!("a report carries at most {MAX_PHOTOS} photos; remove one first"),
            ));
        }
        let n: u32 = tx.query_row(
            "SELECT COALESCE(MAX(n), 0) + 1 FROM photos WHERE report_id = ?1",
            [report_id],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO photos (report_id, n, content_type, width, height, bytes, added_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                report_id,
                n,
                content_type,
                width,
                height,
                bytes,
                now_ms(now)
            ],
        )?;
        tx.commit()?;
        self.photo(report_id, n)
    }

    fn photo(&self, report_id: &str, n: u32) -> Result<PhotoItem, StoreError> {
        Ok(self.conn.query_row(
            &format!("{PHOTO_SELECT} WHERE report_id = ?1 AND n = ?2"),
            params![report_id, n],
            photo_from_row,
        )?)
    }

    /// The photos of `report_id`, in the order they were attached.
    pub fn photos(&self, report_id: &str) -> Result<Vec<PhotoItem>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("{PHOTO_SELECT} WHERE report_id = ?1 ORDER BY n"))?;
        let rows = stmt.query_map([report_id], photo_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The bytes and type of photo `n` of `report_id`.
    pub fn photo_bytes(
        &self,
        report_id: &str,
        n: u32,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT content_type, bytes FROM photos WHERE report_id = ?1 AND n = ?2",
                params![report_id, n],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Removes photo `n` of `report_id`, unless the server already has it.
    pub fn remove_photo(&self, report_id: &str, n: u32) -> Result<(), StoreError> {
        let removed = self.conn.execute(
            "DELETE FROM photos WHERE report_id = ?1 AND n = ?2 AND uploaded_at IS NULL",
            params![report_id, n],
        )?;
        if removed == 0 {
            return Err(invalid(
                "photo",
                format!("report {report_id} has no photo {n} that is still only on this device"),
            ));
        }
        Ok(())
    }

    /// Photos whose report the server has and that are not uploaded (nor refused) yet.
    pub fn photos_to_upload(&self, limit: usize) -> Result<Vec<PhotoItem>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "{PHOTO_SELECT} WHERE uploaded_at IS NULL AND refused = 0
               AND report_id IN (SELECT id FROM outbox WHERE state = 'sent')
             ORDER BY added_at, report_id, n LIMIT ?1"
        ))?;
        let rows = stmt.query_map([limit as i64], photo_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn photo_uploaded(
        &self,
        report_id: &str,
        n: u32,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE photos SET uploaded_at = ?3, last_error = NULL WHERE report_id = ?1 AND n = ?2",
            params![report_id, n, now_ms(now)],
        )?;
        Ok(())
    }

    fn photo_failed(
        &self,
        report_id: &str,
        n: u32,
        why: &str,
        for_good: bool,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE photos SET last_error = ?3, refused = ?4 WHERE report_id = ?1 AND n = ?2",
            params![report_id, n, why, for_good],
        )?;
        Ok(())
    }
}

/// Uploads the photos of sent reports. A refusal (4xx) marks that photo refused and goes
/// on; being offline or a server error stops and leaves the rest for the next sync.
pub async fn upload_photos(store: &mut Store, server: &Server) -> Result<PhotosSent, SyncError> {
    let mut sent = PhotosSent::default();
    for photo in store.photos_to_upload(UPLOAD_BATCH)? {
        let Some((content_type, bytes)) = store.photo_bytes(&photo.report_id, photo.n)? else {
            continue;
        };
        let request = server
            .http()
            .post(format!(
                "{}/v1/incidents/{}/photos",
                server.base(),
                photo.report_id
            ))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(bytes);
        match server.send::<serde_json::Value>(request).await {
            Ok(_) => {
                store.photo_uploaded(&photo.report_id, photo.n, Utc::now())?;
                sent.uploaded += 1;
            }
            Err(SyncError::Refused { status, message }) => {
                tracing::warn!(report = %photo.report_id, n = photo.n, status, %message, "photo refused");
                store.photo_failed(&photo.report_id, photo.n, &message, true)?;
                sent.refused += 1;
            }
            Err(e) => {
                store.photo_failed(
                    &photo.report_id,
                    photo.n,
                    &format!("not sent yet: {e}"),
                    false,
                )?;
                return Err(e);
            }
        }
    }
    Ok(sent)
}
