-- Per-attempt and per-checklist-item summaries (see the postgres twin). SQLite keeps
-- timestamps as fixed-width UTC text, booleans as 0/1 and cost_usd as decimal text.

CREATE TABLE scan_attempts (
    scan_id        TEXT NOT NULL,
    attempt        INTEGER NOT NULL,
    retry          INTEGER NOT NULL,
    house_type     TEXT,
    status         TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    failure_code   TEXT,
    failure_reason TEXT,
    will_retry     INTEGER NOT NULL DEFAULT 0,
    started_at     TEXT NOT NULL,
    finished_at    TEXT,
    duration_ms    INTEGER,
    PRIMARY KEY (scan_id, attempt)
);
CREATE INDEX idx_scan_attempts_finished ON scan_attempts (finished_at);

CREATE TABLE scan_checklist_items (
    scan_id     TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    scope       TEXT NOT NULL CHECK (scope IN ('house', 'room', 'product')),
    room_id     TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    item_type   TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('pass', 'fail', 'answered', 'not_assessed')),
    value       TEXT,
    assessed_at TEXT NOT NULL,
    PRIMARY KEY (scan_id, scope, room_id, item_id)
);
CREATE INDEX idx_scan_checklist_items_at ON scan_checklist_items (assessed_at);

CREATE VIEW scan_costs AS
SELECT scan_id,
       attempt,
       count(*) AS runs,
       sum(coalesce(tokens_in, 0)) AS tokens_in,
       sum(coalesce(tokens_out, 0)) AS tokens_out,
       sum(CAST(coalesce(cost_usd, '0') AS REAL)) AS cost_usd
FROM agents_runs
GROUP BY 1, 2;
