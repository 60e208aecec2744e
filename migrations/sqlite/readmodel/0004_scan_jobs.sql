-- Work for the worker (projections/jobs): one row per processing attempt. The projector
-- owns state; workers own lease_owner, lease_expires_at and claims.

CREATE TABLE scan_jobs (
    scan_id          TEXT NOT NULL,
    attempt          INTEGER NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'done', 'cancelled')),
    lease_owner      TEXT,
    lease_expires_at TEXT,
    claims           INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (scan_id, attempt)
) WITHOUT ROWID;
CREATE INDEX idx_scan_jobs_pending ON scan_jobs (created_at, scan_id, attempt) WHERE state = 'pending';
