-- The scans read model (projections/scans). Same logical schema as the Postgres one,
-- whose table and column names follow the original houseScanner schema. SQLite types:
-- ids TEXT; timestamps UTC TEXT 'YYYY-MM-DDTHH:MM:SS.mmmZ' (fixed width, so text order is
-- time order); JSON and string arrays as JSON TEXT; cost_usd as decimal TEXT;
-- booleans INTEGER 0/1.

CREATE TABLE houses (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    address    TEXT,
    house_type TEXT,
    status     TEXT NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'active', 'archived')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX idx_houses_user ON houses (user_id);

CREATE TABLE scans (
    id                   TEXT PRIMARY KEY,
    house_id             TEXT NOT NULL REFERENCES houses (id) ON DELETE CASCADE,
    status               TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    inputs_snapshot      TEXT NOT NULL,
    detected_house_types TEXT DEFAULT '[]',
    started_at           TEXT,
    finished_at          TEXT,
    created_at           TEXT NOT NULL,
    user_id              TEXT NOT NULL,
    attempt              INTEGER NOT NULL DEFAULT 0,
    progress             INTEGER,
    stage                TEXT,
    failure_code         TEXT,
    failure_reason       TEXT,
    version              INTEGER NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX idx_scans_house_created ON scans (house_id, created_at);
CREATE INDEX idx_scans_user_created ON scans (user_id, created_at);

CREATE TABLE rooms (
    id                  TEXT PRIMARY KEY,
    scan_id             TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    ordinal             INTEGER NOT NULL,
    label               TEXT,
    detected_room_types TEXT DEFAULT '[]',
    created_at          TEXT NOT NULL
);
CREATE UNIQUE INDEX rooms_scan_id_ordinal_key ON rooms (scan_id, ordinal);

CREATE TABLE house_room_images (
    id           TEXT PRIMARY KEY,
    scan_id      TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    room_id      TEXT REFERENCES rooms (id) ON DELETE SET NULL,
    url          TEXT NOT NULL,
    tag          TEXT,
    created_at   TEXT NOT NULL,
    blob_key     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    bytes        INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    ordinal      INTEGER NOT NULL
);
CREATE INDEX idx_images_scan_room ON house_room_images (scan_id, room_id);
CREATE INDEX idx_images_room ON house_room_images (room_id);

CREATE TABLE house_scan_summary (
    id             TEXT PRIMARY KEY,
    scan_id        TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    summary_json   TEXT NOT NULL,
    pros_cons_json TEXT,
    cost_summary   TEXT,
    schema_version TEXT,
    derived_at     TEXT NOT NULL
);
CREATE UNIQUE INDEX house_scan_summary_scan_id_key ON house_scan_summary (scan_id);

CREATE TABLE agents_runs (
    id          TEXT PRIMARY KEY,
    scan_id     TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    agent_name  TEXT NOT NULL,
    model_id    TEXT,
    input_json  TEXT,
    output_json TEXT,
    prompt_hash TEXT,
    tokens_in   INTEGER,
    tokens_out  INTEGER,
    cost_usd    TEXT,
    cache_hit   INTEGER NOT NULL DEFAULT 0,
    started_at  TEXT,
    finished_at TEXT,
    created_at  TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    model       TEXT
);
CREATE INDEX idx_agents_runs_scan_agent ON agents_runs (scan_id, agent_name, created_at);
