-- Batch views, embedded (a SQLite file `views.db` in the data directory). The same shape
-- as the Cassandra tables in migrations/cassandra/: every view is rows of
-- (key, sub, category) -> n under the batch that computed them. Readers follow the
-- serving pointer, which a batch moves only once all its rows are written.

CREATE TABLE batches (
    id           TEXT PRIMARY KEY NOT NULL,
    watermark_ms INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    completed_at INTEGER,
    incidents    INTEGER
);

CREATE TABLE serving (
    name     TEXT PRIMARY KEY NOT NULL,
    batch_id TEXT NOT NULL REFERENCES batches (id)
);

CREATE TABLE view_rows (
    batch_id TEXT NOT NULL,
    view     TEXT NOT NULL,
    key      TEXT NOT NULL,
    sub      TEXT NOT NULL,
    category TEXT NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (batch_id, view, key, sub, category)
) WITHOUT ROWID;

-- Each incident's last state in a batch: what the serving layer takes out of the views
-- when the speed layer holds a newer state of the same incident.
CREATE TABLE batch_incidents (
    batch_id    TEXT NOT NULL,
    id          TEXT NOT NULL,
    cell        TEXT NOT NULL,
    category    TEXT NOT NULL,
    occurred_ms INTEGER NOT NULL,
    offset_s    INTEGER NOT NULL,
    counted     INTEGER NOT NULL,
    PRIMARY KEY (batch_id, id)
) WITHOUT ROWID;
