//! The client's offline store: one SQLite file (WAL, foreign keys on, `synchronous=FULL`)
//! with drafts, the outbox, cached incidents and their cursor, watch areas, alerts and
//! settings.
//!
//! Opening applies the migrations in `migrations/client/`. A file that is not a database,
//! fails its integrity check, or comes from a newer Vigil is never touched: it is copied
//! aside first and the error says where the copy is.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vigil_sync::{
    Change, Cursor, Incident, Limits, Location, PushOutcome, PushResult, ReportSubmission,
    ValidationError, conflict, watch::Shape,
};

/// The migrations, in order; the schema version is their count.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/client/0001_initial.sql"),
    include_str!("../../migrations/client/0002_edits.sql"),
    include_str!("../../migrations/client/0003_alerts.sql"),
    include_str!("../../migrations/client/0004_risk.sql"),
    include_str!("../../migrations/client/0005_report_extras.sql"),
];

/// Why the store refused.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{path} is damaged ({detail}); a copy was saved as {backup}. Move it away to start \
         with an empty store, or send the copy to support"
    )]
    Corrupt {
        path: String,
        detail: String,
        backup: String,
    },
    #[error(
        "{path} was written by a newer Vigil (schema {found}, this one knows up to \
         {known}); update Vigil. A copy was saved as {backup}"
    )]
    TooNew {
        path: String,
        found: i64,
        known: i64,
        backup: String,
    },
    #[error(
        "the disk is full, so the change was not saved (it is still on screen); free some \
         space and try again"
    )]
    DiskFull,
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("no draft with id {0}")]
    NoSuchDraft(String),
    #[error("store: {0}")]
    Sqlite(rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::DiskFull,
            _ => StoreError::Sqlite(e),
        }
    }
}

impl From<ValidationError> for StoreError {
    fn from(e: ValidationError) -> Self {
        StoreError::Invalid {
            field: e.field,
            reason: e.reason,
        }
    }
}

/// What a person fills in for a report; every field may be missing while drafting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DraftInput {
    pub category: Option<String>,
    /// RFC 3339 with the reporter's offset.
    pub occurred_at: Option<String>,
    pub location: Option<Location>,
    pub place: Option<String>,
    pub description: String,
    /// Hide who made the report from everyone, the group's moderators included.
    #[serde(default)]
    pub anonymous: bool,
}

/// A place named in the cached incidents, where they cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    pub name: String,
    pub location: Location,
    /// Cached incidents with this place.
    pub incidents: u64,
}

/// A saved draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    /// The id the report keeps once submitted (a UUIDv7 made here).
    pub id: String,
    #[serde(flatten)]
    pub input: DraftInput,
    pub updated_at: DateTime<Utc>,
    /// Set when the server refused it: which field and why.
    pub rejected: Option<(String, String)>,
}

/// Where a submitted report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Not sent yet (offline, or the server has not answered).
    Pending,
    /// The server has it.
    Sent,
}

/// One submitted report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub id: String,
    pub report: ReportSubmission,
    pub state: OutboxState,
    pub attempts: u32,
    /// Why the last attempt did not get through ("not sent yet: ...").
    pub last_error: Option<String>,
}

/// What applying one push answer did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushApplied {
    pub sent: usize,
    /// Reports refused by the server, back among the drafts with the reason.
    pub rejected: usize,
}

/// The store.
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
}

pub(crate) fn now_ms(now: DateTime<Utc>) -> i64 {
    now.timestamp_millis()
}

