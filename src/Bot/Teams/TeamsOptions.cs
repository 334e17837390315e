namespace AgentSentinel.Bot.Teams;

/// <summary><c>AgentSentinel:Teams</c>. Teams is on when the app id and password are set.</summary>
public sealed class TeamsOptions
{
    public const string SectionName = "AgentSentinel:Teams";
    public const string BotFrameworkIssuer = "https://api.botframework.com";

    /// <summary>The bot's Microsoft App ID: the audience of inbound tokens and the client id of outbound ones.</summary>
    public string? AppId { get; set; }

    public string? AppPassword { get; set; }

    /// <summary>For a single-tenant bot; empty for multi-tenant (tokens then come from the botframework.com tenant).</summary>
    public string? TenantId { get; set; }

    /// <summary>The Microsoft Entra tenants whose members may decide (and whose activities are accepted at all).
    /// Empty means the tenant of <see cref="TenantId"/>; with neither, Teams cannot be enabled.</summary>
    public List<string> AllowedTenants { get; set; } = [];

    public IReadOnlyList<string> EffectiveAllowedTenants => AllowedTenants.Count > 0
        ? [.. AllowedTenants.Select(t => t.Trim())]
        : string.IsNullOrWhiteSpace(TenantId) ? [] : [TenantId.Trim()];

    public bool IsAllowedTenant(string? tenantId) =>
        !string.IsNullOrWhiteSpace(tenantId) && EffectiveAllowedTenants.Contains(tenantId.Trim(), StringComparer.OrdinalIgnoreCase);

    public string OpenIdMetadataUrl { get; set; } = "https://login.botframework.com/v1/.well-known/openidconfiguration";

    /// <summary>The OAuth2 token endpoint for outbound calls; empty for the Bot Framework default of the tenant.</summary>
    public string? TokenUrl { get; set; }

    /// <summary>Accepted clock difference when checking token lifetimes.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromMinutes(5);

    public bool Enabled => !string.IsNullOrWhiteSpace(AppId) && !string.IsNullOrWhiteSpace(AppPassword);

    public string EffectiveTokenUrl => string.IsNullOrWhiteSpace(TokenUrl)
        ? $"https://login.microsoftonline.com/{(string.IsNullOrWhiteSpace(TenantId) ? "botframework.com" : TenantId)}/oauth2/v2.0/token"
        : TokenUrl;
}
