using AgentSentinel.Core.Stats;
using Dapper;

namespace AgentSentinel.Core.Storage;

public interface ITrendStore
{
    /// <summary>Buckets of <paramref name="bucket"/> length from <paramref name="from"/> (aligned down to a multiple of
    /// the bucket length since the Unix epoch, i.e. UTC midnight for days) up to <paramref name="to"/>.</summary>
    Task<IReadOnlyList<TrendBucket>> GetTimeseriesAsync(DateTimeOffset from, DateTimeOffset to, TimeSpan bucket, DateTimeOffset now, CancellationToken ct);

    /// <summary>Time to decision of the requests created in [from, to) that were approved or rejected.</summary>
    Task<IReadOnlyList<DecisionTimeBucket>> GetDecisionTimesAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct);
}

/// <summary>Trend figures computed in SQL (integer bucket arithmetic on microsecond timestamps), the same statements
/// on PostgreSQL and SQLite.</summary>
public sealed class TrendStore(Database database) : ITrendStore
{
    private const string Open = ApprovalSql.OpenStatuses;

    private const string CreatedSql = """
        SELECT (created_at - @origin) / @bucket AS bucket, COUNT(*) AS count
        FROM approval_facts WHERE created_at >= @from AND created_at < @to
        GROUP BY 1
        """;

    // An open request past its deadline is expired (at its deadline) even before the expiry job has updated its row.
    private const string OutcomesSql = $"""
        SELECT (t - @origin) / @bucket AS bucket, outcome, COUNT(*) AS count FROM (
            SELECT CASE WHEN status IN {Open} THEN expires_at ELSE decided_at END AS t,
                   CASE WHEN status IN {Open} THEN 'expired' ELSE status END AS outcome
            FROM approval_facts
            WHERE (status IN ('approved', 'rejected', 'expired', 'cancelled') AND decided_at >= @from AND decided_at < @to)
               OR ({ApprovalSql.IsOverdue} AND expires_at >= @from AND expires_at < @to)
        ) outcomes
        GROUP BY 1, 2
        """;

    private static readonly string DecisionTimesSql = $"""
        SELECT CASE {string.Concat(DecisionTimeBuckets.Edges.Select((e, i) => $"WHEN d < {e.UpperSeconds * 1_000_000L} THEN {i} "))}ELSE {DecisionTimeBuckets.Edges.Count} END AS bucket,
               status AS outcome, COUNT(*) AS count
        FROM (SELECT decided_at - created_at AS d, status FROM approval_facts
              WHERE created_at >= @from AND created_at < @to AND status IN ('approved', 'rejected')) decided
        GROUP BY 1, 2
        """;

    public async Task<IReadOnlyList<TrendBucket>> GetTimeseriesAsync(DateTimeOffset from, DateTimeOffset to, TimeSpan bucket, DateTimeOffset now, CancellationToken ct)
    {
        var bucketUs = bucket.Ticks / TimeSpan.TicksPerMicrosecond;
        if (bucketUs <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(bucket), bucket, "The bucket must be at least a microsecond.");
        }
        var fromUs = from.ToUnixMicroseconds();
        var origin = fromUs - (((fromUs % bucketUs) + bucketUs) % bucketUs);
        var toUs = to.ToUnixMicroseconds();
        var count = toUs <= origin ? 0 : (int)((toUs - origin + bucketUs - 1) / bucketUs);
        var p = new { origin, bucket = bucketUs, from = fromUs, to = toUs, now = now.ToUnixMicroseconds() };

        await using var connection = await database.OpenAsync(ct);
        var created = await connection.QueryAsync<(long Bucket, long Count)>(new CommandDefinition(CreatedSql, p, cancellationToken: ct));
        var outcomes = await connection.QueryAsync<(long Bucket, string Outcome, long Count)>(new CommandDefinition(OutcomesSql, p, cancellationToken: ct));
        var createdBy = created.ToDictionary(r => r.Bucket, r => r.Count);
        var outcomeBy = outcomes.ToDictionary(r => (r.Bucket, r.Outcome), r => r.Count);
        long Get(long b, string outcome) => outcomeBy.TryGetValue((b, outcome), out var n) ? n : 0;

        var result = new List<TrendBucket>(count);
        for (long b = 0; b < count; b++)
        {
            result.Add(new TrendBucket(
                TimeConversions.FromUnixMicroseconds(origin + (b * bucketUs)),
                createdBy.TryGetValue(b, out var c) ? c : 0,
                Get(b, "approved"), Get(b, "rejected"), Get(b, "expired"), Get(b, "cancelled")));
        }
        return result;
    }

    public async Task<IReadOnlyList<DecisionTimeBucket>> GetDecisionTimesAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<(long Bucket, string Outcome, long Count)>(new CommandDefinition(
            DecisionTimesSql, new { from = from.ToUnixMicroseconds(), to = to.ToUnixMicroseconds() }, cancellationToken: ct));
        var counts = rows.ToDictionary(r => (r.Bucket, r.Outcome), r => r.Count);
        long Get(int b, string outcome) => counts.TryGetValue((b, outcome), out var n) ? n : 0;

        var edges = DecisionTimeBuckets.Edges;
        var result = new List<DecisionTimeBucket>(edges.Count + 1);
        for (var i = 0; i <= edges.Count; i++)
        {
            var min = i == 0 ? 0 : edges[i - 1].UpperSeconds;
            long? max = i < edges.Count ? edges[i].UpperSeconds : null;
            var label = i < edges.Count ? edges[i].Label : DecisionTimeBuckets.LastLabel;
            result.Add(new DecisionTimeBucket(label, min, max, Get(i, "approved"), Get(i, "rejected")));
        }
        return result;
    }
}
