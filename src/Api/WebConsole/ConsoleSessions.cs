using System.Security.Cryptography;
using System.Text;
using AgentSentinel.Api.Auth;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.WebConsole;

/// <summary>Signs people in with an approver or admin API key, and checks sessions on every request: not ended,
/// before the absolute end, not idle too long, and the key still active (a revoked key ends its sessions).</summary>
public sealed class ConsoleSessions(
    IConsoleSessionStore store,
    IApiKeyStore keys,
    IOptionsMonitor<AgentSentinelOptions> options,
    IOptionsMonitor<ConsoleOptions> consoleOptions,
    TimeProvider time)
{
    /// <summary>The cookie's name over plain HTTP.</summary>
    public const string CookieName = "agentsentinel_session";

    /// <summary>The cookie's name over HTTPS (directly or behind a known TLS proxy): the <c>__Host-</c> prefix makes
    /// browsers accept it only with <c>Secure</c>, <c>Path=/</c> and no <c>Domain</c>, so no other host can set it.</summary>
    public const string SecureCookieName = "__Host-" + CookieName;
    public const string CsrfHeader = "X-CSRF-Token";
    private const int MaxSessionIdLength = 100;
    private static readonly TimeSpan TouchGranularity = TimeSpan.FromMinutes(1);

    /// <summary>The session cookie's name for this request: only the <c>__Host-</c> one is read over HTTPS.</summary>
    public static string CookieNameFor(HttpRequest request) => request.IsHttps ? SecureCookieName : CookieName;

    /// <summary>The session id the request's cookie carries, or null.</summary>
    public static string? SessionIdOf(HttpRequest request) =>
        request.Cookies.TryGetValue(CookieNameFor(request), out var id) && !string.IsNullOrEmpty(id) ? id : null;

    public sealed record SignInResult(string? SessionId, ConsoleSession? Session, int Status, string? Problem);

    public async Task<SignInResult> SignInAsync(string apiKey, CancellationToken ct)
    {
        if (consoleOptions.CurrentValue is { ApiKeySignIn: false } console)
        {
            return new SignInResult(null, null, StatusCodes.Status403Forbidden,
                $"Signing in to the console with an API key is turned off on this server. Sign in with {console.Oidc.DisplayName}.");
        }
        var auth = options.CurrentValue.Auth;
        string keyId, name;
        string? email;
        IReadOnlyList<string> scopes;
        if (auth.BootstrapAdminKey is { Length: > 0 } bootstrap && ApiKeyFactory.FixedTimeEquals(apiKey, bootstrap))
        {
            (keyId, name, email, scopes) = (ApiKeyAuthenticationHandler.BootstrapKeyId, "bootstrap admin", auth.BootstrapAdminEmail, [Scopes.Admin]);
        }
        else if (await keys.FindActiveByHashAsync(ApiKeyFactory.Hash(apiKey), ct) is { } record)
        {
            (keyId, name, email, scopes) = (record.Id, record.Name, record.Email, record.Scopes);
        }
        else
        {
            return new SignInResult(null, null, StatusCodes.Status401Unauthorized, "The API key is not valid or has been revoked.");
        }
        if (!scopes.Contains(Scopes.Approver) && !scopes.Contains(Scopes.Admin))
        {
            return new SignInResult(null, null, StatusCodes.Status403Forbidden,
                "This key has only the agent scope. Sign in to the console with an approver or admin key.");
        }

        return await CreateAsync(keyId, ApiKeyFactory.Hash(apiKey), name, email, scopes, authTime: null, ct);
    }

    /// <summary>Opens a session for a person the identity provider vouched for (the caller checked their email and
    /// roles). The session lasts while the person's latest sign-in still gives them a scope and the provider is still
    /// configured; idle and absolute lifetimes are those of every session.</summary>
    public Task<SignInResult> SignInPersonAsync(ConsolePerson person, DateTimeOffset? authTime, CancellationToken ct) =>
        CreateAsync(person.Id, PersonKeyHash(person.Id), person.Name, person.Email, person.Scopes, authTime, ct);

    private async Task<SignInResult> CreateAsync(string keyId, string keyHash, string name, string? email, IReadOnlyList<string> scopes,
        DateTimeOffset? authTime, CancellationToken ct)
    {
        var sessionId = NewSessionId();
        var now = time.GetUtcNow().TruncateToMicroseconds();
        var session = new ConsoleSession
        {
            IdHash = ApiKeyFactory.Hash(sessionId),
            KeyId = keyId,
            KeyHash = keyHash,
            Name = name,
            Email = email,
            Scopes = scopes,
            CreatedAt = now,
            LastSeenAt = now,
            ExpiresAt = now + consoleOptions.CurrentValue.SessionLifetime,
            AuthTime = authTime?.TruncateToMicroseconds(),
        };
        await store.CreateAsync(session, ct);
        return new SignInResult(sessionId, session, StatusCodes.Status200OK, null);
    }

    /// <summary>A person's session has no API key: this stands in its place and can never equal a key's hash (hex).</summary>
    private static string PersonKeyHash(string personId) => "person:" + personId;

    /// <summary>The open session with this id, or null (ended, expired, idle too long, or its key revoked).</summary>
    public async Task<ConsoleSession?> ValidateAsync(string? sessionId, bool touch, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(sessionId) || sessionId.Length > MaxSessionIdLength)
        {
            return null;
        }
        var now = time.GetUtcNow();
        var session = await store.FindOpenAsync(ApiKeyFactory.Hash(sessionId), now, ct);
        if (session is null || session.LastSeenAt + consoleOptions.CurrentValue.SessionIdleTimeout <= now || !KeyStillActive(session))
        {
            return null;
        }
        if (touch)
        {
            await store.TouchAsync(session.IdHash, now.TruncateToMicroseconds(), TouchGranularity, ct);
        }
        return session;
    }

    public Task<bool> SignOutAsync(string sessionId, CancellationToken ct) =>
        store.EndAsync(ApiKeyFactory.Hash(sessionId), time.GetUtcNow().TruncateToMicroseconds(), ct);

    /// <summary>When the session ends if nothing else happens: the idle timeout from now, or its absolute end.</summary>
    public DateTimeOffset EndsAt(ConsoleSession session)
    {
        var idle = time.GetUtcNow() + consoleOptions.CurrentValue.SessionIdleTimeout;
        return (idle < session.ExpiresAt ? idle : session.ExpiresAt).TruncateToMicroseconds();
    }

    /// <summary>The anti-forgery token of a session: derived from its id (which only the cookie carries), so a page
    /// of another site can neither read nor compute it.</summary>
    public static string CsrfToken(string sessionId) =>
        Base64Url(HMACSHA256.HashData(Encoding.UTF8.GetBytes(sessionId), "agentsentinel-console-csrf"u8));

    public static bool CsrfMatches(string sessionId, string? presented) =>
        presented is { Length: > 0 and < 200 }
        && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(CsrfToken(sessionId)), Encoding.UTF8.GetBytes(presented));

    private bool KeyStillActive(ConsoleSession session)
    {
        var console = consoleOptions.CurrentValue;
        if (ConsolePerson.IsPersonId(session.KeyId))
        {
            // Signed in through the identity provider: ends when the provider is no longer configured.
            return console.Oidc.Enabled && session.StoredKeyActive;
        }
        if (!console.ApiKeySignIn)
        {
            return false; // key sign-in was turned off: key sessions end too
        }
        if (session.KeyId != ApiKeyAuthenticationHandler.BootstrapKeyId)
        {
            return session.StoredKeyActive;
        }
        // The bootstrap key is not stored: its sessions last while the same key is configured.
        return options.CurrentValue.Auth.BootstrapAdminKey is { Length: > 0 } bootstrap
            && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(ApiKeyFactory.Hash(bootstrap)), Encoding.ASCII.GetBytes(session.KeyHash));
    }

    private static string NewSessionId() => Base64Url(RandomNumberGenerator.GetBytes(32));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
