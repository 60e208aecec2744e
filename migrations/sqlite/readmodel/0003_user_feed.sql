-- The live-update history per user (projections/feed); the relay replays from it.

CREATE TABLE user_feed (
    -- AUTOINCREMENT: ids of pruned rows are never handed out again.
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    scan_id    TEXT NOT NULL,
    event      TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CONSTRAINT user_feed_user_id_seq_key UNIQUE (user_id, seq)
);
CREATE INDEX idx_user_feed_created ON user_feed (created_at);

CREATE TABLE user_feed_scans (
    scan_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE user_feed_cursors (
    user_id  TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
) WITHOUT ROWID;
