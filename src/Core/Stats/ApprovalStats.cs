namespace AgentSentinel.Core.Stats;

/// <summary>Figures for requests created in [From, To), plus the current pending total.</summary>
public sealed record ApprovalStats
{
    public required DateTimeOffset From { get; init; }
    public required DateTimeOffset To { get; init; }
    /// <summary>Requests open right now (pending or waiting for info, deadline not passed), whenever created.</summary>
    public long PendingTotal { get; init; }
    public long Total { get; init; }
    public long Pending { get; init; }
    public long InfoRequested { get; init; }
    public long Approved { get; init; }
    public long Rejected { get; init; }
    public long Expired { get; init; }
    public long Cancelled { get; init; }
    /// <summary>Mean seconds from creation to an approve or reject decision; null when none.</summary>
    public double? AverageDecisionSeconds { get; init; }
    public double? MedianDecisionSeconds { get; init; }
    public required IReadOnlyDictionary<string, long> ByPriority { get; init; }
    public required IReadOnlyDictionary<string, long> ByRiskLevel { get; init; }

    public long Decided => Approved + Rejected;
    public long Closed => Approved + Rejected + Expired + Cancelled;

    /// <summary>Share of closed requests; 0 when none are closed.</summary>
    public double Rate(long count) => Closed == 0 ? 0 : Math.Round((double)count / Closed, 4);
}
