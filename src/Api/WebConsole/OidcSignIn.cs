using System.Globalization;
using System.Security.Claims;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;

namespace AgentSentinel.Api.WebConsole;

/// <summary>Console sign-in through the company identity provider: the authorization code flow with PKCE
/// (Microsoft.AspNetCore.Authentication.OpenIdConnect). The provider only establishes who signed in (a verified email)
/// and with which roles; the console's own session (cookie, CSRF token, idle and absolute lifetimes) takes over.</summary>
public static class OidcSignIn
{
    public const string SchemeName = "Oidc";
    public const string CallbackPath = "/signin-oidc";
    public const string SignedOutCallbackPath = "/signout-callback-oidc";
    public const string SignInPath = "/console/oidc/signin";
    public const string SignOutPath = "/console/oidc/signout";
    public const string SignedOutPage = "/signin?signed_out=1";

    /// <summary>The longest step-up the sign-in call accepts, in minutes (a route's <c>RequireRecentSignInMinutes</c>).</summary>
    public const int MaxStepUpMinutes = 1440;

    /// <summary>How long the link that ends the provider session stays valid after the console session ended.</summary>
    private static readonly TimeSpan SignOutLinkLifetime = TimeSpan.FromMinutes(5);

    private const string SignOutPurpose = "AgentSentinel.Console.OidcSignOut";

    /// <summary>Registers the OpenID Connect scheme when <c>AgentSentinel:Console:Oidc:Authority</c> is set.</summary>
    public static void AddOidcSignIn(this IServiceCollection services, IConfiguration configuration, AuthenticationBuilder authentication)
    {
        var oidc = configuration.GetSection(ConsoleOptions.SectionName).Get<ConsoleOptions>()?.Oidc;
        if (oidc is not { Enabled: true })
        {
            return;
        }
        services.AddScoped<OidcEvents>();
        authentication.AddOpenIdConnect(SchemeName, oidc.DisplayName, _ => { });
        services.AddOptions<OpenIdConnectOptions>(SchemeName).Configure<IOptions<ConsoleOptions>>((o, console) =>
        {
            var settings = console.Value.Oidc;
            o.Authority = settings.Authority;
            o.ClientId = settings.ClientId;
            o.ClientSecret = string.IsNullOrEmpty(settings.ClientSecret) ? null : settings.ClientSecret;
            o.RequireHttpsMetadata = new Uri(settings.Authority!).Scheme == Uri.UriSchemeHttps;
            o.ResponseType = OpenIdConnectResponseType.Code;
            o.UsePkce = true;
            o.DisableTelemetry = true; // no library name and version in the requests to the provider
            // The answer comes back as a top-level GET, so the correlation and nonce cookies can be SameSite=Lax.
            o.ResponseMode = OpenIdConnectResponseMode.Query;
            o.CorrelationCookie.SameSite = SameSiteMode.Lax;
            o.CorrelationCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.NonceCookie.SameSite = SameSiteMode.Lax;
            o.NonceCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.Scope.Clear();
            foreach (var scope in settings.EffectiveScopes)
            {
                o.Scope.Add(scope);
            }
            o.MapInboundClaims = false; // the claims keep the provider's names (email, email_verified, roles, auth_time)
            o.SaveTokens = false;
            o.GetClaimsFromUserInfoEndpoint = false;
            o.CallbackPath = CallbackPath;
            o.SignedOutCallbackPath = SignedOutCallbackPath;
            o.SignedOutRedirectUri = SignedOutPage;
            o.RemoteSignOutPath = default; // no front-channel sign-out: the console's session ends only through the console
            // The ticket never reaches this scheme: OidcEvents opens a console session instead.
            o.SignInScheme = ConsoleSessionAuthenticationHandler.SchemeName;
            o.SignOutScheme = ConsoleSessionAuthenticationHandler.SchemeName;
            o.EventsType = typeof(OidcEvents);
        });
    }

    public static IEndpointRouteBuilder MapOidcSignIn(this IEndpointRouteBuilder app)
    {
        app.MapGet(SignInPath, SignIn).WithName("ConsoleOidcSignIn").WithSummary("Start a sign-in at the company identity provider")
            .AllowAnonymous().WithMetadata(new AnonymousByDesignMetadata("Sign-in is how a session starts; the provider says who the person is."))
            .WithMetadata(ConsoleEndpointMetadata.Instance).ExcludeFromDescription();
        app.MapGet(SignOutPath, SignOut).WithName("ConsoleOidcSignOut").WithSummary("End the session at the company identity provider")
            .AllowAnonymous().WithMetadata(new AnonymousByDesignMetadata("The console session has already ended; a short-lived link from it ends the provider's."))
            .WithMetadata(ConsoleEndpointMetadata.Instance).ExcludeFromDescription();
        return app;
    }

