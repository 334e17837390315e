namespace AgentSentinel.Core.Approvals;

/// <summary>One entry of the append-only audit trail of an approval request.</summary>
public sealed record ApprovalEvent
{
    public long Id { get; init; }
    public required Guid ApprovalId { get; init; }
    public required string Kind { get; init; }
    public required DateTimeOffset At { get; init; }
    /// <summary>Who acted: an email, a platform user id, an API key name, or <c>system</c>.</summary>
    public string? Actor { get; init; }
    /// <summary>The API key the actor acted with (for a chat user, the key of the matched approver identity), when there is one.</summary>
    public string? ActorKeyId { get; init; }
    public required Surface Surface { get; init; }
    /// <summary>JSON object text with kind-specific details, or null.</summary>
    public string? Details { get; init; }
}

/// <summary>Event kinds recorded in the trail.</summary>
public static class EventKinds
{
    public const string Created = "created";
    public const string Approved = "approved";
    public const string Rejected = "rejected";
    public const string InfoRequested = "info_requested";
    public const string InfoProvided = "info_provided";
    public const string Cancelled = "cancelled";
    public const string Expired = "expired";
    public const string ReminderSent = "reminder_sent";
    public const string Escalated = "escalated";
    /// <summary>A person's vote on a quorum request (details: <c>choice</c>, <c>notes</c>, <c>approvals</c>, <c>required</c>).</summary>
    public const string Voted = "voted";
    public const string Reassigned = "reassigned";
}
