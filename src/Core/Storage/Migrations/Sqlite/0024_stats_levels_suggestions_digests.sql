-- Statistics at 1,000,000 requests and more (issue 13); see the PostgreSQL script for the whole story.
-- 1. A five-minute level in the statistics rollups, backfilled once by the statistics folder (this migration may
--    run before 0025, so it cannot name its tables).
-- 2. The suggestions from hourly and daily rollups, with when each decision's request appeared to the decider.
-- 3. The weekly digest of a finished week, kept once computed.
CREATE TABLE stats_backfills (name TEXT PRIMARY KEY);
INSERT INTO stats_backfills (name) VALUES ('five_minutes');

-- When an approved or rejected request appeared to the person who decided it: its first post on the surface the
-- decision came from, else its creation. Null while undecided. Kept by the triggers below.
ALTER TABLE approvals ADD COLUMN appeared_at INTEGER;

UPDATE approvals SET appeared_at = COALESCE((SELECT MIN(m.posted_at) FROM chat_messages m
    WHERE m.approval_id = approvals.id AND m.surface = approvals.decided_via AND m.posted_at IS NOT NULL), created_at)
WHERE status IN ('approved', 'rejected');

CREATE TABLE suggestion_changes (
    decided_at  INTEGER NOT NULL,
    agent_id    TEXT NOT NULL,
    action_name TEXT NOT NULL,
    approver    TEXT,
    status      TEXT NOT NULL,
    fast        INTEGER NOT NULL,
    n           INTEGER NOT NULL
);

CREATE TABLE suggestion_pair_rollup (
    span             INTEGER NOT NULL,
    start            INTEGER NOT NULL,
    agent_id         TEXT NOT NULL,
    action_name      TEXT NOT NULL,
    approved         INTEGER NOT NULL,
    rejected         INTEGER NOT NULL,
    last_approved_at INTEGER,
    PRIMARY KEY (span, start, agent_id, action_name)
);
CREATE INDEX ix_suggestion_pair_rollup_unknown ON suggestion_pair_rollup (span, start) WHERE last_approved_at = -1;

CREATE TABLE suggestion_approver_rollup (
    span      INTEGER NOT NULL,
    start     INTEGER NOT NULL,
    approver  TEXT NOT NULL,
    approvals INTEGER NOT NULL,
    fast      INTEGER NOT NULL,
    PRIMARY KEY (span, start, approver)
);

-- Backfill: every decision stored so far (before the triggers, so each is appended once).
INSERT INTO suggestion_changes (decided_at, agent_id, action_name, approver, status, fast, n)
SELECT decided_at, COALESCE(agent_id, ''), action_name, COALESCE(LOWER(decided_by_email), decided_by_key_id), status,
       CASE WHEN status = 'approved' AND decided_at - appeared_at < 10000000 THEN 1 ELSE 0 END, 1
FROM approvals
WHERE status IN ('approved', 'rejected') AND decided_at IS NOT NULL AND grant_id IS NULL AND COALESCE(decided_via, '') <> 'system';

-- appeared_at follows the decision (SQLite has one writer at a time, so no decision and post race).
CREATE TRIGGER tr_approvals_appeared_insert AFTER INSERT ON approvals
WHEN NEW.status IN ('approved', 'rejected')
BEGIN
    UPDATE approvals SET appeared_at = COALESCE((SELECT MIN(m.posted_at) FROM chat_messages m
        WHERE m.approval_id = NEW.id AND m.surface = NEW.decided_via AND m.posted_at IS NOT NULL), NEW.created_at)
    WHERE id = NEW.id;
END;
CREATE TRIGGER tr_approvals_appeared_update AFTER UPDATE ON approvals
WHEN OLD.status IS NOT NEW.status OR OLD.decided_via IS NOT NEW.decided_via OR OLD.created_at <> NEW.created_at
BEGIN
    UPDATE approvals SET appeared_at = CASE WHEN NEW.status IN ('approved', 'rejected') THEN
        COALESCE((SELECT MIN(m.posted_at) FROM chat_messages m
                  WHERE m.approval_id = NEW.id AND m.surface = NEW.decided_via AND m.posted_at IS NOT NULL), NEW.created_at) END
    WHERE id = NEW.id;
END;

-- A post recorded (or removed) on a decided request moves when it appeared.
CREATE TRIGGER tr_chat_messages_appeared_insert AFTER INSERT ON chat_messages
WHEN NEW.posted_at IS NOT NULL
BEGIN
    UPDATE approvals SET appeared_at = COALESCE((SELECT MIN(m.posted_at) FROM chat_messages m
        WHERE m.approval_id = approvals.id AND m.surface = approvals.decided_via AND m.posted_at IS NOT NULL), created_at)
    WHERE id = NEW.approval_id AND appeared_at IS NOT NULL;
