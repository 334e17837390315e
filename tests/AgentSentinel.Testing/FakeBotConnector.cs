using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace AgentSentinel.Testing;

/// <summary>A member of a conversation, as the connector's member lookup describes it.</summary>
public sealed record TeamsTestMember(string Name, string AadObjectId, string? Email)
{
    public string TenantId { get; init; } = FakeBotConnector.TenantId;
    /// <summary><c>user</c>, <c>guest</c> or <c>bot</c>.</summary>
    public string UserRole { get; init; } = "user";

    public static implicit operator TeamsTestMember((string Name, string AadObjectId, string Email) member) => new(member.Name, member.AadObjectId, member.Email);
}

/// <summary>
/// The Bot Framework as a test sees it, on loopback: OpenID metadata and signing keys (so tests sign inbound tokens
/// with a local key), a client-credentials token endpoint, and a Bot Connector that records what the bot sent, answers
/// like the real one and fails on demand (429 with Retry-After, 500, an error with the connector's code such as 404
/// <c>ConversationNotFound</c> or 403 <c>BotNotInConversationRoster</c>). The token endpoint and the connector can refuse
/// the app's credentials (401/403) from any moment on, and a card can be deleted (its update then answers 404
/// <c>ActivityNotFound</c>).
/// </summary>
public sealed class FakeBotConnector : IAsyncDisposable
{
    public const string AppId = "00000000-1111-2222-3333-444444444444";
    public const string AppPassword = "test-app-password";
    public const string TenantId = "tenant-0001";

    private WebApplication _app = null!;
    private readonly RSA _key = RSA.Create(2048);
    private readonly RSA _otherKey = RSA.Create(2048);
    private readonly ConcurrentDictionary<string, ConcurrentQueue<(HttpStatusCode Status, string? Code)>> _faults = new();
    private readonly ConcurrentDictionary<string, bool> _deleted = new();
    private long _ids = 1_700_000_000_000;
    private int _tokens;

    public sealed record Call(string Operation, string Method, string Path, JsonObject? Body, string? Authorization);

    public ConcurrentQueue<Call> Calls { get; } = new();

    /// <summary>Members the connector knows: Teams user id to the member (a name, AAD object id and email triple
    /// converts to a user of <see cref="TenantId"/>).</summary>
    public ConcurrentDictionary<string, TeamsTestMember> Members { get; } = new();

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>The <c>serviceUrl</c> activities carry: this server.</summary>
    public string ServiceUrl => BaseUrl.ToString();

    public string MetadataUrl => new Uri(BaseUrl, ".well-known/openidconfiguration").ToString();

    public string TokenUrl => new Uri(BaseUrl, "oauth2/token").ToString();

    /// <summary>The host settings that point the Teams bot at this fake.</summary>
    public IEnumerable<KeyValuePair<string, string?>> HostSettings() =>
    [
        new("AgentSentinel:Teams:AppId", AppId),
        new("AgentSentinel:Teams:AppPassword", AppPassword),
        new("AgentSentinel:Teams:OpenIdMetadataUrl", MetadataUrl),
        new("AgentSentinel:Teams:TokenUrl", TokenUrl),
        new("AgentSentinel:Teams:AllowedTenants:0", TenantId),
    ];

    public int TokensIssued => _tokens;

    /// <summary>When set, the token endpoint answers this status (401 or 403, <c>invalid_client</c>), as when the app's
    /// secret was rotated or revoked; null restores it.</summary>
    public HttpStatusCode? TokenRefusal { get; set; }

    /// <summary>When set, every connector call answers this status (401 or 403) whatever the token; null restores it.</summary>
    public HttpStatusCode? ConnectorRefusal { get; set; }

    /// <summary>The share of connector writes (create, send, reply, update) that fail at random: a 500, a 429 with
    /// Retry-After, or a connection dropped before anything is stored. Zero by default.</summary>
    public double RandomFaultRate { get; set; }

    /// <summary>The random source for <see cref="RandomFaultRate"/> (seeded, so a run can be repeated).</summary>
    public Random FaultRandom { get; set; } = new(20261125);

    /// <summary>Connector writes that succeeded, as Teams would have stored them (faulted calls are only in <see cref="Calls"/>).</summary>
    public ConcurrentQueue<Call> Accepted { get; } = new();

