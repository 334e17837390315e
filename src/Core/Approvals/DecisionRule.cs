using System.Globalization;

namespace AgentSentinel.Core.Approvals;

/// <summary>A person the server knows as an approver: today an active approver- or admin-scoped API key with an
/// email (or the configured bootstrap admin). <see cref="KeyId"/> is recorded with every decision the person makes.</summary>
public sealed record ApproverIdentity(string KeyId, string Name, string? Email, bool IsAdmin);

/// <summary>Why a chat user could not be matched to an approver identity. Each surface maps what its platform said to
/// one of these; <see cref="DecisionTexts"/> words them the same way everywhere.</summary>
public enum IdentityProblem
{
    /// <summary>The platform confirmed an email, but no active approver identity has it.</summary>
    NoApproverWithEmail,
    /// <summary>The platform has no email for the user, or has not confirmed it.</summary>
    NoVerifiedEmail,
    /// <summary>The account is deactivated, deleted or unknown to the platform.</summary>
    NotAnActiveMember,
    /// <summary>The account belongs to another workspace or organisation (Slack Connect, a foreign tenant).</summary>
    OtherOrganisation,
    /// <summary>A guest account.</summary>
    Guest,
    /// <summary>A bot or app, not a person.</summary>
    Bot,
    /// <summary>The platform could not tell who clicked (its lookup failed or timed out).</summary>
    LookupFailed,
    /// <summary>The click came from a channel or client this server does not accept decisions from.</summary>
    UnsupportedChannel,
}

/// <summary>Who asks to decide, as a surface established it: a known approver identity, or nobody the server knows
/// (with the reason). <see cref="PlatformUserId"/> is the chat user id (Slack user id, Teams AAD object id), which a
/// request's approver list may name.</summary>
public sealed record Decider
{
    public ApproverIdentity? Identity { get; init; }
    public required Surface Surface { get; init; }
    public required string DisplayName { get; init; }
    public string? PlatformUserId { get; init; }
    public IdentityProblem? Problem { get; init; }
    /// <summary>For a console session opened through the identity provider: when the person last proved who they are
    /// there (<c>auth_time</c>). Null on every other surface.</summary>
    public DateTimeOffset? SignedInAt { get; init; }
    /// <summary>The people who delegated their decisions to this person and whose delegation runs now (looked up by
    /// <see cref="Delegation.DelegationService.WithDelegationsAsync"/>); empty until then.</summary>
    public IReadOnlyList<Delegation.Delegator> Represents { get; init; } = [];

    public bool IsKnown => Identity is not null;

    /// <summary>The actor recorded with the decision: the identity's email and key id, the platform id.</summary>
    public Actor Actor => new(DisplayName, Surface, Identity?.Email, PlatformUserId, Identity?.KeyId);

    public static Decider Known(ApproverIdentity identity, Surface surface, string? displayName = null, string? platformUserId = null) => new()
    {
        Identity = identity,
        Surface = surface,
        DisplayName = displayName ?? identity.Name,
        PlatformUserId = platformUserId,
    };

    public static Decider Unknown(Surface surface, string displayName, string? platformUserId, IdentityProblem problem) => new()
    {
        Surface = surface,
        DisplayName = displayName,
        PlatformUserId = platformUserId,
        Problem = problem,
    };
}

/// <summary>Whether a person may decide a request, and as whom: in their own right (<see cref="OnBehalfOf"/> null) or
/// standing in for someone who delegated their decisions to them.</summary>
public sealed record DecisionStanding(TransitionOutcome? Refusal, Delegation.Delegator? OnBehalfOf = null)
{
    public bool Allowed => Refusal is null;
}

/// <summary>
/// Who may decide a request, on every surface (API, console, Slack, Teams): an approver identity known to the server,
/// not the requester, and, when the request lists its approvers, on that list (by email, or by the chat user id the
/// list names). Admin identities may decide any request but their own. A delegate may also decide what a person who
/// delegated to them (<see cref="Decider.Represents"/>) could, on their behalf, but never a request the delegate made
/// nor one the person they stand in for made; delegations are not followed in chains. Surfaces render the outcome with
/// <see cref="DecisionTexts"/>; they never decide on their own.
/// </summary>
public static class DecisionRule
{
    /// <summary>Null when <paramref name="decider"/> may decide <paramref name="request"/> (its state aside) at
    /// <paramref name="now"/>; otherwise <see cref="TransitionOutcome.UnknownPerson"/>,
    /// <see cref="TransitionOutcome.SelfDecision"/>, <see cref="TransitionOutcome.NotAnApprover"/> or, on a step-up route
    /// (<see cref="Routing.RouteDefinition.RequireRecentSignInMinutes"/>), <see cref="TransitionOutcome.RecentSignInRequired"/>
    /// unless the decider signed in to the console through the identity provider recently enough. Without
    /// <paramref name="now"/> every step-up decision is refused.</summary>
    public static TransitionOutcome? Refusal(ApprovalRequest request, Decider decider, DateTimeOffset? now = null) =>
        Standing(request, decider, now).Refusal;

