-- Watch groups, moderation and privacy. Times are Unix milliseconds (UTC).

-- A neighbourhood watch group. Groups are never deleted: their private reports must not
-- become public by losing their group.
CREATE TABLE groups (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id  TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role      TEXT NOT NULL CHECK (role IN ('member', 'moderator', 'admin')),
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- Invitations, stored as the SHA-256 of the code: a leaked table lets nobody join.
CREATE TABLE group_invites (
    code_hash  TEXT PRIMARY KEY NOT NULL,
    group_id   TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('member', 'moderator')),
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    max_uses   BIGINT NOT NULL,
    uses       BIGINT NOT NULL DEFAULT 0,
    revoked_at BIGINT
);
CREATE INDEX group_invites_group ON group_invites (group_id);

-- Who may see a report and who made it. `group_id` names the group that moderates it;
-- `private` keeps it to that group's members. `anonymous` hides the reporter from
-- everyone, moderators included. `status_reason` is what the reporter is told on
-- rejection; `merged_into` the incident a duplicate was merged into. `coarsened_at`
-- marks a report whose precise location and reporter link the retention policy removed.
ALTER TABLE incidents ADD COLUMN group_id TEXT REFERENCES groups (id);
ALTER TABLE incidents ADD COLUMN private BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE incidents ADD COLUMN anonymous BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE incidents ADD COLUMN status_reason TEXT;
ALTER TABLE incidents ADD COLUMN merged_into TEXT;
ALTER TABLE incidents ADD COLUMN coarsened_at BIGINT;
CREATE INDEX incidents_group_status ON incidents (group_id, status);
CREATE INDEX incidents_reporter ON incidents (reporter_id);
CREATE INDEX incidents_reported ON incidents (reported_at) WHERE source_kind = 'user_report' AND coarsened_at IS NULL;

-- Every moderation and membership action, in order. Rows are never updated or deleted.
CREATE TABLE moderation_log (
    seq         BIGSERIAL PRIMARY KEY,
    group_id    TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    actor_id    TEXT,
    action      TEXT NOT NULL,
    incident_id TEXT,
    target_user TEXT,
    detail      TEXT NOT NULL DEFAULT '',
    at          BIGINT NOT NULL
);
CREATE INDEX moderation_log_group ON moderation_log (group_id, seq);

-- A deleted account keeps its row (watch-area tombstones and the audit log refer to it)
-- with every personal field emptied.
ALTER TABLE users ADD COLUMN deleted_at BIGINT;
