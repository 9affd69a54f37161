-- Reports made anonymously, and the photos attached to them on this device.

-- Hide who made the report (vigil_sync::ReportSubmission::anonymous).
ALTER TABLE drafts ADD COLUMN anonymous INTEGER NOT NULL DEFAULT 0;

-- Photos, already resized and re-encoded on the device. `report_id` is the draft's id,
-- which the report keeps once submitted; a photo is uploaded once its report is sent.
CREATE TABLE photos (
    report_id    TEXT NOT NULL,
    n            INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    bytes        BLOB NOT NULL,
    added_at     INTEGER NOT NULL,
    -- Set when the server has stored it.
    uploaded_at  INTEGER,
    -- Why the server refused it (it is not tried again), or why the last try failed.
    last_error   TEXT,
    refused      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (report_id, n)
);
CREATE INDEX photos_to_upload ON photos (uploaded_at, refused);
