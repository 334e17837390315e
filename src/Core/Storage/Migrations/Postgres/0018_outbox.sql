-- The transactional outbox: every effect of a creation, a transition or a follow-up (chat posts, redraws, thread
-- replies, reminders, escalation posts, callbacks, expiry and follow-up scheduling) is recorded here in the same
-- transaction as the change. The dispatcher claims committed rows (claimed_until is a lease, so a process that dies
-- holding one delays the row, never loses it), turns them into Hangfire jobs and marks them handled. request is the
-- request as that change left it, so an effect run later still shows that version; trace_parent continues the trace
-- of the call that made the change. Handled rows are purged after a day.
CREATE TABLE outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    approval_id   text NOT NULL,
    kind          text NOT NULL,
    transition    text,
    actor         text,
    follow_up     text,
    request       text NOT NULL,
    created_at    bigint NOT NULL,
    due_at        bigint NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    claimed_until bigint,
    handled_at    bigint,
    last_error    text,
    trace_parent  text
);
CREATE INDEX ix_outbox_unhandled ON outbox (id) WHERE handled_at IS NULL;
CREATE INDEX ix_outbox_handled ON outbox (handled_at) WHERE handled_at IS NOT NULL;
