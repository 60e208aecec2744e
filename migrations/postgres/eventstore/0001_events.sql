-- The event log (adapters/postgres). One row per event, never updated or deleted.

-- The current version of every stream. Appends check and move it under the row lock
-- of their own stream only, so writers to different streams never wait for each
-- other, and two writers to one stream are ordered by that lock.
-- fillfactor leaves room on each page for the new row version of every append, so the
-- update stays HOT (no index write) and the table does not bloat.
CREATE TABLE streams (
    stream_id text   PRIMARY KEY,
    version   bigint NOT NULL CHECK (version >= 0)  -- the version of the stream's last event
) WITH (fillfactor = 70);

-- position comes from a sequence, so positions are handed out in insert order but
-- committed in any order: reading "position > last seen" would skip an event whose
-- transaction commits after a later position is read. xid is the appending
-- transaction's id instead: readers only read rows whose xid is below the oldest
-- transaction still running (pg_snapshot_xmin), a set to which nothing can be added
-- any more, in (xid, position) order. That order is the all-stream order, and the
-- pair is the cursor.
CREATE TABLE events (
    position       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid            xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id       uuid        NOT NULL,
    stream_id      text        NOT NULL,
    version        bigint      NOT NULL CHECK (version >= 0),
    type           text        NOT NULL,
    schema_version integer     NOT NULL CHECK (schema_version >= 1),
    -- bytea, not jsonb: the hash chain covers the exact stored bytes, and jsonb
    -- rewrites whitespace, key order and number spelling.
    data           bytea       NOT NULL,
    metadata       bytea       NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    -- Event ids are unique in the whole store: this is what detects an idempotent retry.
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    -- Also the index of stream reads.
    CONSTRAINT events_stream_id_version_key UNIQUE (stream_id, version)
);

-- The all-stream read: WHERE (xid, position) > cursor AND xid < xmin ORDER BY xid, position.
CREATE INDEX events_xid_position ON events (xid, position);

-- An audit log that can be edited proves nothing: refuse it at the engine.
CREATE FUNCTION events_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER events_immutable
    BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_immutable();
