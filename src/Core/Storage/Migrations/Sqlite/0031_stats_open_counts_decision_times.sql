-- Statistics and the digest at 1,000,000 requests and more (issue 13). (On SQLite the trigger that sets appeared_at
-- on insert already runs only for a request inserted decided.)
-- 1. The number of open requests (pending or waiting for the agent) by status, kept by the statistics folder from the
--    changes it folds, so the statistics read one row per status instead of counting every open request. The folder
--    fills it once (stats_backfills 'open_counts') from the stored requests less the changes not yet folded.
-- 2. Decision times (creation to approve or reject) in order, by creation time: the digest reads its exact median
--    and 90th percentile from here, within the fine bucket the rollups say holds the rank.
CREATE TABLE stats_open (
    status TEXT PRIMARY KEY,
    n      INTEGER NOT NULL
);
INSERT INTO stats_backfills (name) VALUES ('open_counts');

CREATE INDEX ix_approvals_decision_time ON approvals (decided_at - created_at, created_at, decided_at)
    WHERE status IN ('approved', 'rejected');
CREATE INDEX ix_retired_approvals_decision_time ON retired_approvals (decided_at - created_at, created_at, decided_at)
    WHERE status IN ('approved', 'rejected');
