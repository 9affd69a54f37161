-- Vigil operational store, scale-out (PostgreSQL). Times are Unix milliseconds (UTC),
-- as in the embedded store, so both run the same queries.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- Bearer tokens, stored as the SHA-256 of the token: a leaked table grants nothing.
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE incidents (
    id              TEXT PRIMARY KEY,
    source_kind     TEXT NOT NULL CHECK (source_kind IN ('user_report', 'feed')),
    feed            TEXT,
    record_id       TEXT,
    reporter_id     TEXT REFERENCES users (id) ON DELETE SET NULL,
    category        TEXT NOT NULL,
    occurred_at     BIGINT NOT NULL,
    occurred_offset BIGINT NOT NULL,
    reported_at     BIGINT NOT NULL,
    lat             DOUBLE PRECISION NOT NULL,
    lon             DOUBLE PRECISION NOT NULL,
    accuracy_m      DOUBLE PRECISION,
    cell            TEXT NOT NULL,
    place           TEXT,
    description     TEXT NOT NULL,
    status          TEXT NOT NULL,
    version         BIGINT NOT NULL
);
CREATE INDEX incidents_lat_lon ON incidents (lat, lon);
CREATE INDEX incidents_occurred ON incidents (occurred_at);
CREATE INDEX incidents_cell ON incidents (cell);

-- The change feed that pull sync pages through. Writers take a transaction-scoped
-- advisory lock before appending, so sequence numbers become visible in commit order
-- and a cursor never passes a change that commits late.
CREATE TABLE changes (
    seq         BIGSERIAL PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    kind        TEXT NOT NULL CHECK (kind IN ('upsert', 'status', 'tombstone')),
    version     BIGINT NOT NULL,
    at          BIGINT NOT NULL
);
