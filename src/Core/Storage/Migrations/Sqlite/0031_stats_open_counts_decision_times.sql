-- Statistics and the digest at 1,000,000 requests and more (issue 13). (On SQLite the trigger that sets appeared_at
-- on insert already runs only for a request inserted decided.)
-- 1. The number of open requests (pending or waiting for the agent) by status, kept by the statistics folder from the
--    changes it folds, so the statistics read one row per status instead of counting every open request. The folder
--    fills it once (stats_backfills 'open_counts') from the stored requests less the changes not yet folded.
-- 2. Decision times (creation to approve or reject) in order, by creation time, and per route: the digest reads its
--    exact median, 90th percentile and per-route medians from here, within the fine bucket the rollups say holds the
--    rank. The change rows carry the route, and a rollup of decision times per route in the fine buckets is kept with
--    the others (filled once by the folder, stats_backfills 'route_decisions').
CREATE TABLE stats_open (
    status TEXT PRIMARY KEY,
    n      INTEGER NOT NULL
);
INSERT INTO stats_backfills (name) VALUES ('open_counts');

CREATE INDEX ix_approvals_decision_time ON approvals (decided_at - created_at, created_at, decided_at)
    WHERE status IN ('approved', 'rejected');
CREATE INDEX ix_retired_approvals_decision_time ON retired_approvals (decided_at - created_at, created_at, decided_at)
    WHERE status IN ('approved', 'rejected');
CREATE INDEX ix_approvals_route_decision_time ON approvals (COALESCE(route_name, ''), decided_at - created_at, created_at, decided_at, route_name)
    WHERE status IN ('approved', 'rejected');
CREATE INDEX ix_retired_approvals_route_decision_time ON retired_approvals (COALESCE(route_name, ''), decided_at - created_at, created_at, decided_at, route_name)
    WHERE status IN ('approved', 'rejected');

ALTER TABLE stats_changes ADD COLUMN route_name TEXT;

CREATE TABLE stats_route_decision_rollup (
    span       INTEGER NOT NULL,
    start      INTEGER NOT NULL,
    route_name TEXT NOT NULL,
    bucket     INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (span, start, route_name, bucket)
);
INSERT INTO stats_backfills (name) VALUES ('route_decisions');

DROP TRIGGER tr_approvals_stats_insert;
DROP TRIGGER tr_approvals_stats_update;
CREATE TRIGGER tr_approvals_stats_insert AFTER INSERT ON approvals
BEGIN
    INSERT INTO stats_changes (created_at, decided_at, priority, risk_level, status, route_name, n)
    VALUES (NEW.created_at, NEW.decided_at, NEW.priority, NEW.risk_level, NEW.status, NEW.route_name, 1);
END;
CREATE TRIGGER tr_approvals_stats_update AFTER UPDATE ON approvals
WHEN OLD.status IS NOT NEW.status OR OLD.decided_at IS NOT NEW.decided_at OR OLD.created_at <> NEW.created_at
    OR OLD.priority <> NEW.priority OR OLD.risk_level IS NOT NEW.risk_level OR OLD.route_name IS NOT NEW.route_name
BEGIN
    INSERT INTO stats_changes (created_at, decided_at, priority, risk_level, status, route_name, n)
    VALUES (OLD.created_at, OLD.decided_at, OLD.priority, OLD.risk_level, OLD.status, OLD.route_name, -1),
           (NEW.created_at, NEW.decided_at, NEW.priority, NEW.risk_level, NEW.status, NEW.route_name, 1);
END;
