-- The admin console and the model price registry (adapters/accounts, console.go). Same
-- logical schema as the Postgres one; see there.

CREATE TABLE models_info (
    id             TEXT PRIMARY KEY,
    provider       TEXT NOT NULL,
    model_name     TEXT NOT NULL,
    version        TEXT,
    pricing        TEXT NOT NULL,
    effective_from TEXT NOT NULL,
    effective_to   TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    updated_by     TEXT
);
CREATE UNIQUE INDEX uq_model_effective ON models_info (model_name, effective_from);

ALTER TABLE checklists ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;

CREATE INDEX idx_houses_created ON houses (created_at, id);
CREATE INDEX idx_scans_created ON scans (created_at, id);
CREATE INDEX idx_agents_runs_created ON agents_runs (created_at, id);
CREATE INDEX idx_agents_runs_model ON agents_runs (model_id);
