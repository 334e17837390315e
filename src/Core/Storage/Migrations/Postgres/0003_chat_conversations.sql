-- Where the bot has been installed (Teams teams, group chats and personal chats): what it needs to post there later.
CREATE TABLE chat_conversations (
    surface         text NOT NULL,
    conversation_id text NOT NULL,
    kind            text NOT NULL,
    channel_id      text,
    team_id         text,
    tenant_id       text,
    service_url     text NOT NULL,
    bot_id          text,
    user_id         text,
    installed_at    bigint NOT NULL,
    updated_at      bigint NOT NULL,
    removed_at      bigint,
    PRIMARY KEY (surface, conversation_id)
);
CREATE INDEX ix_chat_conversations_channel ON chat_conversations (surface, channel_id);
CREATE INDEX ix_chat_conversations_team ON chat_conversations (surface, team_id);