/// Copies `path` to `<path>.<kind>-<unix ms>.bak` and returns the copy's path.
fn backup(path: &Path, kind: &str) -> Result<String, StoreError> {
    let copy = path.with_extension(format!("{kind}-{}.bak", Utc::now().timestamp_millis()));
    std::fs::copy(path, &copy).map_err(|source| StoreError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(copy.display().to_string())
}

impl Store {
    /// Opens (creating) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let existed = path.exists() && std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
        let corrupt = |detail: String| -> StoreError {
            match backup(path, "corrupt") {
                Ok(backup) => StoreError::Corrupt {
                    path: path.display().to_string(),
                    detail,
                    backup,
                },
                Err(e) => e,
            }
        };
        let conn = Connection::open(path)?;
        // A file that is not SQLite fails on its first read, here.
        let version: i64 = match conn.pragma_query_value(None, "user_version", |r| r.get(0)) {
            Ok(v) => v,
            Err(e) if existed => return Err(corrupt(e.to_string())),
            Err(e) => return Err(e.into()),
        };
        if existed {
            let check: String = conn
                .pragma_query_value(None, "quick_check", |r| r.get(0))
                .map_err(|e| corrupt(e.to_string()))?;
            if check != "ok" {
                return Err(corrupt(check));
            }
        }
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                path: path.display().to_string(),
                found: version,
                known,
                backup: backup(path, "newer")?,
            });
        }
        let _mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut store = Store {
            conn,
            path: path.to_owned(),
        };
        store.migrate(version)?;
        Ok(store)
    }

    fn migrate(&mut self, from: i64) -> Result<(), StoreError> {
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw connection, for tests that need to break things on purpose.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    // ---- settings ----

    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    // ---- drafts ----

    /// Starts a draft and saves it.
    pub fn new_draft(&self, input: DraftInput, now: DateTime<Utc>) -> Result<Draft, StoreError> {
        let id = Uuid::now_v7().to_string();
        self.put_draft(&id, &input, now)?;
        self.draft(&id)
    }

    /// Saves a new state of draft `id` (autosave); clears a previous rejection.
    pub fn save_draft(
        &self,
        id: &str,
        input: &DraftInput,
        now: DateTime<Utc>,
    ) -> Result<Draft, StoreError> {
        self.draft(id)?;
        self.put_draft(id, input, now)?;
        self.draft(id)
    }

    fn put_draft(
        &self,
        id: &str,
        input: &DraftInput,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO drafts (id, category, occurred_at, lat, lon, accuracy_m, place, description, updated_at, anonymous)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (id) DO UPDATE SET category = excluded.category,
                occurred_at = excluded.occurred_at, lat = excluded.lat, lon = excluded.lon,
                accuracy_m = excluded.accuracy_m, place = excluded.place,
                description = excluded.description, updated_at = excluded.updated_at,
                anonymous = excluded.anonymous, rejected_field = NULL, rejected_reason = NULL",
            params![
                id,
                input.category,
                input.occurred_at,
                input.location.map(|l| l.lat),
                input.location.map(|l| l.lon),
                input.location.and_then(|l| l.accuracy_m),
                input.place,
                input.description,
                now_ms(now),
                input.anonymous
            ],
        )?;
        Ok(())
    }

    pub fn draft(&self, id: &str) -> Result<Draft, StoreError> {
        self.conn
            .query_row(
                &format!("{DRAFT_SELECT} WHERE id = ?1"),
                [id],
                draft_from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NoSuchDraft(id.to_owned()))
    }

    /// Every draft, most recently changed first.
    pub fn drafts(&self) -> Result<Vec<Draft>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("{DRAFT_SELECT} ORDER BY updated_at DESC, id"))?;
        let rows = stmt.query_map([], draft_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes draft `id` and the photos attached to it, in one transaction.
    pub fn delete_draft(&mut self, id: &str) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        if tx.execute("DELETE FROM drafts WHERE id = ?1", [id])? == 0 {
            return Err(StoreError::NoSuchDraft(id.to_owned()));
        }
        tx.execute("DELETE FROM photos WHERE report_id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }

    /// Checks draft `id` with the server's rules and moves it to the outbox, in one
    /// transaction. A draft that fails a rule stays a draft; the error names the field.
    pub fn submit(&mut self, id: &str, now: DateTime<Utc>) -> Result<OutboxItem, StoreError> {
        let draft = self.draft(id)?;
        let report = checked_submission(&draft.id, &draft.input, now)?;
        let body = to_json(&report)?;
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO outbox (id, body, state, queued_at) VALUES (?1, ?2, 'pending', ?3)",
            params![report.id, body, now_ms(now)],
        )?;
        tx.execute("DELETE FROM drafts WHERE id = ?1", [id])?;
        tx.commit()?;
        self.outbox_item(id)
    }

    // ---- outbox ----

    fn outbox_item(&self, id: &str) -> Result<OutboxItem, StoreError> {
        Ok(self.conn.query_row(
            &format!("{OUTBOX_SELECT} WHERE id = ?1"),
            [id],
            outbox_from_row,
        )?)
    }

    /// The outbox, oldest first; `state` filters.
    pub fn outbox(&self, state: Option<OutboxState>) -> Result<Vec<OutboxItem>, StoreError> {
        let filter = match state {
            None => "",
            Some(OutboxState::Pending) => " WHERE state = 'pending'",
            Some(OutboxState::Sent) => " WHERE state = 'sent'",
        };
        let mut stmt = self
            .conn
            .prepare(&format!("{OUTBOX_SELECT}{filter} ORDER BY queued_at, id"))?;
        let rows = stmt.query_map([], outbox_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Up to `limit` pending reports to push, oldest first.
    pub fn pending(&self, limit: usize) -> Result<Vec<ReportSubmission>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT body FROM outbox WHERE state = 'pending' ORDER BY queued_at, id LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            let body = body?;
            out.push(
                serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                    path: self.path.display().to_string(),
                    detail: format!("an outbox entry is not a report: {e}"),
                    backup: String::new(),
                })?,
            );
        }
        Ok(out)
    }

    /// Records that an attempt to send `ids` failed, and why ("not sent yet: ...").
    pub fn push_failed(&self, ids: &[String], why: &str) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1 AND state = 'pending'",
        )?;
        for id in ids {
            stmt.execute(params![id, why])?;
        }
        Ok(())
    }

    /// Applies the server's answer to a push in one transaction: accepted and duplicate
    /// reports are sent; rejected ones go back among the drafts with the field and reason.
    pub fn apply_push(
        &mut self,
        results: &[PushResult],
        now: DateTime<Utc>,
    ) -> Result<PushApplied, StoreError> {
        let tx = self.conn.transaction()?;
        let mut applied = PushApplied::default();
        for r in results {
            match r.outcome {
                PushOutcome::Accepted | PushOutcome::Duplicate => {
                    applied.sent += tx.execute(
                        "UPDATE outbox SET state = 'sent', sent_at = ?2, last_error = NULL
                         WHERE id = ?1 AND state = 'pending'",
                        params![r.id, now_ms(now)],
                    )?;
                }
                PushOutcome::Rejected => {
                    let body: Option<String> = tx
                        .query_row(
                            "SELECT body FROM outbox WHERE id = ?1 AND state = 'pending'",
                            [&r.id],
                            |row| row.get(0),
                        )
                        .optional()?;
                    let Some(body) = body else { continue };
                    // Edits made while it waited are not lost: the draft takes the newest.
                    let newest: Option<String> = tx
                        .query_row(
                            "SELECT body FROM edits WHERE report_id = ?1 AND state = 'pending'
                             ORDER BY queued_at DESC, edit_id DESC LIMIT 1",
                            [&r.id],
                            |row| row.get(0),
                        )
                        .optional()?;
                    let Ok(report) =
                        serde_json::from_str::<ReportSubmission>(newest.as_ref().unwrap_or(&body))
                    else {
                        continue;
                    };
                    tx.execute(
                        "DELETE FROM edits WHERE report_id = ?1 AND state = 'pending'",
                        [&r.id],
                    )?;
                    tx.execute(
                        "INSERT INTO drafts (id, category, occurred_at, lat, lon, accuracy_m, place,
                            description, updated_at, rejected_field, rejected_reason, anonymous)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                         ON CONFLICT (id) DO NOTHING",
                        params![
                            report.id,
                            report.category,
                            report.occurred_at,
                            report.location.lat,
                            report.location.lon,
                            report.location.accuracy_m,
                            report.place,
                            report.description,
                            now_ms(now),
                            r.field,
                            r.reason,
                            report.anonymous
                        ],
                    )?;
                    tx.execute("DELETE FROM outbox WHERE id = ?1", [&r.id])?;
                    applied.rejected += 1;
                }
            }
        }
        tx.commit()?;
        Ok(applied)
    }

    // ---- incidents ----

    /// Where the next pull starts (`None` before the first).
    pub fn cursor(&self) -> Result<Option<Cursor>, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM sync_state WHERE key = 'cursor'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        text.map(|t| Cursor::decode(&t))
            .transpose()
            .map_err(StoreError::from)
    }

    /// Applies one page of changes and its cursor in one transaction: a crash leaves the
    /// store before or after the page, never half-way.
    pub fn apply_page(&mut self, changes: &[Change], cursor: Cursor) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for change in changes {
            match change {
                Change::Upsert { incident } => {
                    let held: Option<i64> = tx
                        .query_row(
                            "SELECT version FROM incidents WHERE id = ?1",
                            [incident.id.to_string()],
                            |r| r.get(0),
                        )
                        .optional()?;
                    if !conflict::takes_version(held.map(|v| v as u32), incident.version) {
                        continue;
                    }
                    upsert_incident(&tx, incident)?;
                }
                Change::Status {
                    id,
                    status,
                    version,
                } => {
                    let body: Option<(String, i64)> = tx
                        .query_row(
                            "SELECT body, version FROM incidents WHERE id = ?1",
                            [id.to_string()],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()?;
                    let Some((body, held)) = body else { continue };
                    if !conflict::takes_version(Some(held as u32), *version) {
                        continue;
                    }
                    let Ok(mut incident) = serde_json::from_str::<Incident>(&body) else {
                        continue;
                    };
                    incident.status = conflict::status_after_sync(incident.status, *status);
                    incident.version = *version;
                    upsert_incident(&tx, &incident)?;
                }
                Change::Tombstone { id } => {
                    tx.execute("DELETE FROM incidents WHERE id = ?1", [id.to_string()])?;
                }
            }
        }
        tx.execute(
            "INSERT INTO sync_state (key, value) VALUES ('cursor', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [cursor.encode()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Cached incidents within `radius_m` of `centre`, nearest first.
    pub fn incidents_near(
        &self,
        centre: &Location,
        radius_m: f64,
        limit: usize,
    ) -> Result<Vec<(f64, Incident)>, StoreError> {
        // A bounding box narrows the scan; the exact distance decides.
        let dlat = radius_m / 111_000.0;
        let dlon = radius_m / (111_000.0 * centre.lat.to_radians().cos().max(0.01));
        let mut stmt = self.conn.prepare(
            "SELECT body FROM incidents WHERE lat BETWEEN ?1 AND ?2 AND lon BETWEEN ?3 AND ?4",
        )?;
        let rows = stmt.query_map(
            params![
                centre.lat - dlat,
                centre.lat + dlat,
                centre.lon - dlon,
                centre.lon + dlon
            ],
            |r| r.get::<_, String>(0),
        )?;
        let mut hits = Vec::new();
        for body in rows {
            let Ok(incident) = serde_json::from_str::<Incident>(&body?) else {
                continue;
            };
            let d = centre.distance_m(&incident.location);
            if d <= radius_m {
                hits.push((d, incident));
            }
        }
        hits.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
        hits.truncate(limit);
        Ok(hits)
    }

    /// The newest cached incidents inside `shape` (a watch area's circle or polygon), at
    /// most `limit`; the same geometry the server's alert matcher uses.
    pub fn incidents_within(
        &self,
        shape: &Shape,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        // The shape's box narrows the scan; the shape itself decides.
        let b = shape.bounds();
        let mut stmt = self.conn.prepare(
            "SELECT body FROM incidents WHERE lat BETWEEN ?1 AND ?2 AND lon BETWEEN ?3 AND ?4 \
             ORDER BY occurred_at DESC, id",
        )?;
        let rows = stmt.query_map(params![b.min_lat, b.max_lat, b.min_lon, b.max_lon], |r| {
            r.get::<_, String>(0)
        })?;
        let mut out = Vec::new();
        for body in rows {
            let Ok(incident) = serde_json::from_str::<Incident>(&body?) else {
                continue;
            };
            if shape.contains(&incident.location) {
                out.push(incident);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The newest cached incidents, at most `limit`.
    pub fn incidents(&self, limit: usize) -> Result<Vec<Incident>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT body FROM incidents ORDER BY occurred_at DESC, id LIMIT ?1")?;
        let rows = stmt.query_map([limit as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            if let Ok(i) = serde_json::from_str(&body?) {
                out.push(i);
            }
        }
        Ok(out)
    }

    /// Places named in the cached incidents (a city feed's neighbourhoods, residents'
    /// typed places) that contain `text`, case-insensitively, with the mean position of
    /// their incidents: a gazetteer that works offline. Exact names first, then names
    /// starting with `text`, then the busiest.
    pub fn places(&self, text: &str, limit: usize) -> Result<Vec<Place>, StoreError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let pattern: String = text
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let mut stmt = self.conn.prepare(
            "SELECT MIN(place), AVG(lat), AVG(lon), COUNT(*) FROM (
                 SELECT json_extract(body, '$.place') AS place, lat, lon FROM incidents)
             WHERE place LIKE '%' || ?1 || '%' ESCAPE '\\'
             GROUP BY lower(place)
             ORDER BY lower(MIN(place)) = lower(?2) DESC,
                      MIN(place) LIKE ?1 || '%' ESCAPE '\\' DESC,
                      COUNT(*) DESC, MIN(place)
             LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![pattern, text, limit as i64], |r| {
            Ok(Place {
                name: r.get(0)?,
                location: Location {
                    lat: r.get(1)?,
                    lon: r.get(2)?,
                    accuracy_m: None,
                },
                incidents: r.get::<_, i64>(3)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn incident_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM incidents", [], |r| r.get::<_, i64>(0))?
            as u64)
    }
}

/// The report a complete draft input makes, checked with the server's rules so most
/// mistakes are caught offline. The error names the missing or wrong field.
pub(crate) fn checked_submission(
    id: &str,
    input: &DraftInput,
    now: DateTime<Utc>,
) -> Result<ReportSubmission, StoreError> {
    let missing = |field: &str, what: &str| StoreError::Invalid {
        field: field.to_owned(),
        reason: format!("is missing: {what}"),
    };
    let report = ReportSubmission {
        id: id.to_owned(),
        category: input
            .category
            .clone()
            .ok_or_else(|| missing("category", "choose what happened"))?,
        occurred_at: input
            .occurred_at
            .clone()
            .ok_or_else(|| missing("occurred_at", "say when it happened"))?,
        location: input
            .location
            .ok_or_else(|| missing("location", "say where it happened"))?,
        place: input.place.clone(),
        description: input.description.clone(),
        group: None,
        visibility: None,
        anonymous: input.anonymous,
    };
    report.validate(now, &Limits::default())?;
    Ok(report)
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid {
        field: "report".into(),
        reason: e.to_string(),
    })
}

impl DraftInput {
    /// The fields of a submitted report, to edit them.
    pub fn from_submission(report: &ReportSubmission) -> DraftInput {
        DraftInput {
            category: Some(report.category.clone()),
            occurred_at: Some(report.occurred_at.clone()),
            location: Some(report.location),
            place: report.place.clone(),
            description: report.description.clone(),
            anonymous: report.anonymous,
        }
    }
}

const DRAFT_SELECT: &str = "SELECT id, category, occurred_at, lat, lon, accuracy_m, place, description, updated_at, rejected_field, rejected_reason, anonymous FROM drafts";

fn draft_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Draft> {
    let lat: Option<f64> = r.get(3)?;
    let lon: Option<f64> = r.get(4)?;
    let field: Option<String> = r.get(9)?;
    let reason: Option<String> = r.get(10)?;
    Ok(Draft {
        id: r.get(0)?,
        input: DraftInput {
            category: r.get(1)?,
            occurred_at: r.get(2)?,
            location: lat.zip(lon).map(|(lat, lon)| Location {
                lat,
                lon,
                accuracy_m: r.get(5).ok().flatten(),
            }),
            place: r.get(6)?,
            description: r.get(7)?,
            anonymous: r.get(11)?,
        },
        updated_at: DateTime::from_timestamp_millis(r.get(8)?).unwrap_or_default(),
        rejected: field.zip(reason),
    })
}

const OUTBOX_SELECT: &str = "SELECT id, body, state, attempts, last_error FROM outbox";

fn outbox_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxItem> {
    let body: String = r.get(1)?;
    let state: String = r.get(2)?;
    let report = serde_json::from_str(&body).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(OutboxItem {
        id: r.get(0)?,
        report,
        state: if state == "sent" {
            OutboxState::Sent
        } else {
            OutboxState::Pending
        },
        attempts: r.get::<_, i64>(3)? as u32,
        last_error: r.get(4)?,
    })
}

fn upsert_incident(tx: &rusqlite::Transaction<'_>, i: &Incident) -> Result<(), StoreError> {
    let body = serde_json::to_string(i).map_err(|e| StoreError::Invalid {
        field: "incident".into(),
        reason: e.to_string(),
    })?;
    tx.execute(
        "INSERT INTO incidents (id, version, category, status, occurred_at, lat, lon, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, category = excluded.category,
            status = excluded.status, occurred_at = excluded.occurred_at, lat = excluded.lat,
            lon = excluded.lon, body = excluded.body",
        params![
            i.id.to_string(),
            i.version,
            i.category.as_str(),
            i.status.as_str(),
            i.occurred_at.timestamp_millis(),
            i.location.lat,
            i.location.lon,
            body
        ],
    )?;
    Ok(())
}
