using System.Security.Claims;
using System.Text.Encodings.Web;
using AgentSentinel.Api.Auth;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.WebConsole;

/// <summary>Authenticates the web console's session cookie. The principal carries the scopes of the API key signed
/// in with, and the <c>console</c> surface, so decisions made through it are recorded as made in the console.</summary>
public sealed class ConsoleSessionAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    ConsoleSessions sessions,
    IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, loggerFactory, encoder)
{
    public const string SchemeName = "ConsoleSession";

    /// <summary>The default scheme: an <c>Authorization</c> header means an API key, else a session cookie.</summary>
    public const string ApiKeyOrSessionScheme = "ApiKeyOrConsoleSession";

    /// <summary>Why a state change made with the cookie was not authenticated: it lacked the anti-forgery token.</summary>
    public const string CsrfFailure = "The " + ConsoleSessions.CsrfHeader + " header is missing or does not match your session. Reload the console and try again.";

    /// <summary>The cookie authenticates a state change (any method but GET, HEAD, OPTIONS) only together with the
    /// session's anti-forgery token in <c>X-CSRF-Token</c>. The check is part of the scheme itself, so it holds
    /// wherever the scheme authenticates (the default scheme, or an endpoint naming it), whatever other headers say.</summary>
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (ConsoleSessions.SessionIdOf(Request) is not { } sessionId)
        {
            return AuthenticateResult.NoResult();
        }
        var method = Request.Method;
        if (!(HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method))
            && !ConsoleSessions.CsrfMatches(sessionId, Request.Headers[ConsoleSessions.CsrfHeader].ToString()))
        {
            return AuthenticateResult.Fail(CsrfFailure);
        }
        var session = await sessions.ValidateAsync(sessionId, touch: true, Context.RequestAborted);
        if (session is null)
        {
            return AuthenticateResult.Fail("Your console session has ended. Sign in again.");
        }
        var claims = new List<Claim>
        {
            new(ClaimTypes.NameIdentifier, session.KeyId),
            new(ClaimTypes.Name, session.Name),
            new(ApiClaims.Surface, "console"),
        };
        if (session.Email is not null)
        {
            claims.Add(new Claim(ClaimTypes.Email, session.Email));
        }
        if (session.AuthTime is { } authTime)
        {
            claims.Add(new Claim(ApiClaims.AuthTime, authTime.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture), ClaimValueTypes.Integer64));
        }
        claims.AddRange(session.Scopes.Select(s => new Claim(ApiClaims.Scope, s)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var failure = (await HandleAuthenticateOnceSafeAsync()).Failure?.Message;
        if (failure == CsrfFailure)
        {
            // A session without its token: a forgery, or a stale page. Not a missing sign-in.
            await problems.WriteProblemAsync(Context, StatusCodes.Status403Forbidden, "Forbidden", CsrfFailure);
            return;
        }
        await problems.WriteProblemAsync(Context, StatusCodes.Status401Unauthorized, "Unauthorized", failure ?? "Sign in to the console first.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        problems.WriteProblemAsync(Context, StatusCodes.Status403Forbidden, "Forbidden", "Your key does not have the scope this needs.");

    /// <summary>Chooses the scheme of a request: API key when it has an Authorization header, session when it has
    /// the console cookie, API key otherwise (so an anonymous call is told how to authenticate).</summary>
    public static string SelectScheme(HttpContext context) =>
        context.Request.Headers.Authorization.Count == 0 && context.Request.Cookies.ContainsKey(ConsoleSessions.CookieNameFor(context.Request))
            ? SchemeName
            : ApiKeyAuthenticationHandler.SchemeName;
}
