-- Accounts (adapters/accounts): users, refresh-token state, login attempts and
-- checklists. Same logical schema as the Postgres one. SQLite types: ids TEXT;
-- timestamps UTC TEXT 'YYYY-MM-DDTHH:MM:SS.mmmZ' (fixed width, so text order is time
-- order); JSON as TEXT; booleans INTEGER 0/1.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL,  -- lower-cased in Go: case-insensitive uniqueness on every engine
    first_name    TEXT,
    last_name     TEXT,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('user', 'admin', 'auditor', 'analyst')),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email_key);

-- One row per refresh token issued (its jti); see the Postgres migration.
CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   TEXT NOT NULL,
    issued_at   TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    rotated_at  TEXT,
    replaced_by TEXT,
    revoked_at  TEXT
);
CREATE INDEX idx_refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX idx_refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX idx_refresh_tokens_expires ON refresh_tokens (expires_at);

-- Login attempts within the rate-limit window, shared by every process on the file.
CREATE TABLE login_attempts (
    id           TEXT PRIMARY KEY,
    email_key    TEXT NOT NULL,
    ip           TEXT NOT NULL,
    attempted_at TEXT NOT NULL
);
CREATE INDEX idx_login_attempts_email ON login_attempts (email_key, attempted_at);
CREATE INDEX idx_login_attempts_ip ON login_attempts (ip, attempted_at);
CREATE INDEX idx_login_attempts_at ON login_attempts (attempted_at);

CREATE TABLE checklists (
    id         TEXT PRIMARY KEY,
    scope      TEXT NOT NULL CHECK (scope IN ('house', 'room', 'product')),
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL DEFAULT 1,
    is_base    INTEGER NOT NULL DEFAULT 1,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    items_raw  TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CHECK (is_base = (user_id IS NULL))
);
CREATE UNIQUE INDEX checklists_base_scope_key ON checklists (scope) WHERE is_base;
CREATE UNIQUE INDEX checklists_custom_user_scope_key ON checklists (user_id, scope) WHERE NOT is_base;
CREATE INDEX idx_checklists_user ON checklists (user_id);
