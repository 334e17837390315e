using System.Security.Claims;
using System.Text.Encodings.Web;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.Auth;

/// <summary>Authenticates <c>Authorization: ApiKey &lt;key&gt;</c> and <c>Authorization: Bearer &lt;key&gt;</c> against
/// the hashed keys in the store (revocation applies to the next request) and the optional bootstrap admin key.</summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    IApiKeyStore keys,
    IOptionsMonitor<AgentSentinelOptions> options,
    IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, loggerFactory, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string BootstrapKeyId = ApproverDirectory.BootstrapKeyId;
    private const int MaxKeyLength = 256;

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (string.IsNullOrWhiteSpace(header))
        {
            return AuthenticateResult.NoResult();
        }
        var space = header.IndexOf(' ', StringComparison.Ordinal);
        var scheme = space > 0 ? header[..space] : header;
        if (!scheme.Equals("ApiKey", StringComparison.OrdinalIgnoreCase) && !scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticateResult.Fail("Use 'Authorization: ApiKey <key>' or 'Authorization: Bearer <key>'.");
        }
        var key = space > 0 ? header[(space + 1)..].Trim() : "";
        if (key.Length is 0 or > MaxKeyLength)
        {
            return AuthenticateResult.Fail("The API key is missing or malformed.");
        }

        var auth = options.CurrentValue.Auth;
        if (auth.BootstrapAdminKey is { Length: > 0 } bootstrap && ApiKeyFactory.FixedTimeEquals(key, bootstrap))
        {
            return Success(BootstrapKeyId, ApproverDirectory.BootstrapName, auth.BootstrapAdminEmail, [Scopes.Admin]);
        }
        var record = await keys.FindActiveByHashAsync(ApiKeyFactory.Hash(key), Context.RequestAborted);
        return record is null
            ? AuthenticateResult.Fail("The API key is not valid or has been revoked.")
            : Success(record.Id, record.Name, record.Email, record.Scopes);
    }

    private AuthenticateResult Success(string id, string name, string? email, IEnumerable<string> scopes)
    {
        var claims = new List<Claim> { new(ClaimTypes.NameIdentifier, id), new(ClaimTypes.Name, name) };
        if (email is not null)
        {
            claims.Add(new Claim(ClaimTypes.Email, email));
        }
        claims.AddRange(scopes.Select(s => new Claim(ApiClaims.Scope, s)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var failure = (await HandleAuthenticateOnceSafeAsync()).Failure?.Message;
        Response.Headers.WWWAuthenticate = "ApiKey, Bearer";
        await problems.WriteProblemAsync(Context, StatusCodes.Status401Unauthorized, "Unauthorized",
            failure ?? "An API key is required: send 'Authorization: ApiKey <key>'.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        problems.WriteProblemAsync(Context, StatusCodes.Status403Forbidden, "Forbidden", "This API key does not have the scope this call needs.");
}

public static class ProblemResponses
{
    /// <summary>Answers with a problem detail from places that run outside an endpoint (authentication, middleware).</summary>
    public static async Task WriteProblemAsync(this IProblemDetailsService problems, HttpContext context, int status, string title, string detail)
    {
        context.Response.StatusCode = status;
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = { Status = status, Title = title, Detail = detail },
        });
    }
}

public static class ApiClaims
{
    public const string Scope = "scope";
    /// <summary>Where the caller acts from when it is not the API itself (<c>console</c> for a console session,
    /// <c>mcp</c> for a tool call on the MCP endpoint).</summary>
    public const string Surface = "surface";
    /// <summary>For a console session opened through the identity provider: when the person last proved who they are
    /// there (Unix seconds, the ID token's <c>auth_time</c>).</summary>
    public const string AuthTime = "auth_time";
}

public static class ApiPolicies
{
    /// <summary>Agents create and follow requests (admins may too).</summary>
    public const string Agent = "agent";
    /// <summary>Approvers decide (admins may too).</summary>
    public const string Approver = "approver";
    public const string Admin = "admin";
    /// <summary>Any valid key.</summary>
    public const string Any = "any";
}

public static class ClaimsPrincipalExtensions
{
    public static string KeyId(this ClaimsPrincipal user) => user.FindFirstValue(ClaimTypes.NameIdentifier) ?? "";

    public static bool HasScope(this ClaimsPrincipal user, string scope) => user.HasClaim(ApiClaims.Scope, scope);

    public static bool IsAdmin(this ClaimsPrincipal user) => user.HasScope(Scopes.Admin);

    /// <summary>May read every request, not only its own: approvers and admins.</summary>
    public static bool SeesAll(this ClaimsPrincipal user) => user.HasScope(Scopes.Approver) || user.HasScope(Scopes.Admin);

    /// <summary>The person or agent behind the call; a console session acts from the console, a key from the API.</summary>
    public static Actor ToActor(this ClaimsPrincipal user) =>
        new(user.FindFirstValue(ClaimTypes.Name) ?? user.KeyId(),
            WireNames.TryParseSurface(user.FindFirstValue(ApiClaims.Surface), out var surface) ? surface : Surface.Api,
            user.FindFirstValue(ClaimTypes.Email), null, user.KeyId());

    /// <summary>The caller as a decider: its key is the approver identity (authentication already refused revoked keys).</summary>
    public static Decider ToDecider(this ClaimsPrincipal user)
    {
        var actor = user.ToActor();
        var signedInAt = long.TryParse(user.FindFirstValue(ApiClaims.AuthTime), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : (DateTimeOffset?)null;
        return Decider.Known(new ApproverIdentity(user.KeyId(), actor.DisplayName, actor.Email, user.IsAdmin()), actor.Surface) with { SignedInAt = signedInAt };
    }
}