    private FakeBotConnector()
    {
    }

    public static async Task<FakeBotConnector> StartAsync()
    {
        var fake = new FakeBotConnector();
        (fake._app, fake.BaseUrl) = await LoopbackHost.StartAsync(app =>
        {
            app.MapGet("/.well-known/openidconfiguration", fake.Metadata);
            app.MapGet("/keys", fake.Keys);
            app.MapPost("/oauth2/token", (Func<HttpContext, Task<IResult>>)fake.TokenAsync);
            app.MapPost("/v3/conversations", ctx => fake.ConnectorAsync(ctx, "create"));
            app.MapPost("/v3/conversations/{id}/activities", ctx => fake.ConnectorAsync(ctx, "send"));
            app.MapPost("/v3/conversations/{id}/activities/{activityId}", ctx => fake.ConnectorAsync(ctx, "reply"));
            app.MapPut("/v3/conversations/{id}/activities/{activityId}", ctx => fake.ConnectorAsync(ctx, "update"));
            app.MapGet("/v3/conversations/{id}/members/{userId}", fake.MemberAsync);
        });
        return fake;
    }

    public void FailNext(string operation, params HttpStatusCode[] statuses)
    {
        var queue = _faults.GetOrAdd(operation, _ => new ConcurrentQueue<(HttpStatusCode, string?)>());
        foreach (var s in statuses)
        {
            queue.Enqueue((s, null));
        }
    }

    /// <summary>The next call to this operation answers <paramref name="status"/> with the connector's error body
    /// <c>{"error": {"code": code, "message": ...}}</c>.</summary>
    public void FailNext(string operation, HttpStatusCode status, string code) =>
        _faults.GetOrAdd(operation, _ => new ConcurrentQueue<(HttpStatusCode, string?)>()).Enqueue((status, code));

    /// <summary>Deletes a card, as a person in the channel can: updating it answers 404 <c>ActivityNotFound</c>.</summary>
    public void DeleteActivity(string activityId) => _deleted[activityId] = true;

    public IReadOnlyList<Call> CallsTo(string operation) => [.. Calls.Where(c => c.Operation == operation)];

    public Task<T> WaitForAsync<T>(Func<FakeBotConnector, T?> probe, TimeSpan? timeout = null, string? what = null) where T : class =>
        LoopbackHost.WaitForAsync(() => probe(this), timeout,
            () => $"Timed out waiting for {what ?? "a connector call"}; calls so far: {string.Join(", ", Calls.Select(c => c.Operation))}");

    /// <summary>The activity Teams sends when the bot is added to a team whose general channel is <paramref name="channel"/>.</summary>
    public JsonObject ConversationUpdate(string channel, string fromId, string fromAad) => new()
    {
        ["type"] = "conversationUpdate",
        ["id"] = "f:1234",
        ["timestamp"] = DateTimeOffset.UtcNow.ToString("O"),
        ["serviceUrl"] = ServiceUrl,
        ["channelId"] = "msteams",
        ["from"] = new JsonObject { ["id"] = fromId, ["aadObjectId"] = fromAad },
        ["conversation"] = new JsonObject { ["isGroup"] = true, ["conversationType"] = "channel", ["tenantId"] = FakeBotConnector.TenantId, ["id"] = channel },
        ["recipient"] = new JsonObject { ["id"] = "28:" + FakeBotConnector.AppId, ["name"] = "Agent Sentinel" },
        ["membersAdded"] = new JsonArray(new JsonObject { ["id"] = "28:" + FakeBotConnector.AppId }),
        ["channelData"] = new JsonObject
        {
            ["team"] = new JsonObject { ["id"] = channel, ["name"] = "Finance", ["aadGroupId"] = "group-1" },
            ["eventType"] = "teamMemberAdded",
            ["tenant"] = new JsonObject { ["id"] = FakeBotConnector.TenantId },
        },
    };