    /// <summary>As <see cref="Refusal"/>, and when allowed, whom the decider stands in for (null: in their own right).
    /// Their own right comes first; otherwise the first person they represent who could decide it.</summary>
    public static DecisionStanding Standing(ApprovalRequest request, Decider decider, DateTimeOffset? now = null)
    {
        var own = Eligibility(request, decider);
        if (own is TransitionOutcome.UnknownPerson or TransitionOutcome.SelfDecision)
        {
            // A delegate never decides a request they made, whoever they stand in for.
            return new(own);
        }
        if (own is null)
        {
            return new(StepUp(request, decider, now));
        }
        var refusal = own;
        foreach (var delegator in decider.Represents)
        {
            var standIn = Decider.Known(delegator.Identity, decider.Surface, platformUserId: delegator.SlackUserId);
            switch (Eligibility(request, standIn))
            {
                case null:
                    return StepUp(request, decider, now) is { } stepUp ? new(stepUp) : new(null, delegator);
                case TransitionOutcome.SelfDecision:
                    refusal = TransitionOutcome.DelegatorsOwnRequest;
                    break;
            }
        }
        return new(refusal);
    }

    /// <summary>Whether the person may decide the request on some surface (step-up aside): what listings show them.</summary>
    public static bool MayDecide(ApprovalRequest request, Decider decider) => Standing(request, decider).Refusal is null or TransitionOutcome.RecentSignInRequired;

    /// <summary>The minutes within which a decider must have signed in through the identity provider, or null.</summary>
    public static int? RecentSignInMinutes(ApprovalRequest request) => request.RoutePlan?.RequireRecentSignInMinutes;

    private static TransitionOutcome? StepUp(ApprovalRequest request, Decider decider, DateTimeOffset? now)
    {
        if (RecentSignInMinutes(request) is not { } minutes)
        {
            return null;
        }
        var recent = decider.Surface == Surface.Console && decider.SignedInAt is { } at && now is { } n
            && n - at <= TimeSpan.FromMinutes(minutes);
        return recent ? null : TransitionOutcome.RecentSignInRequired;
    }

    private static TransitionOutcome? Eligibility(ApprovalRequest request, Decider decider)
    {
        if (decider.Identity is not { } identity)
        {
            return TransitionOutcome.UnknownPerson;
        }
        if (IsRequester(request, decider.Actor))
        {
            return TransitionOutcome.SelfDecision;
        }
        if (identity.IsAdmin || request.Approvers.Count == 0)
        {
            return null;
        }
        var listed = request.Approvers.Any(a =>
            (identity.Email is not null && string.Equals(a, identity.Email, StringComparison.OrdinalIgnoreCase))
            || (decider.PlatformUserId is not null && string.Equals(a, decider.PlatformUserId, StringComparison.Ordinal)));
        return listed ? null : TransitionOutcome.NotAnApprover;
    }

    /// <summary>Who a decision by <paramref name="decider"/> counts for in a quorum: the person, by email (lower case)
    /// whatever the surface, or by key when the identity has no email; a delegate deciding on behalf of someone
    /// (<paramref name="onBehalfOf"/>, from <see cref="Standing"/>) counts as that person. One vote per person is kept by
    /// the vote store under this value.</summary>
    public static string Voter(Decider decider, Delegation.Delegator? onBehalfOf = null)
    {
        var identity = onBehalfOf?.Identity ?? decider.Identity ?? throw new InvalidOperationException("An unknown person never votes.");
        return identity.Email is { Length: > 0 } email ? email.Trim().ToLowerInvariant() : "key:" + identity.KeyId;
    }

    /// <summary>The same key, or the same person (by email) holding another key.</summary>
    public static bool IsRequester(ApprovalRequest request, Actor actor) =>
        (actor.KeyId is not null && actor.KeyId == request.RequesterKeyId)
        || (actor.Email is not null && string.Equals(actor.Email, request.RequesterEmail, StringComparison.OrdinalIgnoreCase));
}

/// <summary>Every refusal of a decision, worded once for every surface. Plain text: a surface escapes it for its
/// markup (Slack mrkdwn, Teams markdown) and never rewords it.</summary>
public static class DecisionTexts
{
    public const string NotOnList = "You are not one of the approvers of this request, so nothing was changed.";

    public const string Requester = "You requested this action, so you cannot decide it; nothing was changed.";

    public const string DelegatorsRequest =
        "You stand in for the person who requested this action, and nobody decides their own request, even through a delegate; nothing was changed.";

    public const string NotFound = "This approval request does not exist.";

    public const string AlreadyVoted = "You have already voted on this request; its quorum counts each person once, whatever the surface, so nothing was changed.";

