-- scanledger: access tokens are stateless for their 15 minutes, so revoking them needs a
-- record: every token of user_id issued at or before revoked_at (Unix seconds, as a
-- token's iat) is refused. Deleting a user revokes their tokens, even when the row is
-- deleted by hand.
CREATE TABLE token_revocations (
    user_id    TEXT PRIMARY KEY,
    revoked_at INTEGER NOT NULL
);

CREATE TRIGGER users_deleted_revoke_tokens AFTER DELETE ON users
BEGIN
    INSERT INTO token_revocations (user_id, revoked_at) VALUES (OLD.id, CAST(strftime('%s', 'now') AS INTEGER))
    ON CONFLICT (user_id) DO UPDATE SET revoked_at = excluded.revoked_at;
END;
