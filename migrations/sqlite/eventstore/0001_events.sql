-- The event log. One row per event, never updated or deleted.
--
-- position is the rowid: every append runs in a BEGIN IMMEDIATE transaction (one writer
-- at a time, across processes), takes max(rowid)+1, and a rolled-back append leaves
-- nothing behind, so positions have no gaps and ascend in commit order. That makes
-- "position > cursor" a correct all-stream read. No AUTOINCREMENT: with no deletes it
-- would only add a write to sqlite_sequence per append.
CREATE TABLE events (
    position       INTEGER PRIMARY KEY,
    event_id       TEXT    NOT NULL UNIQUE,  -- idempotent retries are detected by it
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL CHECK (version >= 0),
    type           TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    data           BLOB    NOT NULL,         -- exact bytes: the hash chain covers them
    metadata       BLOB    NOT NULL,
    recorded_at    TEXT    NOT NULL,         -- UTC, 2006-01-02T15:04:05.000000Z
    UNIQUE (stream_id, version)              -- also the index for stream reads and max(version)
);

-- An audit log that can be edited proves nothing: refuse it at the engine.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are immutable');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are immutable');
END;
