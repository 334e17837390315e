using System.Data.Common;
using System.Globalization;
using System.Text.RegularExpressions;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Stats;
using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>
/// Statistics, trends and the decision-time histogram from rollups (migration 0025), the same definitions as a scan
/// of every request: a window [from, to) is read as whole UTC days and hours from the rollups and the partial hours at
/// its edges from the requests themselves. An open request past its deadline reads as expired (at its deadline) even
/// before the expiry job has updated its row: the rollups hold the stored status, and the few overdue open requests
/// are read through the open-deadline index and moved to expired. Counts, sums and the histogram are exact; a median
/// is exact while the window holds at most <see cref="ExactPercentileLimit"/> requests, and otherwise read from the
/// fine decision-time buckets, within the width of the bucket that holds it (docs/benchmarks.md).
/// </summary>
public sealed class ApprovalStatsStore(Database database) : ITrendStore
{
    public const long FiveMinutesUs = 300_000_000L;
    public const long HourUs = 3_600_000_000L;
    public const long DayUs = 86_400_000_000L;
    private const string Open = ApprovalSql.OpenStatuses;
    private const string Decided = "('approved', 'rejected')";

    /// <summary>Windows with more requests than this take their median from the histogram.</summary>
    public long ExactPercentileLimit { get; init; } = 20_000;

    private IReadOnlyList<(long Lower, long Upper)>? _buckets;

    // ---- folding --------------------------------------------------------------------------------------------------

    /// <summary>The rollup levels, finest first.</summary>
    private static readonly long[] Spans = [FiveMinutesUs, HourUs, DayUs];

    private static string SpansValues(IEnumerable<long> spans) => string.Join(" UNION ALL ", spans.Select(s => $"SELECT CAST({s} AS bigint) AS span"));

    /// <summary>The statements that add the change rows of <paramref name="source"/> (a query returning created_at,
    /// decided_at, priority, risk_level, status, route_name and n) to the rollups of <paramref name="spans"/> (none: no
    /// rollup), with <paramref name="openCounts"/> to the open counts (<c>stats_open</c>), and to the decision times per
    /// route of <paramref name="routeSpans"/> (<c>stats_route_decision_rollup</c>). On PostgreSQL one statement
    /// whose first CTE is the source; on SQLite one statement per table, each reading the source.</summary>
    private static string[] FoldStatements(StorageProvider provider, string source, IReadOnlyList<long> spans, bool openCounts,
        IReadOnlyList<long> routeSpans)
    {
        var values = SpansValues(spans);
        var pg = provider == StorageProvider.Postgres;
        var from = pg ? "moved" : $"({source}) moved";
        // A level of decision-time counts (fine buckets, coarse segments): each decided change counted in the range of
        // <bounds> (lower_us inclusive, upper_us exclusive) its decision time falls in, keyed by <key>.
        string DecisionLevel(string rollup, string bounds, string key) => $"""
            INSERT INTO {rollup} AS r (span, start, status, {key}, n)
            SELECT span, created_at - created_at % span, status, x.{key}, SUM(n)
            FROM {from} CROSS JOIN ({values}) spans
            JOIN {bounds} x ON decided_at - created_at >= x.lower_us AND decided_at - created_at < x.upper_us
            WHERE status IN {Decided}
            GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT (span, start, status, {key}) DO UPDATE SET n = r.n + excluded.n
            """;
        // "WHERE true" keeps SQLite's parser from reading ON CONFLICT as part of the SELECT's join.
        string[] rollups = spans.Count == 0 ? [] :
        [
            $"""
            INSERT INTO stats_rollup AS r (span, start, priority, risk_level, status, n, decision_us)
            SELECT span, created_at - created_at % span, priority, COALESCE(risk_level, ''), status, SUM(n),
                   SUM(CASE WHEN status IN {Decided} THEN n * (decided_at - created_at) ELSE 0 END)
            FROM {from} CROSS JOIN ({values}) spans WHERE true
            GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
            ON CONFLICT (span, start, priority, risk_level, status)
            DO UPDATE SET n = r.n + excluded.n, decision_us = r.decision_us + excluded.decision_us
            """,
            DecisionLevel("stats_decision_rollup", "stats_decision_buckets", "bucket"),
            DecisionLevel("stats_decision_segment_rollup", "stats_decision_segments", "segment"),
            $"""
            INSERT INTO stats_event_rollup AS r (span, start, kind, n)
            SELECT span, t - t % span, kind, SUM(n)
            FROM (SELECT created_at AS t, 'created' AS kind, n FROM {from}
                  UNION ALL
                  SELECT decided_at, status, n FROM {from} WHERE status NOT IN {Open} AND decided_at IS NOT NULL) e
            CROSS JOIN ({values}) spans WHERE true
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (span, start, kind) DO UPDATE SET n = r.n + excluded.n
            """,
        ];
        string[] open = !openCounts ? [] :
        [
            $"""
            INSERT INTO stats_open AS r (status, n)
            SELECT status, SUM(n) FROM {from} WHERE status IN {Open}
            GROUP BY status ORDER BY status
            ON CONFLICT (status) DO UPDATE SET n = r.n + excluded.n
            """,
        ];
        string[] routes = routeSpans.Count == 0 ? [] :
        [
            $"""
            INSERT INTO stats_route_decision_rollup AS r (span, start, route_name, bucket, n)
            SELECT span, created_at - created_at % span, COALESCE(route_name, ''), b.bucket, SUM(n)
            FROM {from} CROSS JOIN ({SpansValues(routeSpans)}) spans
            JOIN stats_decision_buckets b ON decided_at - created_at >= b.lower_us AND decided_at - created_at < b.upper_us
            WHERE status IN {Decided}
            GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT (span, start, route_name, bucket) DO UPDATE SET n = r.n + excluded.n
            """,
        ];
        string[] upserts = [.. rollups, .. open, .. routes];
        if (!pg)
        {
            return upserts;
        }
        var ctes = string.Join(",\n", upserts.Select((u, i) => $"u{i} AS (\n{u})"));
        return [$"WITH moved AS ({source}),\n{ctes}\nSELECT COUNT(*) FROM moved"];
    }

