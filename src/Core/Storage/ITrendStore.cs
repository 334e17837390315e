using AgentSentinel.Core.Stats;

namespace AgentSentinel.Core.Storage;

public interface ITrendStore
{
    /// <summary>Buckets of <paramref name="bucket"/> length from <paramref name="from"/> (aligned down to a multiple of
    /// the bucket length since the Unix epoch, i.e. UTC midnight for days) up to <paramref name="to"/>.</summary>
    Task<IReadOnlyList<TrendBucket>> GetTimeseriesAsync(DateTimeOffset from, DateTimeOffset to, TimeSpan bucket, DateTimeOffset now, CancellationToken ct);

    /// <summary>Time to decision of the requests created in [from, to) that were approved or rejected.</summary>
    Task<IReadOnlyList<DecisionTimeBucket>> GetDecisionTimesAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct);
}