    /// <summary>Sends the person to the provider. <paramref name="maxAge"/> (minutes) asks the provider to make the
    /// person sign in again (<c>prompt=login</c>, <c>max_age</c>), for a decision that needs a recent sign-in.</summary>
    public static async Task<IResult> SignIn(HttpContext http, IOptionsMonitor<ConsoleOptions> console, IAuthenticationSchemeProvider schemes,
        [Microsoft.AspNetCore.Mvc.FromQuery(Name = "return")] string? returnPath, [Microsoft.AspNetCore.Mvc.FromQuery(Name = "max_age")] string? maxAge)
    {
        // The scheme is registered at start-up: an Authority configured later takes effect at the next restart.
        if (!console.CurrentValue.Oidc.Enabled || await schemes.GetSchemeAsync(SchemeName) is null)
        {
            return Problems.NotFound("Sign-in through an identity provider is not configured on this server.");
        }
        var properties = new OpenIdConnectChallengeProperties { RedirectUri = SafeReturn(returnPath) };
        if (maxAge is not null)
        {
            if (!int.TryParse(maxAge, NumberStyles.None, CultureInfo.InvariantCulture, out var minutes) || minutes > MaxStepUpMinutes)
            {
                return Problems.BadRequest($"max_age must be a whole number of minutes from 0 to {MaxStepUpMinutes}.", "max_age");
            }
            properties.MaxAge = TimeSpan.FromMinutes(minutes);
            properties.Prompt = OpenIdConnectPrompt.Login;
        }
        return TypedResults.Challenge(properties, [SchemeName]);
    }

    public static async Task<IResult> SignOut(HttpContext http, IOptionsMonitor<ConsoleOptions> console, IAuthenticationSchemeProvider schemes,
        IDataProtectionProvider protection, TimeProvider time, string? t)
    {
        if (!console.CurrentValue.Oidc.Enabled || await schemes.GetSchemeAsync(SchemeName) is null || !SignOutLinkValid(protection, time, t))
        {
            return TypedResults.Redirect(SignedOutPage);
        }
        return TypedResults.SignOut(new AuthenticationProperties { RedirectUri = SignedOutPage }, [SchemeName]);
    }

    /// <summary>The link that ends the provider session too, when the provider offers an end-session endpoint; null
    /// otherwise (then signing out ends the console session only).</summary>
    public static async Task<string?> ProviderSignOutLinkAsync(HttpContext http, CancellationToken ct)
    {
        var options = http.RequestServices.GetService<IOptionsMonitor<OpenIdConnectOptions>>()?.Get(SchemeName);
        if (options?.ConfigurationManager is not { } manager)
        {
            return null;
        }
        try
        {
            var configuration = await manager.GetConfigurationAsync(ct);
            if (string.IsNullOrEmpty(configuration.EndSessionEndpoint))
            {
                return null;
            }
        }
        catch (InvalidOperationException e)
        {
            ApiLog.OidcMetadataUnavailable(http.RequestServices.GetRequiredService<ILogger<OidcEvents>>(), e);
            return null;
        }
        var now = http.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow().ToUnixTimeSeconds();
        var token = http.RequestServices.GetRequiredService<IDataProtectionProvider>().CreateProtector(SignOutPurpose)
            .Protect(now.ToString(CultureInfo.InvariantCulture));
        return $"{SignOutPath}?t={Uri.EscapeDataString(token)}";
    }

    private static bool SignOutLinkValid(IDataProtectionProvider protection, TimeProvider time, string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 1000)
        {
            return false;
        }
        try
        {
            var issued = long.Parse(protection.CreateProtector(SignOutPurpose).Unprotect(token), NumberStyles.None, CultureInfo.InvariantCulture);
            var age = time.GetUtcNow() - DateTimeOffset.FromUnixTimeSeconds(issued);
            return age >= TimeSpan.Zero && age <= SignOutLinkLifetime;
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return false;
        }
    }

    /// <summary>Only a path of this site is a place to return to after sign-in.</summary>
    public static string SafeReturn(string? value) =>
        value is { Length: > 0 and <= 2000 } && value[0] == '/' && !value.StartsWith("//", StringComparison.Ordinal)
        && !value.Contains('\\', StringComparison.Ordinal) && !value.Any(char.IsControl)
            ? value
            : "/inbox";

    public static string RefusedPage(string reason) => "/signin?refused=" + reason;
}

/// <summary>Why a sign-in through the provider was refused; the sign-in page words each.</summary>
public static class OidcRefusals
{
    public const string NoEmail = "no-email";
    public const string UnverifiedEmail = "unverified-email";
    public const string NoRole = "no-role";
    public const string Provider = "provider";
}