    private const string ChangeColumns = "created_at, decided_at, priority, risk_level, status, route_name, n";

    private static readonly string PostgresFoldSql = FoldStatements(StorageProvider.Postgres,
        $"DELETE FROM stats_changes WHERE ctid = ANY (ARRAY(SELECT ctid FROM stats_changes LIMIT @batch)) RETURNING {ChangeColumns}", Spans, openCounts: true, Spans)[0];

    // SQLite: one writer at a time (BEGIN IMMEDIATE), so the changes read by the inserts are the ones deleted after.
    private static readonly string[] SqliteFoldSql =
        [.. FoldStatements(StorageProvider.Sqlite, $"SELECT {ChangeColumns} FROM stats_changes WHERE rowid <= @last", Spans, openCounts: true, Spans), "DELETE FROM stats_changes WHERE rowid <= @last"];

    private const string SqliteBatchEndSql = "SELECT MAX(rowid) FROM (SELECT rowid FROM stats_changes ORDER BY rowid LIMIT @batch)";

    /// <summary>A level added after the rollups were first filled (migration 0024's five minutes) is filled from what
    /// the other levels hold: every request as stored, less the changes not yet folded (the fold that follows adds
    /// them to every level). One statement per rollup reads both, so no change is counted twice or missed.</summary>
    private static readonly string BackfillSource =
        $"SELECT {ChangeColumns} FROM (SELECT created_at, decided_at, priority, risk_level, status, route_name, 1 AS n FROM approval_facts " +
        $"UNION ALL SELECT created_at, decided_at, priority, risk_level, status, route_name, -n FROM stats_changes) f";

    private bool _backfilled;

    /// <summary>Changes moved per transaction: a backlog (rows inserted with SQL, a long time without readers) is folded
    /// in steps that each commit well within a command timeout.</summary>
    public int FoldBatchSize { get; init; } = 50_000;

