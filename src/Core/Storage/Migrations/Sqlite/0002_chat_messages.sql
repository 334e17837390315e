-- Every chat message the server posts (the request's message in a channel, and replies in its thread), one row per
-- (request, surface, channel, delivery key). The row is claimed before the post, so a retried job never posts twice.
CREATE TABLE chat_messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    approval_id     TEXT NOT NULL REFERENCES approvals (id),
    surface         TEXT NOT NULL,
    channel         TEXT NOT NULL,
    delivery_key    TEXT NOT NULL,
    state           TEXT NOT NULL,
    message_id      TEXT,
    thread_id       TEXT,
    conversation_id TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    claimed_at      INTEGER NOT NULL,
    posted_at       INTEGER,
    updated_at      INTEGER NOT NULL,
    CONSTRAINT ck_chat_messages_state CHECK (state IN ('claimed', 'posted', 'failed'))
);
CREATE UNIQUE INDEX ux_chat_messages_delivery ON chat_messages (approval_id, surface, channel, delivery_key);
