namespace AgentSentinel.Client;

/// <summary>Local rules for when a guarded action needs a human, mirroring the server policy's settings. A rule that
/// applies here or on the server (when <see cref="UseServerPolicy"/>) is enough to require approval.</summary>
public sealed record ApprovalPolicy
{
    /// <summary>Actions that always need approval: exact names or patterns with <c>*</c> and <c>?</c>
    /// (e.g. <c>transfer_*</c>), case-insensitive.</summary>
    public IReadOnlyList<string> ApprovalRequiredActions { get; init; } = [];

    /// <summary>Actions whose estimated cost is at or above this many US dollars need approval (the server's rule is
    /// the same). <see langword="null"/>: no threshold.</summary>
    public decimal? ApprovalCostThresholdUsd { get; init; }

    /// <summary>The timeout of approval requests that do not set one. <see langword="null"/>: the server policy's
    /// default for the request's priority.</summary>
    public TimeSpan? ApprovalTimeout { get; init; }

    /// <summary>Who should decide, passed on in <see cref="ApprovalRequest.Approvers"/> (for a custom
    /// <see cref="IApprovalHandler"/>). The server enforces its own approvers (routes and its policy's
    /// <c>default_approvers</c>).</summary>
    public IReadOnlyList<string> DefaultApprovers { get; init; } = [];

    /// <summary>Also ask the server's policy (<c>POST /api/v1/approvals/check</c>) and require approval when either
    /// says so. Default <see langword="true"/>; ignored when the engine has no server to ask.</summary>
    public bool UseServerPolicy { get; init; } = true;
}