    /// <summary>The invoke Teams sends when <paramref name="user"/> clicks an Action.Execute of a card in <paramref name="channel"/>.</summary>
    public JsonObject Invoke(string channel, string user, string verb, string approvalId, string? notes, string conversationId) => new()
    {
        ["type"] = "invoke",
        ["name"] = "adaptiveCard/action",
        ["id"] = "f:" + Guid.NewGuid().ToString("N"),
        ["timestamp"] = DateTimeOffset.UtcNow.ToString("O"),
        ["serviceUrl"] = ServiceUrl,
        ["channelId"] = "msteams",
        ["from"] = new JsonObject { ["id"] = user, ["name"] = user, ["aadObjectId"] = Members.TryGetValue(user, out var m) ? m.AadObjectId : null },
        ["conversation"] = new JsonObject { ["isGroup"] = true, ["conversationType"] = "channel", ["tenantId"] = FakeBotConnector.TenantId, ["id"] = conversationId },
        ["recipient"] = new JsonObject { ["id"] = "28:" + FakeBotConnector.AppId, ["name"] = "Agent Sentinel" },
        ["value"] = new JsonObject
        {
            ["action"] = new JsonObject
            {
                ["type"] = "Action.Execute",
                ["verb"] = verb,
                ["data"] = notes is null
                    ? new JsonObject { ["approval_id"] = approvalId }
                    : new JsonObject { ["approval_id"] = approvalId, ["notes"] = notes },
            },
            ["trigger"] = "manual",
        },
        ["channelData"] = new JsonObject { ["tenant"] = new JsonObject { ["id"] = FakeBotConnector.TenantId }, ["channel"] = new JsonObject { ["id"] = channel } },
    };