/// <summary>What the console does with the provider's answer: checks the email and roles, records the person, opens
/// a console session and returns to the page the person came from; or shows the sign-in page with the refusal.</summary>
internal sealed class OidcEvents(
    ConsoleSessions sessions,
    IConsolePeopleStore people,
    IOptionsMonitor<ConsoleOptions> console,
    IOptionsMonitor<AgentSentinelOptions> product,
    TimeProvider time,
    ILogger<OidcEvents> logger) : OpenIdConnectEvents
{
    private const int MaxEmailLength = 254;

    public override Task RedirectToIdentityProvider(RedirectContext context)
    {
        if (PublicBase() is { } publicBase)
        {
            context.ProtocolMessage.RedirectUri = publicBase + OidcSignIn.CallbackPath;
        }
        return Task.CompletedTask;
    }

    public override Task RedirectToIdentityProviderForSignOut(RedirectContext context)
    {
        // RP-initiated logout names the client, as providers ask when no id_token_hint is sent.
        context.ProtocolMessage.ClientId ??= console.CurrentValue.Oidc.ClientId;
        if (PublicBase() is { } publicBase)
        {
            context.ProtocolMessage.PostLogoutRedirectUri = publicBase + OidcSignIn.SignedOutCallbackPath;
        }
        return Task.CompletedTask;
    }

    public override async Task TicketReceived(TicketReceivedContext context)
    {
        context.HandleResponse();
        var target = await OpenSessionAsync(context.HttpContext, context.Principal!, context.ReturnUri);
        context.Response.Redirect(target);
    }

    public override Task RemoteFailure(RemoteFailureContext context)
    {
        ApiLog.OidcSignInFailed(logger, context.Failure?.GetType().Name ?? "unknown", context.Failure?.Message ?? "");
        context.HandleResponse();
        context.Response.Redirect(OidcSignIn.RefusedPage(OidcRefusals.Provider));
        return Task.CompletedTask;
    }

    private async Task<string> OpenSessionAsync(HttpContext http, ClaimsPrincipal principal, string? returnUri)
    {
        var settings = console.CurrentValue.Oidc;
        var ct = http.RequestAborted;
        var subject = principal.FindFirst("sub");
        if (subject is null)
        {
            ApiLog.OidcSignInFailed(logger, "no-subject", "The ID token has no sub claim.");
            return OidcSignIn.RefusedPage(OidcRefusals.Provider);
        }
        var personId = ConsolePerson.IdFor(subject.Issuer, subject.Value);
        var email = principal.FindFirstValue(settings.EmailClaim)?.Trim();
        if (string.IsNullOrEmpty(email) || email.Length > MaxEmailLength || !email.Contains('@', StringComparison.Ordinal) || email.Any(char.IsControl))
        {
            ApiLog.OidcSignInRefused(logger, personId, OidcRefusals.NoEmail);
            return OidcSignIn.RefusedPage(OidcRefusals.NoEmail);
        }
        if (!string.Equals(principal.FindFirstValue(settings.EmailVerifiedClaim), "true", StringComparison.OrdinalIgnoreCase))
        {
            ApiLog.OidcSignInRefused(logger, personId, OidcRefusals.UnverifiedEmail);
            return OidcSignIn.RefusedPage(OidcRefusals.UnverifiedEmail);
        }
        var roles = principal.FindAll(settings.RolesClaim).Select(c => c.Value).ToHashSet(StringComparer.Ordinal);
        var scopes = new List<string>();
        if (settings.AdminRoles.Any(roles.Contains))
        {
            scopes.Add(Scopes.Admin);
        }
        if (settings.ApproverRoles.Any(roles.Contains))
        {
            scopes.Add(Scopes.Approver);
        }
        var now = time.GetUtcNow().TruncateToMicroseconds();
        var name = principal.FindFirstValue("name") is { Length: > 0 and <= 200 } n && !n.Any(char.IsControl) ? n : email;
        var person = new ConsolePerson
        {
            Id = personId,
            Issuer = subject.Issuer,
            Subject = subject.Value,
            Email = email,
            Name = name,
            Scopes = scopes,
            FirstSignedInAt = now,
            LastSignedInAt = now,
        };
        // Recorded even when refused: a person whose roles were removed stops being an approver identity everywhere.
        await people.RecordSignInAsync(person, ct);
        if (scopes.Count == 0)
        {
            ApiLog.OidcSignInRefused(logger, personId, OidcRefusals.NoRole);
            return OidcSignIn.RefusedPage(OidcRefusals.NoRole);
        }
        // A new sign-in replaces the session the browser had (a step-up, or another person on the same browser).
        if (ConsoleSessions.SessionIdOf(http.Request) is { } previous)
        {
            await sessions.SignOutAsync(previous, ct);
        }
        var result = await sessions.SignInPersonAsync(person, AuthTime(principal, now), ct);
        http.Response.Cookies.Append(ConsoleSessions.CookieNameFor(http.Request), result.SessionId!, ConsoleApi.CookieOptions(http, result.Session!.ExpiresAt));
        ApiLog.OidcSignedIn(logger, personId, string.Join(' ', scopes));
        return OidcSignIn.SafeReturn(returnUri);
    }

    /// <summary>When the person proved who they are at the provider; a time in the future (clock skew) counts as now.</summary>
    private static DateTimeOffset? AuthTime(ClaimsPrincipal principal, DateTimeOffset now)
    {
        if (!long.TryParse(principal.FindFirstValue("auth_time"), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || seconds > 253402300799)
        {
            return null;
        }
        var at = DateTimeOffset.FromUnixTimeSeconds(seconds);
        return at > now ? now : at;
    }

    private string? PublicBase() => product.CurrentValue.PublicBaseUrl is { Length: > 0 } url ? url.TrimEnd('/') : null;
}
