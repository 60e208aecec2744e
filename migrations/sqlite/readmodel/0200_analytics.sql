-- Views for analysts over the scans read model (see the postgres twin). SQLite keeps
-- timestamps as fixed-width UTC text and cost_usd as decimal text.

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
       (julianday(s.finished_at) - julianday(s.started_at)) * 86400.0 AS duration_seconds,
       (SELECT count(*) FROM rooms r WHERE r.scan_id = s.id) AS rooms,
       (SELECT count(*) FROM house_room_images i WHERE i.scan_id = s.id) AS images
FROM scans s
WHERE s.status IN ('succeeded', 'failed');

CREATE VIEW agent_costs_daily AS
SELECT substr(coalesce(started_at, created_at), 1, 10) AS day,
       agent_name,
       coalesce(model, '') AS model,
       count(*) AS runs,
       sum(coalesce(tokens_in, 0)) AS tokens_in,
       sum(coalesce(tokens_out, 0)) AS tokens_out,
       sum(CAST(coalesce(cost_usd, '0') AS REAL)) AS cost_usd
FROM agents_runs
GROUP BY 1, 2, 3;
