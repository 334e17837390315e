-- Statistics and the digest at 1,000,000 requests and more (issue 13), and a cheaper create:
-- 1. appeared_at is worked out on insert only for a request inserted already decided (or inserted with a value the
--    trigger corrects): a request created open has none, so the hottest write path no longer runs the function.
-- 2. The number of open requests (pending or waiting for the agent) by status, kept by the statistics folder from the
--    changes it folds, so the statistics read one row per status instead of counting every open request. The folder
--    fills it once (stats_backfills 'open_counts'), under its lock, from the stored requests less the changes not yet
--    folded, as it filled migration 0024's five-minute level.
-- 3. Decision times (creation to approve or reject) in order, by creation time, and per route: the digest reads its
--    exact median, 90th percentile and per-route medians from here, within the fine bucket the rollups say holds the
--    rank. The change rows carry the route, and a rollup of decision times per route in the fine buckets is kept with
--    the others (filled once by the folder, stats_backfills 'route_decisions').
DROP TRIGGER tr_approvals_appeared_insert ON approvals;
CREATE TRIGGER tr_approvals_appeared_insert BEFORE INSERT ON approvals
    FOR EACH ROW WHEN (NEW.status IN ('approved', 'rejected') OR NEW.appeared_at IS NOT NULL)
    EXECUTE FUNCTION approvals_set_appeared_at();

CREATE TABLE stats_open (
    status text PRIMARY KEY,
    n      bigint NOT NULL
);
INSERT INTO stats_backfills (name) VALUES ('open_counts');

CREATE INDEX ix_approvals_decision_time ON approvals ((decided_at - created_at), created_at) INCLUDE (decided_at)
    WHERE status IN ('approved', 'rejected');
CREATE INDEX ix_retired_approvals_decision_time ON retired_approvals ((decided_at - created_at), created_at) INCLUDE (decided_at)
    WHERE status IN ('approved', 'rejected');
CREATE INDEX ix_approvals_route_decision_time ON approvals (COALESCE(route_name, ''), (decided_at - created_at), created_at) INCLUDE (decided_at, route_name)
    WHERE status IN ('approved', 'rejected');
CREATE INDEX ix_retired_approvals_route_decision_time ON retired_approvals (COALESCE(route_name, ''), (decided_at - created_at), created_at) INCLUDE (decided_at, route_name)
    WHERE status IN ('approved', 'rejected');

ALTER TABLE stats_changes ADD COLUMN route_name text;

-- Decision times (approved and rejected) by creation period and route ('' for requests no route matched), in the
-- fine buckets of stats_decision_buckets.
CREATE TABLE stats_route_decision_rollup (
    span       bigint NOT NULL,
    start      bigint NOT NULL,
    route_name text NOT NULL,
    bucket     integer NOT NULL,
    n          bigint NOT NULL,
    PRIMARY KEY (span, start, route_name, bucket)
);
INSERT INTO stats_backfills (name) VALUES ('route_decisions');

CREATE OR REPLACE FUNCTION approvals_stats_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO stats_changes (created_at, decided_at, priority, risk_level, status, route_name, n)
        VALUES (OLD.created_at, OLD.decided_at, OLD.priority, OLD.risk_level, OLD.status, OLD.route_name, -1),
               (NEW.created_at, NEW.decided_at, NEW.priority, NEW.risk_level, NEW.status, NEW.route_name, 1);
    ELSE
        INSERT INTO stats_changes (created_at, decided_at, priority, risk_level, status, route_name, n)
        VALUES (NEW.created_at, NEW.decided_at, NEW.priority, NEW.risk_level, NEW.status, NEW.route_name, 1);
    END IF;
    RETURN NULL;
END;
$$;
DROP TRIGGER tr_approvals_stats_update ON approvals;
CREATE TRIGGER tr_approvals_stats_update AFTER UPDATE ON approvals
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.decided_at IS DISTINCT FROM NEW.decided_at
        OR OLD.created_at <> NEW.created_at OR OLD.priority <> NEW.priority OR OLD.risk_level IS DISTINCT FROM NEW.risk_level
        OR OLD.route_name IS DISTINCT FROM NEW.route_name)
    EXECUTE FUNCTION approvals_stats_change();
