namespace AgentSentinel.Core.Stats;

/// <summary>What happened in one time bucket: requests created in it, and outcomes reached in it (a decision or a
/// cancellation at its time, an expiry at the deadline).</summary>
public sealed record TrendBucket(DateTimeOffset Start, long Created, long Approved, long Rejected, long Expired, long Cancelled);

/// <summary>Decided requests (approved or rejected) whose time to decision fell in [MinSeconds, MaxSeconds).</summary>
public sealed record DecisionTimeBucket(string Label, long MinSeconds, long? MaxSeconds, long Approved, long Rejected)
{
    public long Total => Approved + Rejected;
}

public static class DecisionTimeBuckets
{
    /// <summary>The upper edges of the histogram, in seconds; the last bucket is open-ended.</summary>
    public static readonly IReadOnlyList<(long UpperSeconds, string Label)> Edges =
    [
        (60, "under 1 min"),
        (5 * 60, "1-5 min"),
        (15 * 60, "5-15 min"),
        (60 * 60, "15-60 min"),
        (4 * 60 * 60, "1-4 h"),
        (24 * 60 * 60, "4-24 h"),
    ];

    public const string LastLabel = "over 24 h";
}
