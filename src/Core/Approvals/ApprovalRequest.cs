namespace AgentSentinel.Core.Approvals;

/// <summary>An approval request as stored. <see cref="Status"/> is the stored state; read through
/// <see cref="AsOf"/> to get the state a caller should see at a given instant.</summary>
public sealed record ApprovalRequest
{
    public required Guid Id { get; init; }
    public required string ActionName { get; init; }
    public string? ActionDescription { get; init; }
    public string? AgentId { get; init; }
    public string? RunId { get; init; }
    public string? TaskId { get; init; }
    public string? MissionId { get; init; }
    public decimal? EstimatedCost { get; init; }
    public RiskLevel? RiskLevel { get; init; }
    public Priority Priority { get; init; } = Priority.Medium;
    /// <summary>JSON object text, exactly as the agent sent it (re-serialized compactly), or null.</summary>
    public string? ActionInputs { get; init; }
    /// <summary>JSON object text, or null.</summary>
    public string? Context { get; init; }
    public string? CallbackUrl { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset ExpiresAt { get; init; }
    public required ApprovalStatus Status { get; init; }
    public DateTimeOffset? DecidedAt { get; init; }
    public string? DecidedByEmail { get; init; }
    public string? DecidedByUserId { get; init; }
    /// <summary>The API key of the approver identity that decided (for a chat decision, the key matched by email).</summary>
    public string? DecidedByKeyId { get; init; }
    public Surface? DecidedVia { get; init; }
    /// <summary>When a delegate decided: the email of the person they stood in for.</summary>
    public string? DecidedOnBehalfOf { get; init; }
    /// <summary>Where an approver last handed the request while it was open, when one did.</summary>
    public Reassignment? ReassignedTo { get; init; }
    public string? DecisionNotes { get; init; }
    public string? InfoRequestMessage { get; init; }
    public string? InfoResponse { get; init; }
    public string? RequesterKeyId { get; init; }
    /// <summary>The email of the requesting key, when it has one: that person may not decide the request either.</summary>
    public string? RequesterEmail { get; init; }
    public string? IdempotencyKey { get; init; }
    /// <summary>The name of the requesting API key when the request was made, shown beside the agent id it claims.</summary>
    public string? RequesterKeyName { get; init; }
    public string? RouteName { get; init; }
    /// <summary>The route as it was when the request was made (channels, mention, reminders, escalation levels):
    /// follow-ups follow it, whatever later changes to the route table. Null for requests made before snapshots.</summary>
    public Routing.RouteDefinition? RoutePlan { get; init; }
    /// <summary>The standing grant that approved this request at intake, when one did.</summary>
    public Guid? GrantId { get; init; }
    /// <summary>The signed receipt of a final request (a compact JWS, see <see cref="Receipts.ReceiptIssuer"/>); null
    /// while the request is open.</summary>
    public string? Receipt { get; init; }
    /// <summary>Who may decide this request (from its route, plus escalations); empty means any approver.</summary>
    public IReadOnlyList<string> Approvers { get; init; } = [];
    /// <summary>Reminders sent so far.</summary>
    public int RemindersSent { get; init; }
    /// <summary>The escalation levels reached so far (0: none).</summary>
    public int EscalationLevel { get; init; }
    /// <summary>When the next reminder or escalation is due; null when none is left before the deadline.</summary>
    public DateTimeOffset? FollowUpAt { get; init; }
    /// <summary>The votes cast so far on a quorum request (<see cref="Routing.RouteDefinition.Quorum"/>), oldest first;
    /// empty on every other request.</summary>
    public IReadOnlyList<QuorumVote> Votes { get; init; } = [];
    /// <summary>Increments on every transition; lets a waiter tell that something changed.</summary>
    public int Version { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }

    public bool IsTerminal => Status.IsTerminal();

    public int TimeoutSeconds => (int)Math.Round((ExpiresAt - CreatedAt).TotalSeconds);

    /// <summary>
    /// The request as a reader at <paramref name="now"/> must see it: an open request whose deadline has passed
    /// is reported <c>expired</c> even when the expiry job has not updated the row yet.
    /// </summary>
    public ApprovalRequest AsOf(DateTimeOffset now) =>
        !IsTerminal && now >= ExpiresAt
            ? this with { Status = ApprovalStatus.Expired, DecidedAt = ExpiresAt }
            : this;
}

public static class ApprovalStatusExtensions
{
    public static bool IsTerminal(this ApprovalStatus status) =>
        status is ApprovalStatus.Approved or ApprovalStatus.Rejected or ApprovalStatus.Expired or ApprovalStatus.Cancelled;

    public static bool IsOpen(this ApprovalStatus status) => !status.IsTerminal();
}
