using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.WebConsole;

/// <summary>The <c>AgentSentinel:Console</c> configuration section: web console sessions and live updates.</summary>
public sealed class ConsoleOptions
{
    public const string SectionName = "AgentSentinel:Console";

    /// <summary>A session ends after this long without a request (sliding expiry).</summary>
    public TimeSpan SessionIdleTimeout { get; set; } = TimeSpan.FromHours(8);

    /// <summary>A session ends this long after sign-in, however active (absolute expiry).</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How long the live-update stream may stay silent before it sends a keep-alive comment.</summary>
    public TimeSpan EventsKeepAlive { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often the live-update stream checks that its session is still valid (not signed out, not
    /// expired, its key not revoked), on the clock, however busy the stream is.</summary>
    public TimeSpan EventsSessionCheck { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Whether people may sign in to the console with an approver or admin API key. False hides the key
    /// form, refuses key sign-in and ends open key sessions; the API itself still takes keys.</summary>
    public bool ApiKeySignIn { get; set; } = true;

    /// <summary>Sign-in through the company identity provider (OpenID Connect); off while <c>Authority</c> is empty.</summary>
    public OidcOptions Oidc { get; set; } = new();
}

/// <summary>The <c>AgentSentinel:Console:Oidc</c> section: the authorization code flow with PKCE against any standard
/// OpenID provider. The provider says who the person is (their verified email) and which roles they have; the
/// console's own session takes over from there.</summary>
public sealed class OidcOptions
{
    /// <summary>The issuer URL (its <c>/.well-known/openid-configuration</c> is read). HTTPS, or plain HTTP on loopback.</summary>
    public string? Authority { get; set; }
    public string? ClientId { get; set; }
    /// <summary>For a confidential client; empty for a public client (PKCE alone).</summary>
    public string? ClientSecret { get; set; }
    /// <summary>Empty: <c>openid profile email</c>. <c>openid</c> is always asked for.</summary>
    public List<string> Scopes { get; set; } = [];
    /// <summary>The ID token claim with the person's email.</summary>
    public string EmailClaim { get; set; } = "email";
    /// <summary>The claim that must be <c>true</c> for the email to be trusted (Entra ID: <c>xms_edov</c>).</summary>
    public string EmailVerifiedClaim { get; set; } = "email_verified";
    /// <summary>The claim with the person's roles or groups (<c>roles</c>, <c>groups</c>).</summary>
    public string RolesClaim { get; set; } = "roles";
    /// <summary>Roles (or group ids) that make a person an admin of the console.</summary>
    public List<string> AdminRoles { get; set; } = [];
    /// <summary>Roles (or group ids) that make a person an approver.</summary>
    public List<string> ApproverRoles { get; set; } = [];
    /// <summary>The provider's name on the sign-in button: "Sign in with {DisplayName}".</summary>
    public string DisplayName { get; set; } = "single sign-on";

    public bool Enabled => !string.IsNullOrWhiteSpace(Authority);

    public IReadOnlyList<string> EffectiveScopes =>
        ["openid", .. (Scopes.Count == 0 ? ["profile", "email"] : Scopes).Where(s => s != "openid").Distinct(StringComparer.Ordinal)];
}

public sealed class ConsoleOptionsValidator : IValidateOptions<ConsoleOptions>
{
    public ValidateOptionsResult Validate(string? name, ConsoleOptions options)
    {
        var errors = new List<string>();
        if (options.SessionIdleTimeout < TimeSpan.FromMinutes(1) || options.SessionIdleTimeout > TimeSpan.FromDays(30))
        {
            errors.Add($"{ConsoleOptions.SectionName}:SessionIdleTimeout must be from 00:01:00 to 30.00:00:00, got {options.SessionIdleTimeout}.");
        }
        if (options.SessionLifetime < options.SessionIdleTimeout || options.SessionLifetime > TimeSpan.FromDays(90))
        {
            errors.Add($"{ConsoleOptions.SectionName}:SessionLifetime must be at least SessionIdleTimeout and at most 90.00:00:00, got {options.SessionLifetime}.");
        }
        if (options.EventsKeepAlive < TimeSpan.FromSeconds(1) || options.EventsKeepAlive > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{ConsoleOptions.SectionName}:EventsKeepAlive must be from 00:00:01 to 00:05:00, got {options.EventsKeepAlive}.");
        }
        if (options.EventsSessionCheck < TimeSpan.FromSeconds(1) || options.EventsSessionCheck > TimeSpan.FromMinutes(1))
        {
            errors.Add($"{ConsoleOptions.SectionName}:EventsSessionCheck must be from 00:00:01 to 00:01:00, got {options.EventsSessionCheck}.");
        }
        ValidateOidc(options, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void ValidateOidc(ConsoleOptions options, List<string> errors)
    {
        var oidc = options.Oidc;
        var section = $"{ConsoleOptions.SectionName}:Oidc";
        if (!oidc.Enabled)
        {
            if (!options.ApiKeySignIn)
            {
                errors.Add($"{ConsoleOptions.SectionName}:ApiKeySignIn is false and {section}:Authority is not set: nobody could sign in to the console.");
            }
            return;
        }
        if (!Uri.TryCreate(oidc.Authority, UriKind.Absolute, out var authority)
            || !(authority.Scheme == Uri.UriSchemeHttps || (authority.Scheme == Uri.UriSchemeHttp && authority.IsLoopback)))
        {
            errors.Add($"{section}:Authority must be an absolute https URL (plain http only on loopback), got '{oidc.Authority}'.");
        }
        if (string.IsNullOrWhiteSpace(oidc.ClientId))
        {
            errors.Add($"{section}:ClientId is required when {section}:Authority is set.");
        }
        if (oidc.AdminRoles.All(string.IsNullOrWhiteSpace) && oidc.ApproverRoles.All(string.IsNullOrWhiteSpace))
        {
            errors.Add($"{section}: name the provider roles (or groups) that make a person an approver or an admin in ApproverRoles and AdminRoles; with neither, everybody would be refused.");
        }
        foreach (var (name, value) in new[] { ("EmailClaim", oidc.EmailClaim), ("EmailVerifiedClaim", oidc.EmailVerifiedClaim), ("RolesClaim", oidc.RolesClaim), ("DisplayName", oidc.DisplayName) })
        {
            if (string.IsNullOrWhiteSpace(value) || value.Length > 100)
            {
                errors.Add($"{section}:{name} must be 1 to 100 characters.");
            }
        }
    }
}
