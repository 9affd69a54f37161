-- On-device risk hints: the newest risk model the server published, and the cells of the
-- watch areas cached for offline hints.

-- At most one model: the one the cached cells go with.
CREATE TABLE risk_model (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    version    TEXT NOT NULL,
    -- manifest.json and model.safetensors, as published.
    manifest   BLOB NOT NULL,
    weights    BLOB NOT NULL,
    fetched_at TEXT NOT NULL
);

-- Every cell asked for, for the model of `version`. `stats` is the cell's JSON
-- (vigil_sync::risk::CellStats), or NULL when the server had no incidents near it: the
-- cell is covered, and quiet.
CREATE TABLE risk_cells (
    cell    TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    stats   TEXT
);
