using System.Data.Common;
using System.Globalization;
using AgentSentinel.Core.Storage;
using Dapper;

namespace AgentSentinel.Core.Digest;

/// <summary>The requests created in a window, each taken in the state it was in at an instant.</summary>
public sealed record DigestWindow(DateTimeOffset From, DateTimeOffset To, DateTimeOffset AsOf);

public sealed record DigestCounts(long Total, long Approved, long Rejected, long Expired, long Cancelled);

public sealed record DigestRouteMedian(string? Route, long Decided, long TwiceMedianMicroseconds);

public enum DigestPostState
{
    Claimed,
    Posted,
    Failed,
}

/// <summary>One digest post: a (week, surface, channel) claimed before it is sent.</summary>
public sealed record DigestPost(string Week, string Surface, string Channel, DigestPostState State, string? MessageId, int Attempts,
    string? LastError, DateTimeOffset ClaimedAt, DateTimeOffset? PostedAt);

/// <summary>
/// The digest's figures and its post claims on PostgreSQL and SQLite: the same parameterized statements on both.
/// A request counts in the state it had at <c>AsOf</c>: approved, rejected or cancelled when <c>decided_at</c> is at
/// or before it, expired when its deadline is at or before it and nothing decided it earlier, and open otherwise.
/// Terminal states never change and <c>decided_at</c> is set once, so a finished week always gives the same figures.
/// </summary>
public sealed class DigestStore(Database database)
{
    private const string Window = "created_at >= @from AND created_at < @to";

    /// <summary>Approved or rejected by <c>@asOf</c>: the requests that have a decision time.</summary>
    private const string DecidedByAsOf = "status IN ('approved', 'rejected') AND decided_at <= @asOf";

    /// <summary>Open at <c>@asOf</c>: existed, nothing had closed it yet, and its deadline was still ahead.</summary>
    private const string OpenAtAsOf =
        "created_at <= @asOf AND (status IN ('pending', 'info_requested') OR decided_at > @asOf) AND expires_at > @asOf";

    static DigestStore() => DefaultTypeMap.MatchNamesWithUnderscores = true;

    private static DynamicParameters Parameters(DigestWindow w)
    {
        var p = new DynamicParameters();
        p.Add("from", w.From.ToUnixMicroseconds());
        p.Add("to", w.To.ToUnixMicroseconds());
        p.Add("asOf", w.AsOf.ToUnixMicroseconds());
        return p;
    }

    private const string CountsSql = $"""
        SELECT
            COUNT(*) AS total,
            COALESCE(SUM(CASE WHEN status = 'approved' AND decided_at <= @asOf THEN 1 ELSE 0 END), 0) AS approved,
            COALESCE(SUM(CASE WHEN status = 'rejected' AND decided_at <= @asOf THEN 1 ELSE 0 END), 0) AS rejected,
            COALESCE(SUM(CASE WHEN expires_at <= @asOf AND (status IN ('pending', 'info_requested', 'expired')) THEN 1 ELSE 0 END), 0) AS expired,
            COALESCE(SUM(CASE WHEN status = 'cancelled' AND decided_at <= @asOf THEN 1 ELSE 0 END), 0) AS cancelled
        FROM approval_facts WHERE {Window}
        """;

    public async Task<DigestCounts> CountAsync(DigestWindow window, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleAsync<CountsRow>(new CommandDefinition(CountsSql, Parameters(window), cancellationToken: ct));
        return new DigestCounts(row.Total, row.Approved, row.Rejected, row.Expired, row.Cancelled);
    }

    /// <summary>Requests created in each of the consecutive intervals between the boundaries.</summary>
    public async Task<IReadOnlyList<long>> CountByIntervalAsync(IReadOnlyList<DateTimeOffset> boundaries, CancellationToken ct)
    {
        var p = new DynamicParameters();
        var sums = new List<string>();
        for (var i = 0; i < boundaries.Count; i++)
        {
            p.Add($"b{i}", boundaries[i].ToUnixMicroseconds());
            if (i > 0)
            {
                sums.Add($"COALESCE(SUM(CASE WHEN created_at >= @b{i - 1} AND created_at < @b{i} THEN 1 ELSE 0 END), 0) AS n{i - 1}");
            }
        }
        var sql = $"SELECT {string.Join(", ", sums)} FROM approval_facts WHERE created_at >= @b0 AND created_at < @b{boundaries.Count - 1}";
        await using var connection = await database.OpenAsync(ct);
        var row = (IDictionary<string, object>)await connection.QuerySingleAsync(new CommandDefinition(sql, p, cancellationToken: ct));
        return [.. Enumerable.Range(0, boundaries.Count - 1).Select(i => Convert.ToInt64(row[$"n{i}"], CultureInfo.InvariantCulture))];
    }

