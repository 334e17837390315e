-- Scoped standing grants: a person who approved one request also approves the matching requests of the same agent
-- (requesting key and agent id) until a deadline, up to a number of uses and a total estimated cost. Costs are kept
-- in millionths (the precision of approvals.estimated_cost) so that limits are exact integer comparisons.
CREATE TABLE grants (
    id                    TEXT PRIMARY KEY,
    created_by_email      TEXT,
    created_by_key_id     TEXT NOT NULL,
    agent_key_id          TEXT NOT NULL,
    agent_id              TEXT,
    action_name           TEXT NOT NULL,
    inputs_hash           TEXT,
    expires_at            INTEGER NOT NULL,
    max_uses              INTEGER,
    uses                  INTEGER NOT NULL DEFAULT 0,
    max_total_cost_micros INTEGER,
    cost_used_micros      INTEGER NOT NULL DEFAULT 0,
    revoked_at            INTEGER,
    revoked_by            TEXT,
    route_name            TEXT,
    source_approval_id    TEXT NOT NULL REFERENCES approvals (id),
    created_at            INTEGER NOT NULL,
    CHECK (max_uses IS NULL OR uses <= max_uses),
    CHECK (max_total_cost_micros IS NULL OR cost_used_micros <= max_total_cost_micros)
);

-- Intake looks up the live grants of one agent key and action.
CREATE INDEX ix_grants_intake ON grants (agent_key_id, action_name, expires_at) WHERE revoked_at IS NULL;
CREATE INDEX ix_grants_created ON grants (created_at, id);

-- The grant that approved a request at intake.
ALTER TABLE approvals ADD COLUMN grant_id TEXT;