END;
CREATE TRIGGER tr_chat_messages_appeared_update AFTER UPDATE ON chat_messages
WHEN OLD.posted_at IS NOT NEW.posted_at OR OLD.surface <> NEW.surface OR OLD.approval_id <> NEW.approval_id
BEGIN
    UPDATE approvals SET appeared_at = COALESCE((SELECT MIN(m.posted_at) FROM chat_messages m
        WHERE m.approval_id = approvals.id AND m.surface = approvals.decided_via AND m.posted_at IS NOT NULL), created_at)
    WHERE id IN (OLD.approval_id, NEW.approval_id) AND appeared_at IS NOT NULL;
END;
CREATE TRIGGER tr_chat_messages_appeared_delete AFTER DELETE ON chat_messages
WHEN OLD.posted_at IS NOT NULL
BEGIN
    UPDATE approvals SET appeared_at = COALESCE((SELECT MIN(m.posted_at) FROM chat_messages m
        WHERE m.approval_id = approvals.id AND m.surface = approvals.decided_via AND m.posted_at IS NOT NULL), created_at)
    WHERE id = OLD.approval_id AND appeared_at IS NOT NULL;
END;

-- People's decisions entering (n = 1) or leaving (n = -1) the set the suggestions count.
CREATE TRIGGER tr_approvals_suggestion_insert AFTER INSERT ON approvals
WHEN NEW.status IN ('approved', 'rejected') AND NEW.decided_at IS NOT NULL AND NEW.grant_id IS NULL AND COALESCE(NEW.decided_via, '') <> 'system'
BEGIN
    INSERT INTO suggestion_changes (decided_at, agent_id, action_name, approver, status, fast, n)
    VALUES (NEW.decided_at, COALESCE(NEW.agent_id, ''), NEW.action_name, COALESCE(LOWER(NEW.decided_by_email), NEW.decided_by_key_id),
            NEW.status, CASE WHEN NEW.status = 'approved' AND NEW.decided_at - NEW.appeared_at < 10000000 THEN 1 ELSE 0 END, 1);
END;
CREATE TRIGGER tr_approvals_suggestion_update AFTER UPDATE ON approvals
WHEN OLD.status IS NOT NEW.status OR OLD.decided_at IS NOT NEW.decided_at OR OLD.grant_id IS NOT NEW.grant_id
    OR OLD.decided_via IS NOT NEW.decided_via OR OLD.decided_by_email IS NOT NEW.decided_by_email
    OR OLD.decided_by_key_id IS NOT NEW.decided_by_key_id OR OLD.agent_id IS NOT NEW.agent_id
    OR OLD.action_name <> NEW.action_name OR OLD.appeared_at IS NOT NEW.appeared_at
BEGIN
    INSERT INTO suggestion_changes (decided_at, agent_id, action_name, approver, status, fast, n)
    SELECT OLD.decided_at, COALESCE(OLD.agent_id, ''), OLD.action_name, COALESCE(LOWER(OLD.decided_by_email), OLD.decided_by_key_id),
           OLD.status, CASE WHEN OLD.status = 'approved' AND OLD.decided_at - OLD.appeared_at < 10000000 THEN 1 ELSE 0 END, -1
    WHERE OLD.status IN ('approved', 'rejected') AND OLD.decided_at IS NOT NULL AND OLD.grant_id IS NULL AND COALESCE(OLD.decided_via, '') <> 'system'
    UNION ALL
    SELECT NEW.decided_at, COALESCE(NEW.agent_id, ''), NEW.action_name, COALESCE(LOWER(NEW.decided_by_email), NEW.decided_by_key_id),
           NEW.status, CASE WHEN NEW.status = 'approved' AND NEW.decided_at - NEW.appeared_at < 10000000 THEN 1 ELSE 0 END, 1
    WHERE NEW.status IN ('approved', 'rejected') AND NEW.decided_at IS NOT NULL AND NEW.grant_id IS NULL AND COALESCE(NEW.decided_via, '') <> 'system';
END;
CREATE TRIGGER tr_approvals_suggestion_delete AFTER DELETE ON approvals
WHEN OLD.status IN ('approved', 'rejected') AND OLD.decided_at IS NOT NULL AND OLD.grant_id IS NULL AND COALESCE(OLD.decided_via, '') <> 'system'
BEGIN
    INSERT INTO suggestion_changes (decided_at, agent_id, action_name, approver, status, fast, n)
    VALUES (OLD.decided_at, COALESCE(OLD.agent_id, ''), OLD.action_name, COALESCE(LOWER(OLD.decided_by_email), OLD.decided_by_key_id),
            OLD.status, CASE WHEN OLD.status = 'approved' AND OLD.decided_at - OLD.appeared_at < 10000000 THEN 1 ELSE 0 END, -1);
END;

CREATE TABLE digest_weeks (
    week_start  INTEGER NOT NULL,
    shape       TEXT NOT NULL,
    week        TEXT NOT NULL,
    body        TEXT NOT NULL,
    computed_at INTEGER NOT NULL,
    PRIMARY KEY (week_start, shape)
);
