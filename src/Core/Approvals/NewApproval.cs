namespace AgentSentinel.Core.Approvals;

/// <summary>A validated create request from an agent, before policy and routing are applied.</summary>
public sealed record NewApproval
{
    public required string ActionName { get; init; }
    public string? ActionDescription { get; init; }
    public string? AgentId { get; init; }
    public string? RunId { get; init; }
    public string? TaskId { get; init; }
    public string? MissionId { get; init; }
    public decimal? EstimatedCost { get; init; }
    public RiskLevel? RiskLevel { get; init; }
    public Priority? Priority { get; init; }
    public int? TimeoutSeconds { get; init; }
    public string? ActionInputs { get; init; }
    public string? Context { get; init; }
    public string? CallbackUrl { get; init; }
    public string? IdempotencyKey { get; init; }
    /// <summary>A hash of the request body, to tell a true replay from a reuse of the same idempotency key.</summary>
    public string? RequestHash { get; init; }
}

public enum CreateOutcome
{
    Created,
    /// <summary>The same idempotency key and body were seen before: the original request is returned.</summary>
    Replayed,
    /// <summary>The idempotency key was used before with a different body.</summary>
    IdempotencyKeyReused,
    /// <summary>Nothing was stored: API keys or settings changed after the request was checked against the copies this
    /// server had (see <see cref="Storage.ConfigVersion.Unverified"/>); the request must be checked again.</summary>
    ConfigChanged,
}

public sealed record CreateResult(CreateOutcome Outcome, ApprovalRequest Request);
