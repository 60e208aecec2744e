-- Accounts (adapters/accounts): users, refresh-token state, login attempts and
-- checklists. Table and column names follow the original houseScanner schema (contracts
-- section 4); columns marked "scanledger" are additions. Ids are UUIDs minted by the
-- application; timestamps are timestamp(3) without time zone, in UTC. Enums are text
-- with CHECK constraints, as in the scans read model.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,  -- as the user typed it (trimmed)
    email_key     text NOT NULL,  -- scanledger: lower-cased in Go, so uniqueness and look-ups are
                                  -- case-insensitive the same way on every engine
    first_name    text,
    last_name     text,
    password_hash text NOT NULL,  -- PHC string: argon2id, or bcrypt for imported users
    role          text NOT NULL CHECK (role IN ('user', 'admin', 'auditor', 'analyst')),
    created_at    timestamp(3) NOT NULL,
    updated_at    timestamp(3) NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email_key);

-- One row per refresh token issued (its jti). A family is every token descended from
-- one login; presenting a token rotated longer ago than the grace window revokes it.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,  -- the token's jti
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    issued_at   timestamp(3) NOT NULL,
    expires_at  timestamp(3) NOT NULL,
    rotated_at  timestamp(3),      -- first exchange for a new pair
    replaced_by uuid,              -- the token that first exchange issued
    revoked_at  timestamp(3)
);
CREATE INDEX idx_refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX idx_refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX idx_refresh_tokens_expires ON refresh_tokens (expires_at);

-- Login attempts within the rate-limit window, in the database so that every instance
-- counts the same attempts. A row is written before the password is checked (so
-- parallel guesses count) and removed again when the login succeeds or is refused.
CREATE TABLE login_attempts (
    id           uuid PRIMARY KEY,
    email_key    text NOT NULL,
    ip           text NOT NULL,
    attempted_at timestamp(3) NOT NULL
);
CREATE INDEX idx_login_attempts_email ON login_attempts (email_key, attempted_at);
CREATE INDEX idx_login_attempts_ip ON login_attempts (ip, attempted_at);
CREATE INDEX idx_login_attempts_at ON login_attempts (attempted_at);

CREATE TABLE checklists (
    id         uuid PRIMARY KEY,
    scope      text NOT NULL CHECK (scope IN ('house', 'room', 'product')),
    name       text NOT NULL,
    version    integer NOT NULL DEFAULT 1,
    is_base    boolean NOT NULL DEFAULT true,
    user_id    uuid REFERENCES users (id) ON DELETE CASCADE,
    items_raw  json NOT NULL,  -- json, not jsonb: key order is meaningful (the order of
                               -- house_types is the order the agents choose from)
    created_at timestamp(3) NOT NULL,
    CHECK (is_base = (user_id IS NULL))
);
-- The API keeps one base row per scope and one custom row per user and scope (it
-- updates the row it finds, as the original did); the indexes make that hold under
-- concurrent requests too.
CREATE UNIQUE INDEX checklists_base_scope_key ON checklists (scope) WHERE is_base;
CREATE UNIQUE INDEX checklists_custom_user_scope_key ON checklists (user_id, scope) WHERE NOT is_base;
CREATE INDEX idx_checklists_user ON checklists (user_id);
