//! The real-time views in Redis (scale-out mode).
//!
//! Keys, under a configurable prefix (default `vigil:`):
//! - `inc:{id}`: a JSON record of what the views know of one incident: version, cell,
//!   category, occurrence time, place, status, whether it is listed, when its change was
//!   committed (`at`) and when it became visible here (`seen`), both Unix ms.
//! - `geo:{day}`: a GEO set of the listed incidents that occurred on that UTC day (days
//!   since 1970).
//! - `counts:{cell}:{day}`: a hash `{category}|{hour start, Unix ms}` → count.
//! - `seen`: how many distinct incidents the views have taken in, ever.
//! - `delta`: a hash incident id → JSON [`DeltaEntry`] of incidents changed after the
//!   batch watermark, and `delta:at`, a sorted set of the same ids by commit time; these
//!   do not expire: a batch that covers them drops them.
//!
//! Every key expires on its own once its day is older than the retention, so nothing has
//! to sweep. Events are applied by one Lua script per batch: Redis runs it atomically, and
//! it compares versions, so a redelivered or re-published event changes nothing and two
//! consumers cannot interleave half-applied updates. The script builds key names itself,
//! which ties the views to one Redis node (not Redis Cluster).

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use redis::{
    AsyncCommands, Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use serde::Deserialize;
use vigil_sync::{AreaCell, Category, Change, IncidentId, Location, Status};

use super::{
    delta::DeltaEntry,
    views::{Applied, BUCKET_MS, Seen},
};
use crate::events::IncidentEvent;

const DAY_MS: i64 = 86_400_000;

const APPLY: &str = r#"
local p, cutoff, keep = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local DAY, HOUR = 86400000, 3600000
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local out = {}

local function unlist(o, id)
  if o.l ~= 1 then return end
  local day = math.floor(o.t / DAY)
  redis.call('ZREM', p .. 'geo:' .. day, id)
  local ck = p .. 'counts:' .. o.c .. ':' .. day
  local f = o.k .. '|' .. (math.floor(o.t / HOUR) * HOUR)
  if redis.call('HEXISTS', ck, f) == 1 and redis.call('HINCRBY', ck, f, -1) <= 0 then
    redis.call('HDEL', ck, f)
  end
  o.l = 0
end

local function list(o, id)
  if o.d == 1 or o.s == 'rejected' or o.t < cutoff then return end
  local day = math.floor(o.t / DAY)
  local expires = (day + 1) * DAY + keep
  local gk = p .. 'geo:' .. day
  redis.call('GEOADD', gk, o.lo, o.la, id)
  redis.call('PEXPIREAT', gk, expires)
  local ck = p .. 'counts:' .. o.c .. ':' .. day
  redis.call('HINCRBY', ck, o.k .. '|' .. (math.floor(o.t / HOUR) * HOUR), 1)
  redis.call('PEXPIREAT', ck, expires)
  o.l = 1
end

local function store(key, o)
  local day = math.floor(o.t / DAY)
  local expires = math.max((day + 1) * DAY, now) + keep
  redis.call('SET', key, cjson.encode(o), 'PXAT', expires)
end

for i = 4, #ARGV, 11 do
  local kind, id, version = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local key = p .. 'inc:' .. id
  local raw = redis.call('GET', key)
  local o = raw and cjson.decode(raw)
  local code = 0
  if kind == 'upsert' then
    if not (o and o.v >= version) then
      local new = not o
      if o then unlist(o, id) end
      o = { v = version, c = ARGV[i + 3], k = ARGV[i + 4], t = tonumber(ARGV[i + 5]),
            la = ARGV[i + 6], lo = ARGV[i + 7], a = ARGV[i + 8], s = ARGV[i + 9],
            at = tonumber(ARGV[i + 10]), seen = now, l = 0, d = 0 }
      list(o, id)
      store(key, o)
      if new then redis.call('INCR', p .. 'seen') end
      if o.t < cutoff then code = 2 else code = 1 end
    end
  elseif kind == 'status' then
    if o and o.d ~= 1 and o.v < version then
      unlist(o, id)
      o.v, o.s, o.at, o.seen = version, ARGV[i + 9], tonumber(ARGV[i + 10]), now
      list(o, id)
      store(key, o)
      code = 1
    end
  elseif kind == 'tombstone' then
    if o and o.d ~= 1 then
      unlist(o, id)
      o.d, o.at, o.seen = 1, tonumber(ARGV[i + 10]), now
      store(key, o)
      code = 1
    end
  end
  out[#out + 1] = code
end
return out
"#;

/// Writes delta entries whose version is newer than the one stored.
const DELTA_PUT: &str = r#"
local h, z = KEYS[1], KEYS[2]
local out = 0
for i = 1, #ARGV, 4 do
  local id, version, at, entry = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), ARGV[i + 3]
  local cur = redis.call('HGET', h, id)
  if not (cur and cjson.decode(cur).version >= version) then
    redis.call('HSET', h, id, entry)
    redis.call('ZADD', z, at, id)
    out = out + 1
  end
end
return out
"#;

/// Drops up to ARGV[2] delta entries committed at or before ARGV[1]; returns how many it
/// looked at (0 when none are left).
const DELTA_DROP: &str = r#"
local h, z, w, n = KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', z, '-inf', w, 'LIMIT', 0, n)
for _, id in ipairs(ids) do
  redis.call('HDEL', h, id)
  redis.call('ZREM', z, id)
end
return #ids
"#;

/// Errors of the Redis views.
#[derive(Debug, thiserror::Error)]
pub enum RedisViewError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis holds a record this build cannot read ({key}): {reason}")]
    Corrupt { key: String, reason: String },
}

