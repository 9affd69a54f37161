//! Alerts: each person's inbox and the rules that keep it free of spam.
//!
//! [`Db::record_alerts`] takes what the matcher found in one batch of incident changes and,
//! in one transaction:
//! - claims the dedupe key `(person, incident)`: an incident alerts a person at most once,
//!   however often its change is read and however many of their areas it falls in;
//! - sends it at once, or holds it for a digest when all the person's matching areas are in
//!   quiet hours (due when they end) or the person has had `limit` alerts within `window`
//!   (due one window later; everything else arriving meanwhile joins the same digest);
//! - retracts alerts of incidents that were rejected or withdrawn (a held one just leaves
//!   its digest);
//! - sends every digest that has come due, one alert per person.
//!
//! Alert ids (`seq`) grow by one per person. On PostgreSQL two writers that race for a
//! person's next id or the same dedupe key collide on a primary key and one transaction
//! fails; the caller retries the batch, so ids still become visible in order.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sqlx::Row;
use vigil_sync::{
    IncidentId,
    watch::{Alert, AlertBody, AlertIncident, DigestReason},
};

use super::{Db, StoreError, UserId, on_pool, on_tx};

/// Rows per multi-row statement (well under SQLite's bound-parameter limit).
const ROWS_PER_STATEMENT: usize = 400;
/// Most held alerts sent per round; the rest go in the next round.
const FLUSH_LIMIT: i64 = 5_000;

/// The per-person rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertPolicy {
    /// Alerts (incidents and digests) a person gets within `window_ms` before the rest
    /// wait for a digest.
    pub limit: u32,
    pub window_ms: i64,
}

/// An incident that falls in one or more of a person's areas.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub user_id: String,
    pub incident: AlertIncident,
    /// Names of the person's areas it falls in.
    pub areas: Vec<String>,
    /// When every one of those areas is in quiet hours: when the first of them ends.
    pub quiet_until_ms: Option<i64>,
}

/// What [`Db::record_alerts`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recorded {
    /// Incident alerts sent at once.
    pub sent: u64,
    /// Held for a digest.
    pub held: u64,
    /// Already alerted (or held) before: nothing done.
    pub repeats: u64,
    pub digests: u64,
    pub retractions: u64,
    /// Each person with new alerts, and their newest alert id.
    pub notify: Vec<(String, u64)>,
}

/// A held alert's incident and areas, kept for its digest.
#[derive(Debug, Serialize, Deserialize)]
struct Held {
    incident: AlertIncident,
    areas: Vec<String>,
}

/// A person's inbox as the rules need it.
#[derive(Debug, Clone, Copy, Default)]
struct Inbox {
    last_seq: i64,
    /// Alerts that count towards the limit, within the window.
    recent: u32,
    /// When the rate-limit digest now forming goes out.
    rate_due: Option<i64>,
    touched: bool,
}

/// Appends `(v1, v2, ...)` with every item of `$items` bound, then `$tail`.
macro_rules! push_in {
    ($qb:ident, $items:expr, $tail:expr) => {{
        $qb.push(" IN (");
        let mut list = $qb.separated(", ");
        for item in $items {
            list.push_bind(item.as_str());
        }
        $qb.push(")");
        $qb.push($tail);
    }};
}

/// Loads the inboxes of `$users` not yet in `$map`.
macro_rules! load_inboxes {
    ($db:ty, $tx:ident, $map:ident, $users:expr, $since:expr) => {{
        let missing: Vec<String> = $users.filter(|u| !$map.contains_key(*u)).map(|u: &String| u.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        for chunk in missing.chunks(ROWS_PER_STATEMENT) {
            for u in chunk {
                $map.insert(u.clone(), Inbox::default());
            }
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "SELECT user_id, MAX(seq) AS last_seq, SUM(CASE WHEN kind <> 'retraction' AND created_at > ",
            );
            qb.push_bind($since);
            qb.push(" THEN 1 ELSE 0 END) AS recent FROM alerts WHERE user_id");
            push_in!(qb, chunk, " GROUP BY user_id");
            for row in qb.build().fetch_all(&mut **$tx).await? {
                let user: String = row.try_get("user_id")?;
                let last: i64 = row.try_get("last_seq")?;
                let recent: i64 = row.try_get("recent")?;
                if let Some(inbox) = $map.get_mut(&user) {
                    inbox.last_seq = last;
                    inbox.recent = u32::try_from(recent).unwrap_or(u32::MAX);
                }
            }
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "SELECT user_id, MIN(due_at) AS due FROM alert_keys WHERE state = 'held' AND reason = 'rate_limit' AND user_id",
            );
            push_in!(qb, chunk, " GROUP BY user_id");
            for row in qb.build().fetch_all(&mut **$tx).await? {
                let user: String = row.try_get("user_id")?;
                let due: Option<i64> = row.try_get("due")?;
                if let Some(inbox) = $map.get_mut(&user) {
                    inbox.rate_due = due;
                }
            }
        }
    }};
}

