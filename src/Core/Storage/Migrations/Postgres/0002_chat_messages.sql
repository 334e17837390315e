-- Every chat message the server posts (the request's message in a channel, and replies in its thread), one row per
-- (request, surface, channel, delivery key). The row is claimed before the post, so a retried job never posts twice.
CREATE TABLE chat_messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    approval_id     text NOT NULL REFERENCES approvals (id),
    surface         text NOT NULL,
    channel         text NOT NULL,
    delivery_key    text NOT NULL,
    state           text NOT NULL,
    message_id      text,
    thread_id       text,
    conversation_id text,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    claimed_at      bigint NOT NULL,
    posted_at       bigint,
    updated_at      bigint NOT NULL,
    CONSTRAINT ck_chat_messages_state CHECK (state IN ('claimed', 'posted', 'failed'))
);
CREATE UNIQUE INDEX ux_chat_messages_delivery ON chat_messages (approval_id, surface, channel, delivery_key);
