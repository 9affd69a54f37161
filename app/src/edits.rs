//! Edits of submitted reports, queued offline like reports are.
//!
//! An edit carries the whole report as the reporter now wants it, under an id made here,
//! so a retried edit is applied once. Edits go out after every pending report has been
//! pushed, in the order they were made. The server decides by
//! [`vigil_sync::conflict::decide_edit`]: before moderation the edit becomes the report's
//! next version; after it, the edit is kept as a revision for the moderators and the
//! report is unchanged. A report the server refuses comes back as a draft holding its
//! newest edit.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vigil_sync::{EditOutcome, EditResult, ReportEdit, ReportSubmission, Status, conflict};

use crate::store::{DraftInput, Store, StoreError, checked_submission, now_ms, to_json};

/// Where an edit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditState {
    /// Not sent yet.
    Pending,
    /// The report took it as its next version.
    Applied,
    /// The report had been moderated: the edit is kept for the moderators.
    KeptAsRevision,
    /// The server refused it; `rejected` says which field and why.
    Rejected,
}

impl EditState {
    fn as_str(self) -> &'static str {
        match self {
            EditState::Pending => "pending",
            EditState::Applied => "applied",
            EditState::KeptAsRevision => "kept_as_revision",
            EditState::Rejected => "rejected",
        }
    }

    fn parse(text: &str) -> EditState {
        match text {
            "applied" => EditState::Applied,
            "kept_as_revision" => EditState::KeptAsRevision,
            "rejected" => EditState::Rejected,
            _ => EditState::Pending,
        }
    }
}

/// One edit of a submitted report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditItem {
    pub edit_id: String,
    pub report: ReportSubmission,
    pub base_version: u32,
    pub state: EditState,
    /// The report's version once the edit was applied.
    pub version: Option<u32>,
    pub attempts: u32,
    /// Why the last attempt did not get through ("not sent yet: ...").
    pub last_error: Option<String>,
    /// Set when the server refused it: which field and why.
    pub rejected: Option<(String, String)>,
    /// What the person should know now, for example that moderators have already seen
    /// the report, so the edit will be kept for them rather than shown.
    pub note: Option<String>,
}

/// What applying one edit answer did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditsApplied {
    pub applied: usize,
    pub kept: usize,
    pub rejected: usize,
}

const EDIT_SELECT: &str = "SELECT edit_id, body, base_version, state, version, attempts, last_error, rejected_field, rejected_reason FROM edits";

fn edit_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EditItem> {
    let body: String = r.get(1)?;
    let report = serde_json::from_str(&body).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let field: Option<String> = r.get(7)?;
    let reason: Option<String> = r.get(8)?;
    Ok(EditItem {
        edit_id: r.get(0)?,
        report,
        base_version: r.get::<_, i64>(2)? as u32,
        state: EditState::parse(&r.get::<_, String>(3)?),
        version: r.get::<_, Option<i64>>(4)?.map(|v| v as u32),
        attempts: r.get::<_, i64>(5)? as u32,
        last_error: r.get(6)?,
        rejected: field.zip(reason),
        note: None,
    })
}

