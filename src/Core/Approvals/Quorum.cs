using AgentSentinel.Core.Routing;

namespace AgentSentinel.Core.Approvals;

/// <summary>How a person voted on a quorum request.</summary>
public enum VoteChoice
{
    Approve,
    Reject,
}

/// <summary>One person's vote on a request whose route needs a quorum (<see cref="RouteDefinition.Quorum"/>).
/// <see cref="Person"/> is who the vote counts for (<see cref="DecisionRule.Voter"/>): one vote per person, whatever
/// the surface. <see cref="Name"/>, <see cref="Email"/>, <see cref="UserId"/> and <see cref="KeyId"/> say who cast it;
/// <see cref="OnBehalfOf"/> is the email of the person a delegate cast it for.</summary>
public sealed record QuorumVote(
    string Person,
    VoteChoice Choice,
    string Name,
    string? Email,
    string? UserId,
    string? KeyId,
    Surface Surface,
    DateTimeOffset At,
    string? Notes,
    string? OnBehalfOf = null)
{
    /// <summary>How surfaces name the voter: "bob" or "bob on behalf of alice@example.com".</summary>
    public string Label => Delegation.DelegationTexts.OnBehalfOf(Name, OnBehalfOf);
}

/// <summary>A vote to record with a decision on a quorum request: who it counts for.</summary>
public sealed record Ballot(string Person);

/// <summary>Where a quorum stands after the votes cast so far.</summary>
public sealed record QuorumProgress(
    QuorumRule Rule,
    IReadOnlyList<QuorumVote> Approvals,
    IReadOnlyList<IReadOnlyList<string>> MissingGroups)
{
    public int Required => Rule.Approvals;

    /// <summary>Enough different people approved, one of them (at least) from each group.</summary>
    public bool Reached => Approvals.Count >= Required && MissingGroups.Count == 0;

    /// <summary>"1 of 2 approvals: alice ✓ · waiting for one of bob@example.com, U0SECLEAD". Plain text: a surface
    /// escapes it for its markup (names and group members come from configuration and chat profiles).</summary>
    public string Summary
    {
        get
        {
            var text = Approvals.Count > Required ? $"{Approvals.Count} approvals ({Required} needed)" : $"{Approvals.Count} of {Required} approvals";
            if (Approvals.Count > 0)
            {
                text += ": " + string.Join(", ", Approvals.Select(v => $"{v.Label} ✓"));
            }
            if (Reached)
            {
                return text;
            }
            var waiting = MissingGroups.Select(g => g.Count == 1 ? g[0] : "one of " + string.Join(", ", g)).ToList();
            var more = Required - Approvals.Count - MissingGroups.Count;
            if (more > 0)
            {
                waiting.Add(more == 1 ? "1 more approval" : $"{more} more approvals");
            }
            return waiting.Count == 0 ? text : $"{text} · waiting for {string.Join(" and ", waiting)}";
        }
    }
}

/// <summary>Counting the votes of a quorum request, the same way for the store (which decides) and every surface
/// (which shows the progress).</summary>
public static class QuorumTally
{
    /// <summary>The progress of <paramref name="request"/>'s quorum, or null when its route needs none.</summary>
    public static QuorumProgress? Of(ApprovalRequest request) =>
        request.RoutePlan?.Quorum is { } rule ? Of(rule, request.Votes) : null;

    public static QuorumProgress Of(QuorumRule rule, IReadOnlyList<QuorumVote> votes)
    {
        var approvals = votes.Where(v => v.Choice == VoteChoice.Approve).ToList();
        var missing = rule.Groups
            .Where(group => !approvals.Any(v => InGroup(group, v)))
            .Select(group => (IReadOnlyList<string>)group)
            .ToList();
        return new QuorumProgress(rule, approvals, missing);
    }

    /// <summary>A vote is from a group member when the group names its email or the chat id it was cast with; a vote
    /// cast on someone's behalf counts for that person's groups only.</summary>
    public static bool InGroup(IReadOnlyList<string> group, QuorumVote vote) => vote.OnBehalfOf is { } represented
        ? group.Any(member => string.Equals(member, represented, StringComparison.OrdinalIgnoreCase))
        : group.Any(member =>
            (vote.Email is not null && string.Equals(member, vote.Email, StringComparison.OrdinalIgnoreCase))
            || (vote.UserId is not null && string.Equals(member, vote.UserId, StringComparison.Ordinal)));

    /// <summary>The request's <c>decision_notes</c> once the quorum is reached: each approver's notes, in the order they
    /// voted, one line each ("alice@example.com: fine by me"); null when nobody wrote any.</summary>
    public static string? JoinedNotes(IEnumerable<QuorumVote> approvals)
    {
        var lines = approvals.Where(v => !string.IsNullOrWhiteSpace(v.Notes)).Select(v => $"{Delegation.DelegationTexts.OnBehalfOf(v.Email ?? v.Name, v.OnBehalfOf)}: {v.Notes}").ToList();
        return lines.Count == 0 ? null : string.Join("\n", lines);
    }
}
