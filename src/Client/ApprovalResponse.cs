namespace AgentSentinel.Client;

/// <summary>The state of an approval request as the agent sees it. Check <see cref="Status"/> and act on it: only
/// <see cref="ApprovalStatus.Approved"/> means the action may run.</summary>
public sealed record ApprovalResponse
{
    /// <summary>The server's id of the request (a UUID), or the id a custom <see cref="IApprovalHandler"/> chose.</summary>
    public required string ApprovalId { get; init; }

    /// <summary>Where the request is: approved, rejected, expired, cancelled, waiting for an answer to a question
    /// (<see cref="ApprovalStatus.InfoRequested"/>) or still pending.</summary>
    public required ApprovalStatus Status { get; init; }

    /// <summary>The action the request is about.</summary>
    public string? ActionName { get; init; }

    /// <summary>Who decided (approved, rejected or cancelled), as an email address when the server knows one.</summary>
    public string? ApproverEmail { get; init; }

    /// <summary>The approver's notes when approving, or the reason when rejecting.</summary>
    public string? ApproverNotes { get; init; }

    /// <summary>The approver's question while <see cref="Status"/> is <see cref="ApprovalStatus.InfoRequested"/>
    /// (and the last question asked afterwards).</summary>
    public string? InfoRequestMessage { get; init; }

    /// <summary>The agent's last answer to a question.</summary>
    public string? InfoResponse { get; init; }

    /// <summary>When the request was decided, cancelled or expired (for an expired request: its deadline).</summary>
    public DateTimeOffset? DecidedAt { get; init; }

    /// <summary>Where the decision was made (<c>api</c>, <c>console</c>, <c>slack</c>, <c>teams</c>, <c>system</c>).</summary>
    public string? DecidedVia { get; init; }

    /// <summary>When the request was created (server time).</summary>
    public DateTimeOffset? CreatedAt { get; init; }

    /// <summary>The deadline (server time): with no decision by then the request expires.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>The server's signed receipt once the request is final (a compact JWS); verify it with
    /// <see cref="ApprovalClient.VerifyApprovalAsync"/>. Null while the request is open, and from custom handlers.</summary>
    public string? Receipt { get; init; }

    /// <summary><see langword="true"/> when <see cref="Status"/> is <see cref="ApprovalStatus.Approved"/>.</summary>
    public bool IsApproved => Status == ApprovalStatus.Approved;

    /// <summary><see langword="true"/> when the request is approved, rejected, expired or cancelled: it never changes
    /// again.</summary>
    public bool IsFinal => Status is ApprovalStatus.Approved or ApprovalStatus.Rejected or ApprovalStatus.Expired or ApprovalStatus.Cancelled;
}