/// The views in one Redis database. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct RedisViews {
    conn: ConnectionManager,
    prefix: Arc<str>,
    script: Arc<Script>,
}

impl std::fmt::Debug for RedisViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisViews")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// An incident record as the script stores it.
#[derive(Debug, Deserialize)]
struct Stored {
    v: u32,
    c: String,
    k: String,
    t: i64,
    la: String,
    lo: String,
    a: String,
    s: String,
    #[serde(default)]
    d: u8,
}

impl Stored {
    fn seen(&self, id: IncidentId) -> Result<Seen, String> {
        let number = |field: &str, text: &str| -> Result<f64, String> {
            text.parse().map_err(|_| format!("{field} is {text:?}"))
        };
        Ok(Seen {
            id,
            cell: self
                .c
                .parse()
                .map_err(|_| format!("cell is {:?}", self.c))?,
            category: self
                .k
                .parse()
                .map_err(|_| format!("category is {:?}", self.k))?,
            location: Location {
                lat: number("la", &self.la)?,
                lon: number("lo", &self.lo)?,
                accuracy_m: if self.a.is_empty() {
                    None
                } else {
                    Some(number("a", &self.a)?)
                },
            },
            occurred_at: DateTime::from_timestamp_millis(self.t)
                .ok_or_else(|| format!("t is {}", self.t))?,
            status: serde_json::from_value(serde_json::Value::String(self.s.clone()))
                .map_err(|_| format!("status is {:?}", self.s))?,
            version: self.v,
        })
    }
}

