using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using Microsoft.Extensions.Logging;

namespace AgentSentinel.Core.Grants;

public enum RevokeOutcome
{
    Revoked,
    NotFound,
    /// <summary>Only the person who gave the grant, or an admin, may revoke it.</summary>
    NotAllowed,
    AlreadyRevoked,
}

public sealed record RevokeResult(RevokeOutcome Outcome, Grant? Grant);

/// <summary>Told when a grant is revoked, whichever surface revoked it (chat surfaces redraw the message of the approval
/// that gave it). Implementations must return quickly (enqueue a job for slow work).</summary>
public interface IGrantObserver
{
    Task OnGrantRevokedAsync(Grant grant, CancellationToken ct);
}

/// <summary>Offering, listing and revoking standing grants, for every surface (API, console, Slack, Teams), under one
/// rule: <see cref="GrantRules"/> for what may be given, <see cref="MayRevoke"/> for who may take it back.</summary>
public sealed class GrantService(
    IGrantStore store,
    RuntimeSettings settings,
    IEnumerable<IGrantObserver> observers,
    TimeProvider time,
    ILogger<GrantService> logger)
{
    private readonly IGrantObserver[] _observers = [.. observers];

    public DateTimeOffset Now => time.GetUtcNow().TruncateToMicroseconds();

    public Task<Grant?> GetAsync(Guid id, CancellationToken ct) => store.GetGrantAsync(id, ct);

    /// <summary>The grant given with the approval of <paramref name="approvalId"/>, if any.</summary>
    public Task<Grant?> GetBySourceAsync(Guid approvalId, CancellationToken ct) => store.GetGrantBySourceAsync(approvalId, ct);

    /// <summary>Whether the approve form of <paramref name="request"/> may offer a grant, and for how long at most. Only
    /// an open request offers one.</summary>
    public async Task<GrantAllowance> AllowanceAsync(ApprovalRequest request, CancellationToken ct) =>
        request.IsTerminal
            ? new GrantAllowance(false, 0, DecisionTexts.State(request, TransitionKind.Approve))
            : GrantAllowance.For(await settings.GrantRouteOfAsync(request, ct), request);

    /// <summary>Checks an offer before it is submitted with an approval (the approval checks it again, authoritatively).</summary>
    public async Task<GrantRefusal?> CheckAsync(ApprovalRequest request, GrantOffer offer, CancellationToken ct) =>
        GrantRules.Check(await settings.GrantRouteOfAsync(request, ct), request, offer);

    public Task<IReadOnlyList<Grant>> ListAsync(bool activeOnly, int limit, CancellationToken ct) => store.ListGrantsAsync(activeOnly, Now, limit, ct);

    /// <summary>May <paramref name="identity"/> revoke <paramref name="grant"/>: an admin, or the person who gave it (the
    /// same key, or the same email on another of their keys). Nobody else: not the agent, not another approver of the
    /// route, not a chat user the server cannot match to an approver identity. Revoking only takes authority away, but
    /// a grant is its giver's decision, so when in doubt the answer is no.</summary>
    public static bool MayRevoke(Grant grant, ApproverIdentity identity) =>
        identity.IsAdmin
        || identity.KeyId == grant.CreatedByKeyId
        || (identity.Email is not null && string.Equals(identity.Email, grant.CreatedByEmail, StringComparison.OrdinalIgnoreCase));

    /// <summary>Revokes a grant; it applies to the next request on every instance (intake reads grants from the database).</summary>
    public async Task<RevokeResult> RevokeAsync(Guid id, Decider decider, CancellationToken ct)
    {
        var grant = await store.GetGrantAsync(id, ct);
        if (grant is null)
        {
            return new RevokeResult(RevokeOutcome.NotFound, null);
        }
        if (decider.Identity is not { } identity || !MayRevoke(grant, identity))
        {
            return new RevokeResult(RevokeOutcome.NotAllowed, grant);
        }
        var revoked = await store.RevokeGrantAsync(id, decider.Actor, Now, ct);
        if (revoked is null)
        {
            return new RevokeResult(RevokeOutcome.AlreadyRevoked, await store.GetGrantAsync(id, ct));
        }
        GrantLog.GrantRevoked(logger, id, decider.Actor.AuditName);
        foreach (var observer in _observers)
        {
            await observer.OnGrantRevokedAsync(revoked, ct);
        }
        return new RevokeResult(RevokeOutcome.Revoked, revoked);
    }
}
