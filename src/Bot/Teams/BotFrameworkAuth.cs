using System.Security.Claims;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace AgentSentinel.Bot.Teams;

/// <summary>
/// Validates the bearer token of an inbound activity: signed by a key from the Bot Framework OpenID metadata
/// (cached and refreshed, with one forced refresh when a token names an unknown key), issued by
/// https://api.botframework.com, for this bot's app id, within its lifetime (small clock skew). The token is checked
/// before the body is read; the activity's serviceUrl must then match the token's <c>serviceurl</c> claim
/// (<see cref="MatchesServiceUrl"/>).
/// </summary>
public sealed class BotFrameworkAuth(IOptionsMonitor<TeamsOptions> options, IHttpClientFactory httpClients, TimeProvider time)
{
    private readonly Lock _lock = new();
    private ConfigurationManager<OpenIdConnectConfiguration>? _metadata;
    private string? _metadataUrl;
    private readonly JsonWebTokenHandler _handler = new();

    public async Task<ClaimsIdentity?> ValidateAsync(string? authorization, string? activityServiceUrl, CancellationToken ct)
    {
        var identity = await ValidateTokenAsync(authorization, ct);
        return identity is not null && MatchesServiceUrl(identity, activityServiceUrl) ? identity : null;
    }

    /// <summary>The token's <c>serviceurl</c> claim names the activity's serviceUrl.</summary>
    public static bool MatchesServiceUrl(ClaimsIdentity identity, string? activityServiceUrl) =>
        identity.FindFirst("serviceurl")?.Value is { } serviceUrl && activityServiceUrl is not null && SameUrl(serviceUrl, activityServiceUrl);

    /// <summary>Signature, issuer, audience and lifetime of the bearer token; null when any is wrong.</summary>
    public async Task<ClaimsIdentity?> ValidateTokenAsync(string? authorization, CancellationToken ct)
    {
        var settings = options.CurrentValue;
        if (string.IsNullOrWhiteSpace(settings.AppId) || authorization is null
            || !authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        var token = authorization["Bearer ".Length..].Trim();
        var metadata = Metadata(settings.OpenIdMetadataUrl);
        var result = await ValidateWithAsync(token, settings, await metadata.GetConfigurationAsync(ct));
        if (result.Exception is SecurityTokenSignatureKeyNotFoundException)
        {
            metadata.RequestRefresh();
            result = await ValidateWithAsync(token, settings, await metadata.GetConfigurationAsync(ct));
        }
        return result.IsValid ? result.ClaimsIdentity : null;
    }

    private Task<TokenValidationResult> ValidateWithAsync(string token, TeamsOptions settings, OpenIdConnectConfiguration configuration) =>
        _handler.ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = TeamsOptions.BotFrameworkIssuer,
            ValidAudience = settings.AppId,
            IssuerSigningKeys = configuration.SigningKeys,
            ValidateIssuerSigningKey = true,
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            ValidateLifetime = true,
            ClockSkew = settings.ClockSkew,
            ValidAlgorithms = [SecurityAlgorithms.RsaSha256],
            LifetimeValidator = (notBefore, expires, _, p) =>
            {
                var now = time.GetUtcNow().UtcDateTime;
                return (notBefore is null || notBefore.Value - p.ClockSkew <= now) && expires is not null && now <= expires.Value + p.ClockSkew;
            },
        });

    private static bool SameUrl(string a, string b) => string.Equals(a.TrimEnd('/'), b.TrimEnd('/'), StringComparison.OrdinalIgnoreCase);

    private ConfigurationManager<OpenIdConnectConfiguration> Metadata(string url)
    {
        lock (_lock)
        {
            if (_metadata is null || _metadataUrl != url)
            {
                var retriever = new HttpDocumentRetriever(httpClients.CreateClient("BotFrameworkMetadata"))
                {
                    RequireHttps = url.StartsWith("https://", StringComparison.OrdinalIgnoreCase),
                };
                _metadata = new ConfigurationManager<OpenIdConnectConfiguration>(url, new OpenIdConnectConfigurationRetriever(), retriever)
                {
                    AutomaticRefreshInterval = TimeSpan.FromHours(12),
                    RefreshInterval = TimeSpan.FromMinutes(1),
                };
                _metadataUrl = url;
            }
            return _metadata;
        }
    }
}