    /// <summary>For a chat user the server cannot match to an approver identity.</summary>
    public static string UnknownPerson(string platform, IdentityProblem? problem)
    {
        if (problem == IdentityProblem.LookupFailed)
        {
            return $"{platform} did not tell this server who you are in time, so nothing was changed; please try again.";
        }
        var why = problem switch
        {
            IdentityProblem.NoVerifiedEmail => $" {platform} has not confirmed an email address for your account.",
            IdentityProblem.NotAnActiveMember => $" {platform} does not show you as an active member.",
            IdentityProblem.OtherOrganisation => " Your account belongs to another workspace or organisation.",
            IdentityProblem.Guest => " Guest accounts cannot decide.",
            IdentityProblem.Bot => " Bots and apps cannot decide.",
            IdentityProblem.UnsupportedChannel => " Decisions are accepted only from this server's own workspace and channels.",
            _ => "",
        };
        return $"You are not an approver known to this server, so nothing was changed.{why} "
            + $"To decide requests, ask an admin to create an approver key with your {platform} email address.";
    }

    /// <summary>Why a step-up request was not decided from <paramref name="platform"/> (a chat platform, or
    /// <c>API</c>), and where to decide it: the console's page of the request, under <paramref name="publicBaseUrl"/>
    /// when it is known.</summary>
    public static string RecentSignIn(ApprovalRequest request, string platform, string? publicBaseUrl = null)
    {
        var minutes = DecisionRule.RecentSignInMinutes(request) ?? 0;
        var page = $"{publicBaseUrl?.TrimEnd('/')}/approvals/{request.Id}";
        return platform == "console"
            ? $"This request needs a sign-in through your company's identity provider within the last {minutes} minutes; sign in there again to decide it. Nothing was changed."
            : $"This request needs a recent sign-in through your company's identity provider (within {minutes} minutes), so it cannot be decided from {platform}; nothing was changed. Decide it in the web console: {page}";
    }

    /// <summary>The text for a refused decision, or null when <paramref name="outcome"/> is not a refusal.
    /// <paramref name="publicBaseUrl"/> makes the console link of a step-up refusal absolute.</summary>
    public static string? For(TransitionOutcome outcome, ApprovalRequest? request, TransitionKind kind, string platform, IdentityProblem? problem = null,
        string? publicBaseUrl = null) => outcome switch
    {
        TransitionOutcome.Applied => null,
        TransitionOutcome.RecentSignInRequired when request is not null => RecentSignIn(request, platform, publicBaseUrl),
        TransitionOutcome.UnknownPerson => UnknownPerson(platform, problem),
        TransitionOutcome.SelfDecision => Requester,
        TransitionOutcome.DelegatorsOwnRequest => DelegatorsRequest,
        TransitionOutcome.NotAnApprover => NotOnList,
        TransitionOutcome.NotFound => NotFound,
        TransitionOutcome.AlreadyVoted => AlreadyVoted,
        _ => request is null ? NotFound : State(request, kind, outcome == TransitionOutcome.PastDeadline),
    };

    /// <summary>Why the request's state refuses <paramref name="kind"/> (already decided, expired, cancelled...).</summary>
    public static string State(ApprovalRequest r, TransitionKind kind, bool pastDeadline = false)
    {
        if (pastDeadline || r.Status == ApprovalStatus.Expired)
        {
            return $"This request expired at {Utc(r.ExpiresAt)} (its deadline passed); nothing can change it now.";
        }
        return r.Status switch
        {
            ApprovalStatus.Approved or ApprovalStatus.Rejected =>
                $"This request was already {r.Status.ToWire()} by {Delegation.DelegationTexts.OnBehalfOf(r.DecidedByEmail ?? r.DecidedByUserId ?? "someone", r.DecidedOnBehalfOf)} at {Utc(r.DecidedAt ?? r.UpdatedAt)}; nothing was changed.",
            ApprovalStatus.Cancelled => $"This request was cancelled by the agent at {Utc(r.DecidedAt ?? r.UpdatedAt)}; nothing was changed.",
            ApprovalStatus.InfoRequested when kind == TransitionKind.RequestInfo =>
                "This request is already waiting for the agent's answer; you can still approve or reject it.",
            ApprovalStatus.InfoRequested => "This request is waiting for the agent's answer to a question.",
            _ when kind == TransitionKind.Respond => "This request is not waiting for an answer.",
            _ => "This request is still pending.",
        };
    }

    /// <summary>The note <c>/approvals</c> (and similar listings) shows a person it lists nothing for because they are unknown.</summary>
    public static string NothingListed(string platform, IdentityProblem? problem) =>
        "Nothing is listed for you. " + UnknownPerson(platform, problem).Replace(", so nothing was changed.", ".", StringComparison.Ordinal);

    public static string Utc(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);
}
