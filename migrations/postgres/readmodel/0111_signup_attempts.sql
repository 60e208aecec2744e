-- scanledger: every signup, by client address, so that signups per address are limited
-- across every instance sharing this database (see adapters/accounts LoginLimits).
CREATE TABLE signup_attempts (
    id           uuid PRIMARY KEY,
    ip           text NOT NULL,
    attempted_at timestamp(3) NOT NULL
);
CREATE INDEX idx_signup_attempts_ip ON signup_attempts (ip, attempted_at);
CREATE INDEX idx_signup_attempts_at ON signup_attempts (attempted_at);
