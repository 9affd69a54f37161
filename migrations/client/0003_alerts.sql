-- Watch areas as the server takes them, and the alerts inbox.
--
-- `watch_areas` replaces `areas`: the area is kept as the wire form the server accepts
-- (`vigil_sync::watch::WatchAreaSpec`, JSON), with whether the server has the latest
-- change. `pending` areas are sent on the next sync; `deleting` ones are removed there
-- first, then here. Circles saved before this version are carried over as pending.
CREATE TABLE watch_areas (
    id          TEXT PRIMARY KEY NOT NULL,
    spec        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'synced', 'deleting')),
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

INSERT INTO watch_areas (id, spec, state, created_at, updated_at)
SELECT id,
       json_object(
           'name', name,
           'shape', json_object('circle', json_object(
               'lat', centre_lat, 'lon', centre_lon, 'radius_m', radius_m)),
           'categories', json(categories),
           'min_severity', 1),
       'pending', created_at, created_at
FROM areas
WHERE radius_m IS NOT NULL AND centre_lat IS NOT NULL AND centre_lon IS NOT NULL;

-- Never written by an earlier version (alerts had no source before the inbox).
DROP TABLE alerts;
DROP TABLE areas;

-- The person's alerts (`vigil_sync::watch::Alert`, JSON), by the server's id, which grows
-- by one per person: the largest id here is where the stream and the pull resume.
CREATE TABLE alert_inbox (
    id          INTEGER PRIMARY KEY NOT NULL,
    at          INTEGER NOT NULL,
    body        TEXT NOT NULL,
    -- Set once an OS notification covered it (or it was decided none was needed).
    notified_at INTEGER,
    read_at     INTEGER
);
CREATE INDEX alert_inbox_unnotified ON alert_inbox (id) WHERE notified_at IS NULL;
