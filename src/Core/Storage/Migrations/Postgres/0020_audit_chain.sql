-- The tamper-evident audit chain. Every event gets a place in one chain (seq, gapless from 1) and a hash over its
-- content and the previous event's hash. Events are sealed into the chain after they commit, by one sealer at a time
-- (a transaction-scoped advisory lock), in the order the sealer finds them: the chain order is the sealing order,
-- well-defined however many writers commit concurrently, and nobody on the write path waits for the chain.
ALTER TABLE approval_events ADD COLUMN seq bigint;
ALTER TABLE approval_events ADD COLUMN prev_hash text;
ALTER TABLE approval_events ADD COLUMN hash text;
CREATE UNIQUE INDEX ux_approval_events_seq ON approval_events (seq);
CREATE INDEX ix_approval_events_unsealed ON approval_events (id) WHERE seq IS NULL;
CREATE INDEX ix_approval_events_at ON approval_events (at, seq);

-- Retention deletes a prefix of the chain; a checkpoint signed with the server's key records where the remaining
-- chain starts (the last deleted event's seq and hash), so the rest still verifies.
CREATE TABLE audit_checkpoints (
    seq              bigint PRIMARY KEY,
    hash             text NOT NULL,
    at               bigint NOT NULL,
    deleted_requests bigint NOT NULL,
    deleted_events   bigint NOT NULL,
    key_id           text NOT NULL,
    signature        text NOT NULL
);

-- The statistics columns of requests retention deleted: the statistics, trends and digest read approval_facts, so
-- their figures do not change when old requests go.
CREATE TABLE retired_approvals (
    id          text PRIMARY KEY,
    created_at  bigint NOT NULL,
    expires_at  bigint NOT NULL,
    decided_at  bigint,
    status      text NOT NULL,
    priority    text NOT NULL,
    risk_level  text,
    route_name  text
);
CREATE INDEX ix_retired_approvals_stats ON retired_approvals (created_at, status, priority, risk_level, decided_at, expires_at);

CREATE VIEW approval_facts AS
    SELECT id, created_at, expires_at, decided_at, status, priority, risk_level, route_name FROM approvals
    UNION ALL
    SELECT id, created_at, expires_at, decided_at, status, priority, risk_level, route_name FROM retired_approvals;

-- The trail stays append-only, with two exceptions the chain needs: sealing (seq and hashes set once, nothing else
-- changed) and deleting events a checkpoint already covers (retention writes the checkpoint first).
CREATE OR REPLACE FUNCTION approval_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
        AND NEW.id = OLD.id AND NEW.approval_id = OLD.approval_id AND NEW.kind = OLD.kind AND NEW.at = OLD.at
        AND NEW.actor IS NOT DISTINCT FROM OLD.actor AND NEW.actor_key_id IS NOT DISTINCT FROM OLD.actor_key_id
        AND NEW.surface = OLD.surface AND NEW.details IS NOT DISTINCT FROM OLD.details THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' AND OLD.seq IS NOT NULL AND OLD.seq <= (SELECT MAX(seq) FROM audit_checkpoints) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'approval_events is append-only';
END;
$$;
