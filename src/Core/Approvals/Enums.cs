namespace AgentSentinel.Core.Approvals;

/// <summary>Where an approval request is in its life. Terminal states never change again.</summary>
public enum ApprovalStatus
{
    Pending,
    InfoRequested,
    Approved,
    Rejected,
    Expired,
    Cancelled,
}

public enum Priority
{
    Critical,
    High,
    Medium,
    Low,
}

public enum RiskLevel
{
    Critical,
    High,
    Medium,
    Low,
    Minimal,
}

/// <summary>The surface a person or process acted from; recorded on every event.</summary>
public enum Surface
{
    Api,
    Console,
    Slack,
    Teams,
    System,
    /// <summary>An agent calling the tools of the MCP endpoint (<c>/mcp</c>).</summary>
    Mcp,
}
