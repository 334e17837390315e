-- The transactional outbox: every effect of a creation, a transition or a follow-up (chat posts, redraws, thread
-- replies, reminders, escalation posts, callbacks, expiry and follow-up scheduling) is recorded here in the same
-- transaction as the change. The dispatcher claims committed rows (claimed_until is a lease, so a process that dies
-- holding one delays the row, never loses it), turns them into Hangfire jobs and marks them handled. request is the
-- request as that change left it, so an effect run later still shows that version; trace_parent continues the trace
-- of the call that made the change. Handled rows are purged after a day.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    approval_id   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    transition    TEXT,
    actor         TEXT,
    follow_up     TEXT,
    request       TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    due_at        INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    claimed_until INTEGER,
    handled_at    INTEGER,
    last_error    TEXT,
    trace_parent  TEXT
);
CREATE INDEX ix_outbox_unhandled ON outbox (id) WHERE handled_at IS NULL;
CREATE INDEX ix_outbox_handled ON outbox (handled_at) WHERE handled_at IS NOT NULL;
