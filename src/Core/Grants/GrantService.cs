using AgentSentinel.Core.Approvals;
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

/// <summary>Listing and revoking standing grants, for every surface (API, console, Slack).</summary>
public sealed class GrantService(IGrantStore store, TimeProvider time, ILogger<GrantService> logger)
{
    public DateTimeOffset Now => time.GetUtcNow().TruncateToMicroseconds();

    public Task<Grant?> GetAsync(Guid id, CancellationToken ct) => store.GetGrantAsync(id, ct);

    public Task<IReadOnlyList<Grant>> ListAsync(bool activeOnly, int limit, CancellationToken ct) => store.ListGrantsAsync(activeOnly, Now, limit, ct);

    /// <summary>May <paramref name="identity"/> revoke <paramref name="grant"/>: the person who gave it (the same key, or
    /// the same email on another key) or an admin.</summary>
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
        return new RevokeResult(RevokeOutcome.Revoked, revoked);
    }
}
