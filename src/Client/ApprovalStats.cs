namespace AgentSentinel.Client;

/// <summary>Approval statistics for a window of creation times (<c>GET /api/v1/approvals/stats</c>).</summary>
public sealed record ApprovalStats
{
    /// <summary>The start of the window.</summary>
    public required DateTimeOffset From { get; init; }

    /// <summary>The end of the window.</summary>
    public required DateTimeOffset To { get; init; }

    /// <summary>Requests open right now (pending or waiting for an answer), whenever they were created.</summary>
    public long PendingTotal { get; init; }

    /// <summary>Requests created in the window.</summary>
    public long Total { get; init; }

    /// <summary>Requests created in the window, by their current status.</summary>
    public required IReadOnlyDictionary<ApprovalStatus, long> Counts { get; init; }

    /// <summary>Approved requests in the window.</summary>
    public long Approved { get; init; }

    /// <summary>Rejected requests in the window.</summary>
    public long Rejected { get; init; }

    /// <summary>Expired requests in the window.</summary>
    public long Expired { get; init; }

    /// <summary>Cancelled requests in the window.</summary>
    public long Cancelled { get; init; }

    /// <summary>Approved requests as a share of the window's closed (final) requests (0 to 1).</summary>
    public double ApprovalRate { get; init; }

    /// <summary>Rejected requests as a share of the window's closed (final) requests (0 to 1).</summary>
    public double RejectionRate { get; init; }

    /// <summary>Expired requests as a share of the window's closed (final) requests (0 to 1).</summary>
    public double ExpiryRate { get; init; }

    /// <summary>Cancelled requests as a share of the window's closed (final) requests (0 to 1).</summary>
    public double CancellationRate { get; init; }

    /// <summary>The average time from creation to an approval or rejection; <see langword="null"/> when none.</summary>
    public TimeSpan? AverageDecisionTime { get; init; }

    /// <summary>The median time from creation to an approval or rejection; <see langword="null"/> when none.</summary>
    public TimeSpan? MedianDecisionTime { get; init; }

    /// <summary>Requests in the window by priority (<c>critical</c>, <c>high</c>, <c>medium</c>, <c>low</c>).</summary>
    public required IReadOnlyDictionary<string, long> ByPriority { get; init; }

    /// <summary>Requests in the window by risk level (<c>critical</c> ... <c>minimal</c>, and <c>unspecified</c>).</summary>
    public required IReadOnlyDictionary<string, long> ByRiskLevel { get; init; }
}
