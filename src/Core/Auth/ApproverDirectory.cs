using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Core.Auth;

/// <summary>The approver identities the server knows, looked up in the store at every use (no cache): revoking a key
/// stops its person on every surface and every instance at their next click.</summary>
public interface IApproverDirectory
{
    /// <summary>The active approver identity with this email (an approver- or admin-scoped key that is not revoked, or
    /// the configured bootstrap admin), or null. Emails compare case-insensitively.</summary>
    Task<ApproverIdentity?> FindByEmailAsync(string email, CancellationToken ct);
}

public sealed class ApproverDirectory(IApiKeyStore keys, IOptionsMonitor<AgentSentinelOptions> options) : IApproverDirectory
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
        return key is null ? null : new ApproverIdentity(key.Id, key.Name, key.Email, key.HasScope(Scopes.Admin));
    }
}