    /// <summary>Moves the changes committed so far into the rollups. Every reader folds first; the statistics job
    /// folds too, so the change rows stay few when nobody reads.</summary>
    public async Task FoldAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await FoldAsync(connection, ct);
    }

    /// <summary>Folds unless another folder is folding (PostgreSQL): false, at once, when it is. The minute job folds
    /// this way: a folder at work is already moving the changes, and a job waiting behind a long fold (a backlog of
    /// millions of changes takes many minutes) would hold a job worker the whole time, one more every minute, until no
    /// worker is left for expiry and follow-ups.</summary>
    public async Task<bool> TryFoldAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await FoldAsync(connection, ct, wait: false) != Busy;
    }

    /// <summary>The fold position returned when a fold did not wait for another folder (here and in
    /// <see cref="SuggestionStore"/>).</summary>
    internal const long Busy = long.MinValue;

    /// <summary>Folds, and returns the fold position (migration 0033) that the rollups hold at least: what a reader
    /// read at one position it may reuse while the position has not moved (-1, matching none, when changes committed
    /// during the fold wait for the next one).</summary>
    private async Task<long> FoldAsync(DbConnection connection, CancellationToken ct, bool wait = true)
    {
        if (!_backfilled && !await BackfillAsync(connection, wait, ct))
        {
            return Busy;
        }
        var (backlog, done) = (false, false);
        long pending, position;
        while (true)
        {
            // One snapshot: whether changes wait, and the position of the last fold, which the rollups read after this
            // hold (or a later one). Read again after a fold, so the position is the one after it; a batch that was
            // not full ends the loop (changes committed since wait for the next read, so steady writes cannot hold it).
            (pending, position) = await connection.QuerySingleAsync<(long, long)>(new CommandDefinition(FoldStateSql, cancellationToken: ct));
            if (pending == 0 || done)
            {
                break;
            }
            var moved = await FoldBatchAsync(connection, wait, ct);
            if (moved is null)
            {
                return Busy;
            }
            var full = moved >= FoldBatchSize;
            backlog |= full;
            done = !full;
        }
        if (backlog)
        {
            await ReclaimAsync(database, connection, "stats_changes", ct);
        }
        // Changes committed during the fold are not in the rollups yet: no position to reuse a read at.
        return pending == 0 ? position : -1;
    }

    private const string FoldStateSql = """
        SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM stats_changes) THEN 1 ELSE 0 END AS bigint), (SELECT position FROM stats_fold_positions WHERE name = 'stats')
        """;

    /// <summary>Adds one to a fold position (migration 0033), in the fold's transaction.</summary>
    internal static Task AdvanceAsync(DbConnection connection, DbTransaction tx, string name, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition("UPDATE stats_fold_positions SET position = position + 1 WHERE name = @name", new { name }, tx, cancellationToken: ct));

    /// <summary>After a backlog of changes was folded (rows inserted with SQL, a long time without readers): on
    /// PostgreSQL the emptied pages stay in the table until a vacuum truncates them, and every fold's emptiness check
    /// and batch read scan them (43 ms for the 9,000 pages a million changes leave). A vacuum right away gives them
    /// back, so the next reads do not wait for autovacuum. Nothing to do on SQLite, whose deletes free the pages.</summary>
    internal static async Task ReclaimAsync(Database database, DbConnection connection, string table, CancellationToken ct)
    {
        if (database.Provider == StorageProvider.Postgres)
        {
            await connection.ExecuteAsync(new CommandDefinition($"VACUUM {table}", commandTimeout: 0, cancellationToken: ct));
        }
    }

    /// <summary>A fold's transaction, holding the folder's lock; null, without waiting, when <paramref name="wait"/> is
    /// false and another folder holds it.</summary>
    private async Task<DbTransaction?> BeginFoldAsync(DbConnection connection, bool wait, CancellationToken ct) =>
        await BeginFolderAsync(database, connection, 7413290460, wait, ct);

    /// <summary>A transaction holding folder lock <paramref name="lockKey"/> (PostgreSQL; SQLite's write transaction is
    /// one writer at a time already); null when <paramref name="wait"/> is false and another folder holds it. The
    /// statement after the lock sees every fold committed before it. A reader waits as long as another folder's batch
    /// takes (the request's own cancellation still ends the wait): under load a batch of a backlog can take longer
    /// than the command timeout, which failed the first read after a bulk insert.</summary>
    internal static async Task<DbTransaction?> BeginFolderAsync(Database database, DbConnection connection, long lockKey, bool wait, CancellationToken ct)
    {
        var tx = await database.BeginWriteAsync(connection, ct);
        if (database.Provider != StorageProvider.Postgres)
        {
            return tx;
        }
        if (wait)
        {
            await connection.ExecuteAsync(new CommandDefinition($"SELECT pg_advisory_xact_lock({lockKey})", transaction: tx, commandTimeout: 0, cancellationToken: ct));
            return tx;
        }
        if (await connection.ExecuteScalarAsync<bool>(new CommandDefinition($"SELECT pg_try_advisory_xact_lock({lockKey})", transaction: tx, cancellationToken: ct)))
        {
            return tx;
        }
        await tx.DisposeAsync();
        return null;
    }

    /// <summary>Fills what migrations 0024 and 0031 queued, once; afterwards (in this process) nothing is queued again.
    /// False when it did not wait for another folder.</summary>
    private async Task<bool> BackfillAsync(DbConnection connection, bool wait, CancellationToken ct)
    {
        await using var tx = await BeginFoldAsync(connection, wait, ct);
        if (tx is null)
        {
            return false;
        }
        var queued = (await connection.QueryAsync<string>(new CommandDefinition("SELECT name FROM stats_backfills", transaction: tx, cancellationToken: ct))).ToList();
        // Migration 0024's five-minute level, migration 0031's open counts and decision times per route.
        foreach (var (name, spans, openCounts, routeSpans) in new (string Name, long[] Spans, bool OpenCounts, long[] RouteSpans)[]
            { ("five_minutes", [FiveMinutesUs], false, []), ("open_counts", [], true, []), ("route_decisions", [], false, Spans) })
        {
            if (!queued.Contains(name))
            {
                continue;
            }
            foreach (var sql in FoldStatements(database.Provider, BackfillSource, spans, openCounts, routeSpans))
            {
                await connection.ExecuteAsync(new CommandDefinition(sql, transaction: tx, commandTimeout: 0, cancellationToken: ct));
            }
            await connection.ExecuteAsync(new CommandDefinition("DELETE FROM stats_backfills WHERE name = @name", new { name }, tx, cancellationToken: ct));
            await AdvanceAsync(connection, tx, "stats", ct);
        }
        await tx.CommitAsync(ct);
        _backfilled = true;
        return true;
    }

    /// <summary>Moves up to <see cref="FoldBatchSize"/> changes into the rollups in one transaction; how many it moved,
    /// or null when it did not wait for another folder.</summary>
    private async Task<long?> FoldBatchAsync(DbConnection connection, bool wait, CancellationToken ct)
    {
        var p = new { batch = FoldBatchSize };
        await using var tx = await BeginFoldAsync(connection, wait, ct);
        if (tx is null)
        {
            return null;
        }
        long moved;
        if (database.Provider == StorageProvider.Postgres)
        {
            moved = await connection.ExecuteScalarAsync<long>(new CommandDefinition(PostgresFoldSql, p, tx, commandTimeout: 0, cancellationToken: ct));
        }
        else
        {
            var last = await connection.ExecuteScalarAsync<long?>(new CommandDefinition(SqliteBatchEndSql, p, tx, cancellationToken: ct));
            moved = 0;
            foreach (var sql in SqliteFoldSql)
            {
                moved = await connection.ExecuteAsync(new CommandDefinition(sql, new { last = last ?? 0 }, tx, commandTimeout: 0, cancellationToken: ct));
            }
        }
        if (moved > 0)
        {
            await AdvanceAsync(connection, tx, "stats", ct);
        }
        await tx.CommitAsync(ct);
        return moved;
    }

    // ---- windows --------------------------------------------------------------------------------------------------

    /// <summary>[From, M0) and [M1, To) are read from the requests; [M0, H0) and [H1, M1) from five-minute rollups;
    /// [H0, D0) and [D1, H1) from hourly rollups; [D0, D1) from daily rollups. Empty parts have equal bounds.</summary>
    internal readonly record struct Window(long From, long M0, long H0, long D0, long D1, long H1, long M1, long To)
    {
        /// <summary>The parts of [from, to) for rollups of spans <paramref name="finest"/> up to <paramref name="largest"/>
        /// (each of FiveMinutesUs, HourUs, DayUs; 0 for none: all of it read from the requests).</summary>
        public static Window Of(long from, long to, long largest = DayUs, long finest = FiveMinutesUs)
        {
            var none = new Window(from, to, to, to, to, to, to, to);
            if (largest == 0)
            {
                return none;
            }
            var m0 = CeilTo(from, finest);
            var m1 = FloorTo(to, finest);
            if (m0 >= m1)
            {
                return none;
            }
            var h0 = CeilTo(m0, HourUs);
            var h1 = FloorTo(m1, HourUs);
            if (largest < HourUs || h0 >= h1)
            {
                return new Window(from, m0, m1, m1, m1, m1, m1, to);
            }
            var d0 = CeilTo(h0, DayUs);
            var d1 = FloorTo(h1, DayUs);
            return largest < DayUs || d0 >= d1 ? new Window(from, m0, h0, h1, h1, h1, m1, to) : new Window(from, m0, h0, d0, d1, h1, m1, to);
        }

        public bool HasRollups => M0 < M1;

        public object Parameters(long now) => new { from = From, m0 = M0, h0 = H0, d0 = D0, d1 = D1, h1 = H1, m1 = M1, to = To, now };

        /// <summary>The parameters with <paramref name="suffix"/> on each name (see <see cref="Suffixed"/>).</summary>
        public void AddTo(DynamicParameters p, long now, string suffix)
        {
            foreach (var (name, value) in new[] { ("from", From), ("m0", M0), ("h0", H0), ("d0", D0), ("d1", D1), ("h1", H1), ("m1", M1), ("to", To), ("now", now) })
            {
                p.Add(name + suffix, value);
            }
        }
    }

    private static readonly Regex WindowParameter = new(@"@(from|m0|h0|d0|d1|h1|m1|to|now)\b", RegexOptions.Compiled);

    /// <summary>A window's statement with its parameter names suffixed, so several windows' statements share one batch.</summary>
    private static string Suffixed(string sql, string suffix) => WindowParameter.Replace(sql, m => $"@{m.Groups[1].Value}{suffix}");

    private static string Batch(IEnumerable<string> statements) => string.Join(";\n", statements);

    private static long FloorTo(long value, long span) => value - (((value % span) + span) % span);

    private static long CeilTo(long value, long span) => FloorTo(value, span) == value ? value : FloorTo(value, span) + span;

    /// <summary>The rollup rows of a window's parts.</summary>
    internal static readonly string RollupPart = $"""
        ((span = {FiveMinutesUs} AND ((start >= @m0 AND start < @h0) OR (start >= @h1 AND start < @m1)))
         OR (span = {HourUs} AND ((start >= @h0 AND start < @d0) OR (start >= @d1 AND start < @h1)))
         OR (span = {DayUs} AND start >= @d0 AND start < @d1))
        """;

    /// <summary>The rows of <paramref name="table"/> at the edges of the window, on a timestamp column: each edge its own
    /// range (UNION ALL), so each is an index range scan rather than one scan of an OR of two ranges.</summary>
    internal static string EdgeRows(string columns, string table, string column, string where = "true") =>
        $"SELECT {columns} FROM {table} WHERE {column} >= @from AND {column} < @m0 AND {where} " +
        $"UNION ALL SELECT {columns} FROM {table} WHERE {column} >= @m1 AND {column} < @to AND {where}";

    // ---- statistics -----------------------------------------------------------------------------------------------

    private static readonly string RollupStatsSql = $"""
        SELECT priority, risk_level, status, CAST(SUM(n) AS bigint) AS n, CAST(SUM(decision_us) AS bigint) AS decision_us
        FROM stats_rollup WHERE {RollupPart}
        GROUP BY priority, risk_level, status
        """;

    // The rollups hold stored statuses: open requests of the rolled-up part that are past their deadline read as expired.
    // Found through the open-deadline index (few), not the open requests' creation index: "+ 0" keeps the planner off
    // the latter, which for a day of many open requests read every one of them (414 ms for 20,000 in the profile).
    private const string OverdueInRollupSql = $"""
        SELECT status, COUNT(*) AS n FROM approvals
        WHERE {ApprovalSql.IsOverdue} AND created_at + 0 >= @m0 AND created_at + 0 < @m1
        GROUP BY status
        """;

    private static readonly string EdgeStatsSql = $"""
        SELECT priority, COALESCE(risk_level, '') AS risk_level,
               CASE WHEN {ApprovalSql.IsOverdue} THEN 'expired' ELSE status END AS status,
               COUNT(*) AS n,
               CAST(COALESCE(SUM(CASE WHEN status IN {Decided} THEN decided_at - created_at ELSE 0 END), 0) AS bigint) AS decision_us
        FROM ({EdgeRows("created_at, decided_at, expires_at, status, priority, risk_level", "approval_facts", "created_at")}) e
        GROUP BY 1, 2, 3
        """;

    private const string MedianSql = $"""
        SELECT decided_at - created_at FROM approval_facts
        WHERE created_at >= @from AND created_at < @to AND status IN {Decided}
        ORDER BY decided_at - created_at
        LIMIT @take OFFSET @skip
        """;

    private static readonly string RollupHistogramSql = $"""
        SELECT bucket, CAST(SUM(n) AS bigint) AS n FROM stats_decision_rollup
        WHERE {RollupPart} AND status IN {Decided}
        GROUP BY bucket
        """;

    private static readonly string EdgeDecisionTimesSql = $"""
        SELECT decided_at - created_at FROM ({EdgeRows("created_at, decided_at", "approval_facts", "created_at", $"status IN {Decided}")}) e
        """;

    // Open now: the open counts the folder keeps, less the open requests past their deadline (few, through the
    // open-deadline index), which read as expired.
    private const string PendingTotalSql = $"SELECT COALESCE(SUM(n), 0) - (SELECT COUNT(*) FROM approvals WHERE {ApprovalSql.IsOverdue}) FROM stats_open";

    /// <summary>The statements that count a window's requests by priority, risk level and status: the rollup rows and
    /// the overdue correction of the rolled-up part (when there is one), and the edges. Read by <see cref="ReadCountsAsync"/>.</summary>
    private static IEnumerable<string> CountsSql(Window w, string suffix = "") =>
        (w.HasRollups ? new[] { RollupStatsSql, OverdueInRollupSql, EdgeStatsSql } : [EdgeStatsSql]).Select(sql => Suffixed(sql, suffix));

    private static async Task<List<StatsRow>> ReadCountsAsync(SqlMapper.GridReader batch, Window w)
    {
        var rows = new List<StatsRow>();
        if (w.HasRollups)
        {
            rows.AddRange(await batch.ReadAsync<StatsRow>());
            foreach (var overdue in await batch.ReadAsync<(string Status, long N)>())
            {
                rows.Add(new StatsRow { Priority = "", RiskLevel = "", Status = overdue.Status, N = -overdue.N });
                rows.Add(new StatsRow { Priority = "", RiskLevel = "", Status = "expired", N = overdue.N });
            }
        }
        rows.AddRange(await batch.ReadAsync<StatsRow>());
        return rows;
    }

    /// <summary>The statements that give the decided requests of a window by fine bucket: the rolled-up part (when there
    /// is one) and the edges' decision times. Read by <see cref="ReadHistogramAsync"/>.</summary>
    private static IEnumerable<string> HistogramSql(Window w) =>
        w.HasRollups ? [RollupHistogramSql, EdgeDecisionTimesSql] : [EdgeDecisionTimesSql];

    private static async Task<FineHistogram> ReadHistogramAsync(SqlMapper.GridReader batch, Window w, IReadOnlyList<(long Lower, long Upper)> buckets)
    {
        var counts = new long[buckets.Count];
        if (w.HasRollups)
        {
            foreach (var (bucket, n) in await batch.ReadAsync<(int Bucket, long N)>())
            {
                counts[bucket] += n;
            }
        }
        foreach (var us in await batch.ReadAsync<long>())
        {
            counts[FineHistogram.BucketOf(buckets, us)]++;
        }
        return new FineHistogram(buckets, counts);
    }

    private static readonly string RollupRouteHistogramSql = $"""
        SELECT route_name, bucket, CAST(SUM(n) AS bigint) AS n FROM stats_route_decision_rollup WHERE {RollupPart}
        GROUP BY route_name, bucket
        """;

    private static readonly string EdgeRouteDecisionTimesSql = $"""
        SELECT COALESCE(route_name, '') AS route_name, decided_at - created_at AS us
        FROM ({EdgeRows("created_at, decided_at, route_name", "approval_facts", "created_at", $"status IN {Decided}")}) e
        """;

    private static IEnumerable<string> RouteHistogramSql(Window w) =>
        w.HasRollups ? [RollupRouteHistogramSql, EdgeRouteDecisionTimesSql] : [EdgeRouteDecisionTimesSql];

    /// <summary>The decided requests of a window by route ('' for none) and fine bucket.</summary>
    private static async Task<Dictionary<string, FineHistogram>> ReadRouteHistogramsAsync(SqlMapper.GridReader batch, Window w, IReadOnlyList<(long Lower, long Upper)> buckets)
    {
        var counts = new Dictionary<string, long[]>(StringComparer.Ordinal);
        long[] Of(string route) => counts.TryGetValue(route, out var c) ? c : counts[route] = new long[buckets.Count];
        if (w.HasRollups)
        {
            foreach (var (route, bucket, n) in await batch.ReadAsync<(string Route, int Bucket, long N)>())
            {
                Of(route)[bucket] += n;
            }
        }
        foreach (var (route, us) in await batch.ReadAsync<(string Route, long Us)>())
        {
            Of(route)[FineHistogram.BucketOf(buckets, us)]++;
        }
        return counts.Where(kv => kv.Value.Sum() > 0).ToDictionary(kv => kv.Key, kv => new FineHistogram(buckets, kv.Value), StringComparer.Ordinal);
    }

    /// <summary>The fine decision-time buckets of each segment (migration 0033): segment i holds buckets
    /// [First, End).</summary>
    private sealed record Segments(IReadOnlyList<(int First, int End)> Buckets, int[] SegmentOfBucket);

    private Segments? _segments;

    private async Task<Segments> SegmentsAsync(DbConnection connection, IReadOnlyList<(long Lower, long Upper)> buckets, CancellationToken ct)
    {
        if (_segments is { } known)
        {
            return known;
        }
        var bounds = (await connection.QueryAsync<(long Lower, long Upper)>(new CommandDefinition(
            "SELECT lower_us, upper_us FROM stats_decision_segments ORDER BY segment", cancellationToken: ct))).ToList();
        // A fine bucket lies in the segment of its lower edge; the segments' edges are bucket edges.
        var of = buckets.Select(b => bounds.FindIndex(g => b.Lower >= g.Lower && b.Lower < g.Upper)).ToArray();
        var ranges = bounds.Select((_, i) => (Array.IndexOf(of, i), Array.LastIndexOf(of, i) + 1)).ToList();
        return _segments = new Segments(ranges, of);
    }

    private static readonly string RollupSegmentsSql = $"""
        SELECT segment, CAST(SUM(n) AS bigint) AS n FROM stats_decision_segment_rollup
        WHERE {RollupPart} AND status IN {Decided}
        GROUP BY segment
        """;

    /// <summary>The statements that give the decided requests of a window by segment: the rolled-up part (when there
    /// is one) and the edges' decision times. Read by <see cref="ReadSegmentHistogramAsync"/>.</summary>
    private static IEnumerable<string> SegmentHistogramSql(Window w) =>
        w.HasRollups ? [RollupSegmentsSql, EdgeDecisionTimesSql] : [EdgeDecisionTimesSql];

    /// <summary>The window's decided requests by segment (an edge's decision time counts in the segment of the fine
    /// bucket the fine histogram puts it in), and the edges' decision times.</summary>
    private static async Task<(long[] Counts, List<long> EdgeTimes)> ReadSegmentHistogramAsync(SqlMapper.GridReader batch, Window w,
        IReadOnlyList<(long Lower, long Upper)> buckets, Segments segments)
    {
        var counts = new long[segments.Buckets.Count];
        if (w.HasRollups)
        {
            foreach (var (segment, n) in await batch.ReadAsync<(int Segment, long N)>())
            {
                counts[segment] += n;
            }
        }
        var edges = (await batch.ReadAsync<long>()).ToList();
        foreach (var us in edges)
        {
            counts[segments.SegmentOfBucket[FineHistogram.BucketOf(buckets, us)]]++;
        }
        return (counts, edges);
    }

    private static readonly string RollupSegmentBucketsSql = $"""
        SELECT bucket, CAST(SUM(n) AS bigint) AS n FROM stats_decision_rollup
        WHERE {RollupPart} AND status IN {Decided} AND bucket >= @first AND bucket < @end
        GROUP BY bucket
        """;

    /// <summary>The median from the fine histogram, reading only the fine buckets of the segments that hold the middle
    /// one or two ranks: the same value as from the whole fine histogram (the segments locate the ranks, the fine
    /// buckets interpolate within the bucket that holds each).</summary>
    private static async Task<double> MedianFromSegmentsAsync(DbConnection connection, Window w, object windowParameters,
        IReadOnlyList<(long Lower, long Upper)> buckets, Segments segments, long[] segmentCounts, List<long> edgeTimes, CancellationToken ct)
    {
        var n = segmentCounts.Sum();
        int SegmentAt(long rank)
        {
            long below = 0;
            for (var i = 0; i < segmentCounts.Length; i++)
            {
                if (below + segmentCounts[i] > rank)
                {
                    return i;
                }
                below += segmentCounts[i];
            }
            throw new ArgumentOutOfRangeException(nameof(rank), rank, "The rank is beyond the histogram's count.");
        }
        var (low, high) = (SegmentAt((n - 1) / 2), SegmentAt(n / 2));
        var (first, end) = (segments.Buckets[low].First, segments.Buckets[high].End);
        var counts = new long[buckets.Count];
        if (w.HasRollups)
        {
            var p = new DynamicParameters(windowParameters);
            p.Add("first", first);
            p.Add("end", end);
            foreach (var (bucket, count) in await connection.QueryAsync<(int Bucket, long N)>(new CommandDefinition(RollupSegmentBucketsSql, p, cancellationToken: ct)))
            {
                counts[bucket] += count;
            }
        }
        foreach (var us in edgeTimes)
        {
            var bucket = FineHistogram.BucketOf(buckets, us);
            if (bucket >= first && bucket < end)
            {
                counts[bucket]++;
            }
        }
        return new FineHistogram(buckets, counts, below: segmentCounts[..low].Sum(), above: segmentCounts[(high + 1)..].Sum()).Median();
    }

    public async Task<ApprovalStats> GetStatsAsync(DateTimeOffset from, DateTimeOffset to, DateTimeOffset now, CancellationToken ct)
    {
        var w = Window.Of(from.ToUnixMicroseconds(), to.ToUnixMicroseconds());
        var p = w.Parameters(now.ToUnixMicroseconds());
        await using var connection = await database.OpenAsync(ct);
        await FoldAsync(connection, ct);
        var buckets = await BucketsAsync(connection, ct);
        var segments = await SegmentsAsync(connection, buckets, ct);

        // One round trip for the counts, the decision times by segment and the open count.
        List<StatsRow> rows;
        long[] segmentCounts;
        List<long> edgeTimes;
        long pendingTotal;
        await using (var batch = await connection.QueryMultipleAsync(new CommandDefinition(
            Batch([.. CountsSql(w), .. SegmentHistogramSql(w), PendingTotalSql]), p, cancellationToken: ct)))
        {
            rows = await ReadCountsAsync(batch, w);
            (segmentCounts, edgeTimes) = await ReadSegmentHistogramAsync(batch, w, buckets, segments);
            pendingTotal = await batch.ReadSingleAsync<long>();
        }

        long Count(string status) => rows.Where(r => r.Status == status).Sum(r => r.N);
        // The overdue correction rows (no priority) move requests between statuses and add nothing to the totals.
        var counted = rows.Where(r => r.Priority.Length > 0).ToList();
        var total = counted.Sum(r => r.N);
        var approved = Count("approved");
        var rejected = Count("rejected");
        var decided = approved + rejected;
        var decisionUs = rows.Sum(r => r.DecisionUs);

        double? median = null;
        if (decided > 0)
        {
            median = total <= ExactPercentileLimit
                ? (await connection.QueryAsync<long>(new CommandDefinition(MedianSql,
                    new { from = w.From, to = w.To, take = decided % 2 == 0 ? 2 : 1, skip = (decided - 1) / 2 }, cancellationToken: ct))).Average()
                : await MedianFromSegmentsAsync(connection, w, p, buckets, segments, segmentCounts, edgeTimes, ct);
        }

        return new ApprovalStats
        {
            From = from,
            To = to,
            PendingTotal = pendingTotal,
            Total = total,
            Pending = Count("pending"),
            InfoRequested = Count("info_requested"),
            Approved = approved,
            Rejected = rejected,
            Expired = Count("expired"),
            Cancelled = Count("cancelled"),
            AverageDecisionSeconds = decided > 0 ? Math.Round((double)decisionUs / decided / 1_000_000d, 3) : null,
            MedianDecisionSeconds = median is { } m ? Math.Round(m / 1_000_000d, 3) : null,
            ByPriority = Breakdown(counted, r => r.Priority),
            ByRiskLevel = Breakdown(counted, r => r.RiskLevel.Length == 0 ? "unspecified" : r.RiskLevel),
        };
    }

    /// <summary>The requests created in each of the consecutive intervals between <paramref name="boundaries"/>, in
    /// their state at <paramref name="now"/> (an open request past its deadline reads as expired), and the decision
    /// times of those decided in the whole span by fine bucket, in all and per route, and the requests open at
    /// <paramref name="now"/> (whenever created); one round trip, every interval read as a window. The histograms of
    /// the whole span change only when a fold moves something: what was read at a fold position is reused while the
    /// position stays.</summary>
    public async Task<IntervalStats> GetIntervalsAsync(IReadOnlyList<DateTimeOffset> boundaries, DateTimeOffset now, CancellationToken ct)
    {
        var edges = boundaries.Select(b => b.ToUnixMicroseconds()).ToList();
        var windows = edges.Zip(edges.Skip(1), (a, b) => Window.Of(a, b)).ToList();
        var whole = Window.Of(edges[0], edges[^1]);
        var nowUs = now.ToUnixMicroseconds();
        var p = new DynamicParameters(whole.Parameters(nowUs));
        var counts = new List<string>();
        for (var i = 0; i < windows.Count; i++)
        {
            windows[i].AddTo(p, nowUs, $"_{i}");
            counts.AddRange(CountsSql(windows[i], $"_{i}"));
        }

        await using var connection = await database.OpenAsync(ct);
        var position = await FoldAsync(connection, ct);
        var buckets = await BucketsAsync(connection, ct);
        var kept = _spanHistograms;
        var reuse = kept is not null && kept.Position == position && kept.From == whole.From && kept.To == whole.To;
        string[] sql = [.. counts, .. reuse ? [] : HistogramSql(whole).Concat(RouteHistogramSql(whole)), PendingTotalSql];
        await using var batch = await connection.QueryMultipleAsync(new CommandDefinition(Batch(sql), p, cancellationToken: ct));
        var rows = new List<List<StatsRow>>(windows.Count);
        foreach (var w in windows)
        {
            rows.Add(await ReadCountsAsync(batch, w));
        }
        var intervals = rows.Select(r =>
        {
            var counted = r.Where(x => x.Priority.Length > 0).ToList();
            return new IntervalCounts(
                counted.Sum(x => x.N),
                r.GroupBy(x => x.Status).ToDictionary(g => g.Key, g => g.Sum(x => x.N)),
                Breakdown(counted, x => x.Priority),
                Breakdown(counted, x => x.RiskLevel.Length == 0 ? "unspecified" : x.RiskLevel));
        }).ToList();
        if (!reuse)
        {
            kept = new SpanHistograms(position, whole.From, whole.To, await ReadHistogramAsync(batch, whole, buckets), await ReadRouteHistogramsAsync(batch, whole, buckets));
            _spanHistograms = kept;
        }
        return new IntervalStats(intervals, kept!.All, kept.ByRoute, await batch.ReadSingleAsync<long>());
    }

    /// <summary>The decision-time histograms of a span as read at a fold position.</summary>
    private sealed record SpanHistograms(long Position, long From, long To, FineHistogram All, IReadOnlyDictionary<string, FineHistogram> ByRoute);

    private volatile SpanHistograms? _spanHistograms;

    private static Dictionary<string, long> Breakdown(IEnumerable<StatsRow> rows, Func<StatsRow, string> key) =>
        rows.GroupBy(key).Select(g => (g.Key, N: g.Sum(r => r.N))).Where(g => g.N != 0).ToDictionary(g => g.Key, g => g.N);

    private async Task<IReadOnlyList<(long Lower, long Upper)>> BucketsAsync(DbConnection connection, CancellationToken ct) =>
        _buckets ??= [.. await connection.QueryAsync<(long Lower, long Upper)>(new CommandDefinition(
            "SELECT lower_us, upper_us FROM stats_decision_buckets ORDER BY bucket", cancellationToken: ct))];

    // ---- trends ---------------------------------------------------------------------------------------------------

    private static readonly string RollupEventsSql = $"""
        SELECT start, kind, CAST(SUM(n) AS bigint) AS n FROM stats_event_rollup WHERE {RollupPart}
        GROUP BY start, kind
        """;

    private const string OverdueByDeadlineSql = $"""
        SELECT expires_at FROM approvals
        WHERE {ApprovalSql.IsOverdue} AND expires_at >= @m0 AND expires_at < @m1
        """;

    private static readonly string EdgeCreatedSql = $"""
        {EdgeRows("created_at AS t, 'created' AS kind", "approval_facts", "created_at")}
        """;

    // An open request past its deadline is expired (at its deadline) even before the expiry job has updated its row.
    private static readonly string EdgeOutcomesSql = $"""
        {EdgeRows("decided_at AS t, status AS kind", "approval_facts", "decided_at", $"status NOT IN {Open}")}
        UNION ALL
        {EdgeRows("expires_at, 'expired'", "approvals", "expires_at", ApprovalSql.IsOverdue)}
        """;

    public async Task<IReadOnlyList<TrendBucket>> GetTimeseriesAsync(DateTimeOffset from, DateTimeOffset to, TimeSpan bucket, DateTimeOffset now, CancellationToken ct)
    {
        var bucketUs = bucket.Ticks / TimeSpan.TicksPerMicrosecond;
        if (bucketUs <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(bucket), bucket, "The bucket must be at least a microsecond.");
        }
        var fromUs = from.ToUnixMicroseconds();
        var toUs = to.ToUnixMicroseconds();
        var origin = FloorTo(fromUs, bucketUs);
        var count = toUs <= origin ? 0 : (int)((toUs - origin + bucketUs - 1) / bucketUs);
        // A rollup row counts whole in one bucket only when the bucket is a whole number of its spans.
        var w = Window.Of(fromUs, toUs, largest: Spans.LastOrDefault(span => bucketUs % span == 0));
        var p = w.Parameters(now.ToUnixMicroseconds());

        var tally = new Dictionary<(long Bucket, string Kind), long>();
        void Add(long t, string kind, long n)
        {
            var key = ((t - origin) / bucketUs, kind);
            tally[key] = tally.GetValueOrDefault(key) + n;
        }

        await using var connection = await database.OpenAsync(ct);
        await FoldAsync(connection, ct);
        // One round trip: the rollup rows and the overdue correction of the rolled-up part, and the edges.
        var edgesSql = EdgeCreatedSql + " UNION ALL " + EdgeOutcomesSql;
        await using var batch = await connection.QueryMultipleAsync(new CommandDefinition(
            Batch(w.HasRollups ? [RollupEventsSql, OverdueByDeadlineSql, edgesSql] : [edgesSql]), p, cancellationToken: ct));
        if (w.HasRollups)
        {
            foreach (var row in await batch.ReadAsync<(long Start, string Kind, long N)>())
            {
                Add(row.Start, row.Kind, row.N);
            }
            foreach (var deadline in await batch.ReadAsync<long>())
            {
                Add(deadline, "expired", 1);
            }
        }
        foreach (var row in await batch.ReadAsync<(long T, string Kind)>())
        {
            Add(row.T, row.Kind, 1);
        }

        long Get(long b, string kind) => tally.GetValueOrDefault((b, kind));
        var result = new List<TrendBucket>(count);
        for (long b = 0; b < count; b++)
        {
            result.Add(new TrendBucket(TimeConversions.FromUnixMicroseconds(origin + (b * bucketUs)),
                Get(b, "created"), Get(b, "approved"), Get(b, "rejected"), Get(b, "expired"), Get(b, "cancelled")));
        }
        return result;
    }

    private static readonly string RollupDecisionTimesSql = $"""
        SELECT segment, status, CAST(SUM(n) AS bigint) AS n FROM stats_decision_segment_rollup WHERE {RollupPart} AND status IN {Decided}
        GROUP BY segment, status
        """;

    private static readonly string EdgeDecisionTimesByStatusSql = $"""
        SELECT decided_at - created_at AS us, status FROM ({EdgeRows("created_at, decided_at, status", "approval_facts", "created_at", $"status IN {Decided}")}) e
        """;

    public async Task<IReadOnlyList<DecisionTimeBucket>> GetDecisionTimesAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var w = Window.Of(from.ToUnixMicroseconds(), to.ToUnixMicroseconds());
        var p = w.Parameters(0);
        var edges = DecisionTimeBuckets.Edges;
        var approved = new long[edges.Count + 1];
        var rejected = new long[edges.Count + 1];
        int Coarse(long us)
        {
            var i = 0;
            while (i < edges.Count && us >= edges[i].UpperSeconds * 1_000_000L)
            {
                i++;
            }
            return i;
        }
        void Add(long us, string status, long n) => (status == "approved" ? approved : rejected)[Coarse(us)] += n;

        await using var connection = await database.OpenAsync(ct);
        await FoldAsync(connection, ct);
        var buckets = await BucketsAsync(connection, ct);
        var segments = await SegmentsAsync(connection, buckets, ct);
        // One round trip: the rolled-up part by segment (the histogram's edges are segment edges: a segment lies in the
        // histogram bucket of its first fine bucket's lower edge) and the edges' decision times.
        await using var batch = await connection.QueryMultipleAsync(new CommandDefinition(
            Batch(w.HasRollups ? [RollupDecisionTimesSql, EdgeDecisionTimesByStatusSql] : [EdgeDecisionTimesByStatusSql]), p, cancellationToken: ct));
        if (w.HasRollups)
        {
            foreach (var row in await batch.ReadAsync<(int Segment, string Status, long N)>())
            {
                Add(buckets[segments.Buckets[row.Segment].First].Lower, row.Status, row.N);
            }
        }
        foreach (var row in await batch.ReadAsync<(long Us, string Status)>())
        {
            Add(row.Us, row.Status, 1);
        }

        var result = new List<DecisionTimeBucket>(edges.Count + 1);
        for (var i = 0; i <= edges.Count; i++)
        {
            var min = i == 0 ? 0 : edges[i - 1].UpperSeconds;
            long? max = i < edges.Count ? edges[i].UpperSeconds : null;
            var label = i < edges.Count ? edges[i].Label : DecisionTimeBuckets.LastLabel;
            result.Add(new DecisionTimeBucket(label, min, max, approved[i], rejected[i]));
        }
        return result;
    }

    private sealed class StatsRow
    {
        public string Priority { get; set; } = "";
        public string RiskLevel { get; set; } = "";
        public string Status { get; set; } = "";
        public long N { get; set; }
        public long DecisionUs { get; set; }
    }
}

