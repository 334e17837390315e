-- Every server process records itself while it runs (a heartbeat every few seconds), and each chat delivery claim
-- records which process holds it and since when. A claim held by a process that stopped (no heartbeat for a few
-- intervals, or its row removed at a clean stop) is taken over at once instead of waiting out the in-flight window.
CREATE TABLE server_instances (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    started_at bigint NOT NULL,
    last_seen  bigint NOT NULL
);
ALTER TABLE chat_messages ADD COLUMN claim_instance text;
ALTER TABLE chat_messages ADD COLUMN claim_taken_at bigint;
