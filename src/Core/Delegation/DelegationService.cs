using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Storage;

namespace AgentSentinel.Core.Delegation;

/// <summary>What a person asks for when they go away: the delegate (an email), the period, where they asked from, and
/// the Slack user ids when they asked from Slack.</summary>
public sealed record DelegationRequest(string DelegateEmail, DateTimeOffset? StartsAt, DateTimeOffset EndsAt, Surface Via,
    string? DelegatorSlackId = null, string? DelegateSlackId = null);

/// <summary>
/// Delegation while away. A person (an approver identity with an email) names a delegate for a period; while it runs,
/// the delegate may decide what the person could (<see cref="DecisionRule"/> judges it, on every surface) and the
/// person's reminders and escalations name the delegate. Delegations are not followed in chains: a decider stands in
/// only for the people who delegated to them directly, and a delegation that would make a chain is refused when it is
/// set. Nothing is cached: the delegation and both identities are looked up at every decision, so a revoked key (the
/// delegate's or the delegator's) stops the delegation at once.
/// </summary>
public sealed class DelegationService(IDelegationStore store, IApproverDirectory approvers, TimeProvider time)
{
    public DateTimeOffset Now => time.GetUtcNow().TruncateToMicroseconds();

    /// <summary>Stores <paramref name="delegatorEmail"/>'s delegation, replacing theirs; a refusal says why nothing changed.</summary>
    public async Task<(Delegation? Saved, DelegationRefusal? Refusal)> SetAsync(string? delegatorEmail, DelegationRequest request, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(delegatorEmail))
        {
            return (null, new DelegationRefusal("delegate_email", DelegationTexts.NoEmail));
        }
        var now = Now;
        var startsAt = (request.StartsAt ?? now).TruncateToMicroseconds();
        var endsAt = request.EndsAt.TruncateToMicroseconds();
        var delegateEmail = DelegationStore.Normalize(request.DelegateEmail);
        if (endsAt <= now)
        {
            return (null, new DelegationRefusal("ends_at", DelegationTexts.Past(endsAt)));
        }
        if (startsAt >= endsAt)
        {
            return (null, new DelegationRefusal("starts_at", DelegationTexts.StartAfterEnd));
        }
        if (endsAt - (startsAt < now ? now : startsAt) > DelegationTexts.MaxLength)
        {
            return (null, new DelegationRefusal("ends_at", DelegationTexts.TooLong));
        }
        if (delegateEmail == DelegationStore.Normalize(delegatorEmail))
        {
            return (null, new DelegationRefusal("delegate_email", DelegationTexts.Self));
        }
        if (await approvers.FindByEmailAsync(delegateEmail, ct) is null)
        {
            return (null, new DelegationRefusal("delegate_email", DelegationTexts.UnknownDelegate(delegateEmail)));
        }
        var delegation = new Delegation
        {
            DelegatorEmail = DelegationStore.Normalize(delegatorEmail),
            DelegateEmail = delegateEmail,
            StartsAt = startsAt,
            EndsAt = endsAt,
            DelegatorSlackId = request.DelegatorSlackId,
            DelegateSlackId = request.DelegateSlackId,
            SetVia = request.Via,
            SetAt = now,
        };
        var write = await store.PutAsync(delegation, now, ct);
        if (write.Conflict is { } conflict)
        {
            var message = write.DelegateIsAway ? DelegationTexts.DelegateAway(conflict) : DelegationTexts.DelegatorIsADelegate(conflict);
            return (null, new DelegationRefusal(write.DelegateIsAway ? "delegate_email" : "starts_at", message, Conflict: true));
        }
        return (delegation, null);
    }

    /// <summary>The person's delegation unless it has ended.</summary>
    public async Task<Delegation?> GetAsync(string? delegatorEmail, CancellationToken ct) =>
        string.IsNullOrWhiteSpace(delegatorEmail) || await store.GetAsync(delegatorEmail, ct) is not { } d || d.EndsAt <= Now ? null : d;

    /// <summary>The delegations to the person (they decide for someone away) that have not ended: running or planned.</summary>
    public async Task<IReadOnlyList<Delegation>> ToDelegateAsync(string? delegateEmail, CancellationToken ct) =>
        string.IsNullOrWhiteSpace(delegateEmail) ? [] : await store.UnendedForDelegateAsync(delegateEmail, Now, ct);

    /// <summary>Ends the person's delegation at once; false when they had none running or planned.</summary>
    public async Task<bool> EndAsync(string? delegatorEmail, CancellationToken ct)
    {
        if (await GetAsync(delegatorEmail, ct) is null)
        {
            return false;
        }
        return await store.DeleteAsync(delegatorEmail!, ct);
    }

    /// <summary>The decider with the people they stand in for now (<see cref="Decider.Represents"/>): each delegator
    /// who is still an approver identity. Unknown deciders and identities without an email stand in for nobody.</summary>
    public async Task<Decider> WithDelegationsAsync(Decider decider, CancellationToken ct)
    {
        if (decider.Identity?.Email is not { Length: > 0 } email)
        {
            return decider with { Represents = [] };
        }
        var represents = new List<Delegator>();
        foreach (var d in await store.ActiveForDelegateAsync(email, Now, ct))
        {
            if (await approvers.FindByEmailAsync(d.DelegatorEmail, ct) is { } identity)
            {
                represents.Add(new Delegator(identity, d.DelegatorSlackId, d.EndsAt));
            }
        }
        return decider with { Represents = represents };
    }

    /// <summary>Who among <paramref name="people"/> (emails or Slack user ids, as routes and escalation levels name
    /// them) is away now (the injected clock: call it when the message is made, not when the request was), and who
    /// decides for them.</summary>
    public async Task<IReadOnlyList<AwayNotice>> AwayAsync(IEnumerable<string> people, CancellationToken ct)
    {
        var named = people.Where(p => !string.IsNullOrWhiteSpace(p) && p is not ("here" or "channel")).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (named.Count == 0)
        {
            return [];
        }
        var active = await store.ActiveForDelegatorsAsync(named, Now, ct);
        return [.. active.Select(d => new AwayNotice(d.DelegatorEmail, d.DelegatorSlackId, d.DelegateEmail, d.DelegateSlackId, d.EndsAt))];
    }
}
