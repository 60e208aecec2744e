-- Work for the worker (projections/jobs): one row per processing attempt. The projector
-- owns state; workers own lease_owner, lease_expires_at and claims.

CREATE TABLE scan_jobs (
    scan_id          uuid NOT NULL,
    attempt          integer NOT NULL,
    state            text NOT NULL CHECK (state IN ('pending', 'done', 'cancelled')),
    lease_owner      text,
    lease_expires_at timestamp(3),
    claims           integer NOT NULL DEFAULT 0,
    created_at       timestamp(3) NOT NULL,
    updated_at       timestamp(3) NOT NULL,
    PRIMARY KEY (scan_id, attempt)
);
CREATE INDEX idx_scan_jobs_pending ON scan_jobs (created_at, scan_id, attempt) WHERE state = 'pending';
