-- What an operator decided about a parked event (`scanledger projections parked retry|skip`):
-- 'retried' once it was applied after a fix, 'skipped' when it is to stay unapplied, with
-- when and why. Unresolved rows (resolution NULL) are the parked events still listed.
ALTER TABLE parked_events ADD COLUMN resolution text CHECK (resolution IN ('retried', 'skipped'));
ALTER TABLE parked_events ADD COLUMN resolved_at timestamp(3);
ALTER TABLE parked_events ADD COLUMN note text;
