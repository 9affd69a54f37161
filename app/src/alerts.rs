//! Watch areas kept on the device and sent to the server, and the alerts inbox.
//!
//! A watch area is saved here first (offline too), in the wire form the server takes
//! ([`WatchAreaSpec`]), checked with the server's rules, and sent on the next sync; a
//! change made while it is being sent keeps it pending, so the server always ends with
//! the last one. Deleting marks the area; the sync removes it on the server, then here.
//!
//! Alerts arrive two ways, both resuming after the largest id in the inbox: the live
//! WebSocket ([`stream_alerts`]) while the app runs, and a pull ([`pull_alerts`]) in every
//! sync for an app that was offline. Ids grow by one per person and are the inbox's key,
//! so an alert arriving both ways is kept once. Each alert is offered once for an OS
//! notification ([`Store::take_unnotified`]).

use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};
use uuid::Uuid;
use vigil_sync::watch::{Alert, AlertBody, WatchAreaSpec};

use crate::{
    store::{Store, StoreError, now_ms},
    sync::{Server, SyncError},
};

/// Whether the server has an area's latest change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AreaState {
    /// Saved here; sent on the next sync (or refused: see `last_error`).
    Pending,
    /// The server has it and alerts for it.
    Synced,
}

/// A watch area on this device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AreaItem {
    /// A UUID made on the device; the server keeps it.
    pub id: String,
    #[serde(flatten)]
    pub spec: WatchAreaSpec,
    pub state: AreaState,
    /// Why the server has not taken the latest change ("not sent yet: …" or its refusal).
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// An alert in the inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxItem {
    #[serde(flatten)]
    pub alert: Alert,
    pub read: bool,
    /// A later alert took this incident back (the report was rejected or withdrawn).
    pub retracted: bool,
}

/// What one area sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AreasSent {
    /// Areas the server now has as they are here.
    pub saved: usize,
    /// Areas removed from the server and from here.
    pub deleted: usize,
    /// Areas the server refused (kept here with its reason).
    pub refused: usize,
}

/// One row of `watch_areas`.
struct AreaRow {
    id: String,
    spec: Option<WatchAreaSpec>,
    state: String,
    last_error: Option<String>,
    updated_at: i64,
}

