-- The scans read model (projections/scans). Table and column names, types and index
-- names follow the original houseScanner schema (Prisma, contracts section 4) so that
-- analysts' SQL carries over; columns marked "scanledger" are additions. Ids are UUIDs
-- minted by the application; timestamps are timestamp(3) without time zone, in UTC.
-- Status columns are text with CHECK constraints instead of the original enum types.

CREATE TABLE houses (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL,
    address    text,
    house_type text,
    status     text NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'active', 'archived')),
    created_at timestamp(3) NOT NULL,
    updated_at timestamp(3) NOT NULL
);
CREATE INDEX idx_houses_user ON houses (user_id);

CREATE TABLE scans (
    id                   uuid PRIMARY KEY,
    house_id             uuid NOT NULL REFERENCES houses (id) ON DELETE CASCADE,
    status               text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    inputs_snapshot      jsonb NOT NULL,
    detected_house_types text[] DEFAULT ARRAY[]::text[],
    started_at           timestamp(3),
    finished_at          timestamp(3),
    created_at           timestamp(3) NOT NULL,
    user_id              uuid NOT NULL,            -- scanledger: owner (the original joined houses)
    attempt              integer NOT NULL DEFAULT 0, -- scanledger: current processing attempt
    progress             integer,                  -- scanledger: 0-100 while running
    stage                text,                     -- scanledger: progress stage text
    failure_code         text,                     -- scanledger: set when status = 'failed'
    failure_reason       text,                     -- scanledger: set when status = 'failed'
    version              bigint NOT NULL,          -- scanledger: last stream version applied
    updated_at           timestamp(3) NOT NULL     -- scanledger
);
CREATE INDEX idx_scans_house_created ON scans (house_id, created_at);
CREATE INDEX idx_scans_user_created ON scans (user_id, created_at);

CREATE TABLE rooms (
    id                  uuid PRIMARY KEY,
    scan_id             uuid NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    ordinal             integer NOT NULL,
    label               text,
    detected_room_types text[] DEFAULT ARRAY[]::text[],
    created_at          timestamp(3) NOT NULL
);
CREATE UNIQUE INDEX rooms_scan_id_ordinal_key ON rooms (scan_id, ordinal);

CREATE TABLE house_room_images (
    id           uuid PRIMARY KEY,
    scan_id      uuid NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    room_id      uuid REFERENCES rooms (id) ON DELETE SET NULL,
    url          text NOT NULL,    -- the blob key; the API signs a URL from it when reading
    tag          text,
    created_at   timestamp(3) NOT NULL,
    blob_key     text NOT NULL,    -- scanledger
    content_type text NOT NULL,    -- scanledger: sniffed from the bytes
    bytes        bigint NOT NULL,  -- scanledger
    sha256       text NOT NULL,    -- scanledger: hex
    ordinal      integer NOT NULL  -- scanledger: position within its room, from 0
);
CREATE INDEX idx_images_scan_room ON house_room_images (scan_id, room_id);
CREATE INDEX idx_images_room ON house_room_images (room_id);

CREATE TABLE house_scan_summary (
    id             uuid PRIMARY KEY,
    scan_id        uuid NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    summary_json   jsonb NOT NULL,
    pros_cons_json jsonb,
    cost_summary   jsonb,
    schema_version text,
    derived_at     timestamp(3) NOT NULL
);
CREATE UNIQUE INDEX house_scan_summary_scan_id_key ON house_scan_summary (scan_id);

CREATE TABLE agents_runs (
    id          uuid PRIMARY KEY,
    scan_id     uuid NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    agent_name  text NOT NULL,
    model_id    uuid,              -- original FK to models_info, never written
    input_json  jsonb,
    output_json jsonb,
    prompt_hash text,
    tokens_in   integer,
    tokens_out  integer,
    cost_usd    numeric(65, 30),
    cache_hit   boolean NOT NULL DEFAULT false,
    started_at  timestamp(3),
    finished_at timestamp(3),
    created_at  timestamp(3) NOT NULL,
    attempt     integer NOT NULL,  -- scanledger: the processing attempt it belongs to
    model       text               -- scanledger: model name as the analyzer reported it
);
CREATE INDEX idx_agents_runs_scan_agent ON agents_runs (scan_id, agent_name, created_at);