impl Store {
    /// The report `id` as the person last wrote it: its newest edit, else what was
    /// submitted.
    pub fn current_report(&self, id: &str) -> Result<ReportSubmission, StoreError> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM edits WHERE report_id = ?1 AND state <> 'rejected'
                 ORDER BY queued_at DESC, edit_id DESC LIMIT 1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        let body = match body {
            Some(b) => b,
            None => self
                .conn
                .query_row("SELECT body FROM outbox WHERE id = ?1", [id], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::Invalid {
                    field: "id".into(),
                    reason: format!(
                        "no submitted report {id} on this device; drafts are changed with `draft edit`"
                    ),
                })?,
        };
        serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
            path: self.path.display().to_string(),
            detail: format!("a stored report is unreadable: {e}"),
            backup: String::new(),
        })
    }

    /// Queues an edit of submitted report `id`: `input` is the whole report as it should
    /// now read. Checked with the server's rules first; the error names the field.
    pub fn edit_report(
        &mut self,
        id: &str,
        input: &DraftInput,
        now: DateTime<Utc>,
    ) -> Result<EditItem, StoreError> {
        self.current_report(id)?;
        let report = checked_submission(id, input, now)?;
        let cached: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT version, status FROM incidents WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let base_version = cached.as_ref().map_or(1, |(v, _)| *v as u32);
        let moderated = cached
            .and_then(|(_, s)| s.parse::<Status>().ok())
            .is_some_and(|s| !conflict::reporter_may_edit(s));
        let edit_id = Uuid::now_v7().to_string();
        self.conn.execute(
            "INSERT INTO edits (edit_id, report_id, base_version, body, state, queued_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5)",
            params![edit_id, id, base_version, to_json(&report)?, now_ms(now)],
        )?;
        let mut item = self.edit(&edit_id)?;
        if moderated {
            item.note = Some(
                "moderators have already looked at this report, so your change will be kept \
                 for them as a revision rather than shown"
                    .into(),
            );
        }
        Ok(item)
    }

    fn edit(&self, edit_id: &str) -> Result<EditItem, StoreError> {
        Ok(self.conn.query_row(
            &format!("{EDIT_SELECT} WHERE edit_id = ?1"),
            [edit_id],
            edit_from_row,
        )?)
    }

    /// The edits of report `id` (or of every report), oldest first.
    pub fn edits(&self, id: Option<&str>) -> Result<Vec<EditItem>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "{EDIT_SELECT} WHERE ?1 IS NULL OR report_id = ?1 ORDER BY queued_at, edit_id"
        ))?;
        let rows = stmt.query_map([id], edit_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Up to `limit` pending edits to send, oldest first.
    pub fn pending_edits(&self, limit: usize) -> Result<Vec<ReportEdit>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "{EDIT_SELECT} WHERE state = 'pending' ORDER BY queued_at, edit_id LIMIT ?1"
        ))?;
        let rows = stmt.query_map([limit as i64], edit_from_row)?;
        let mut out = Vec::new();
        for item in rows {
            let item = item?;
            out.push(ReportEdit {
                edit_id: item.edit_id,
                base_version: item.base_version,
                report: item.report,
            });
        }
        Ok(out)
    }

    /// Records that an attempt to send edits `ids` failed, and why.
    pub fn edits_failed(&self, ids: &[String], why: &str) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(
            "UPDATE edits SET attempts = attempts + 1, last_error = ?2
             WHERE edit_id = ?1 AND state = 'pending'",
        )?;
        for id in ids {
            stmt.execute(params![id, why])?;
        }
        Ok(())
    }

    /// Applies the server's answers to edits in one transaction.
    pub fn apply_edit_results(
        &mut self,
        results: &[EditResult],
        now: DateTime<Utc>,
    ) -> Result<EditsApplied, StoreError> {
        let tx = self.conn.transaction()?;
        let mut applied = EditsApplied::default();
        for r in results {
            let state = match r.outcome {
                EditOutcome::Applied => EditState::Applied,
                EditOutcome::KeptAsRevision => EditState::KeptAsRevision,
                EditOutcome::Rejected => EditState::Rejected,
            };
            let changed = tx.execute(
                "UPDATE edits SET state = ?2, version = ?3, rejected_field = ?4,
                    rejected_reason = ?5, last_error = NULL, answered_at = ?6
                 WHERE edit_id = ?1 AND state = 'pending'",
                params![
                    r.edit_id,
                    state.as_str(),
                    r.version,
                    r.field,
                    r.reason,
                    now_ms(now)
                ],
            )?;
            if changed == 0 {
                continue;
            }
            match state {
                EditState::Applied => applied.applied += 1,
                EditState::KeptAsRevision => applied.kept += 1,
                _ => applied.rejected += 1,
            }
        }
        tx.commit()?;
        Ok(applied)
    }
}
