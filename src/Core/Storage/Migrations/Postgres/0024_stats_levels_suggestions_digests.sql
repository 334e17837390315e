-- Statistics at 1,000,000 requests and more (issue 13):
-- 1. A five-minute level in the statistics rollups (migration 0025's stats_rollup, stats_decision_rollup and
--    stats_event_rollup, span 300000000), so the edges of a window read from the requests hold at most five minutes of
--    requests. This migration may run before 0025 (a new database) or after it (an upgrade), so it cannot name those
--    tables: it queues the level's backfill here, and the statistics folder runs it once, under its lock.
-- 2. The suggestions from hourly and daily rollups, kept the way the statistics are (a trigger appends changes, the
--    folder moves them), with when each decision's request appeared to the decider recorded on the request.
-- 3. The weekly digest of a finished week, kept once computed.
CREATE TABLE stats_backfills (name text PRIMARY KEY);
INSERT INTO stats_backfills (name) VALUES ('five_minutes');

-- When an approved or rejected request appeared to the person who decided it: its first post on the surface the
-- decision came from, else its creation (the console and the API show a request at once). Null while undecided.
-- Kept by triggers, here and on chat_messages, so a post recorded after the decision still counts, as it did when
-- the suggestions read chat_messages directly.
ALTER TABLE approvals ADD COLUMN appeared_at bigint;

CREATE FUNCTION approval_appeared_at(approval_id text, status text, decided_via text, created_at bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN status IN ('approved', 'rejected') THEN
        COALESCE((SELECT MIN(m.posted_at) FROM chat_messages m
                  WHERE m.approval_id = approval_appeared_at.approval_id AND m.surface = approval_appeared_at.decided_via
                    AND m.posted_at IS NOT NULL), created_at) END
$$;

UPDATE approvals SET appeared_at = approval_appeared_at(id, status, decided_via, created_at) WHERE status IN ('approved', 'rejected');

CREATE FUNCTION approvals_set_appeared_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.appeared_at := approval_appeared_at(NEW.id, NEW.status, NEW.decided_via, NEW.created_at);
    RETURN NEW;
END;
$$;
CREATE TRIGGER tr_approvals_appeared_insert BEFORE INSERT ON approvals
    FOR EACH ROW EXECUTE FUNCTION approvals_set_appeared_at();
CREATE TRIGGER tr_approvals_appeared_update BEFORE UPDATE ON approvals
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.decided_via IS DISTINCT FROM NEW.decided_via
        OR OLD.created_at <> NEW.created_at OR OLD.appeared_at IS DISTINCT FROM NEW.appeared_at)
    EXECUTE FUNCTION approvals_set_appeared_at();

-- A post recorded (or removed) on a decided request moves when it appeared. The share lock waits for a decision being
-- committed at the same time, so the update below sees it.
CREATE FUNCTION chat_messages_appeared_at() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        ids := ARRAY[NEW.approval_id];
    ELSIF TG_OP = 'DELETE' THEN
        ids := ARRAY[OLD.approval_id];
    ELSE
        ids := ARRAY[OLD.approval_id, NEW.approval_id];
    END IF;
    PERFORM 1 FROM approvals WHERE id = ANY (ids) ORDER BY id FOR SHARE;
    UPDATE approvals a SET appeared_at = approval_appeared_at(a.id, a.status, a.decided_via, a.created_at)
    WHERE a.id = ANY (ids) AND a.appeared_at IS NOT NULL
      AND a.appeared_at IS DISTINCT FROM approval_appeared_at(a.id, a.status, a.decided_via, a.created_at);
    RETURN NULL;
END;
$$;
CREATE TRIGGER tr_chat_messages_appeared_insert AFTER INSERT ON chat_messages
    FOR EACH ROW WHEN (NEW.posted_at IS NOT NULL) EXECUTE FUNCTION chat_messages_appeared_at();
CREATE TRIGGER tr_chat_messages_appeared_update AFTER UPDATE ON chat_messages
    FOR EACH ROW WHEN (OLD.posted_at IS DISTINCT FROM NEW.posted_at OR OLD.surface <> NEW.surface OR OLD.approval_id <> NEW.approval_id)
    EXECUTE FUNCTION chat_messages_appeared_at();
CREATE TRIGGER tr_chat_messages_appeared_delete AFTER DELETE ON chat_messages
    FOR EACH ROW WHEN (OLD.posted_at IS NOT NULL) EXECUTE FUNCTION chat_messages_appeared_at();

-- People's decisions (approve or reject, not by a standing grant, not by the system) as the suggestions count them:
-- one row per decision that enters (n = 1) or leaves (n = -1) that set, by the time it was made. agent_id is '' for
-- a request without one; approver is the decider's email in lower case, else their API key id; fast is 1 for an
-- approval given less than 10 seconds (SuggestionRules.FastSeconds) after the request appeared.
CREATE TABLE suggestion_changes (
    decided_at  bigint NOT NULL,
    agent_id    text NOT NULL,
    action_name text NOT NULL,
    approver    text,
    status      text NOT NULL,
    fast        integer NOT NULL,
    n           integer NOT NULL
);

