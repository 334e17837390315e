-- Web console sessions: the cookie holds a random id, the table only its SHA-256. A session lasts while its API key
-- is active (joined by key hash at every request), until sign-out (ended_at), its absolute end or an idle timeout.
CREATE TABLE console_sessions (
    id_hash      TEXT PRIMARY KEY,
    key_id       TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    name         TEXT NOT NULL,
    email        TEXT,
    scopes       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ended_at     INTEGER
);
CREATE INDEX ix_console_sessions_key ON console_sessions (key_hash);
-- Trends: outcomes by the time they happened.
CREATE INDEX ix_approvals_decided_at ON approvals (decided_at);
