using System.Security.Claims;
using System.Text.Json;
using AgentSentinel.Api.Auth;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Api.Limits;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Storage;
using AgentSentinel.Core.Notifications;
using AgentSentinel.Core.Telemetry;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.WebConsole;

/// <summary>The signed-in person as the console sees them. The anti-forgery token goes in <c>X-CSRF-Token</c> on
/// every state change.</summary>
public sealed record ConsoleSessionDto(
    string KeyId, string Name, string? Email, IReadOnlyList<string> Scopes, bool IsAdmin, string CsrfToken, DateTimeOffset ExpiresAt);

/// <summary>Marks an endpoint that is anonymous on purpose, with the reason; the convention test accepts only these.</summary>
public sealed record AnonymousByDesignMetadata(string Reason);

/// <summary>How people may sign in to this console: with an API key, through the company identity provider, or both.</summary>
public sealed record SignInOptionsDto(bool ApiKeySignIn, OidcSignInDto? Oidc);

public sealed record OidcSignInDto(string DisplayName, string SignInUrl);

/// <summary>The answer to sign-out when the identity provider's session can be ended too: the browser goes there next.</summary>
public sealed record SignedOutDto(string EndSessionUrl);

/// <summary>The console's own calls: sign-in, the signed-in session, sign-out and the live-update stream. Everything
/// else the console does goes through the public API with the session cookie.</summary>
public static class ConsoleApi
{
    public const string SessionPolicy = "console-session";
    private const int MaxKeyLength = 256;

    public static RouteGroupBuilder MapConsoleApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/console/api").WithTags("Console").ExcludeFromDescription().RequireAuthorization(SessionPolicy);

