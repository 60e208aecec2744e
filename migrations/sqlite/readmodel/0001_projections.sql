-- Projection runner bookkeeping. Timestamps are UTC text 'YYYY-MM-DDTHH:MM:SS.mmmZ'
-- (fixed width, so text order is time order).

-- Where each projection is in the all-stream (opaque store cursor; '' = the start).
CREATE TABLE projection_checkpoints (
    name       TEXT PRIMARY KEY,
    position   TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);

-- The last version each projection applied per stream: makes re-delivered events no-ops.
CREATE TABLE projection_streams (
    projection TEXT NOT NULL,
    stream_id  TEXT NOT NULL,
    version    INTEGER NOT NULL,
    PRIMARY KEY (projection, stream_id)
) WITHOUT ROWID;

-- Events a projection gave up on after retries; the checkpoint moved past them.
CREATE TABLE parked_events (
    projection TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    stream_id  TEXT NOT NULL,
    version    INTEGER NOT NULL,
    position   TEXT NOT NULL,
    type       TEXT NOT NULL,
    error      TEXT NOT NULL,
    parked_at  TEXT NOT NULL,
    PRIMARY KEY (projection, event_id)
);
