using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using Microsoft.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace AgentSentinel.Console.Tests;

/// <summary>A person the test provider knows: their login name at the provider, and what their ID token says.</summary>
public sealed record ProviderUser(string Login, string Subject, string Email, bool EmailVerified, string[] Roles, string? Name = null);

/// <summary>A real OpenID provider (OpenIddict's server) on loopback over plain http, for the console's sign-in: the
/// authorization code flow with PKCE, discovery, signed ID tokens, RP-initiated logout. Its people are the test's;
/// its sign-in page is a one-field form, and it remembers who signed in (a cookie) until logout. It honours
/// <c>prompt=login</c> and <c>max_age</c> and stamps <c>auth_time</c> from the clock it is given.</summary>
public sealed class TestOpenIdProvider : IAsyncDisposable
{
    public const string ClientId = "agentsentinel-console";
    private const string SessionCookie = "op_session";

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, ProviderUser> _users = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ProviderSession> _sessions = new(StringComparer.Ordinal);
    private readonly TimeProvider _clock;

    private TestOpenIdProvider(WebApplication app, Uri authority, TimeProvider clock)
    {
        _app = app;
        Authority = authority;
        _clock = clock;
    }

    public Uri Authority { get; }

    /// <summary>Every authorization request, as its query string parameters.</summary>
    public ConcurrentQueue<IReadOnlyDictionary<string, string?>> AuthorizationRequests { get; } = new();

    /// <summary>Every end-session (logout) request, as its parameters.</summary>
    public ConcurrentQueue<IReadOnlyDictionary<string, string?>> EndSessionRequests { get; } = new();

    /// <summary>Times the sign-in form was submitted (each a fresh authentication).</summary>
    public int Logins => _logins;
    private int _logins;

    /// <summary>Where the console says it listens: redirect URIs must start with it.</summary>
    public string? ExpectedRedirectBase { get; set; }

    public void AddUser(ProviderUser user) => _users[user.Login] = user;

