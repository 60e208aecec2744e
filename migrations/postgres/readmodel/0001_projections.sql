-- Projection runner bookkeeping. Timestamps are timestamp(3) without time zone, in UTC.

-- Where each projection is in the all-stream (opaque store cursor; '' = the start).
CREATE TABLE projection_checkpoints (
    name       text PRIMARY KEY,
    position   text NOT NULL DEFAULT '',
    updated_at timestamp(3) NOT NULL
);

-- The last version each projection applied per stream: makes re-delivered events no-ops.
CREATE TABLE projection_streams (
    projection text NOT NULL,
    stream_id  text NOT NULL,
    version    bigint NOT NULL,
    PRIMARY KEY (projection, stream_id)
);

-- Events a projection gave up on after retries; the checkpoint moved past them.
CREATE TABLE parked_events (
    projection text NOT NULL,
    event_id   text NOT NULL,
    stream_id  text NOT NULL,
    version    bigint NOT NULL,
    position   text NOT NULL,
    type       text NOT NULL,
    error      text NOT NULL,
    parked_at  timestamp(3) NOT NULL,
    PRIMARY KEY (projection, event_id)
);
