-- Per-attempt and per-checklist-item summaries (projections/analytics), so analysts can
-- ask for failures including retried attempts, processing-time percentiles per attempt
-- and pass/fail/not-assessed rates per checklist item. Timestamps are timestamp(3)
-- without time zone, in UTC.

-- One row per processing attempt of a scan, kept when the scan is re-uploaded (the
-- attempt happened), removed when the scan is deleted.
CREATE TABLE scan_attempts (
    scan_id        uuid NOT NULL,
    attempt        integer NOT NULL,
    retry          integer NOT NULL,     -- 0: the user asked; 1..: an automatic retry
    house_type     text,                 -- first detected type on success, else the user's
    status         text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    failure_code   text,
    failure_reason text,
    will_retry     boolean NOT NULL DEFAULT false, -- failed, and the next attempt started at once
    started_at     timestamp(3) NOT NULL,
    finished_at    timestamp(3),
    duration_ms    bigint,               -- finished_at - started_at
    PRIMARY KEY (scan_id, attempt)
);
CREATE INDEX idx_scan_attempts_finished ON scan_attempts (finished_at);

-- One row per checklist item the latest successful analysis of a scan was asked about:
-- house items once, room and product items once per room. Replaced by the next
-- success, removed by a re-upload or deletion (as house_scan_summary is).
CREATE TABLE scan_checklist_items (
    scan_id     uuid NOT NULL,
    attempt     integer NOT NULL,
    scope       text NOT NULL CHECK (scope IN ('house', 'room', 'product')),
    room_id     text NOT NULL,           -- '' for house items
    item_id     text NOT NULL,
    item_type   text NOT NULL,           -- boolean, categorical, conditional ('' if unknown)
    outcome     text NOT NULL CHECK (outcome IN ('pass', 'fail', 'answered', 'not_assessed')),
    value       text,                    -- the answer as text: true/false, the option, the condition
    assessed_at timestamp(3) NOT NULL,
    PRIMARY KEY (scan_id, scope, room_id, item_id)
);
CREATE INDEX idx_scan_checklist_items_at ON scan_checklist_items (assessed_at);

-- Cost per scan and attempt, from the same agents_runs columns as agent_costs_daily.
CREATE VIEW scan_costs AS
SELECT scan_id,
       attempt,
       count(*) AS runs,
       sum(coalesce(tokens_in, 0)) AS tokens_in,
       sum(coalesce(tokens_out, 0)) AS tokens_out,
       sum(coalesce(cost_usd, 0)) AS cost_usd
FROM agents_runs
GROUP BY 1, 2;
