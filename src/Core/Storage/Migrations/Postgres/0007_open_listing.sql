-- The inbox (open requests, newest first): without it, listing pending requests read every open request through the
-- deadline index and sorted them (75 ms at 20,000 open of 1,000,000 stored); with it, the newest are read in order.
CREATE INDEX ix_approvals_open_created ON approvals (created_at, id) WHERE status IN ('pending', 'info_requested');