        api.MapPost("/session", SignInAsync).WithName("ConsoleSignIn").WithSummary("Exchange an approver or admin API key for a session cookie")
            .AllowAnonymous().WithMetadata(new AnonymousByDesignMetadata("Sign-in is how a session starts; it checks the API key in the body."));
        api.MapGet("/sign-in-options", GetSignInOptions).WithName("ConsoleSignInOptions").WithSummary("How people may sign in to this console")
            .AllowAnonymous().WithMetadata(new AnonymousByDesignMetadata("The sign-in page needs to know which ways to sign in it offers."));
        api.MapGet("/session", GetSessionAsync).WithName("ConsoleSession").WithSummary("The signed-in person and the anti-forgery token");
        api.MapDelete("/session", SignOutAsync).WithName("ConsoleSignOut").WithSummary("End the session");
        api.MapGet("/events", EventsAsync).WithName("ConsoleEvents").WithSummary("Server-sent events: which requests changed")
            .RequireRateLimiting(LimitPolicies.EventStreams);
        return api;
    }

    public static async Task<Results<Ok<ConsoleSessionDto>, ProblemHttpResult>> SignInAsync(
        HttpContext http, ConsoleSessions sessions, SignInThrottle throttle, CancellationToken ct)
    {
        if (throttle.TryEnter(http) is { } retryAfter)
        {
            http.Response.Headers.RetryAfter = LimitsExtensions.RetryAfterHeader(retryAfter);
            return Problems.Status(StatusCodes.Status429TooManyRequests, "Too many requests", "Too many sign-in attempts; retry after the time in Retry-After.");
        }
        // A cross-site form cannot send JSON, and a cross-site script's Origin is not ours: no login forgery.
        if (!http.Request.HasJsonContentType())
        {
            return Problems.Status(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", "Send the API key as JSON: {\"api_key\": \"as_...\"}.");
        }
        if (http.Request.Headers.Origin.ToString() is { Length: > 0 } origin
            && !string.Equals(origin, $"{http.Request.Scheme}://{http.Request.Host}", StringComparison.OrdinalIgnoreCase))
        {
            return Problems.Forbidden("Sign-in is only accepted from the console's own pages.");
        }
        using var body = await JsonBody.ReadAsync(http, allowEmpty: false);
        var key = body.String("api_key", MaxKeyLength, required: true)!.Trim();
        var result = await sessions.SignInAsync(key, ct);
        if (result.SessionId is null)
        {
            throttle.Failed(http);
            return Problems.Status(result.Status, result.Status == StatusCodes.Status401Unauthorized ? "Unauthorized" : "Forbidden", result.Problem!);
        }
        http.Response.Cookies.Append(ConsoleSessions.CookieNameFor(http.Request), result.SessionId, CookieOptions(http, result.Session!.ExpiresAt));
        return TypedResults.Ok(ToDto(result.Session!.KeyId, result.Session.Name, result.Session.Email, result.Session.Scopes, result.SessionId, sessions.EndsAt(result.Session)));
    }

    public static async Task<Results<Ok<ConsoleSessionDto>, ProblemHttpResult>> GetSessionAsync(
        HttpContext http, ClaimsPrincipal user, ConsoleSessions sessions, CancellationToken ct)
    {
        var sessionId = ConsoleSessions.SessionIdOf(http.Request)!;
        var session = await sessions.ValidateAsync(sessionId, touch: false, ct);
        if (session is null)
        {
            return Problems.Status(StatusCodes.Status401Unauthorized, "Unauthorized", "Your console session has ended. Sign in again.");
        }
        return TypedResults.Ok(ToDto(user.KeyId(), session.Name, session.Email, session.Scopes, sessionId, sessions.EndsAt(session)));
    }

    public static Ok<SignInOptionsDto> GetSignInOptions(IOptionsMonitor<ConsoleOptions> options)
    {
        var console = options.CurrentValue;
        return TypedResults.Ok(new SignInOptionsDto(console.ApiKeySignIn,
            console.Oidc.Enabled ? new OidcSignInDto(console.Oidc.DisplayName, OidcSignIn.SignInPath) : null));
    }

    /// <summary>Ends the console session. A person who signed in through the identity provider gets the link that ends
    /// the provider's session too, when the provider offers an end-session endpoint.</summary>
    public static async Task<Results<NoContent, Ok<SignedOutDto>>> SignOutAsync(HttpContext http, ClaimsPrincipal user, ConsoleSessions sessions, CancellationToken ct)
    {
        await sessions.SignOutAsync(ConsoleSessions.SessionIdOf(http.Request)!, ct);
        http.Response.Cookies.Delete(ConsoleSessions.CookieNameFor(http.Request), CookieOptions(http, null));
        if (ConsolePerson.IsPersonId(user.KeyId()) && await OidcSignIn.ProviderSignOutLinkAsync(http, ct) is { } link)
        {
            return TypedResults.Ok(new SignedOutDto(link));
        }
        return TypedResults.NoContent();
    }

    /// <summary>Server-sent events: <c>changed</c> with the ids of requests that were created or changed (an empty
    /// list means anything may have changed), a keep-alive comment when nothing was sent for a while, and
    /// <c>session-ended</c> before closing when the session is no longer valid. The session is checked every
    /// <c>EventsSessionCheck</c> on the clock, however many changes flow meanwhile.</summary>
    public static async Task EventsAsync(HttpContext http, ConsoleSessions sessions, ApprovalChangeHub hub, TimeProvider time,
        IOptions<ConsoleOptions> options, ProductMetrics metrics, CancellationToken ct)
    {
        using var open = metrics.TrackEventStream();
        var sessionId = ConsoleSessions.SessionIdOf(http.Request)!;
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-store";
        http.Response.Headers["X-Accel-Buffering"] = "no";
        using var feed = hub.SubscribeAll();
        await WriteAsync(http, "retry: 3000\nevent: ready\ndata: {}\n\n", ct);
        var (keepAlive, check) = (options.Value.EventsKeepAlive, options.Value.EventsSessionCheck);
        var nextCheck = time.GetUtcNow() + check;
        var nextKeepAlive = time.GetUtcNow() + keepAlive;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var now = time.GetUtcNow();
                if (now >= nextCheck)
                {
                    if (await sessions.ValidateAsync(sessionId, touch: false, ct) is null)
                    {
                        await WriteAsync(http, "event: session-ended\ndata: {}\n\n", ct);
                        return;
                    }
                    nextCheck = now + check;
                }
                if (now >= nextKeepAlive)
                {
                    await WriteAsync(http, ": keep-alive\n\n", ct);
                    nextKeepAlive = now + keepAlive;
                }
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var read = feed.ReadAsync(wait.Token);
                var tick = Task.Delay((nextCheck < nextKeepAlive ? nextCheck : nextKeepAlive) - now, time, wait.Token);
                await Task.WhenAny(read, tick);
                await wait.CancelAsync();
                // Changes that arrived together with the tick are sent, not lost.
                if (await ReadOrNullAsync(read) is { } ids)
                {
                    var data = JsonSerializer.Serialize(new { ids = ids.Select(i => i.ToString()) });
                    await WriteAsync(http, $"event: changed\ndata: {data}\n\n", ct);
                    nextKeepAlive = time.GetUtcNow() + keepAlive;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The browser went away.
        }
    }

    private static async Task<IReadOnlyList<Guid>?> ReadOrNullAsync(Task<IReadOnlyList<Guid>> read)
    {
        try
        {
            return await read;
        }
        catch (OperationCanceledException)
        {
            return null; // cancelled on purpose: the keep-alive came first
        }
    }

    private static async Task WriteAsync(HttpContext http, string text, CancellationToken ct)
    {
        await http.Response.WriteAsync(text, ct);
        await http.Response.Body.FlushAsync(ct);
    }

    private static ConsoleSessionDto ToDto(string keyId, string name, string? email, IReadOnlyList<string> scopes, string sessionId, DateTimeOffset endsAt) =>
        new(keyId, name, email, scopes, scopes.Contains(Scopes.Admin), ConsoleSessions.CsrfToken(sessionId), endsAt);

    internal static CookieOptions CookieOptions(HttpContext http, DateTimeOffset? expires) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        // Over HTTPS (directly or behind a known proxy) the cookie is Secure and named __Host-: Path=/, no Domain.
        Secure = http.Request.IsHttps,
        Path = "/",
        IsEssential = true,
        Expires = expires,
    };
}
