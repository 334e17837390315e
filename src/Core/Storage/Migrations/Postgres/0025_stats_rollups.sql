-- Statistics from rollups. Every insert into approvals and every change of a statistics column appends a change row
-- in the same transaction (a trigger, so no path that writes approvals can forget it); folding moves the changes
-- into per-hour and per-day (UTC) rollups. Readers fold first, so they see every committed change. Appending keeps
-- concurrent writers off shared counter rows: a creation never waits for another creation's commit.
CREATE TABLE stats_changes (
    created_at  bigint NOT NULL,
    decided_at  bigint,
    priority    text NOT NULL,
    risk_level  text,
    status      text NOT NULL,
    n           integer NOT NULL
);

-- Requests by creation period: counts per status and the summed time to an approve or reject decision.
CREATE TABLE stats_rollup (
    span        bigint NOT NULL,  -- 3600000000 (an hour) or 86400000000 (a day), in microseconds
    start       bigint NOT NULL,  -- a multiple of span since the Unix epoch
    priority    text NOT NULL,
    risk_level  text NOT NULL,    -- '' when the request had none
    status      text NOT NULL,
    n           bigint NOT NULL,
    decision_us bigint NOT NULL,
    PRIMARY KEY (span, start, priority, risk_level, status)
);

-- Time to decision (approved and rejected) by creation period, in fine buckets: bucket i holds times in
-- [lower_us, upper_us). The coarse edges of the decision-time histogram (1, 5, 15, 60 min, 4 h, 24 h) are bucket
-- edges, so the histogram is exact; percentiles are exact to within the width of their bucket.
CREATE TABLE stats_decision_buckets (
    bucket   integer PRIMARY KEY,
    lower_us bigint NOT NULL UNIQUE,
    upper_us bigint NOT NULL
);
WITH RECURSIVE segments (lower_us, upper_us, step) AS (
    VALUES (0::bigint, 1000000::bigint, 50000::bigint),   -- under 1 s: 50 ms
           (1000000, 10000000, 250000),                    -- 1-10 s: 250 ms
           (10000000, 60000000, 1000000),                  -- 10-60 s: 1 s
           (60000000, 300000000, 5000000),                 -- 1-5 min: 5 s
           (300000000, 900000000, 15000000),               -- 5-15 min: 15 s
           (900000000, 3600000000, 60000000),              -- 15-60 min: 1 min
           (3600000000, 14400000000, 300000000),           -- 1-4 h: 5 min
           (14400000000, 86400000000, 1200000000),         -- 4-24 h: 20 min
           (86400000000, 604800000000, 3600000000),        -- 1-7 days: 1 h
           (604800000000, 31622400000000, 43200000000),    -- 7-366 days: 12 h
           (31622400000000, 31622400000001, 1)),           -- 366 days and more (beyond any deadline)
edges (lower_us, upper_us, step) AS (
    SELECT lower_us, upper_us, step FROM segments
    UNION ALL
    SELECT lower_us + step, upper_us, step FROM edges WHERE lower_us + step < upper_us)
INSERT INTO stats_decision_buckets (bucket, lower_us, upper_us)
SELECT ROW_NUMBER() OVER (ORDER BY lower_us) - 1, lower_us,
       COALESCE(LEAD(lower_us) OVER (ORDER BY lower_us), 9223372036854775807)
FROM edges;

CREATE TABLE stats_decision_rollup (
    span   bigint NOT NULL,
    start  bigint NOT NULL,
    status text NOT NULL,
    bucket integer NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (span, start, status, bucket)
);

-- What happened in each period: 'created' by creation time; approved, rejected, expired and cancelled by the time
-- of the outcome (decided_at, which an expiry sets to the deadline).
CREATE TABLE stats_event_rollup (
    span  bigint NOT NULL,
    start bigint NOT NULL,
    kind  text NOT NULL,
    n     bigint NOT NULL,
    PRIMARY KEY (span, start, kind)
);

CREATE FUNCTION approvals_stats_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO stats_changes (created_at, decided_at, priority, risk_level, status, n)
        VALUES (OLD.created_at, OLD.decided_at, OLD.priority, OLD.risk_level, OLD.status, -1),
               (NEW.created_at, NEW.decided_at, NEW.priority, NEW.risk_level, NEW.status, 1);
    ELSE
        INSERT INTO stats_changes (created_at, decided_at, priority, risk_level, status, n)
        VALUES (NEW.created_at, NEW.decided_at, NEW.priority, NEW.risk_level, NEW.status, 1);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER tr_approvals_stats_insert AFTER INSERT ON approvals
    FOR EACH ROW EXECUTE FUNCTION approvals_stats_change();
CREATE TRIGGER tr_approvals_stats_update AFTER UPDATE ON approvals
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.decided_at IS DISTINCT FROM NEW.decided_at
        OR OLD.created_at <> NEW.created_at OR OLD.priority <> NEW.priority OR OLD.risk_level IS DISTINCT FROM NEW.risk_level)
    EXECUTE FUNCTION approvals_stats_change();

-- Outcomes at the edges of a trend window are read by their time.
CREATE INDEX ix_approvals_decided ON approvals (decided_at) WHERE decided_at IS NOT NULL;
CREATE INDEX ix_retired_approvals_decided ON retired_approvals (decided_at) WHERE decided_at IS NOT NULL;

-- Backfill: every request stored so far, including the statistics rows of requests retention deleted. Retention
-- deletes approvals without a change row, so its requests stay counted.
INSERT INTO stats_changes (created_at, decided_at, priority, risk_level, status, n)
SELECT created_at, decided_at, priority, risk_level, status, 1 FROM approval_facts;