/// <summary>Counts of decision times in fine buckets [Lower, Upper) (microseconds), in ascending order.</summary>
/// <remarks>With <paramref name="below"/> and <paramref name="above"/>, the counts cover only some buckets: that many
/// values lie under and over them, and only the ranks within the counted buckets can be read.</remarks>
public sealed class FineHistogram(IReadOnlyList<(long Lower, long Upper)> buckets, long[] counts, long below = 0, long above = 0)
{
    public long Count => below + counts.Sum() + above;

    public static int BucketOf(IReadOnlyList<(long Lower, long Upper)> buckets, long us)
    {
        int lo = 0, hi = buckets.Count - 1;
        while (lo < hi)
        {
            var mid = (lo + hi + 1) / 2;
            if (buckets[mid].Lower <= us)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return lo;
    }

    /// <summary>The bucket that holds the value at a 0-based rank, and how many values lie in the buckets below it.</summary>
    private (int Index, long Below) Find(long rank)
    {
        if (rank < below)
        {
            throw new ArgumentOutOfRangeException(nameof(rank), rank, "The rank lies under the counted buckets.");
        }
        var under = below;
        for (var i = 0; i < counts.Length; i++)
        {
            if (under + counts[i] > rank)
            {
                return (i, under);
            }
            under += counts[i];
        }
        throw new ArgumentOutOfRangeException(nameof(rank), rank, "The rank is beyond the histogram's count.");
    }

    /// <summary>The value at a 0-based rank: the bucket that holds it, interpolated linearly within the bucket (the
    /// open last bucket gives its lower edge). The true value lies in the same bucket, so the error is less than the
    /// bucket's width.</summary>
    public double AtRank(long rank)
    {
        var (i, below) = Find(rank);
        var (lower, upper) = buckets[i];
        return i == counts.Length - 1 ? lower : lower + ((upper - lower) * ((rank - below) + 0.5) / counts[i]);
    }

    /// <summary>The bucket that holds the value at a 0-based rank: its lower edge, and how many values lie below it.
    /// The value at the rank is the (rank - below)-th smallest value (0-based) at or above that edge.</summary>
    public (long Lower, long Below) Locate(long rank)
    {
        var (i, below) = Find(rank);
        return (buckets[i].Lower, below);
    }

    /// <summary>The median as the mean of the middle one or two ranks, as the exact definition takes it.</summary>
    public double Median()
    {
        var n = Count;
        return (AtRank((n - 1) / 2) + AtRank(n / 2)) / 2;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Count} decision times in {buckets.Count} buckets");
}

/// <summary>Requests created in an interval: how many, by status (as read at the instant asked), by priority and by risk
/// level (<c>unspecified</c> when none was given).</summary>
public sealed record IntervalCounts(long Total, IReadOnlyDictionary<string, long> ByStatus, IReadOnlyDictionary<string, long> ByPriority,
    IReadOnlyDictionary<string, long> ByRiskLevel)
{
    public long Status(string status) => ByStatus.GetValueOrDefault(status);
}

/// <summary>Counts per interval, the decision times of the whole span by fine bucket (in all, and per route with '' for
/// requests no route matched; routes with no decision are left out), and the requests open now.</summary>
public sealed record IntervalStats(IReadOnlyList<IntervalCounts> Intervals, FineHistogram DecisionTimes,
    IReadOnlyDictionary<string, FineHistogram> DecisionTimesByRoute, long OpenNow);
