-- Edits of reports already submitted. Each edit has its own id made here, so a retried
-- edit is applied once. The server answers applied (the report's new version), kept as a
-- revision for the moderators (the report had been moderated), or rejected with the field
-- and reason.
CREATE TABLE edits (
    edit_id         TEXT PRIMARY KEY NOT NULL,
    report_id       TEXT NOT NULL,
    base_version    INTEGER NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL
                    CHECK (state IN ('pending', 'applied', 'kept_as_revision', 'rejected')),
    queued_at       INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    version         INTEGER,
    rejected_field  TEXT,
    rejected_reason TEXT,
    answered_at     INTEGER
);
CREATE INDEX edits_pending ON edits (state, queued_at);
CREATE INDEX edits_report ON edits (report_id, queued_at);