    /// <summary>Requests created in the window by priority, and by risk level (<c>unspecified</c> when none was given).</summary>
    public async Task<(IReadOnlyDictionary<string, long> ByPriority, IReadOnlyDictionary<string, long> ByRisk)> CountByPriorityAndRiskAsync(DigestWindow window, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var p = Parameters(window);
        var byPriority = await connection.QueryAsync<(string Key, long Count)>(new CommandDefinition(
            $"SELECT priority, COUNT(*) FROM approval_facts WHERE {Window} GROUP BY priority", p, cancellationToken: ct));
        var byRisk = await connection.QueryAsync<(string Key, long Count)>(new CommandDefinition(
            $"SELECT COALESCE(risk_level, 'unspecified'), COUNT(*) FROM approval_facts WHERE {Window} GROUP BY COALESCE(risk_level, 'unspecified')",
            p, cancellationToken: ct));
        return (byPriority.ToDictionary(r => r.Key, r => r.Count), byRisk.ToDictionary(r => r.Key, r => r.Count));
    }

    private const string DecisionAtRankSql = $"""
        SELECT decided_at - created_at FROM approval_facts
        WHERE {Window} AND {DecidedByAsOf}
        ORDER BY decided_at - created_at, id
        LIMIT @take OFFSET @skip
        """;

    /// <summary>The decision times (microseconds, creation to approve or reject) at ranks <paramref name="rank"/> and
    /// the one after it, in ascending order (0-based); one value when <paramref name="rank"/> is the last.</summary>
    public async Task<IReadOnlyList<long>> DecisionTimesAtRankAsync(DigestWindow window, long rank, long decided, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var p = Parameters(window);
        p.Add("skip", rank);
        p.Add("take", rank + 1 < decided ? 2 : 1);
        var values = await connection.QueryAsync<long>(new CommandDefinition(DecisionAtRankSql, p, cancellationToken: ct));
        return [.. values];
    }

    /// <summary>Whether any stored request was created or decided after <paramref name="now"/>, or decided before it was
    /// created (a clock set back): then the state at <paramref name="now"/> differs from the stored state, which is all
    /// the rollups hold, or a decision time lies outside the rollups' buckets. Three index probes.</summary>
    public async Task<bool> StoredAfterAsync(DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<bool>(new CommandDefinition("""
            SELECT CASE WHEN EXISTS (SELECT 1 FROM approval_facts WHERE decided_at > @now)
                          OR EXISTS (SELECT 1 FROM approval_facts WHERE created_at > @now)
                          OR EXISTS (SELECT 1 FROM approval_facts WHERE status IN ('approved', 'rejected') AND decided_at - created_at < 0)
                     THEN 1 ELSE 0 END
            """, new { now = now.ToUnixMicroseconds() }, cancellationToken: ct));
    }

    // Decision times in order from a lower edge, through ix_approvals_decision_time or, for one route ('' for none),
    // ix_approvals_route_decision_time (migration 0031). The numbers are written into the text ({0}: lower edge, {2}-{4}:
    // the window and as-of instant, {5}: take, {6}: skip; all integers this class computed), so PostgreSQL plans each read
    // for its values: as an automatically prepared statement its generic plan read the whole week through
    // ix_approvals_stats and sorted it, 440-730 ms at 10,000,000 requests, where the index in decision-time order takes
    // 12-25 ms.
    private const string DecisionTimesFromSql = """
        SELECT decided_at - created_at FROM approval_facts
        WHERE status IN ('approved', 'rejected') AND {1} decided_at - created_at >= {0} AND created_at >= {2} AND created_at < {3} AND decided_at <= {4}
        ORDER BY decided_at - created_at
        LIMIT {5} OFFSET {6}
        """;