fn status_str(status: Status) -> String {
    match serde_json::to_value(status) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

impl RedisViews {
    /// Views in the Redis at `url` (`redis://host:port/db`), under keys starting with
    /// `prefix`. Connects on first use and reconnects by itself.
    pub fn open(url: &str, prefix: &str) -> Result<RedisViews, RedisViewError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(RedisViews {
            conn,
            prefix: prefix.into(),
            script: Arc::new(Script::new(APPLY)),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Applies `events` in order, atomically; keeps no place or count for incidents that
    /// occurred before `now - retention`.
    pub async fn apply(
        &self,
        events: &[IncidentEvent],
        now: DateTime<Utc>,
        retention: TimeDelta,
    ) -> Result<Vec<Applied>, RedisViewError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = self.script.prepare_invoke();
        invocation
            .arg(&*self.prefix)
            .arg((now - retention).timestamp_millis())
            .arg(retention.num_milliseconds());
        for e in events {
            let at = e.at.unwrap_or_default();
            let empty = || String::new();
            let (kind, id, version, category, t, lat, lon, acc, status) = match &e.change {
                Change::Upsert { incident } => (
                    "upsert",
                    incident.id,
                    incident.version,
                    incident.category.as_str().to_owned(),
                    incident.occurred_at.timestamp_millis(),
                    incident.location.lat.to_string(),
                    incident.location.lon.to_string(),
                    incident
                        .location
                        .accuracy_m
                        .map_or_else(empty, |a| a.to_string()),
                    status_str(incident.status),
                ),
                Change::Status {
                    id,
                    status,
                    version,
                } => (
                    "status",
                    *id,
                    *version,
                    empty(),
                    0,
                    empty(),
                    empty(),
                    empty(),
                    status_str(*status),
                ),
                Change::Tombstone { id } => (
                    "tombstone",
                    *id,
                    0,
                    empty(),
                    0,
                    empty(),
                    empty(),
                    empty(),
                    empty(),
                ),
            };
            invocation
                .arg(kind)
                .arg(id.to_string())
                .arg(version)
                .arg(e.cell.to_string())
                .arg(category)
                .arg(t)
                .arg(lat)
                .arg(lon)
                .arg(acc)
                .arg(status)
                .arg(at);
        }
        let mut conn = self.conn.clone();
        let codes: Vec<i64> = invocation.invoke_async(&mut conn).await?;
        debug_assert_eq!(codes.len(), events.len());
        Ok(codes
            .into_iter()
            .map(|c| match c {
                1 => Applied::Changed,
                2 => Applied::TooOld,
                _ => Applied::Repeat,
            })
            .collect())
    }

    fn days(from: DateTime<Utc>, to: DateTime<Utc>) -> std::ops::RangeInclusive<i64> {
        from.timestamp_millis().div_euclid(DAY_MS)..=to.timestamp_millis().div_euclid(DAY_MS)
    }

    /// Listed incidents within `radius_m` of `centre` that occurred in `[since, until]`,
    /// nearest first, at most `limit`.
    pub async fn near(
        &self,
        centre: &Location,
        radius_m: f64,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(f64, Seen)>, RedisViewError> {
        let mut pipe = redis::pipe();
        for day in Self::days(since, until) {
            // A little wider than asked: Redis measures on its own sphere and geohash
            // grid; the exact distance is computed below from the stored coordinates.
            pipe.cmd("GEOSEARCH")
                .arg(format!("{}geo:{day}", self.prefix))
                .arg("FROMLONLAT")
                .arg(centre.lon)
                .arg(centre.lat)
                .arg("BYRADIUS")
                .arg(radius_m * 1.01 + 5.0)
                .arg("m");
        }
        let mut conn = self.conn.clone();
        let per_day: Vec<Vec<String>> = pipe.query_async(&mut conn).await?;
        let ids: Vec<String> = per_day.into_iter().flatten().collect();
        let mut hits = Vec::new();
        for chunk in ids.chunks(500) {
            let keys: Vec<String> = chunk
                .iter()
                .map(|id| format!("{}inc:{id}", self.prefix))
                .collect();
            let records: Vec<Option<String>> = conn.mget(&keys).await?;
            for (key, raw) in keys.iter().zip(records) {
                let Some(raw) = raw else { continue };
                let seen = self.decode(key, &raw)?;
                let Some(seen) = seen else { continue };
                if seen.status == Status::Rejected
                    || seen.occurred_at < since
                    || seen.occurred_at > until
                {
                    continue;
                }
                let d = centre.distance_m(&seen.location);
                if d <= radius_m {
                    hits.push((d, seen));
                }
            }
        }
        hits.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
        hits.truncate(limit);
        Ok(hits)
    }

    fn decode(&self, key: &str, raw: &str) -> Result<Option<Seen>, RedisViewError> {
        let corrupt = |reason: String| RedisViewError::Corrupt {
            key: key.to_owned(),
            reason,
        };
        let id: IncidentId = key[self.prefix.len() + 4..]
            .parse()
            .map_err(|_| corrupt("the key is not an incident id".into()))?;
        let stored: Stored = serde_json::from_str(raw).map_err(|e| corrupt(e.to_string()))?;
        if stored.d == 1 {
            return Ok(None);
        }
        stored.seen(id).map(Some).map_err(corrupt)
    }

    /// Counts per category and hour in `cell` for hours starting in `(from - 1 h, to)`.
    pub async fn counts(
        &self,
        cell: AreaCell,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(Category, i64, u64)>, RedisViewError> {
        let mut pipe = redis::pipe();
        let first = from - TimeDelta::milliseconds(BUCKET_MS);
        for day in Self::days(first, to) {
            pipe.hgetall(format!("{}counts:{cell}:{day}", self.prefix));
        }
        let mut conn = self.conn.clone();
        let per_day: Vec<Vec<(String, u64)>> = pipe.query_async(&mut conn).await?;
        let (from, to) = (from.timestamp_millis(), to.timestamp_millis());
        let mut out = Vec::new();
        for (field, n) in per_day.into_iter().flatten() {
            let corrupt = |reason: &str| RedisViewError::Corrupt {
                key: format!("{}counts:{cell}:* field {field}", self.prefix),
                reason: reason.to_owned(),
            };
            let (category, hour) = field.split_once('|').ok_or_else(|| corrupt("no '|'"))?;
            let category: Category = category.parse().map_err(|_| corrupt("bad category"))?;
            let hour: i64 = hour.parse().map_err(|_| corrupt("bad hour"))?;
            if hour > from - BUCKET_MS && hour < to && n > 0 {
                out.push((category, hour, n));
            }
        }
        out.sort();
        Ok(out)
    }

    fn delta_keys(&self) -> (String, String) {
        (
            format!("{}delta", self.prefix),
            format!("{}delta:at", self.prefix),
        )
    }

    /// Records `events` in the delta (see [`super::delta`]); a version not newer than the
    /// stored one changes nothing.
    pub async fn apply_delta(&self, events: &[IncidentEvent]) -> Result<(), RedisViewError> {
        if events.is_empty() {
            return Ok(());
        }
        let (hash, zset) = self.delta_keys();
        let id_of = |e: &IncidentEvent| match &e.change {
            Change::Upsert { incident } => incident.id,
            Change::Status { id, .. } | Change::Tombstone { id } => *id,
        };
        let ids: Vec<String> = events.iter().map(|e| id_of(e).to_string()).collect();
        let mut conn = self.conn.clone();
        let held: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&hash)
            .arg(&ids)
            .query_async(&mut conn)
            .await?;
        let mut current: std::collections::HashMap<IncidentId, DeltaEntry> =
            std::collections::HashMap::new();
        for (id, raw) in ids.iter().zip(held) {
            if let Some(raw) = raw {
                let entry: DeltaEntry =
                    serde_json::from_str(&raw).map_err(|e| RedisViewError::Corrupt {
                        key: format!("{hash} field {id}"),
                        reason: e.to_string(),
                    })?;
                current.insert(entry.id, entry);
            }
        }
        let mut changed: Vec<IncidentId> = Vec::new();
        for e in events {
            let id = id_of(e);
            let at = e.at.unwrap_or_else(|| Utc::now().timestamp_millis());
            if let Some(next) = DeltaEntry::after(current.get(&id), e, at) {
                current.insert(id, next);
                changed.push(id);
            }
        }
        changed.sort();
        changed.dedup();
        if changed.is_empty() {
            return Ok(());
        }
        let script = Script::new(DELTA_PUT);
        let mut invocation = script.prepare_invoke();
        invocation.key(&hash).key(&zset);
        for id in changed {
            let entry = current[&id];
            let json = serde_json::to_string(&entry).unwrap_or_default();
            invocation
                .arg(id.to_string())
                .arg(entry.version)
                .arg(entry.at_ms)
                .arg(json);
        }
        let _: i64 = invocation.invoke_async(&mut conn).await?;
        Ok(())
    }

    /// The delta entries committed after `watermark_ms`.
    pub async fn delta_after(&self, watermark_ms: i64) -> Result<Vec<DeltaEntry>, RedisViewError> {
        let (hash, zset) = self.delta_keys();
        let mut conn = self.conn.clone();
        let ids: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(&zset)
            .arg(format!("({watermark_ms}"))
            .arg("+inf")
            .query_async(&mut conn)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1_000) {
            let raws: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(&hash)
                .arg(chunk)
                .query_async(&mut conn)
                .await?;
            for (id, raw) in chunk.iter().zip(raws) {
                let Some(raw) = raw else { continue };
                let entry: DeltaEntry =
                    serde_json::from_str(&raw).map_err(|e| RedisViewError::Corrupt {
                        key: format!("{hash} field {id}"),
                        reason: e.to_string(),
                    })?;
                if entry.at_ms > watermark_ms {
                    out.push(entry);
                }
            }
        }
        out.sort_by_key(|e| e.id);
        Ok(out)
    }

    /// Drops the delta entries committed at or before `watermark_ms`; returns how many.
    pub async fn drop_delta_through(&self, watermark_ms: i64) -> Result<u64, RedisViewError> {
        let (hash, zset) = self.delta_keys();
        let script = Script::new(DELTA_DROP);
        let mut conn = self.conn.clone();
        let mut dropped = 0;
        loop {
            let n: u64 = script
                .key(&hash)
                .key(&zset)
                .arg(watermark_ms)
                .arg(1_000)
                .invoke_async(&mut conn)
                .await?;
            dropped += n;
            if n == 0 {
                return Ok(dropped);
            }
        }
    }

    /// How many distinct incidents the views have taken in since they were last cleared.
    pub async fn seen(&self) -> Result<u64, RedisViewError> {
        let mut conn = self.conn.clone();
        let n: Option<u64> = conn.get(format!("{}seen", self.prefix)).await?;
        Ok(n.unwrap_or(0))
    }

    /// Deletes every key under the prefix (before a rebuild).
    pub async fn clear(&self) -> Result<u64, RedisViewError> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}*", self.prefix);
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                deleted += keys.len() as u64;
                let _: u64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}
