-- Which server process made each chat delivery's claim, and a liveness record per process (a heartbeat every few
-- seconds): a claim whose process is gone is taken over at once instead of after a time window, and a claim of a
-- process that is alive is never taken over. machine names the host and PID namespace, pid and pid_start the process,
-- so a process on the same machine can tell at once that another one died.
ALTER TABLE chat_messages ADD COLUMN claimed_by TEXT;
CREATE TABLE server_instances (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    machine TEXT,
    pid INTEGER NOT NULL,
    pid_start TEXT,
    started_at INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
);
