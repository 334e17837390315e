-- Timestamps are microseconds since the Unix epoch (UTC), so the same statements run on PostgreSQL and SQLite
-- and round-trip exactly to the six fractional digits of the wire format.

CREATE TABLE approvals (
    id                   TEXT PRIMARY KEY,
    action_name          TEXT NOT NULL,
    action_description   TEXT,
    agent_id             TEXT,
    run_id               TEXT,
    task_id              TEXT,
    mission_id           TEXT,
    estimated_cost       TEXT,
    risk_level           TEXT,
    priority             TEXT NOT NULL,
    action_inputs        TEXT,
    context              TEXT,
    callback_url         TEXT,
    created_at           INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('pending', 'info_requested', 'approved', 'rejected', 'expired', 'cancelled')),
    decided_at           INTEGER,
    decided_by_email     TEXT,
    decided_by_user_id   TEXT,
    decided_via          TEXT,
    decision_notes       TEXT,
    info_request_message TEXT,
    info_response        TEXT,
    requester_key_id     TEXT NOT NULL,
    requester_email      TEXT,
    idempotency_key      TEXT,
    request_hash         TEXT,
    route_name           TEXT,
    approvers            TEXT,
    version              INTEGER NOT NULL DEFAULT 1,
    updated_at           INTEGER NOT NULL
);

CREATE UNIQUE INDEX ux_approvals_idempotency ON approvals (requester_key_id, idempotency_key);
CREATE INDEX ix_approvals_open_deadline ON approvals (expires_at) WHERE status IN ('pending', 'info_requested');
CREATE INDEX ix_approvals_stats ON approvals (created_at, status, priority, risk_level, decided_at, expires_at);
-- Newest-first listings, overall, per agent and per API key.
CREATE INDEX ix_approvals_created ON approvals (created_at, id);
CREATE INDEX ix_approvals_agent ON approvals (agent_id, created_at, id);
CREATE INDEX ix_approvals_requester ON approvals (requester_key_id, created_at, id);

CREATE TABLE approval_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    approval_id TEXT NOT NULL REFERENCES approvals (id),
    kind        TEXT NOT NULL,
    at          INTEGER NOT NULL,
    actor       TEXT,
    surface     TEXT NOT NULL,
    details     TEXT
);
CREATE INDEX ix_approval_events_approval ON approval_events (approval_id, id);

CREATE TRIGGER tr_approval_events_no_update BEFORE UPDATE ON approval_events
BEGIN
    SELECT RAISE(ABORT, 'approval_events is append-only');
END;
CREATE TRIGGER tr_approval_events_no_delete BEFORE DELETE ON approval_events
BEGIN
    SELECT RAISE(ABORT, 'approval_events is append-only');
END;

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,
    scopes     TEXT NOT NULL,
    email      TEXT,
    created_at INTEGER NOT NULL,
    created_by TEXT,
    revoked_at INTEGER
);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT
);

CREATE TABLE settings_history (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    key          TEXT NOT NULL,
    version      INTEGER NOT NULL,
    value_before TEXT,
    value_after  TEXT NOT NULL,
    at           INTEGER NOT NULL,
    actor        TEXT
);
