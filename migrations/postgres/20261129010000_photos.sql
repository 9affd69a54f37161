-- Photos attached to residents' reports, stored with their metadata (EXIF, XMP, text
-- chunks) already removed. Kept in the store, so a photo is as durable as its report.
CREATE TABLE photos (
    incident_id  TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    n            BIGINT NOT NULL,
    content_type TEXT NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    sha256       TEXT NOT NULL,
    bytes        BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (incident_id, n)
);
CREATE UNIQUE INDEX photos_incident_sha ON photos (incident_id, sha256);
