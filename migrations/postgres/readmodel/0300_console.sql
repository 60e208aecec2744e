-- The admin console and the model price registry (adapters/accounts, console.go).
-- models_info is plain state like checklists, not a projection: every change through the
-- API is also an entry of the access trail (who, when, what).

-- Model prices with the dates they apply from (contracts section 4, models_info). A
-- price for a model from a date is unique; setting it again replaces that row, and
-- agent runs keep the cost they were recorded with.
CREATE TABLE models_info (
    id             uuid PRIMARY KEY,
    provider       text NOT NULL,
    model_name     text NOT NULL,
    version        text,
    pricing        json NOT NULL,  -- as posted; scanledger reads inputPerMillion and outputPerMillion (USD)
    effective_from timestamp(3) NOT NULL,
    effective_to   timestamp(3),
    created_at     timestamp(3) NOT NULL,
    updated_at     timestamp(3) NOT NULL,  -- scanledger
    updated_by     uuid                    -- scanledger: the admin who last set it
);
CREATE UNIQUE INDEX uq_model_effective ON models_info (model_name, effective_from);

-- scanledger: a base checklist is disabled instead of losing is_base (the original's
-- toggle turned base rows into ownerless, invisible rows and could promote private ones).
ALTER TABLE checklists ADD COLUMN enabled boolean NOT NULL DEFAULT true;

-- The console lists newest first, a page at a time.
CREATE INDEX idx_houses_created ON houses (created_at, id);
CREATE INDEX idx_scans_created ON scans (created_at, id);
CREATE INDEX idx_agents_runs_created ON agents_runs (created_at, id);
CREATE INDEX idx_agents_runs_model ON agents_runs (model_id);
