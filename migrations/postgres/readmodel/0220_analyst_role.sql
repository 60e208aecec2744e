-- The read-only analyst role (docs/analytics.md). scanledger_analyst is a NOLOGIN group
-- role: operators create login roles IN ROLE scanledger_analyst for people and BI
-- tools. It may SELECT the analytics views and the scan read tables, and nothing else:
-- no accounts, password hashes, refresh tokens or login attempts, no event store
-- (whose payloads hold addresses), no live feed or job queue. Personal data is left
-- out column by column: houses.address and scans.inputs_snapshot (which repeats the
-- address) are not granted. Nothing is granted by default privileges, so a table added
-- later stays private until a migration grants it.
--
-- Roles belong to the whole PostgreSQL cluster; the grants belong to this database.
-- When the application's own role may not create roles, the migration grants nothing
-- and says so; an operator can create the role and re-run the GRANTs below.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'scanledger_analyst') THEN
        BEGIN
            CREATE ROLE scanledger_analyst NOLOGIN;
        EXCEPTION
            WHEN duplicate_object THEN NULL; -- another database's migration won the race
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'scanledger_analyst not created: this role may not create roles (see docs/analytics.md)';
                RETURN;
        END;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO scanledger_analyst', current_schema());
    GRANT SELECT ON scan_outcomes, agent_costs_daily, scan_costs TO scanledger_analyst;
    GRANT SELECT ON rooms, house_room_images, house_scan_summary, agents_runs,
                    scan_attempts, scan_checklist_items, projection_checkpoints TO scanledger_analyst;
    GRANT SELECT (id, house_id, status, detected_house_types, started_at, finished_at, created_at,
                  user_id, attempt, progress, stage, failure_code, failure_reason, version, updated_at)
        ON scans TO scanledger_analyst;
    GRANT SELECT (id, user_id, house_type, status, created_at, updated_at) ON houses TO scanledger_analyst;
END
$$;
