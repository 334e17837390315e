-- The delivery engine records how the platform answered the last attempt (error_class: not_delivered, ambiguous,
-- permanent, credentials), so a retry searches for an earlier post only when the last answer left it unknown whether
-- the message arrived. body keeps a thread reply's text, so an administrator can retry a failed reply. The partial
-- index lists deliveries that are not posted (failed ones first of all) newest first.
ALTER TABLE chat_messages ADD COLUMN error_class TEXT;
ALTER TABLE chat_messages ADD COLUMN body TEXT;
CREATE INDEX ix_chat_messages_unposted ON chat_messages (state, id) WHERE state <> 'posted';
