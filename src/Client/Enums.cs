namespace AgentSentinel.Client;

/// <summary>Where an approval request is in its life. <see cref="Approved"/>, <see cref="Rejected"/>,
/// <see cref="Expired"/> and <see cref="Cancelled"/> are final and never change again.</summary>
public enum ApprovalStatus
{
    /// <summary>Waiting for a person to decide.</summary>
    Pending,

    /// <summary>An approver asked a question (<see cref="ApprovalResponse.InfoRequestMessage"/>); answer it with
    /// <see cref="ApprovalClient.RespondToInfoRequestAsync"/> and the request goes back to <see cref="Pending"/>.</summary>
    InfoRequested,

    /// <summary>A person approved: the action may run.</summary>
    Approved,

    /// <summary>A person rejected; the reason is in <see cref="ApprovalResponse.ApproverNotes"/>.</summary>
    Rejected,

    /// <summary>Nobody decided before the deadline. An expired request is never approved.</summary>
    Expired,

    /// <summary>The agent (or an admin) withdrew the request.</summary>
    Cancelled,
}

/// <summary>How urgent a request is. The server routes and times requests by priority.</summary>
public enum Priority
{
    /// <summary>Notify immediately.</summary>
    Critical,

    /// <summary>Urgent.</summary>
    High,

    /// <summary>The default when none is given.</summary>
    Medium,

    /// <summary>Can wait.</summary>
    Low,
}

/// <summary>How much harm the action could do, to help approvers prioritize.</summary>
public enum RiskLevel
{
    /// <summary>Irreversible or very costly.</summary>
    Critical,

    /// <summary>Significant harm possible.</summary>
    High,

    /// <summary>Moderate harm possible.</summary>
    Medium,

    /// <summary>Little harm possible.</summary>
    Low,

    /// <summary>Next to no harm possible.</summary>
    Minimal,
}
