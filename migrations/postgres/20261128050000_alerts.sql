-- Watch areas and the alerts they raise. Times are Unix milliseconds (UTC).

-- A resident's watch areas. `spec` is the area as the device sent it (JSON, validated).
-- Every save or delete gives the row the next `rev`; writers take a transaction-scoped
-- advisory lock first (PostgreSQL; SQLite has one writer), so revisions become visible in
-- order and the matchers, which read `rev > last seen`, never miss a change. A deleted
-- area stays as a tombstone so the matchers learn that it is gone.
CREATE TABLE watch_areas (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    spec       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
    rev        BIGINT NOT NULL
);
CREATE INDEX watch_areas_user ON watch_areas (user_id);
CREATE UNIQUE INDEX watch_areas_rev ON watch_areas (rev);

-- Each person's inbox. `seq` grows by one per person, so "after seq N" resumes a stream
-- or a pull without a gap or a repeat. `body` is the alert's JSON (incident, digest or
-- retraction).
CREATE TABLE alerts (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('incident', 'digest', 'retraction')),
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, seq)
);
CREATE INDEX alerts_user_created ON alerts (user_id, created_at);

-- The dedupe key: at most one row, hence one alert, per person per incident. `state` says
-- where it went: sent alone (`seq`), held for a digest (`reason`, `due_at`, and `body`,
-- the incident and area names the digest will list), sent in digest `seq`, or retracted.
CREATE TABLE alert_keys (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    incident_id TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('sent', 'held', 'digested', 'retracted')),
    seq         BIGINT,
    reason      TEXT,
    due_at      BIGINT,
    body        TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, incident_id)
);
CREATE INDEX alert_keys_incident ON alert_keys (incident_id);
CREATE INDEX alert_keys_due ON alert_keys (due_at) WHERE state = 'held';
