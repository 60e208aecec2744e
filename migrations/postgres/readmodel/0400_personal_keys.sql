-- scanledger: one AES-256 key per user for the personal fields sealed in events
-- (domain/personal, adapters/accounts Keys). Kept here, outside the immutable event
-- tables, so that a key can be destroyed for good: a destroyed key leaves its row with
-- key NULL and destroyed_at set, so the user never gets a new one.
CREATE TABLE personal_keys (
    user_id      text PRIMARY KEY,
    key          bytea,
    created_at   timestamptz NOT NULL,
    destroyed_at timestamptz,
    CHECK ((key IS NULL) = (destroyed_at IS NOT NULL))
);
