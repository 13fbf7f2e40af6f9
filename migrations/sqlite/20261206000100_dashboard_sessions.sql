-- Dashboard sessions: when a session was last used (idle expiry; 0 = not since it started),
-- every session of a user (sign out everywhere), and failed sign-ins per account (lockout).
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX sessions_user ON sessions (user_id);

-- One row per account with recent failed sign-ins (only existing users: a sign-in for an
-- unknown email writes nothing here).
CREATE TABLE login_lockouts (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT
);