/// A new row of `alerts`.
struct NewAlert {
    user: String,
    seq: i64,
    kind: &'static str,
    body: String,
}

/// A new row of `alert_keys`.
struct NewKey {
    user: String,
    incident: String,
    state: &'static str,
    seq: Option<i64>,
    reason: Option<&'static str>,
    due: Option<i64>,
    body: Option<String>,
}

fn reason_code(r: DigestReason) -> &'static str {
    match r {
        DigestReason::RateLimit => "rate_limit",
        DigestReason::QuietHours => "quiet_hours",
    }
}

fn json(body: &impl Serialize) -> String {
    // Plain data always serialises.
    serde_json::to_string(body).unwrap_or_default()
}

/// The body of [`Db::record_alerts`], compiled once per engine.
macro_rules! record_in {
    ($db:ty, $tx:ident, $cands:ident, $retracted:ident, $policy:ident, $now:ident) => {{
        let since = $now - $policy.window_ms;
        let mut rec = Recorded::default();
        let mut inboxes: HashMap<String, Inbox> = HashMap::new();
        let mut alerts: Vec<NewAlert> = Vec::new();

        // 1. New incidents: claim the dedupe key, then send or hold.
        let retracted: HashSet<String> = $retracted.iter().map(|id| id.to_string()).collect();
        let incident_ids: Vec<String> = $cands
            .iter()
            .map(|c| c.incident.id.to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut claimed: HashSet<(String, String)> = HashSet::new();
        for chunk in incident_ids.chunks(ROWS_PER_STATEMENT) {
            let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT user_id, incident_id FROM alert_keys WHERE incident_id");
            push_in!(qb, chunk, "");
            let rows: Vec<(String, String)> = qb.build_query_as().fetch_all(&mut **$tx).await?;
            claimed.extend(rows);
        }
        load_inboxes!($db, $tx, inboxes, $cands.iter().map(|c| &c.user_id), since);
        let mut keys: Vec<NewKey> = Vec::new();
        for c in $cands {
            let incident = c.incident.id.to_string();
            if retracted.contains(&incident) || !claimed.insert((c.user_id.clone(), incident.clone())) {
                rec.repeats += 1;
                continue;
            }
            let inbox = inboxes.entry(c.user_id.clone()).or_default();
            let hold = if let Some(until) = c.quiet_until_ms {
                Some((DigestReason::QuietHours, until))
            } else if let Some(due) = inbox.rate_due.filter(|due| *due > $now) {
                Some((DigestReason::RateLimit, due))
            } else if inbox.recent >= $policy.limit {
                let due = $now + $policy.window_ms;
                inbox.rate_due = Some(due);
                Some((DigestReason::RateLimit, due))
            } else {
                None
            };
            match hold {
                Some((reason, due)) => {
                    rec.held += 1;
                    keys.push(NewKey {
                        user: c.user_id.clone(),
                        incident,
                        state: "held",
                        seq: None,
                        reason: Some(reason_code(reason)),
                        due: Some(due),
                        body: Some(json(&Held { incident: c.incident.clone(), areas: c.areas.clone() })),
                    });
                }
                None => {
                    rec.sent += 1;
                    inbox.last_seq += 1;
                    inbox.recent += 1;
                    inbox.touched = true;
                    keys.push(NewKey {
                        user: c.user_id.clone(),
                        incident,
                        state: "sent",
                        seq: Some(inbox.last_seq),
                        reason: None,
                        due: None,
                        body: None,
                    });
                    alerts.push(NewAlert {
                        user: c.user_id.clone(),
                        seq: inbox.last_seq,
                        kind: "incident",
                        body: json(&AlertBody::Incident { incident: c.incident.clone(), areas: c.areas.clone() }),
                    });
                }
            }
        }
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "INSERT INTO alert_keys (user_id, incident_id, state, seq, reason, due_at, body, created_at) ",
            );
            qb.push_values(chunk, |mut row, k| {
                row.push_bind(k.user.as_str())
                    .push_bind(k.incident.as_str())
                    .push_bind(k.state)
                    .push_bind(k.seq)
                    .push_bind(k.reason)
                    .push_bind(k.due)
                    .push_bind(k.body.as_deref())
                    .push_bind($now);
            });
            qb.build().execute(&mut **$tx).await?;
        }

        // 2. Rejected or withdrawn incidents: take their alerts back.
        let retracted: Vec<String> = retracted.into_iter().collect();
        let mut taken: Vec<(String, String, String)> = Vec::new();
        for chunk in retracted.chunks(ROWS_PER_STATEMENT) {
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "SELECT user_id, incident_id, state FROM alert_keys WHERE state IN ('sent', 'digested', 'held') AND incident_id",
            );
            push_in!(qb, chunk, " ORDER BY user_id, incident_id");
            let rows: Vec<(String, String, String)> = qb.build_query_as().fetch_all(&mut **$tx).await?;
            taken.extend(rows);
        }
        load_inboxes!($db, $tx, inboxes, taken.iter().filter(|t| t.2 != "held").map(|t| &t.0), since);
        for (user, incident, state) in &taken {
            // Only from the state read: another matcher may have moved it meanwhile.
            let moved = sqlx::query(
                "UPDATE alert_keys SET state = 'retracted', body = NULL WHERE user_id = $1 AND incident_id = $2 AND state = $3",
            )
            .bind(user)
            .bind(incident)
            .bind(state)
            .execute(&mut **$tx)
            .await?
            .rows_affected();
            if moved == 0 || state == "held" {
                continue;
            }
            let incident_id: IncidentId = incident
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("alert key: bad incident id {incident}")))?;
            let inbox = inboxes.entry(user.clone()).or_default();
            inbox.last_seq += 1;
            inbox.touched = true;
            rec.retractions += 1;
            alerts.push(NewAlert {
                user: user.clone(),
                seq: inbox.last_seq,
                kind: "retraction",
                body: json(&AlertBody::Retraction { incident_id }),
            });
        }

        // 3. Digests that have come due.
        let due: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT user_id, incident_id, reason, body FROM alert_keys WHERE state = 'held' AND due_at <= $1
             ORDER BY user_id, created_at, incident_id LIMIT $2",
        )
        .bind($now)
        .bind(FLUSH_LIMIT)
        .fetch_all(&mut **$tx)
        .await?;
        let mut digests: BTreeMap<String, (DigestReason, Vec<String>, Vec<Held>)> = BTreeMap::new();
        for (user, incident, reason, body) in due {
            let held: Held = match serde_json::from_str(body.as_deref().unwrap_or_default()) {
                Ok(held) => held,
                Err(error) => {
                    // One unreadable row must not stop every digest: set it aside.
                    tracing::error!(%user, %incident, %error, "held alert cannot be read; dropped from its digest");
                    sqlx::query("UPDATE alert_keys SET state = 'retracted' WHERE user_id = $1 AND incident_id = $2")
                        .bind(&user)
                        .bind(&incident)
                        .execute(&mut **$tx)
                        .await?;
                    continue;
                }
            };
            let reason = if reason == "quiet_hours" { DigestReason::QuietHours } else { DigestReason::RateLimit };
            let entry = digests.entry(user).or_insert_with(|| (reason, Vec::new(), Vec::new()));
            entry.1.push(incident);
            entry.2.push(held);
        }
        load_inboxes!($db, $tx, inboxes, digests.keys(), since);
        for (user, (reason, ids, held)) in digests {
            let inbox = inboxes.entry(user.clone()).or_default();
            let seq = inbox.last_seq + 1;
            // Claim the rows still held: another matcher may have sent them meanwhile.
            let mut claimed: HashSet<String> = HashSet::new();
            for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE alert_keys SET state = 'digested', body = NULL, seq = ");
                qb.push_bind(seq);
                qb.push(" WHERE state = 'held' AND user_id = ");
                qb.push_bind(user.as_str());
                qb.push(" AND incident_id");
                push_in!(qb, chunk, " RETURNING incident_id");
                let rows: Vec<String> = qb.build_query_scalar().fetch_all(&mut **$tx).await?;
                claimed.extend(rows);
            }
            if claimed.is_empty() {
                continue;
            }
            let held: Vec<Held> = ids
                .iter()
                .zip(held)
                .filter(|(id, _)| claimed.contains(*id))
                .map(|(_, h)| h)
                .collect();
            inbox.last_seq = seq;
            inbox.recent += 1;
            inbox.touched = true;
            rec.digests += 1;
            let mut areas: Vec<String> = Vec::new();
            for h in &held {
                for a in &h.areas {
                    if !areas.contains(a) {
                        areas.push(a.clone());
                    }
                }
            }
            alerts.push(NewAlert {
                user,
                seq,
                kind: "digest",
                body: json(&AlertBody::Digest {
                    reason,
                    incidents: held.into_iter().map(|h| h.incident).collect(),
                    areas,
                }),
            });
        }

        for chunk in alerts.chunks(ROWS_PER_STATEMENT) {
            let mut qb = sqlx::QueryBuilder::<$db>::new("INSERT INTO alerts (user_id, seq, kind, body, created_at) ");
            qb.push_values(chunk, |mut row, a| {
                row.push_bind(a.user.as_str())
                    .push_bind(a.seq)
                    .push_bind(a.kind)
                    .push_bind(a.body.as_str())
                    .push_bind($now);
            });
            qb.build().execute(&mut **$tx).await?;
        }
        rec.notify = inboxes
            .into_iter()
            .filter(|(_, i)| i.touched)
            .map(|(u, i)| (u, i.last_seq as u64))
            .collect();
        rec.notify.sort();
        Ok::<Recorded, StoreError>(rec)
    }};
}

