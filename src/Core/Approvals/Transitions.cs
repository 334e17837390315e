namespace AgentSentinel.Core.Approvals;

public enum TransitionKind
{
    Approve,
    Reject,
    RequestInfo,
    Respond,
    Cancel,
    Expire,
}

/// <summary>Who performs an action: the authenticated identity, never a field supplied in a request body.</summary>
public sealed record Actor(string DisplayName, Surface Surface, string? Email = null, string? UserId = null, string? KeyId = null)
{
    public static readonly Actor System = new("system", Surface.System);

    /// <summary>The value recorded as the event's actor: the email when known, else the platform id, else the name.</summary>
    public string AuditName => Email ?? UserId ?? DisplayName;

    /// <summary>For a delegate's decision: the email of the person they stood in for.</summary>
    public string? OnBehalfOf { get; init; }
}

/// <summary>A transition to apply. It carries no instant: the store judges the deadline with the clock it reads once it
/// holds the request's write lock.</summary>
public sealed record TransitionCommand(Guid Id, TransitionKind Kind, Actor Actor, string? Text)
{
    /// <summary>A standing grant to create with an approval, in the same transaction.</summary>
    public Grants.GrantCreation? Grant { get; init; }

    /// <summary>On a quorum route, the approve or reject is also this person's vote: recorded once per person with the
    /// transition, and an approve applies only once it completes the quorum.</summary>
    public Ballot? Ballot { get; init; }
}

public enum TransitionOutcome
{
    Applied,
    NotFound,
    /// <summary>The request is in a state this transition does not start from (decided, cancelled, not asking for info...).</summary>
    WrongState,
    /// <summary>The deadline has passed: the request is (or is about to be recorded as) expired.</summary>
    PastDeadline,
    /// <summary>An expiry was asked for before the deadline.</summary>
    NotYetDue,
    /// <summary>The identity that requested the approval tried to decide it.</summary>
    SelfDecision,
    /// <summary>The request names its approvers and the actor is not one of them.</summary>
    NotAnApprover,
    /// <summary>The actor is not an approver identity known to the server (a chat user without an active approver key).</summary>
    UnknownPerson,
    /// <summary>The request's route needs a recent sign-in through the company identity provider (step-up), and the
    /// decider has none: a chat click or an API key, or a console sign-in older than the route allows.</summary>
    RecentSignInRequired,
    /// <summary>A delegate could decide only on behalf of the person who requested it, which nobody may.</summary>
    DelegatorsOwnRequest,
    /// <summary>On a quorum route, the person (whatever the surface, or on whose behalf) has already voted.</summary>
    AlreadyVoted,
}

/// <summary>The result of a transition: the request after it when applied, otherwise its current state
/// (already seen <see cref="ApprovalRequest.AsOf"/> the instant the store judged it at) so the caller can say who won.</summary>
public sealed record TransitionResult(TransitionOutcome Outcome, ApprovalRequest? Request)
{
    /// <summary>The standing grant created with the approval, when one was offered.</summary>
    public Grants.Grant? Grant { get; init; }

    /// <summary>An approval on a quorum route that was recorded as a vote and did not complete the quorum: the request
    /// is still open (<see cref="Applied"/> is true: the vote is a committed change).</summary>
    public bool VoteOnly { get; init; }

    public bool Applied => Outcome == TransitionOutcome.Applied;
}

public static class TransitionRules
{
    private static readonly ApprovalStatus[] Open = [ApprovalStatus.Pending, ApprovalStatus.InfoRequested];
    private static readonly ApprovalStatus[] PendingOnly = [ApprovalStatus.Pending];
    private static readonly ApprovalStatus[] InfoRequestedOnly = [ApprovalStatus.InfoRequested];

    /// <summary>The states a transition may start from.</summary>
    public static IReadOnlyList<ApprovalStatus> From(TransitionKind kind) => kind switch
    {
        TransitionKind.Approve or TransitionKind.Reject or TransitionKind.Cancel or TransitionKind.Expire => Open,
        TransitionKind.RequestInfo => PendingOnly,
        TransitionKind.Respond => InfoRequestedOnly,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The state a transition ends in.</summary>
    public static ApprovalStatus To(TransitionKind kind) => kind switch
    {
        TransitionKind.Approve => ApprovalStatus.Approved,
        TransitionKind.Reject => ApprovalStatus.Rejected,
        TransitionKind.RequestInfo => ApprovalStatus.InfoRequested,
        TransitionKind.Respond => ApprovalStatus.Pending,
        TransitionKind.Cancel => ApprovalStatus.Cancelled,
        TransitionKind.Expire => ApprovalStatus.Expired,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static string EventKind(TransitionKind kind) => kind switch
    {
        TransitionKind.Approve => EventKinds.Approved,
        TransitionKind.Reject => EventKinds.Rejected,
        TransitionKind.RequestInfo => EventKinds.InfoRequested,
        TransitionKind.Respond => EventKinds.InfoProvided,
        TransitionKind.Cancel => EventKinds.Cancelled,
        TransitionKind.Expire => EventKinds.Expired,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The name under which the transition's text is kept in the event details.</summary>
    public static string? TextField(TransitionKind kind) => kind switch
    {
        TransitionKind.Approve => "notes",
        TransitionKind.Reject => "reason",
        TransitionKind.RequestInfo => "question",
        TransitionKind.Respond => "response",
        TransitionKind.Cancel => "reason",
        _ => null,
    };

    /// <summary>Why a transition failed, judged from the request's current stored state.</summary>
    public static TransitionOutcome Explain(TransitionKind kind, ApprovalRequest current, DateTimeOffset now)
    {
        if (kind == TransitionKind.Expire)
        {
            return current.Status.IsOpen() && now < current.ExpiresAt ? TransitionOutcome.NotYetDue : TransitionOutcome.WrongState;
        }
        if (current.Status.IsOpen() && now >= current.ExpiresAt)
        {
            return TransitionOutcome.PastDeadline;
        }
        return TransitionOutcome.WrongState;
    }
}
