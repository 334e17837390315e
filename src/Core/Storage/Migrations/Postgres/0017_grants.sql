-- Scoped standing grants: a person who approved one request also approves the matching requests of the same agent
-- (requesting key and agent id) until a deadline, up to a number of uses and a total estimated cost. Costs are kept
-- in millionths (the precision of approvals.estimated_cost) so that limits are exact integer comparisons.
CREATE TABLE grants (
    id                    text PRIMARY KEY,
    created_by_email      text,
    created_by_key_id     text NOT NULL,
    agent_key_id          text NOT NULL,
    agent_id              text,
    action_name           text NOT NULL,
    inputs_hash           text,
    expires_at            bigint NOT NULL,
    max_uses              bigint,
    uses                  bigint NOT NULL DEFAULT 0,
    max_total_cost_micros bigint,
    cost_used_micros      bigint NOT NULL DEFAULT 0,
    revoked_at            bigint,
    revoked_by            text,
    route_name            text,
    source_approval_id    text NOT NULL REFERENCES approvals (id),
    created_at            bigint NOT NULL,
    CONSTRAINT ck_grants_uses CHECK (max_uses IS NULL OR uses <= max_uses),
    CONSTRAINT ck_grants_cost CHECK (max_total_cost_micros IS NULL OR cost_used_micros <= max_total_cost_micros)
);

-- Intake looks up the live grants of one agent key and action.
CREATE INDEX ix_grants_intake ON grants (agent_key_id, action_name, expires_at) WHERE revoked_at IS NULL;
CREATE INDEX ix_grants_created ON grants (created_at, id);

-- The grant that approved a request at intake.
ALTER TABLE approvals ADD COLUMN grant_id text;