-- Decisions per (agent, action) and per approver by the hour and the day (UTC) they were made in. last_approved_at
-- is the latest approval of the period; -1 while a removed approval makes it unknown (the folder reads it again).
CREATE TABLE suggestion_pair_rollup (
    span             bigint NOT NULL,
    start            bigint NOT NULL,
    agent_id         text NOT NULL,
    action_name      text NOT NULL,
    approved         bigint NOT NULL,
    rejected         bigint NOT NULL,
    last_approved_at bigint,
    PRIMARY KEY (span, start, agent_id, action_name)
);
CREATE INDEX ix_suggestion_pair_rollup_unknown ON suggestion_pair_rollup (span, start) WHERE last_approved_at = -1;

CREATE TABLE suggestion_approver_rollup (
    span      bigint NOT NULL,
    start     bigint NOT NULL,
    approver  text NOT NULL,
    approvals bigint NOT NULL,
    fast      bigint NOT NULL,
    PRIMARY KEY (span, start, approver)
);

CREATE FUNCTION approvals_suggestion_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN ('approved', 'rejected') AND OLD.decided_at IS NOT NULL
        AND OLD.grant_id IS NULL AND COALESCE(OLD.decided_via, '') <> 'system' THEN
        INSERT INTO suggestion_changes (decided_at, agent_id, action_name, approver, status, fast, n)
        VALUES (OLD.decided_at, COALESCE(OLD.agent_id, ''), OLD.action_name, COALESCE(LOWER(OLD.decided_by_email), OLD.decided_by_key_id),
                OLD.status, CASE WHEN OLD.status = 'approved' AND OLD.decided_at - OLD.appeared_at < 10000000 THEN 1 ELSE 0 END, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status IN ('approved', 'rejected') AND NEW.decided_at IS NOT NULL
        AND NEW.grant_id IS NULL AND COALESCE(NEW.decided_via, '') <> 'system' THEN
        INSERT INTO suggestion_changes (decided_at, agent_id, action_name, approver, status, fast, n)
        VALUES (NEW.decided_at, COALESCE(NEW.agent_id, ''), NEW.action_name, COALESCE(LOWER(NEW.decided_by_email), NEW.decided_by_key_id),
                NEW.status, CASE WHEN NEW.status = 'approved' AND NEW.decided_at - NEW.appeared_at < 10000000 THEN 1 ELSE 0 END, 1);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER tr_approvals_suggestion_insert AFTER INSERT ON approvals
    FOR EACH ROW WHEN (NEW.decided_at IS NOT NULL) EXECUTE FUNCTION approvals_suggestion_change();
CREATE TRIGGER tr_approvals_suggestion_update AFTER UPDATE ON approvals
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.decided_at IS DISTINCT FROM NEW.decided_at
        OR OLD.grant_id IS DISTINCT FROM NEW.grant_id OR OLD.decided_via IS DISTINCT FROM NEW.decided_via
        OR OLD.decided_by_email IS DISTINCT FROM NEW.decided_by_email OR OLD.decided_by_key_id IS DISTINCT FROM NEW.decided_by_key_id
        OR OLD.agent_id IS DISTINCT FROM NEW.agent_id OR OLD.action_name <> NEW.action_name
        OR OLD.appeared_at IS DISTINCT FROM NEW.appeared_at)
    EXECUTE FUNCTION approvals_suggestion_change();
CREATE TRIGGER tr_approvals_suggestion_delete AFTER DELETE ON approvals
    FOR EACH ROW WHEN (OLD.decided_at IS NOT NULL) EXECUTE FUNCTION approvals_suggestion_change();

-- Backfill: every decision stored so far.
INSERT INTO suggestion_changes (decided_at, agent_id, action_name, approver, status, fast, n)
SELECT decided_at, COALESCE(agent_id, ''), action_name, COALESCE(LOWER(decided_by_email), decided_by_key_id), status,
       CASE WHEN status = 'approved' AND decided_at - appeared_at < 10000000 THEN 1 ELSE 0 END, 1
FROM approvals
WHERE status IN ('approved', 'rejected') AND decided_at IS NOT NULL AND grant_id IS NULL AND COALESCE(decided_via, '') <> 'system';

-- The digest of a finished week, as JSON, keyed by the week's start and the settings that shape it (the time zone).
CREATE TABLE digest_weeks (
    week_start  bigint NOT NULL,
    shape       text NOT NULL,
    week        text NOT NULL,
    body        text NOT NULL,
    computed_at bigint NOT NULL,
    PRIMARY KEY (week_start, shape)
);
