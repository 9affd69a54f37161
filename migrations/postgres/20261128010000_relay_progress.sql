-- How far each relay has published the change feed to the event log. A relay publishes
-- first and records its position second, so a crash in between re-publishes (consumers are
-- idempotent by incident id and version) and never skips.
CREATE TABLE relay_progress (
    relay      TEXT PRIMARY KEY NOT NULL,
    last_seq   BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
