using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Core.Auth;

/// <summary>The approver identities the server knows, looked up in the store at every use (no cache): revoking a key
/// stops its person on every surface and every instance at their next click.</summary>
public interface IApproverDirectory
{
    /// <summary>The active approver identity with this email (an approver- or admin-scoped key that is not revoked, the
    /// configured bootstrap admin, or a person whose sign-in through the identity provider within
    /// <c>Auth:SignedInPersonDays</c> gave them a console scope), or null. Emails compare case-insensitively.</summary>
    Task<ApproverIdentity?> FindByEmailAsync(string email, CancellationToken ct);
}

public sealed class ApproverDirectory(IApiKeyStore keys, IConsolePeopleStore people, IOptionsMonitor<AgentSentinelOptions> options, TimeProvider time)
    : IApproverDirectory
{
    /// <summary>The key id recorded for the bootstrap admin key (it is configured, not stored).</summary>
    public const string BootstrapKeyId = "bootstrap";
    public const string BootstrapName = "bootstrap admin";

    public async Task<ApproverIdentity?> FindByEmailAsync(string email, CancellationToken ct)
    {
        email = email.Trim();
        if (email.Length == 0)
        {
            return null;
        }
        var auth = options.CurrentValue.Auth;
        if (!string.IsNullOrEmpty(auth.BootstrapAdminKey) && string.Equals(auth.BootstrapAdminEmail, email, StringComparison.OrdinalIgnoreCase))
        {
            return new ApproverIdentity(BootstrapKeyId, BootstrapName, auth.BootstrapAdminEmail, IsAdmin: true);
        }
        var candidates = (await keys.FindActiveByEmailAsync(email, ct))
            .Where(k => k.HasScope(Scopes.Approver) || k.HasScope(Scopes.Admin))
            .ToList();
        // Several keys may share an email: an admin key speaks for the person first, then the oldest approver key.
        var key = candidates.FirstOrDefault(k => k.HasScope(Scopes.Admin)) ?? candidates.FirstOrDefault();
        if (key is not null)
        {
            return new ApproverIdentity(key.Id, key.Name, key.Email, key.HasScope(Scopes.Admin));
        }
        return await SignedInPersonAsync(email, auth.SignedInPersonDays, ct);
    }

    /// <summary>A person known from a recent sign-in through the identity provider. Their roles may have changed at the
    /// provider since, so the record counts only for a bounded time; their latest sign-in decides their scopes.</summary>
    private async Task<ApproverIdentity?> SignedInPersonAsync(string email, int days, CancellationToken ct)
    {
        if (days <= 0)
        {
            return null;
        }
        var since = time.GetUtcNow().AddDays(-days);
        var person = (await people.FindByEmailAsync(email, ct)).FirstOrDefault(p => p.LastSignedInAt > since);
        return person is null ? null : new ApproverIdentity(person.Id, person.Name, person.Email, person.Scopes.Contains(Scopes.Admin));
    }
}