    /// <summary>For each read: the decision times (microseconds) of the window's requests decided by <c>AsOf</c> (of
    /// one route when <c>Route</c> is set, '' for requests no route matched), in ascending order from <c>Lower</c>, the
    /// <c>Take</c> after skipping <c>Skip</c>. With the fine bucket that holds a rank (from the rollups) this reads the
    /// exact value at that rank without sorting the week. One round trip.</summary>
    public async Task<IReadOnlyList<IReadOnlyList<long>>> DecisionTimesFromAsync(DigestWindow window, IReadOnlyList<(string? Route, long Lower, long Skip, int Take)> reads, CancellationToken ct)
    {
        if (reads.Count == 0)
        {
            return [];
        }
        var p = new DynamicParameters();
        var statements = new List<string>(reads.Count);
        for (var i = 0; i < reads.Count; i++)
        {
            var route = "";
            if (reads[i].Route is { } r)
            {
                p.Add($"route{i}", r);
                route = $"COALESCE(route_name, '') = @route{i} AND";
            }
            statements.Add(string.Format(CultureInfo.InvariantCulture, DecisionTimesFromSql, reads[i].Lower, route,
                window.From.ToUnixMicroseconds(), window.To.ToUnixMicroseconds(), window.AsOf.ToUnixMicroseconds(), reads[i].Take, reads[i].Skip));
        }
        await using var connection = await database.OpenAsync(ct);
        await using var batch = await connection.QueryMultipleAsync(new CommandDefinition(string.Join(";\n", statements), p, cancellationToken: ct));
        var result = new List<IReadOnlyList<long>>(reads.Count);
        for (var i = 0; i < reads.Count; i++)
        {
            result.Add([.. await batch.ReadAsync<long>()]);
        }
        return result;
    }

    // Window functions (PostgreSQL, SQLite 3.25+): each route's middle one or two decision times.
    private const string RouteMediansSql = $"""
        SELECT route_name, n, us FROM (
            SELECT route_name, decided_at - created_at AS us,
                   ROW_NUMBER() OVER (PARTITION BY route_name ORDER BY decided_at - created_at, id) - 1 AS rn,
                   COUNT(*) OVER (PARTITION BY route_name) AS n
            FROM approval_facts WHERE {Window} AND {DecidedByAsOf}
        ) ranked
        WHERE rn = (n - 1) / 2 OR rn = n / 2
        """;

    /// <summary>Per route (null for requests no route matched): how many were decided, and twice the median decision
    /// time in microseconds (the sum of the two middle values, or twice the middle one), exact in integers.</summary>
    public async Task<IReadOnlyList<DigestRouteMedian>> RouteMediansAsync(DigestWindow window, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<(string? Route, long N, long Us)>(new CommandDefinition(RouteMediansSql, Parameters(window), cancellationToken: ct));
        return [.. rows.GroupBy(r => r.Route).Select(g => new DigestRouteMedian(g.Key, g.First().N, g.Count() == 1 ? 2 * g.First().Us : g.Sum(r => r.Us)))];
    }

