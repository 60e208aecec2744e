-- What an operator decided about a parked event (see the postgres twin).
ALTER TABLE parked_events ADD COLUMN resolution TEXT CHECK (resolution IN ('retried', 'skipped'));
ALTER TABLE parked_events ADD COLUMN resolved_at TEXT;
ALTER TABLE parked_events ADD COLUMN note TEXT;