fn bad(field: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl Store {
    // ---- watch areas ----

    /// Saves a watch area (a new one when `id` is `None`), checked with the server's
    /// rules; the error names the field to fix. It is sent on the next sync.
    pub fn save_area(
        &self,
        id: Option<&str>,
        spec: WatchAreaSpec,
        now: DateTime<Utc>,
    ) -> Result<AreaItem, StoreError> {
        let area = spec.validate().map_err(|e| bad(&e.field, e.reason))?;
        if let Some((_, zone)) = &area.quiet
            && zone.parse::<chrono_tz::Tz>().is_err()
        {
            return Err(bad(
                "quiet_hours.time_zone",
                format!("{zone:?} is not an IANA time zone; use one such as America/Toronto"),
            ));
        }
        let id = match id {
            Some(raw) => Uuid::parse_str(raw)
                .map_err(|_| bad("id", "not an area of this device; reload the list"))?
                .hyphenated()
                .to_string(),
            None => Uuid::now_v7().to_string(),
        };
        let spec = WatchAreaSpec {
            name: area.name,
            categories: area.categories,
            ..spec
        };
        let json = serde_json::to_string(&spec).map_err(|e| bad("area", e.to_string()))?;
        self.conn.execute(
            "INSERT INTO watch_areas (id, spec, state, created_at, updated_at)
             VALUES (?1, ?2, 'pending', ?3, ?3)
             ON CONFLICT (id) DO UPDATE SET spec = excluded.spec, state = 'pending',
                last_error = NULL, updated_at = excluded.updated_at",
            params![id, json, now_ms(now)],
        )?;
        Ok(AreaItem {
            id,
            spec,
            state: AreaState::Pending,
            last_error: None,
            updated_at: now,
        })
    }

    /// Rows of `watch_areas` matching `rest` (a WHERE and ORDER BY clause); the spec is
    /// `None` where this version cannot read it.
    fn area_rows(&self, rest: &str) -> Result<Vec<AreaRow>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, spec, state, last_error, updated_at FROM watch_areas {rest}"
        ))?;
        let rows = stmt.query_map([], |r| {
            Ok(AreaRow {
                id: r.get(0)?,
                spec: serde_json::from_str(&r.get::<_, String>(1)?).ok(),
                state: r.get(2)?,
                last_error: r.get(3)?,
                updated_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The watch areas, oldest first (not those being deleted).
    pub fn watch_areas(&self) -> Result<Vec<AreaItem>, StoreError> {
        let rows = self.area_rows("WHERE state <> 'deleting' ORDER BY created_at, id")?;
        // A row this version cannot read is skipped rather than failing the list.
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                Some(AreaItem {
                    spec: row.spec?,
                    state: if row.state == "synced" {
                        AreaState::Synced
                    } else {
                        AreaState::Pending
                    },
                    id: row.id,
                    last_error: row.last_error,
                    updated_at: time(row.updated_at),
                })
            })
            .collect())
    }

    /// Deletes a watch area: at once here, and on the server at the next sync.
    pub fn delete_area(&self, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let changed = self.conn.execute(
            "UPDATE watch_areas SET state = 'deleting', last_error = NULL, updated_at = ?2
             WHERE id = ?1 AND state <> 'deleting'",
            params![id, now_ms(now)],
        )?;
        if changed == 0 {
            return Err(bad(
                "id",
                format!("no watch area {id} here; reload the list"),
            ));
        }
        Ok(())
    }

    /// Areas the server does not have as they are here: `(id, spec or None to delete,
    /// updated_at)`.
    fn areas_to_send(&self) -> Result<Vec<(String, Option<WatchAreaSpec>, i64)>, StoreError> {
        let rows =
            self.area_rows("WHERE state IN ('pending', 'deleting') ORDER BY updated_at, id")?;
        Ok(rows
            .into_iter()
            .filter_map(|row| match (row.state.as_str(), row.spec) {
                ("deleting", _) => Some((row.id, None, row.updated_at)),
                (_, Some(spec)) => Some((row.id, Some(spec), row.updated_at)),
                // Unreadable here: left as it is rather than sent half-understood.
                (_, None) => None,
            })
            .collect())
    }

    /// Records the server's answer for one area, unless it changed meanwhile.
    fn area_answered(
        &self,
        id: &str,
        updated_at: i64,
        outcome: Result<(), String>,
    ) -> Result<(), StoreError> {
        match outcome {
            Ok(()) => {
                self.conn.execute(
                    "DELETE FROM watch_areas WHERE id = ?1 AND updated_at = ?2 AND state = 'deleting'",
                    params![id, updated_at],
                )?;
                self.conn.execute(
                    "UPDATE watch_areas SET state = 'synced', last_error = NULL
                     WHERE id = ?1 AND updated_at = ?2 AND state = 'pending'",
                    params![id, updated_at],
                )?;
            }
            Err(why) => {
                self.conn.execute(
                    "UPDATE watch_areas SET last_error = ?3 WHERE id = ?1 AND updated_at = ?2",
                    params![id, updated_at, why],
                )?;
            }
        }
        Ok(())
    }

    // ---- the alerts inbox ----

    /// The largest alert id here: where the stream and the pull resume (0 when empty).
    pub fn last_alert_id(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM alert_inbox", [], |r| {
                r.get::<_, i64>(0)
            })? as u64)
    }

    /// Keeps alerts in the inbox; returns those that were new here, oldest first.
    pub fn add_alerts(&mut self, alerts: &[Alert]) -> Result<Vec<Alert>, StoreError> {
        let tx = self.conn.transaction()?;
        let mut new = Vec::new();
        for alert in alerts {
            let body = serde_json::to_string(alert).map_err(|e| bad("alert", e.to_string()))?;
            let added = tx.execute(
                "INSERT INTO alert_inbox (id, at, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO NOTHING",
                params![alert.id as i64, alert.at.timestamp_millis(), body],
            )?;
            if added == 1 {
                new.push(alert.clone());
            }
        }
        tx.commit()?;
        new.sort_by_key(|a| a.id);
        Ok(new)
    }

    /// The newest `limit` alerts, newest first, each marked read and retracted.
    pub fn inbox(&self, limit: usize) -> Result<Vec<InboxItem>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT body, read_at FROM alert_inbox ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
        })?;
        let mut items = Vec::new();
        for row in rows {
            let (body, read_at) = row?;
            if let Ok(alert) = serde_json::from_str::<Alert>(&body) {
                items.push(InboxItem {
                    alert,
                    read: read_at.is_some(),
                    retracted: false,
                });
            }
        }
        // A retraction names the incident; look it up among every later alert, not only
        // those on this page.
        let mut stmt = self.conn.prepare(
            "SELECT json_extract(body, '$.incident_id') FROM alert_inbox
             WHERE json_extract(body, '$.kind') = 'retraction'",
        )?;
        let retracted: std::collections::HashSet<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        for item in &mut items {
            if let AlertBody::Incident { incident, .. } = &item.alert.body {
                item.retracted = retracted.contains(&incident.id.to_string());
            }
        }
        Ok(items)
    }

    /// Alerts not read yet.
    pub fn unread_alerts(&self) -> Result<u64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM alert_inbox WHERE read_at IS NULL",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Marks every alert up to `up_to` (an id) read.
    pub fn mark_alerts_read(&self, up_to: u64, now: DateTime<Utc>) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "UPDATE alert_inbox SET read_at = ?2 WHERE id <= ?1 AND read_at IS NULL",
            params![up_to as i64, now_ms(now)],
        )?)
    }

    /// The alerts no notification has covered yet, oldest first, marked covered in the
    /// same transaction: each alert is offered for a notification once.
    pub fn take_unnotified(&mut self, now: DateTime<Utc>) -> Result<Vec<Alert>, StoreError> {
        let tx = self.conn.transaction()?;
        let bodies: Vec<String> = {
            let mut stmt = tx.prepare(
                "SELECT body FROM alert_inbox WHERE notified_at IS NULL ORDER BY id LIMIT 500",
            )?;
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()?
        };
        let alerts: Vec<Alert> = bodies
            .iter()
            .filter_map(|b| serde_json::from_str(b).ok())
            .collect();
        if let Some(last) = alerts.last() {
            tx.execute(
                "UPDATE alert_inbox SET notified_at = ?2 WHERE id <= ?1 AND notified_at IS NULL",
                params![last.id as i64, now_ms(now)],
            )?;
        }
        tx.commit()?;
        Ok(alerts)
    }
}