    public async Task<long> CountOpenAsync(DateTimeOffset asOf, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            $"SELECT COUNT(*) FROM approvals WHERE {OpenAtAsOf}", new { asOf = asOf.ToUnixMicroseconds() }, cancellationToken: ct));
    }

    /// <summary>The oldest requests open at <paramref name="asOf"/>. With <paramref name="current"/> (nothing stored
    /// was created or decided after <paramref name="asOf"/>, see <see cref="StoredAfterAsync"/>) open means open as
    /// stored with the deadline ahead, read newest-last through the open requests' creation index, stopping after
    /// <paramref name="limit"/> rows (the deadline written <c>expires_at + 0</c> so the planner walks that index).</summary>
    public async Task<IReadOnlyList<DigestPendingRow>> OldestOpenAsync(DateTimeOffset asOf, int limit, bool current, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<DigestPendingRow>(new CommandDefinition($"""
            SELECT id, action_name, agent_id, priority, risk_level, route_name, created_at, expires_at FROM approvals
            WHERE {(current ? "status IN ('pending', 'info_requested') AND expires_at + 0 > @asOf" : OpenAtAsOf)}
            ORDER BY created_at, id LIMIT @limit
            """, new { asOf = asOf.ToUnixMicroseconds(), limit }, cancellationToken: ct));
        return [.. rows];
    }

    // ---- post claims ------------------------------------------------------------------------------------------

    private const string PostColumns = "week, surface, channel, state, message_id, attempts, last_error, claimed_at, posted_at";
    private const string PostKey = "week = @week AND surface = @surface AND channel = @channel";

    /// <summary>
    /// Claims a post. <c>Acquired</c> is true for the caller that created the claim, or that took over a claim whose
    /// holder released it or has held it longer than <paramref name="lease"/>; <c>Retaken</c> says an earlier attempt
    /// existed (it may have reached the platform). Anyone else gets the current row and must not post.
    /// </summary>
    public async Task<(DigestPost Post, bool Acquired, bool Retaken)> ClaimPostAsync(string week, string surface, string channel, DateTimeOffset now, TimeSpan lease, CancellationToken ct)
    {
        var p = new { week, surface, channel, now = now.ToUnixMicroseconds(), stale = (now - lease).ToUnixMicroseconds() };
        await using var connection = await database.OpenAsync(ct);
        var inserted = await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO digest_posts (week, surface, channel, state, attempts, claimed_at, updated_at)
            VALUES (@week, @surface, @channel, 'claimed', 1, @now, @now)
            ON CONFLICT (week, surface, channel) DO NOTHING
            """, p, cancellationToken: ct));
        var retaken = inserted == 0 && await connection.ExecuteAsync(new CommandDefinition($"""
            UPDATE digest_posts SET attempts = attempts + 1, claimed_at = @now, updated_at = @now
            WHERE {PostKey} AND state = 'claimed' AND claimed_at <= @stale
            """, p, cancellationToken: ct)) == 1;
        var row = await connection.QuerySingleAsync<PostRow>(new CommandDefinition(
            $"SELECT {PostColumns} FROM digest_posts WHERE {PostKey}", p, cancellationToken: ct));
        return (row.ToModel(), inserted == 1 || retaken, retaken);
    }

    public async Task MarkPostedAsync(DigestPost post, string messageId, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition($"""
            UPDATE digest_posts SET state = 'posted', message_id = @messageId, posted_at = @now, updated_at = @now, last_error = NULL
            WHERE {PostKey}
            """, new { week = post.Week, surface = post.Surface, channel = post.Channel, messageId, now = now.ToUnixMicroseconds() }, cancellationToken: ct));
    }

    /// <summary>Records a failed try. A permanent failure ends the post; otherwise the claim is released so the
    /// next try may take it at once.</summary>
    public async Task RecordErrorAsync(DigestPost post, string error, bool permanent, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition($"""
            UPDATE digest_posts SET last_error = @error, updated_at = @now,
                state = CASE WHEN @permanent THEN 'failed' ELSE state END,
                claimed_at = CASE WHEN @permanent THEN claimed_at ELSE 0 END
            WHERE {PostKey} AND state = 'claimed'
            """, new { week = post.Week, surface = post.Surface, channel = post.Channel, error = error.Length > 500 ? error[..500] : error, permanent, now = now.ToUnixMicroseconds() },
            cancellationToken: ct));
    }

    public async Task<IReadOnlyList<DigestPost>> ListPostsAsync(string week, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<PostRow>(new CommandDefinition(
            $"SELECT {PostColumns} FROM digest_posts WHERE week = @week ORDER BY surface, channel", new { week }, cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
    }

    public sealed class DigestPendingRow
    {
        public string Id { get; set; } = "";
        public string ActionName { get; set; } = "";
        public string? AgentId { get; set; }
        public string Priority { get; set; } = "";
        public string? RiskLevel { get; set; }
        public string? RouteName { get; set; }
        public long CreatedAt { get; set; }
        public long ExpiresAt { get; set; }
    }

    private sealed class CountsRow
    {
        public long Total { get; set; }
        public long Approved { get; set; }
        public long Rejected { get; set; }
        public long Expired { get; set; }
        public long Cancelled { get; set; }
    }

    private sealed class PostRow
    {
        public string Week { get; set; } = "";
        public string Surface { get; set; } = "";
        public string Channel { get; set; } = "";
        public string State { get; set; } = "";
        public string? MessageId { get; set; }
        public long Attempts { get; set; }
        public string? LastError { get; set; }
        public long ClaimedAt { get; set; }
        public long? PostedAt { get; set; }

        public DigestPost ToModel() => new(Week, Surface, Channel, Enum.Parse<DigestPostState>(State, ignoreCase: true), MessageId,
            (int)Attempts, LastError, TimeConversions.FromUnixMicroseconds(ClaimedAt), TimeConversions.FromUnixMicroseconds(PostedAt));
    }

    /// <summary>The digest of a finished week kept by <see cref="KeepDigestAsync"/>, as JSON; null when none is kept for
    /// that week start and shape.</summary>
    public async Task<string?> KeptDigestAsync(DateTimeOffset weekStart, string shape, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT body FROM digest_weeks WHERE week_start = @start AND shape = @shape",
            new { start = weekStart.ToUnixMicroseconds(), shape }, cancellationToken: ct));
    }

    /// <summary>Keeps the digest of a finished week (its figures never change); the first one kept stays.</summary>
    public async Task KeepDigestAsync(DateTimeOffset weekStart, string shape, string week, string body, DateTimeOffset at, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO digest_weeks (week_start, shape, week, body, computed_at) VALUES (@start, @shape, @week, @body, @at)
            ON CONFLICT (week_start, shape) DO NOTHING
            """, new { start = weekStart.ToUnixMicroseconds(), shape, week, body, at = at.ToUnixMicroseconds() }, cancellationToken: ct));
    }
}
