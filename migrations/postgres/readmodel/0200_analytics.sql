-- Views for analysts over the scans read model. Views, not tables: they are always
-- exactly as current as the projections they read, and need no projection of their own.

-- One row per scan that finished: its outcome and how long its last attempt took.
CREATE VIEW scan_outcomes AS
SELECT s.id AS scan_id,
       s.user_id,
       s.house_id,
       s.status,
       s.attempt AS attempts,
       s.failure_code,
       s.failure_reason,
       s.started_at,
       s.finished_at,
       EXTRACT(EPOCH FROM (s.finished_at - s.started_at))::double precision AS duration_seconds,
       (SELECT count(*) FROM rooms r WHERE r.scan_id = s.id) AS rooms,
       (SELECT count(*) FROM house_room_images i WHERE i.scan_id = s.id) AS images
FROM scans s
WHERE s.status IN ('succeeded', 'failed');

-- Token usage and estimated cost per day, agent and model.
CREATE VIEW agent_costs_daily AS
SELECT date_trunc('day', coalesce(started_at, created_at))::date AS day,
       agent_name,
       coalesce(model, '') AS model,
       count(*) AS runs,
       sum(coalesce(tokens_in, 0)) AS tokens_in,
       sum(coalesce(tokens_out, 0)) AS tokens_out,
       sum(coalesce(cost_usd, 0)) AS cost_usd
FROM agents_runs
GROUP BY 1, 2, 3;
