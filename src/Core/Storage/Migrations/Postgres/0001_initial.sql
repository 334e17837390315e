-- Timestamps are microseconds since the Unix epoch (UTC), so the same statements run on PostgreSQL and SQLite
-- and round-trip exactly to the six fractional digits of the wire format.

CREATE TABLE approvals (
    id                   text PRIMARY KEY,
    action_name          text NOT NULL,
    action_description   text,
    agent_id             text,
    run_id               text,
    task_id              text,
    mission_id           text,
    estimated_cost       numeric(20, 6),
    risk_level           text,
    priority             text NOT NULL,
    action_inputs        text,
    context              text,
    callback_url         text,
    created_at           bigint NOT NULL,
    expires_at           bigint NOT NULL,
    status               text NOT NULL,
    decided_at           bigint,
    decided_by_email     text,
    decided_by_user_id   text,
    decided_via          text,
    decision_notes       text,
    info_request_message text,
    info_response        text,
    requester_key_id     text NOT NULL,
    requester_email      text,
    idempotency_key      text,
    request_hash         text,
    route_name           text,
    approvers            text,
    version              bigint NOT NULL DEFAULT 1,
    updated_at           bigint NOT NULL,
    CONSTRAINT ck_approvals_status CHECK (status IN ('pending', 'info_requested', 'approved', 'rejected', 'expired', 'cancelled'))
);

-- NULL idempotency keys never collide, so this one index makes keyed creates race-free.
CREATE UNIQUE INDEX ux_approvals_idempotency ON approvals (requester_key_id, idempotency_key);
-- Open requests by deadline: the expiry sweep, pending counts and the inbox.
CREATE INDEX ix_approvals_open_deadline ON approvals (expires_at) WHERE status IN ('pending', 'info_requested');
-- Statistics over a creation window read only this index.
CREATE INDEX ix_approvals_stats ON approvals (created_at, status, priority, risk_level, decided_at, expires_at);
-- Newest-first listings, overall, per agent and per API key.
CREATE INDEX ix_approvals_created ON approvals (created_at, id);
CREATE INDEX ix_approvals_agent ON approvals (agent_id, created_at, id);
CREATE INDEX ix_approvals_requester ON approvals (requester_key_id, created_at, id);

CREATE TABLE approval_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    approval_id text NOT NULL REFERENCES approvals (id),
    kind        text NOT NULL,
    at          bigint NOT NULL,
    actor       text,
    surface     text NOT NULL,
    details     text
);
CREATE INDEX ix_approval_events_approval ON approval_events (approval_id, id);

-- The audit trail is append-only.
CREATE FUNCTION approval_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'approval_events is append-only';
END;
$$;
CREATE TRIGGER tr_approval_events_append_only BEFORE UPDATE OR DELETE ON approval_events
    FOR EACH ROW EXECUTE FUNCTION approval_events_append_only();

CREATE TABLE api_keys (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    prefix     text NOT NULL,
    key_hash   text NOT NULL UNIQUE,
    scopes     text NOT NULL,
    email      text,
    created_at bigint NOT NULL,
    created_by text,
    revoked_at bigint
);

CREATE TABLE settings (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    version    bigint NOT NULL,
    updated_at bigint NOT NULL,
    updated_by text
);

CREATE TABLE settings_history (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key          text NOT NULL,
    version      bigint NOT NULL,
    value_before text,
    value_after  text NOT NULL,
    at           bigint NOT NULL,
    actor        text
);
