-- Public-feed connectors (`vigil ingest`).

-- Provenance of a feed record: the address it was fetched from and when that version was
-- fetched. Empty for residents' reports and for files imported before connectors existed.
ALTER TABLE incidents ADD COLUMN source_url TEXT;
ALTER TABLE incidents ADD COLUMN fetched_at BIGINT;
CREATE INDEX incidents_feed_record ON incidents (feed, record_id);

-- How far each configured source has got: its own position (a JSON object: an
-- `:updated_at` watermark and page offset, a month, a row number...), written in the same
-- transaction as the records it covers, so a crash resumes exactly where the last commit
-- ended.
CREATE TABLE ingest_checkpoints (
    source     TEXT PRIMARY KEY NOT NULL,
    position   TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The rows of a record published as several rows (one per offence of an event, or per
-- incident code): the incident is recomputed from all of them whichever page or run
-- brought each one.
CREATE TABLE feed_parts (
    feed      TEXT NOT NULL,
    record_id TEXT NOT NULL,
    part_id   TEXT NOT NULL,
    body      TEXT NOT NULL,
    PRIMARY KEY (feed, record_id, part_id)
);