impl Db {
    /// Records one batch's alerts, retractions and due digests in one transaction; see the
    /// module documentation for the rules.
    pub async fn record_alerts(
        &self,
        candidates: &[Candidate],
        retracted: &[IncidentId],
        policy: AlertPolicy,
        now_ms: i64,
    ) -> Result<Recorded, StoreError> {
        let mut tx = self.begin_write().await?;
        let recorded = match &mut tx.tx {
            super::incidents::Tx::Sqlite(t) => {
                record_in!(sqlx::Sqlite, t, candidates, retracted, policy, now_ms)
            }
            super::incidents::Tx::Postgres(t) => {
                record_in!(sqlx::Postgres, t, candidates, retracted, policy, now_ms)
            }
        }?;
        tx.commit().await?;
        Ok(recorded)
    }

    /// Up to `limit` of `user`'s alerts with ids after `after`, oldest first.
    pub async fn alerts_after(
        &self,
        user: &UserId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Alert>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let rows: Vec<(i64, String, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT seq, body, created_at FROM alerts WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(&user.0)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?;
        rows.into_iter()
            .map(|(seq, body, at)| {
                let body: AlertBody = serde_json::from_str(&body)
                    .map_err(|e| StoreError::Corrupt(format!("alert {}/{seq}: {e}", user.0)))?;
                let at = chrono::DateTime::from_timestamp_millis(at)
                    .ok_or_else(|| StoreError::Corrupt(format!("alert {}/{seq}: time", user.0)))?;
                Ok(Alert {
                    id: seq as u64,
                    at,
                    body,
                })
            })
            .collect()
    }

    /// `user`'s newest alert id (0 when none).
    pub async fn last_alert_id(&self, user: &UserId) -> Result<u64, StoreError> {
        let last: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT MAX(seq) FROM alerts WHERE user_id = $1",
        )
        .bind(&user.0)
        .fetch_one(pool)
        .await)?;
        Ok(last.unwrap_or(0).max(0) as u64)
    }

    /// Forgets alerts and dedupe keys older than `before_ms` (held ones stay until sent).
    /// The newest alert of each person is kept, so ids never start again from 1.
    pub async fn prune_alerts(&self, before_ms: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = on_tx!(tx, t => {
            let a = sqlx::query(
                "DELETE FROM alerts WHERE created_at < $1
                 AND seq < (SELECT MAX(b.seq) FROM alerts b WHERE b.user_id = alerts.user_id)",
            )
            .bind(before_ms)
            .execute(&mut **t)
            .await?;
            let k = sqlx::query("DELETE FROM alert_keys WHERE created_at < $1 AND state <> 'held'")
                .bind(before_ms)
                .execute(&mut **t)
                .await?;
            a.rows_affected() + k.rows_affected()
        });
        tx.commit().await?;
        Ok(n)
    }
}
