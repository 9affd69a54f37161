-- The client's offline store (vigil-app). Applied in order by app/src/store.rs, which
-- records the schema version in PRAGMA user_version. Never edit a landed migration.

-- Server URL, account name and other small settings.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Reports being written. The id is the UUIDv7 the report keeps when it is submitted, so
-- a retried push can never make a second report. A draft the server refused comes back
-- here with the field and reason.
CREATE TABLE drafts (
    id              TEXT PRIMARY KEY NOT NULL,
    category        TEXT,
    occurred_at     TEXT,
    lat             REAL,
    lon             REAL,
    accuracy_m      REAL,
    place           TEXT,
    description     TEXT NOT NULL DEFAULT '',
    updated_at      INTEGER NOT NULL,
    rejected_field  TEXT,
    rejected_reason TEXT
);

-- Submitted reports: pending until the server has answered for them, then sent.
CREATE TABLE outbox (
    id         TEXT PRIMARY KEY NOT NULL,
    body       TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'sent')),
    queued_at  INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_at    INTEGER
);
CREATE INDEX outbox_pending ON outbox (state, queued_at);

-- Incidents pulled from the server, newest version only.
CREATE TABLE incidents (
    id          TEXT PRIMARY KEY NOT NULL,
    version     INTEGER NOT NULL,
    category    TEXT NOT NULL,
    status      TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    lat         REAL NOT NULL,
    lon         REAL NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX incidents_place ON incidents (lat, lon);
CREATE INDEX incidents_time ON incidents (occurred_at);

-- Where pulling resumes; written in the same transaction as the page it follows.
CREATE TABLE sync_state (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Watch areas: a circle (centre and radius) or a polygon (GeoJSON ring), with the
-- categories and quiet hours that apply to it.
CREATE TABLE areas (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    centre_lat  REAL,
    centre_lon  REAL,
    radius_m    REAL,
    polygon     TEXT,
    categories  TEXT NOT NULL DEFAULT '[]',
    quiet_start TEXT,
    quiet_end   TEXT,
    created_at  INTEGER NOT NULL,
    CHECK ((radius_m IS NOT NULL AND centre_lat IS NOT NULL AND centre_lon IS NOT NULL)
           OR polygon IS NOT NULL)
);

-- Alerts received for the watch areas.
CREATE TABLE alerts (
    id          TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL,
    area_id     TEXT REFERENCES areas (id) ON DELETE SET NULL,
    received_at INTEGER NOT NULL,
    read_at     INTEGER
);

-- Room for the on-device risk model and its features.
CREATE TABLE models (
    name       TEXT PRIMARY KEY NOT NULL,
    version    TEXT NOT NULL,
    weights    BLOB NOT NULL,
    features   TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
