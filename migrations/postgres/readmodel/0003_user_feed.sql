-- The live-update history per user (projections/feed); the relay replays from it.
-- Timestamps are timestamp(3) without time zone, in UTC.

CREATE TABLE user_feed (
    id         bigserial PRIMARY KEY,  -- global order; one writer, so commit order too
    user_id    uuid NOT NULL,
    seq        bigint NOT NULL,        -- per user from 1, never reused (see user_feed_cursors)
    scan_id    uuid NOT NULL,
    event      text NOT NULL,          -- wire event name, e.g. 'scan:progress'
    payload    json NOT NULL,          -- wire payload, kept byte for byte (json, not jsonb)
    created_at timestamp(3) NOT NULL,  -- the event's occurredAt
    CONSTRAINT user_feed_user_id_seq_key UNIQUE (user_id, seq)
);
CREATE INDEX idx_user_feed_created ON user_feed (created_at);

-- The feed's own scan -> owner map, so it never reads another projection's tables.
CREATE TABLE user_feed_scans (
    scan_id uuid PRIMARY KEY,
    user_id uuid NOT NULL
);

-- The last seq handed out per user; kept when old rows are pruned, so seqs never restart.
CREATE TABLE user_feed_cursors (
    user_id  uuid PRIMARY KEY,
    last_seq bigint NOT NULL
);
