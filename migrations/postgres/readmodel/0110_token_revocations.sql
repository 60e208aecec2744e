-- scanledger: access tokens are stateless for their 15 minutes, so revoking them needs a
-- record: every token of user_id issued at or before revoked_at (Unix seconds, as a
-- token's iat) is refused. Deleting a user revokes their tokens, even when the row is
-- deleted by hand.
CREATE TABLE token_revocations (
    user_id    uuid PRIMARY KEY,
    revoked_at bigint NOT NULL
);

CREATE FUNCTION users_deleted_revoke_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO token_revocations (user_id, revoked_at)
    VALUES (OLD.id, floor(extract(epoch FROM clock_timestamp()))::bigint)
    ON CONFLICT (user_id) DO UPDATE SET revoked_at = excluded.revoked_at;
    RETURN OLD;
END;
$$;

CREATE TRIGGER users_deleted_revoke_tokens AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_deleted_revoke_tokens();
