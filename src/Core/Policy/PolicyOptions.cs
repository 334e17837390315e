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

    /// <summary>The least priority and risk level a request for a matching action gets, whatever the agent says.
    /// Null (not given) means the floors of the configuration; an empty list means none.</summary>
    public List<PolicyFloor>? Floors { get; set; }
}

/// <summary>A floor: requests for these actions are at least this priority and this risk level. The agent's own
/// values can raise them, never lower them.</summary>
public sealed class PolicyFloor
{
    /// <summary>Action names or globs (<c>transfer_*</c>).</summary>
    public List<string> Actions { get; set; } = [];

    /// <summary>The least priority (<c>low</c>, <c>medium</c>, <c>high</c>, <c>critical</c>); null for no floor on priority.</summary>
    public string? Priority { get; set; }

    /// <summary>The least risk level (<c>minimal</c> to <c>critical</c>); null for no floor on risk.</summary>
    public string? RiskLevel { get; set; }
}

public sealed class PriorityTimeouts
{
    public int Critical { get; set; } = 600;
    public int High { get; set; } = 1800;
    public int Medium { get; set; } = 3600;
    public int Low { get; set; } = 14400;
}