/// A page of the server's inbox (`GET /v1/alerts`).
#[derive(Debug, Deserialize)]
struct InboxPage {
    alerts: Vec<Alert>,
    has_more: bool,
}

/// Alerts per pull page (the server's limit).
pub const ALERTS_PAGE: u32 = 500;

impl Server {
    /// Creates or replaces a watch area on the server.
    async fn put_area(&self, id: &str, spec: &WatchAreaSpec) -> Result<(), SyncError> {
        let _: serde_json::Value = self
            .send(
                self.http()
                    .put(format!("{}/v1/watch-areas/{id}", self.base()))
                    .json(spec),
            )
            .await?;
        Ok(())
    }

    /// Removes a watch area from the server; one it does not have is already removed.
    async fn delete_area(&self, id: &str) -> Result<(), SyncError> {
        let request = self
            .http()
            .delete(format!("{}/v1/watch-areas/{id}", self.base()));
        match self.send_empty(request).await {
            Err(SyncError::Refused { status: 404, .. }) => Ok(()),
            other => other,
        }
    }

    async fn alerts_after(&self, after: u64) -> Result<InboxPage, SyncError> {
        self.send(self.http().get(format!(
            "{}/v1/alerts?after={after}&limit={ALERTS_PAGE}",
            self.base()
        )))
        .await
    }

    /// The WebSocket URL of the alert stream, resuming after `after`.
    pub fn alert_stream_url(&self, after: u64) -> String {
        let base = self.base();
        let ws = match base.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}"),
            None => format!("ws://{}", base.trim_start_matches("http://")),
        };
        format!("{ws}/v1/alerts/stream?after={after}")
    }
}

