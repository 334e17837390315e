using AgentSentinel.Core.Approvals;

namespace AgentSentinel.Core.Delegation;

/// <summary>A person away: from <see cref="StartsAt"/> until <see cref="EndsAt"/> (exclusive) <see cref="DelegateEmail"/>
/// may decide what <see cref="DelegatorEmail"/> could, on their behalf. Emails are stored lower-case. The Slack user
/// ids are known when the delegation was set from Slack (each verified by Slack there).</summary>
public sealed record Delegation
{
    public required string DelegatorEmail { get; init; }
    public required string DelegateEmail { get; init; }
    public required DateTimeOffset StartsAt { get; init; }
    public required DateTimeOffset EndsAt { get; init; }
    public string? DelegatorSlackId { get; init; }
    public string? DelegateSlackId { get; init; }
    public required Surface SetVia { get; init; }
    public required DateTimeOffset SetAt { get; init; }

    public bool IsActiveAt(DateTimeOffset now) => StartsAt <= now && now < EndsAt;

    /// <summary>Whether this delegation and the period [<paramref name="from"/>, <paramref name="until"/>) share an instant.</summary>
    public bool Overlaps(DateTimeOffset from, DateTimeOffset until) => StartsAt < until && from < EndsAt;
}

/// <summary>Someone a decider stands in for now: the delegator's approver identity (looked up at the decision, so a
/// revoked delegator gives nothing), their Slack user id when known, and when the delegation ends.</summary>
public sealed record Delegator(ApproverIdentity Identity, string? SlackUserId, DateTimeOffset Until);

/// <summary>A person a message names who is away (by email, or by the Slack user id they set the delegation from):
/// the message names their delegate too.</summary>
public sealed record AwayNotice(string Person, string? PersonSlackId, string DelegateEmail, string? DelegateSlackId, DateTimeOffset Until)
{
    /// <summary>Whether <paramref name="named"/> (an email or a Slack user id, as routes name people) is this person.</summary>
    public bool IsNamedBy(string named) =>
        string.Equals(named.Trim(), Person, StringComparison.OrdinalIgnoreCase) || (PersonSlackId is { } id && string.Equals(named, id, StringComparison.Ordinal));

    /// <summary>The notice for <paramref name="named"/> among <paramref name="away"/>, if that person is away.</summary>
    public static AwayNotice? For(string named, IReadOnlyList<AwayNotice>? away) => away?.FirstOrDefault(a => a.IsNamedBy(named));

    /// <summary>Those of <paramref name="people"/> who are away, each once however many ways they are named (by email
    /// and by Slack id), in the order given.</summary>
    public static IReadOnlyList<string> AwayAmong(IEnumerable<string> people, IReadOnlyList<AwayNotice>? away) =>
        [.. people.Where(p => For(p, away) is not null).DistinctBy(p => For(p, away)!.Person)];
}

/// <summary>Why a delegation was not stored; <see cref="Conflict"/> when it would make a chain (answered 409), otherwise
/// bad input naming <see cref="Field"/> (answered 400).</summary>
public sealed record DelegationRefusal(string Field, string Message, bool Conflict = false);

/// <summary>Every delegation text, worded once for the API, the console and Slack.</summary>
public static class DelegationTexts
{
    /// <summary>The longest delegation accepted.</summary>
    public static readonly TimeSpan MaxLength = TimeSpan.FromDays(366);

    public static string NoEmail =>
        "Your identity has no email address, and delegations are kept by email; ask an admin for an approver key with your email.";

    public const string NotAway = "You have no delegation now.";

    public static string Past(DateTimeOffset endsAt) =>
        $"The end of the delegation ({DecisionTexts.Utc(endsAt)}) is not in the future; choose a later date.";

    public const string StartAfterEnd = "The delegation must start before it ends.";

    public static string TooLong => $"A delegation lasts at most {MaxLength.TotalDays:0} days.";

    public const string Self = "You cannot delegate to yourself; name another approver.";

    public static string UnknownDelegate(string email) =>
        $"{email} is not an approver known to this server (an active approver or admin key with that email, or a recent console sign-in), so they could not decide for you; name another person.";

    public static string DelegateAway(Delegation theirs) =>
        $"{theirs.DelegatorEmail} is away themselves from {DecisionTexts.Utc(theirs.StartsAt)} until {DecisionTexts.Utc(theirs.EndsAt)} "
        + $"(delegating to {theirs.DelegateEmail}). Delegations are not followed in chains, so choose someone else or a period that does not overlap.";

    public static string DelegatorIsADelegate(Delegation theirs) =>
        $"{theirs.DelegatorEmail} has delegated their decisions to you from {DecisionTexts.Utc(theirs.StartsAt)} until {DecisionTexts.Utc(theirs.EndsAt)}. "
        + "Delegations are not followed in chains, so you cannot hand them on; ask them to choose someone else first, or pick a period that does not overlap.";

    /// <summary>"bob@example.com on behalf of alice@example.com" as plain text.</summary>
    public static string OnBehalfOf(string who, string? onBehalfOf) => onBehalfOf is null ? who : $"{who} on behalf of {onBehalfOf}";

    public static string Saved(Delegation d) =>
        $"You are away from {DecisionTexts.Utc(d.StartsAt)} until {DecisionTexts.Utc(d.EndsAt)}: {d.DelegateEmail} may decide what you could, on your behalf. "
        + "Requests you made stay out of their hands.";

    public const string Ended = "Welcome back: your delegation has ended, and nobody decides on your behalf any more.";

    /// <summary>How a message names a person who is away: "@alice (away until 24 Dec; @bob decides for them)", each
    /// part already written in the surface's markup.</summary>
    public static string AwayPerson(string person, string until, string delegateName) =>
        $"{person} (away until {until}; {delegateName} decides for them)";
}