    /// <summary>A token as the Bot Framework signs it for an inbound activity; each part can be made wrong.</summary>
    public string SignToken(string? serviceUrl = null, string audience = AppId, string issuer = "https://api.botframework.com",
        DateTime? expires = null, bool wrongKey = false)
    {
        var key = new RsaSecurityKey(wrongKey ? _otherKey : _key) { KeyId = wrongKey ? "other-key" : "test-key" };
        var now = DateTime.UtcNow;
        var exp = expires ?? now.AddMinutes(30);
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            IssuedAt = exp.AddMinutes(-60),
            NotBefore = exp.AddMinutes(-60),
            Expires = exp,
            Claims = new Dictionary<string, object> { ["serviceurl"] = serviceUrl ?? ServiceUrl },
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
        });
    }

    private IResult Metadata() => Results.Json(new
    {
        issuer = "https://api.botframework.com",
        authorization_endpoint = "https://invalid.botframework.com",
        jwks_uri = new Uri(BaseUrl, "keys").ToString(),
        id_token_signing_alg_values_supported = new[] { "RS256" },
        token_endpoint_auth_methods_supported = new[] { "private_key_jwt" },
    });

    private IResult Keys()
    {
        var p = _key.ExportParameters(false);
        return Results.Json(new
        {
            keys = new[]
            {
                new { kty = "RSA", use = "sig", kid = "test-key", n = Base64UrlEncoder.Encode(p.Modulus), e = Base64UrlEncoder.Encode(p.Exponent), endorsements = new[] { "msteams" } },
            },
        });
    }

    private async Task<IResult> TokenAsync(HttpContext http)
    {
        var form = await http.Request.ReadFormAsync();
        Calls.Enqueue(new Call("token", "POST", "/oauth2/token", new JsonObject(form.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value.ToString())))), null));
        if (form["client_id"] != AppId || form["client_secret"] != AppPassword || form["grant_type"] != "client_credentials"
            || form["scope"] != "https://api.botframework.com/.default")
        {
            return Results.Json(new { error = "invalid_client" }, statusCode: 401);
        }
        if (TokenRefusal is { } refusal)
        {
            return Results.Json(new { error = "invalid_client", error_description = "AADSTS7000215: Invalid client secret provided." }, statusCode: (int)refusal);
        }
        var n = Interlocked.Increment(ref _tokens);
        return Results.Json(new { token_type = "Bearer", expires_in = 3600, ext_expires_in = 3600, access_token = $"connector-token-{n}" });
    }

    private async Task ConnectorAsync(HttpContext http, string operation)
    {
        var body = http.Request.ContentLength > 0 || http.Request.ContentType is not null
            ? (await JsonNode.ParseAsync(http.Request.Body))?.AsObject()
            : null;
        Calls.Enqueue(new Call(operation, http.Request.Method, http.Request.Path, body, http.Request.Headers.Authorization.ToString()));
        if (!http.Request.Headers.Authorization.ToString().StartsWith("Bearer connector-token-", StringComparison.Ordinal))
        {
            http.Response.StatusCode = 401;
            return;
        }
        if (ConnectorRefusal is { } refusal)
        {
            http.Response.StatusCode = (int)refusal;
            await http.Response.WriteAsJsonAsync(new { error = new { code = refusal == HttpStatusCode.Forbidden ? "Forbidden" : "Unauthorized", message = "Authorization has been denied for this request." } });
            return;
        }
        if (_faults.TryGetValue(operation, out var queue) && queue.TryDequeue(out var fault))
        {
            http.Response.StatusCode = (int)fault.Status;
            if (fault.Status == HttpStatusCode.TooManyRequests)
            {
                http.Response.Headers.RetryAfter = "1";
            }
            if (fault.Code is { } code)
            {
                await http.Response.WriteAsJsonAsync(new { error = new { code, message = $"The connector refused the call: {code}" } });
            }
            return;
        }
        if (operation == "update" && http.Request.RouteValues["activityId"] is string deleted && _deleted.ContainsKey(deleted))
        {
            http.Response.StatusCode = 404;
            await http.Response.WriteAsJsonAsync(new { error = new { code = "ActivityNotFound", message = "The activity was not found." } });
            return;
        }
        if (RandomFault() is { } random)
        {
            if (random == 0)
            {
                http.Abort();
                return;
            }
            http.Response.StatusCode = random;
            if (random == 429)
            {
                http.Response.Headers.RetryAfter = "1";
            }
            return;
        }
        Accepted.Enqueue(new Call(operation, http.Request.Method, http.Request.Path, body, http.Request.Headers.Authorization.ToString()));
        var id = Interlocked.Increment(ref _ids).ToString(System.Globalization.CultureInfo.InvariantCulture);
        JsonObject answer = operation switch
        {
            "create" => new JsonObject
            {
                ["id"] = $"{(string?)body?["channelData"]?["channel"]?["id"]};messageid={id}",
                ["activityId"] = id,
            },
            "update" => new JsonObject { ["id"] = (string?)http.Request.RouteValues["activityId"] },
            _ => new JsonObject { ["id"] = id },
        };
        await http.Response.WriteAsJsonAsync(answer);
    }

    /// <summary>0 for a dropped connection, or the status to answer; null to answer normally.</summary>
    private int? RandomFault()
    {
        if (RandomFaultRate <= 0)
        {
            return null;
        }
        lock (FaultRandom)
        {
            return FaultRandom.NextDouble() >= RandomFaultRate ? null : FaultRandom.Next(3) switch { 0 => 500, 1 => 429, _ => 0 };
        }
    }

    /// <summary>As the connector answers <c>GET members/{id}</c>: the member with its tenant and role, 404 for someone
    /// who is not a member, or the next queued fault of the <c>member</c> operation.</summary>
    private IResult MemberAsync(HttpContext http, string id, string userId)
    {
        Calls.Enqueue(new Call("member", "GET", http.Request.Path, null, http.Request.Headers.Authorization.ToString()));
        if (!http.Request.Headers.Authorization.ToString().StartsWith("Bearer connector-token-", StringComparison.Ordinal))
        {
            return Results.StatusCode(401);
        }
        if (_faults.TryGetValue("member", out var queue) && queue.TryDequeue(out var fault))
        {
            return fault.Status == HttpStatusCode.NotFound
                ? Results.Json(new { error = new { code = fault.Code ?? "MemberNotFoundInConversation", message = "The member was not found in the conversation." } }, statusCode: 404)
                : fault.Code is { } code
                    ? Results.Json(new { error = new { code, message = $"The connector refused the call: {code}" } }, statusCode: (int)fault.Status)
                    : Results.StatusCode((int)fault.Status);
        }
        return Members.TryGetValue(userId, out var m)
            ? Results.Json(new
            {
                id = userId,
                name = m.Name,
                aadObjectId = m.AadObjectId,
                givenName = m.Name,
                email = m.Email,
                userPrincipalName = m.Email,
                tenantId = m.TenantId,
                userRole = m.UserRole,
            })
            : Results.Json(new { error = new { code = "MemberNotFoundInConversation", message = "The member was not found in the conversation." } }, statusCode: 404);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        _key.Dispose();
        _otherKey.Dispose();
    }
}
