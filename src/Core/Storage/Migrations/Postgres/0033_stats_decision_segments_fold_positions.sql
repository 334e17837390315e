-- Statistics and the digest at 1,000,000 requests and more (issue 13):
-- 1. A coarse level of decision times: the eleven segments of the fine bucket table (under 1 s, 1-10 s, 10-60 s,
--    1-5 min, 5-15 min, 15-60 min, 1-4 h, 4-24 h, 1-7 days, 7-366 days, 366 days and more), by creation period and
--    status, kept by the statistics folder with the fine buckets. The median of a window finds the segment that holds
--    it from these rows (about 60 per day instead of 400 fine ones) and reads only that segment's fine buckets; the
--    decision-time histogram reads them alone (its edges, 1, 5, 15, 60 min, 4 h and 24 h, are segment edges). Filled
--    here from the fine rows already folded, so the changes not yet folded go into both levels on their next fold.
-- 2. Fold positions: each fold that moves changes into the statistics or the suggestions rollups adds one to its
--    position in the same transaction, so a reader can tell that nothing was folded since it last read (and reuse what
--    it read then), on every server instance.
SELECT pg_advisory_xact_lock(7413290460);

CREATE TABLE stats_decision_segments (
    segment  integer PRIMARY KEY,
    lower_us bigint NOT NULL UNIQUE,
    upper_us bigint NOT NULL
);
INSERT INTO stats_decision_segments (segment, lower_us, upper_us) VALUES
    (0, 0, 1000000), (1, 1000000, 10000000), (2, 10000000, 60000000), (3, 60000000, 300000000),
    (4, 300000000, 900000000), (5, 900000000, 3600000000), (6, 3600000000, 14400000000),
    (7, 14400000000, 86400000000), (8, 86400000000, 604800000000), (9, 604800000000, 31622400000000),
    (10, 31622400000000, 9223372036854775807);

CREATE TABLE stats_decision_segment_rollup (
    span    bigint NOT NULL,
    start   bigint NOT NULL,
    status  text NOT NULL,
    segment integer NOT NULL,
    n       bigint NOT NULL,
    PRIMARY KEY (span, start, status, segment)
);
INSERT INTO stats_decision_segment_rollup (span, start, status, segment, n)
SELECT r.span, r.start, r.status, s.segment, SUM(r.n)
FROM stats_decision_rollup r
JOIN stats_decision_buckets b ON b.bucket = r.bucket
JOIN stats_decision_segments s ON b.lower_us >= s.lower_us AND b.lower_us < s.upper_us
GROUP BY r.span, r.start, r.status, s.segment
HAVING SUM(r.n) <> 0;

CREATE TABLE stats_fold_positions (
    name     text PRIMARY KEY,
    position bigint NOT NULL
);
INSERT INTO stats_fold_positions (name, position) VALUES ('stats', 0), ('suggestions', 0);
