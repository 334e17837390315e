-- Where the bot has been installed (Teams teams, group chats and personal chats): what it needs to post there later.
CREATE TABLE chat_conversations (
    surface         TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    kind            TEXT NOT NULL,
    channel_id      TEXT,
    team_id         TEXT,
    tenant_id       TEXT,
    service_url     TEXT NOT NULL,
    bot_id          TEXT,
    user_id         TEXT,
    installed_at    INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    removed_at      INTEGER,
    PRIMARY KEY (surface, conversation_id)
);
CREATE INDEX ix_chat_conversations_channel ON chat_conversations (surface, channel_id);
CREATE INDEX ix_chat_conversations_team ON chat_conversations (surface, team_id);
