-- Reporters' edits of reports the server already has, one row per edit. The device makes
-- the edit id, so a retried edit finds its row and gets the same answer. An edit that
-- arrived while the report was still unverified became the report's next version
-- ('applied', with that version); one that arrived after moderation is kept here for the
-- moderators ('kept') and the report is unchanged.
CREATE TABLE revisions (
    edit_id      TEXT PRIMARY KEY NOT NULL,
    incident_id  TEXT NOT NULL REFERENCES incidents (id),
    author_id    TEXT REFERENCES users (id) ON DELETE SET NULL,
    base_version BIGINT NOT NULL,
    body         TEXT NOT NULL,
    decision     TEXT NOT NULL CHECK (decision IN ('applied', 'kept')),
    version      BIGINT,
    received_at  BIGINT NOT NULL
);
CREATE INDEX revisions_incident ON revisions (incident_id, received_at);
