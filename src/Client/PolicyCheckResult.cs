namespace AgentSentinel.Client;

/// <summary>The server policy's answer to "does this action need approval?" (<c>POST /api/v1/approvals/check</c>).</summary>
public sealed record PolicyCheckResult
{
    /// <summary><see langword="true"/> when at least one rule of the server policy applies.</summary>
    public required bool RequiresApproval { get; init; }

    /// <summary>One sentence per rule that applies (empty when none does).</summary>
    public required IReadOnlyList<string> Reasons { get; init; }

    /// <summary>The timeout the server gives a request of the checked priority.</summary>
    public required TimeSpan Timeout { get; init; }

    /// <summary>The server policy's default approvers.</summary>
    public required IReadOnlyList<string> Approvers { get; init; }

    /// <summary>The version of the server policy that answered.</summary>
    public long PolicyVersion { get; init; }
}
