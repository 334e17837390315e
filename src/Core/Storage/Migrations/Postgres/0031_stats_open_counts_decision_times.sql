-- Statistics and the digest at 1,000,000 requests and more (issue 13), and a cheaper create:
-- 1. appeared_at is worked out on insert only for a request inserted already decided (or inserted with a value the
--    trigger corrects): a request created open has none, so the hottest write path no longer runs the function.
-- 2. The number of open requests (pending or waiting for the agent) by status, kept by the statistics folder from the
--    changes it folds, so the statistics read one row per status instead of counting every open request. The folder
--    fills it once (stats_backfills 'open_counts'), under its lock, from the stored requests less the changes not yet
--    folded, as it filled migration 0024's five-minute level.
-- 3. Decision times (creation to approve or reject) in order, by creation time: the digest reads its exact median
--    and 90th percentile from here, within the fine bucket the rollups say holds the rank.
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
