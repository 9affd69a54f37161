-- Vigil operational store, embedded (SQLite). Times are Unix milliseconds (UTC).

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

-- Bearer tokens, stored as the SHA-256 of the token: a leaked table grants nothing.
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE incidents (
    id              TEXT PRIMARY KEY NOT NULL,
    source_kind     TEXT NOT NULL CHECK (source_kind IN ('user_report', 'feed')),
    feed            TEXT,
    record_id       TEXT,
    reporter_id     TEXT REFERENCES users (id) ON DELETE SET NULL,
    category        TEXT NOT NULL,
    occurred_at     INTEGER NOT NULL,
    occurred_offset INTEGER NOT NULL,
    reported_at     INTEGER NOT NULL,
    lat             REAL NOT NULL,
    lon             REAL NOT NULL,
    accuracy_m      REAL,
    cell            TEXT NOT NULL,
    place           TEXT,
    description     TEXT NOT NULL,
    status          TEXT NOT NULL,
    version         INTEGER NOT NULL
);
CREATE INDEX incidents_lat_lon ON incidents (lat, lon);
CREATE INDEX incidents_occurred ON incidents (occurred_at);
CREATE INDEX incidents_cell ON incidents (cell);

-- The change feed that pull sync pages through. SQLite has one writer at a time, so
-- sequence numbers commit in order and a cursor never passes a change still in flight.
CREATE TABLE changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    kind        TEXT NOT NULL CHECK (kind IN ('upsert', 'status', 'tombstone')),
    version     INTEGER NOT NULL,
    at          INTEGER NOT NULL
);
