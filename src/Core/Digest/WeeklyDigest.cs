namespace AgentSentinel.Core.Digest;

/// <summary>
/// The weekly digest: the requests created in one ISO week (Monday 00:00 to Monday 00:00 in the digest's time zone),
/// each counted in the state it was in at <see cref="AsOf"/>: the end of the week, or now for the week in progress.
/// A finished week's figures therefore never change. The same object is posted to chat and served as JSON.
/// </summary>
public sealed record WeeklyDigest
{
    public required string Week { get; init; }
    public required string TimeZone { get; init; }
    public required DateTimeOffset From { get; init; }
    public required DateTimeOffset To { get; init; }
    public required DateTimeOffset AsOf { get; init; }
    /// <summary>True once the week is over.</summary>
    public bool Complete { get; init; }
    public required DigestSummary Summary { get; init; }
    /// <summary>Requests created on each day of the week, Monday first.</summary>
    public required IReadOnlyList<DigestDay> ByDay { get; init; }
    public required IReadOnlyDictionary<string, long> ByPriority { get; init; }
    /// <summary>By risk level; requests sent without one are counted as <c>unspecified</c>.</summary>
    public required IReadOnlyDictionary<string, long> ByRiskLevel { get; init; }
    /// <summary>The routes with the longest median time to decision (approve or reject) among the week's requests.</summary>
    public required IReadOnlyList<DigestRoute> SlowestRoutes { get; init; }
    /// <summary>Requests still open (pending or waiting for the agent) at <see cref="AsOf"/>, whenever created.</summary>
    public long PendingTotal { get; init; }
    /// <summary>The oldest of them.</summary>
    public required IReadOnlyList<DigestPendingRequest> OldestPending { get; init; }
    public required DigestPreviousWeek PreviousWeek { get; init; }
    /// <summary>This week minus the previous week.</summary>
    public required DigestChange Change { get; init; }
    /// <summary>Read-only suggestions over the 30 days before <see cref="AsOf"/> (see <see cref="Stats.SuggestionRules"/>).</summary>
    public Stats.Suggestions? Suggestions { get; init; }
}

public sealed record DigestSummary
{
    public long Total { get; init; }
    public long Approved { get; init; }
    public long Rejected { get; init; }
    public long Expired { get; init; }
    public long Cancelled { get; init; }
    /// <summary>Pending or waiting for the agent's answer at the digest's instant.</summary>
    public long Open { get; init; }
    /// <summary>Approved plus rejected.</summary>
    public long Decided { get; init; }
    /// <summary>Shares of the closed requests (approved, rejected, expired, cancelled); 0 when none is closed.</summary>
    public double ApprovalRate { get; init; }
    public double RejectionRate { get; init; }
    public double ExpiryRate { get; init; }
    public double CancellationRate { get; init; }
    /// <summary>Seconds from creation to an approve or reject: the median and the 90th percentile (linear
    /// interpolation between the closest ranks); null when nothing was decided.</summary>
    public double? MedianDecisionSeconds { get; init; }
    public double? P90DecisionSeconds { get; init; }

    public long Closed => Approved + Rejected + Expired + Cancelled;
}

public sealed record DigestPreviousWeek(string Week, DateTimeOffset From, DateTimeOffset To, DateTimeOffset AsOf, DigestSummary Summary);

public sealed record DigestChange
{
    public long Total { get; init; }
    /// <summary>Relative change of the total (0.25 = 25 % more); null when the previous week had none.</summary>
    public double? TotalRatio { get; init; }
    public long Approved { get; init; }
    public long Rejected { get; init; }
    public long Expired { get; init; }
    public long Cancelled { get; init; }
    /// <summary>Differences of shares (0.05 = five percentage points).</summary>
    public double ApprovalRate { get; init; }
    public double RejectionRate { get; init; }
    public double ExpiryRate { get; init; }
    public double CancellationRate { get; init; }
    /// <summary>Null unless both weeks had decisions.</summary>
    public double? MedianDecisionSeconds { get; init; }
    public double? P90DecisionSeconds { get; init; }
}

/// <summary>A day of the week (in the digest's time zone) and the requests created on it.</summary>
public sealed record DigestDay(DateOnly Date, string Day, long Total);

/// <summary>A route and how long its requests took to be decided; <c>Route</c> is null for requests no route matched.</summary>
public sealed record DigestRoute(string? Route, long Decided, double MedianDecisionSeconds);

public sealed record DigestPendingRequest(
    Guid Id,
    string ActionName,
    string? AgentId,
    string Priority,
    string? RiskLevel,
    string? Route,
    DateTimeOffset CreatedAt,
    DateTimeOffset ExpiresAt,
    double AgeSeconds);