/// Sends every watch-area change the server does not have. A refusal is kept on the
/// area with the server's reason (the other areas still go); being offline stops the
/// round and leaves the rest pending.
pub async fn push_areas(store: &mut Store, server: &Server) -> Result<AreasSent, SyncError> {
    let mut done = AreasSent::default();
    for (id, spec, updated_at) in store.areas_to_send()? {
        let result = match &spec {
            Some(spec) => server.put_area(&id, spec).await,
            None => server.delete_area(&id).await,
        };
        match result {
            Ok(()) => {
                store.area_answered(&id, updated_at, Ok(()))?;
                if spec.is_some() {
                    done.saved += 1;
                } else {
                    done.deleted += 1;
                }
            }
            Err(SyncError::Refused { message, .. }) => {
                store.area_answered(&id, updated_at, Err(format!("refused: {message}")))?;
                done.refused += 1;
            }
            Err(error) => {
                store.area_answered(&id, updated_at, Err(format!("not sent yet: {error}")))?;
                return Err(error);
            }
        }
    }
    Ok(done)
}

/// Pulls every alert after the newest in the inbox; returns the new ones, oldest first.
pub async fn pull_alerts(store: &mut Store, server: &Server) -> Result<Vec<Alert>, SyncError> {
    let mut new = Vec::new();
    loop {
        let page = server.alerts_after(store.last_alert_id()?).await?;
        new.extend(store.add_alerts(&page.alerts)?);
        if !page.has_more || page.alerts.is_empty() {
            return Ok(new);
        }
    }
}

