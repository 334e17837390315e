namespace AgentSentinel.Core.Policy;

/// <summary>The server policy: which actions need a human, and how long a request may wait.</summary>
public sealed class PolicyOptions
{
    /// <summary>Action names or globs (<c>transfer_*</c>) that always require approval.</summary>
    public List<string> ApprovalRequiredActions { get; set; } = [];

    /// <summary>An estimated cost at or above this (in USD) requires approval; null for no threshold.</summary>
    public decimal? ApprovalCostThresholdUsd { get; set; }

    /// <summary>Risk levels that always require approval.</summary>
    public List<string> ApprovalRequiredRiskLevels { get; set; } = [];

    /// <summary>The deadline given to a request that names no timeout, by priority.</summary>
    public PriorityTimeouts DefaultTimeoutSeconds { get; set; } = new();

    public int MinTimeoutSeconds { get; set; } = 5;

    public int MaxTimeoutSeconds { get; set; } = 7 * 24 * 3600;

    /// <summary>Approvers suggested to agents and used by routes that name none.</summary>
    public List<string> DefaultApprovers { get; set; } = [];
}

public sealed class PriorityTimeouts
{
    public int Critical { get; set; } = 600;
    public int High { get; set; } = 1800;
    public int Medium { get; set; } = 3600;
    public int Low { get; set; } = 14400;
}