    public static async Task<TestOpenIdProvider> StartAsync(TimeProvider clock)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        TestOpenIdProvider? self = null;
        builder.Services.AddOpenIddict().AddServer(o =>
        {
            o.SetAuthorizationEndpointUris("connect/authorize")
                .SetTokenEndpointUris("connect/token")
                .SetEndSessionEndpointUris("connect/logout");
            o.AllowAuthorizationCodeFlow().RequireProofKeyForCodeExchange();
            o.RegisterScopes(Scopes.OpenId, Scopes.Profile, Scopes.Email, Scopes.Roles);
            o.AddEphemeralEncryptionKey().AddEphemeralSigningKey();
            o.DisableAccessTokenEncryption();
            // No database: the test decides which client and redirect URIs are valid.
            o.EnableDegradedMode();
            o.UseAspNetCore()
                .EnableAuthorizationEndpointPassthrough()
                .EnableEndSessionEndpointPassthrough()
                .DisableTransportSecurityRequirement();
            o.AddEventHandler<ValidateAuthorizationRequestContext>(b => b.UseInlineHandler(context =>
            {
                if (context.ClientId != ClientId)
                {
                    context.Reject(Errors.InvalidClient, "Unknown client.");
                }
                else if (self?.ExpectedRedirectBase is { } expected && context.RedirectUri?.StartsWith(expected, StringComparison.Ordinal) != true)
                {
                    context.Reject(Errors.InvalidRequest, "Unexpected redirect_uri.");
                }
                return default;
            }));
            o.AddEventHandler<ValidateTokenRequestContext>(b => b.UseInlineHandler(context =>
            {
                if (context.ClientId != ClientId)
                {
                    context.Reject(Errors.InvalidClient, "Unknown client.");
                }
                return default;
            }));
            o.AddEventHandler<ValidateEndSessionRequestContext>(b => b.UseInlineHandler(_ => default));
        });
        var app = builder.Build();
        app.MapMethods("/connect/authorize", ["GET", "POST"], (HttpContext http) => self!.Authorize(http));
        app.MapGet("/connect/logout", (HttpContext http) => self!.Logout(http));
        app.MapPost("/login", (Delegate)((HttpContext http) => self!.LoginAsync(http)));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self = new TestOpenIdProvider(app, new Uri(address.TrimEnd('/') + "/"), clock);
        return self;
    }

    /// <summary>A free loopback port, for a server that must know its address before it starts.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private IResult Authorize(HttpContext http)
    {
        var request = http.GetOpenIddictServerRequest()!;
        AuthorizationRequests.Enqueue(http.Request.Query.ToDictionary(q => q.Key, q => (string?)q.Value.ToString()));
        var session = http.Request.Cookies.TryGetValue(SessionCookie, out var id) && _sessions.TryGetValue(id, out var found) ? found : null;
        var fresh = session is not null && session.Fresh;
        if (session is not null)
        {
            session.Fresh = false;
        }
        var mustLogIn = session is null
            || (request.HasPromptValue(PromptValues.Login) && !fresh)
            || (request.MaxAge is { } maxAge && _clock.GetUtcNow() - session.AuthTime > TimeSpan.FromSeconds(maxAge) && !fresh);
        if (mustLogIn)
        {
            var back = HtmlEncoder.Default.Encode(http.Request.Path + http.Request.QueryString);
            return Results.Content($"""
                <!doctype html><html><head><title>Test provider</title></head><body>
                <h1>Test provider sign-in</h1>
                <form method="post" action="/login">
                <label for="login">Provider login</label> <input id="login" name="login">
                <input type="hidden" name="return" value="{back}">
                <button type="submit">Continue at the provider</button>
                </form></body></html>
                """, "text/html");
        }
        var user = session!.User;
        var identity = new ClaimsIdentity(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme, Claims.Name, Claims.Role);
        identity.AddClaim(new Claim(Claims.Subject, user.Subject));
        identity.AddClaim(new Claim(Claims.Email, user.Email));
        identity.AddClaim(new Claim(Claims.EmailVerified, user.EmailVerified ? "true" : "false", ClaimValueTypes.Boolean));
        identity.AddClaim(new Claim(Claims.Name, user.Name ?? user.Login));
        foreach (var role in user.Roles)
        {
            identity.AddClaim(new Claim("roles", role));
        }
        identity.AddClaim(new Claim(Claims.AuthenticationTime, session.AuthTime.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture), ClaimValueTypes.Integer64));
        identity.SetScopes(request.GetScopes());
        identity.SetDestinations(_ => [Destinations.IdentityToken]);
        return Results.SignIn(new ClaimsPrincipal(identity), null, OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
    }

    private async Task<IResult> LoginAsync(HttpContext http)
    {
        var form = await http.Request.ReadFormAsync();
        if (!_users.TryGetValue(form["login"].ToString(), out var user))
        {
            return Results.Content("<!doctype html><p>Unknown login.</p>", "text/html", statusCode: 400);
        }
        var id = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        _sessions[id] = new ProviderSession(user, _clock.GetUtcNow()) { Fresh = true };
        Interlocked.Increment(ref _logins);
        http.Response.Cookies.Append(SessionCookie, id, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Lax, Path = "/" });
        var back = form["return"].ToString();
        return Results.Redirect(back.StartsWith("/connect/authorize", StringComparison.Ordinal) ? back : "/");
    }

    private IResult Logout(HttpContext http)
    {
        EndSessionRequests.Enqueue(http.Request.Query.ToDictionary(q => q.Key, q => (string?)q.Value.ToString()));
        if (http.Request.Cookies.TryGetValue(SessionCookie, out var id))
        {
            _sessions.TryRemove(id, out _);
            http.Response.Cookies.Delete(SessionCookie);
        }
        return Results.SignOut(new AuthenticationProperties { RedirectUri = "/" }, [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
    }

    /// <summary>Whether the browser with this cookie jar still has a session at the provider.</summary>
    public bool HasSession(IEnumerable<(string Name, string Value)> cookies) =>
        cookies.Any(c => c.Name == SessionCookie && _sessions.ContainsKey(c.Value));

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    private sealed class ProviderSession(ProviderUser user, DateTimeOffset authTime)
    {
        public ProviderUser User { get; } = user;
        public DateTimeOffset AuthTime { get; } = authTime;
        public bool Fresh { get; set; }
    }
}