/// Follows the live alert stream from the newest alert in the inbox, keeping each alert
/// as it arrives and calling `on_new` with those new here. Returns when the connection
/// ends (an error saying why); the caller reconnects, and the stream resumes without a
/// gap or a repeat.
pub async fn stream_alerts(
    store: &Mutex<Store>,
    server: &Server,
    mut on_new: impl FnMut(Vec<Alert>),
) -> Result<(), SyncError> {
    let after = store.lock().await.last_alert_id()?;
    let mut request = server
        .alert_stream_url(after)
        .into_client_request()
        .map_err(|e| SyncError::Offline(e.to_string()))?;
    if let Some(token) = server.token() {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| SyncError::Unauthorized("the saved token is not valid".into()))?;
        request.headers_mut().insert("authorization", value);
    }
    let (mut socket, _) = match tokio_tungstenite::connect_async(request).await {
        Ok(ok) => ok,
        Err(tungstenite::Error::Http(response)) if response.status() == 401 => {
            return Err(SyncError::Unauthorized(
                "the alert stream refused the token".into(),
            ));
        }
        Err(e) => return Err(SyncError::Offline(e.to_string())),
    };
    tracing::info!(after, "alert stream connected");
    while let Some(message) = socket.next().await {
        let text = match message.map_err(|e| SyncError::Offline(e.to_string()))? {
            Message::Text(text) => text,
            Message::Ping(data) => {
                let _ = socket.send(Message::Pong(data)).await;
                continue;
            }
            Message::Close(frame) => {
                return Err(SyncError::Offline(format!(
                    "the server closed the alert stream ({})",
                    frame.map_or_else(|| "no reason".into(), |f| f.reason.to_string())
                )));
            }
            _ => continue,
        };
        let alert: Alert =
            serde_json::from_str(&text).map_err(|e| SyncError::Garbage(e.to_string()))?;
        let new = store
            .lock()
            .await
            .add_alerts(std::slice::from_ref(&alert))?;
        if !new.is_empty() {
            on_new(new);
        }
    }
    Err(SyncError::Offline("the alert stream ended".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_sync::watch::{AlertIncident, DigestReason, Notice, Shape};

    fn incident(n: u8) -> AlertIncident {
        AlertIncident {
            id: format!("0192f0c4-6d8e-7cc2-9a41-3f1c2b7d9e{n:02}")
                .parse()
                .unwrap(),
            category: vigil_sync::Category::Theft,
            occurred_at: Utc::now().fixed_offset(),
            location: vigil_sync::Location {
                lat: 43.65,
                lon: -79.39,
                accuracy_m: None,
            },
            place: None,
            summary: format!("incident {n}"),
        }
    }

    fn alert(id: u64, body: AlertBody) -> Alert {
        Alert {
            id,
            at: Utc::now(),
            body,
        }
    }

    fn about(id: u64, n: u8) -> Alert {
        alert(
            id,
            AlertBody::Incident {
                incident: incident(n),
                areas: vec!["Home".into()],
            },
        )
    }

    #[test]
    fn the_inbox_keeps_each_id_once_and_marks_retractions() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("vigil.db")).unwrap();
        assert_eq!(s.last_alert_id().unwrap(), 0);
        let new = s.add_alerts(&[about(1, 1), about(2, 2)]).unwrap();
        assert_eq!(new.len(), 2);
        // Arriving again (stream and pull both) changes nothing.
        assert!(s.add_alerts(&[about(2, 2)]).unwrap().is_empty());
        let digest = alert(
            3,
            AlertBody::Digest {
                reason: DigestReason::QuietHours,
                incidents: vec![incident(3), incident(4)],
                areas: vec!["Home".into()],
            },
        );
        let retraction = alert(
            4,
            AlertBody::Retraction {
                incident_id: incident(1).id,
            },
        );
        assert_eq!(s.add_alerts(&[digest, retraction]).unwrap().len(), 2);
        assert_eq!(s.last_alert_id().unwrap(), 4);

        let inbox = s.inbox(10).unwrap();
        let ids: Vec<u64> = inbox.iter().map(|i| i.alert.id).collect();
        assert_eq!(ids, vec![4, 3, 2, 1]);
        assert!(inbox[3].retracted, "incident 1 was taken back");
        assert!(!inbox[2].retracted);

        // One notification covers everything new, once; retractions are not shown.
        let fresh = s.take_unnotified(Utc::now()).unwrap();
        assert_eq!(fresh.len(), 4);
        let notice = Notice::for_alerts(&fresh).unwrap();
        assert_eq!(notice.alert_id, 3);
        assert_eq!(notice.title, "2 incidents near Home (+2 more)");
        assert!(s.take_unnotified(Utc::now()).unwrap().is_empty());

        assert_eq!(s.unread_alerts().unwrap(), 4);
        assert_eq!(s.mark_alerts_read(2, Utc::now()).unwrap(), 2);
        assert_eq!(s.unread_alerts().unwrap(), 2);
    }

    #[test]
    fn circles_saved_by_the_previous_version_are_carried_over_to_be_sent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vigil.db");
        {
            // The store as version 2 left it, with one circle in the old table.
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(include_str!("../../migrations/client/0001_initial.sql"))
                .unwrap();
            conn.execute_batch(include_str!("../../migrations/client/0002_edits.sql"))
                .unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
            conn.execute(
                "INSERT INTO areas (id, name, centre_lat, centre_lon, radius_m, categories, created_at)
                 VALUES ('0192f0c4-6d8e-7cc2-9a41-3f1c2b7d9e10', 'Home', 43.65, -79.39, 800, '[\"theft\"]', 1700000000000)",
                [],
            )
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        let areas = s.watch_areas().unwrap();
        assert_eq!(areas.len(), 1);
        let a = &areas[0];
        assert_eq!(a.id, "0192f0c4-6d8e-7cc2-9a41-3f1c2b7d9e10");
        assert_eq!(a.state, AreaState::Pending);
        assert_eq!(a.spec.name, "Home");
        assert_eq!(a.spec.categories, vec![vigil_sync::Category::Theft]);
        assert_eq!(
            a.spec.shape,
            Shape::Circle {
                lat: 43.65,
                lon: -79.39,
                radius_m: 800.0
            }
        );
        assert!(a.spec.validate().is_ok());
    }

    #[test]
    fn a_change_made_while_sending_stays_pending() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("vigil.db")).unwrap();
        let spec = WatchAreaSpec {
            name: "Home".into(),
            shape: Shape::Circle {
                lat: 43.65,
                lon: -79.39,
                radius_m: 800.0,
            },
            categories: vec![],
            min_severity: 1,
            quiet_hours: None,
        };
        let t0 = Utc::now();
        let a = s.save_area(None, spec.clone(), t0).unwrap();
        let sending = s.areas_to_send().unwrap();
        assert_eq!(sending.len(), 1);
        // Edited while the PUT is in flight; the answer to the old version arrives.
        s.save_area(Some(&a.id), spec, t0 + chrono::TimeDelta::seconds(1))
            .unwrap();
        s.area_answered(&a.id, sending[0].2, Ok(())).unwrap();
        assert_eq!(s.watch_areas().unwrap()[0].state, AreaState::Pending);
        assert_eq!(s.areas_to_send().unwrap().len(), 1);
    }
}
