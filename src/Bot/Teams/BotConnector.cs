using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Bot.Teams;

/// <summary>The Bot Connector REST calls this product makes, against a conversation's <c>serviceUrl</c>.</summary>
public interface IBotConnector
{
    /// <summary>Starts a conversation (a new post) in a Teams channel; returns the conversation id and the activity id.</summary>
    Task<(string ConversationId, string ActivityId)> CreateChannelConversationAsync(string serviceUrl, string channelId, string? tenantId, JsonObject activity, CancellationToken ct);

    /// <summary>Sends an activity to a conversation, as a reply when <paramref name="replyToId"/> is given; returns its id.</summary>
    Task<string> SendAsync(string serviceUrl, string conversationId, JsonObject activity, string? replyToId, CancellationToken ct);

    Task UpdateAsync(string serviceUrl, string conversationId, string activityId, JsonObject activity, CancellationToken ct);

    Task<TeamsMember?> GetMemberAsync(string serviceUrl, string conversationId, string userId, CancellationToken ct);
}

/// <summary>A member as the connector's member lookup describes it: <see cref="TenantId"/> is the member's tenant and
/// <see cref="UserRole"/> is <c>user</c>, <c>guest</c> or <c>bot</c>.</summary>
public sealed record TeamsMember(string Id, string? Name, string? AadObjectId, string? Email)
{
    public string? TenantId { get; init; }
    public string? UserRole { get; init; }
}

public class BotConnectorException(string operation, HttpStatusCode status, string? detail)
    : Exception($"Bot Connector {operation} answered {(int)status}: {detail}")
{
    /// <summary><c>token</c> for the token endpoint; the connector call (<c>create conversation</c>, <c>send</c>, ...) otherwise.</summary>
    public string Operation { get; } = operation;

    public HttpStatusCode Status { get; } = status;

    /// <summary>The connector's error code (<c>ConversationNotFound</c>, <c>BotNotInConversationRoster</c>, ...) when
    /// the answer carried one as <c>{"error": {"code": ...}}</c>.</summary>
    public string? Code { get; } = CodeOf(detail);

    private static string? CodeOf(string? body)
    {
        if (string.IsNullOrWhiteSpace(body) || !body.TrimStart().StartsWith('{'))
        {
            return null;
        }
        try
        {
            return JsonNode.Parse(body)?["error"]?["code"]?.GetValue<string>();
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Retrying cannot help: the bot is not in the conversation, the activity is gone, the request is wrong.</summary>
    public bool IsPermanent => Status is HttpStatusCode.BadRequest or HttpStatusCode.Forbidden or HttpStatusCode.NotFound or HttpStatusCode.Gone;
}

public sealed class BotConnectorRateLimitedException(string operation, TimeSpan retryAfter)
    : BotConnectorException(operation, HttpStatusCode.TooManyRequests, $"retry after {retryAfter.TotalSeconds:0} s")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}

/// <summary>Outbound tokens by the OAuth2 client-credentials grant, cached until shortly before they expire.</summary>
public sealed class BotTokenProvider(HttpClient http, IOptionsMonitor<TeamsOptions> options, TimeProvider time)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private (string Token, DateTimeOffset RenewAt)? _cached;

    /// <summary>Forgets the cached token, so the next call asks the token endpoint again.</summary>
    public void Invalidate() => _cached = null;

    public async Task<string> GetTokenAsync(CancellationToken ct)
    {
        if (_cached is { } c && time.GetUtcNow() < c.RenewAt)
        {
            return c.Token;
        }
        await _gate.WaitAsync(ct);
        try
        {
            if (_cached is { } again && time.GetUtcNow() < again.RenewAt)
            {
                return again.Token;
            }
            var settings = options.CurrentValue;
            using var response = await http.PostAsync(settings.EffectiveTokenUrl, new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "client_credentials",
                ["client_id"] = settings.AppId ?? "",
                ["client_secret"] = settings.AppPassword ?? "",
                ["scope"] = "https://api.botframework.com/.default",
            }), ct);
            if (!response.IsSuccessStatusCode)
            {
                throw new BotConnectorException("token", response.StatusCode, "the token endpoint refused the app credentials");
            }
            var json = await response.Content.ReadFromJsonAsync<JsonObject>(ct);
            var token = (string?)json?["access_token"] ?? throw new BotConnectorException("token", response.StatusCode, "no access_token");
            var lifetime = TimeSpan.FromSeconds(json?["expires_in"] is { } e ? (double)e : 3600);
            // Renew five minutes early (or halfway through very short lifetimes).
            var margin = lifetime > TimeSpan.FromMinutes(10) ? TimeSpan.FromMinutes(5) : lifetime / 2;
            _cached = (token, time.GetUtcNow() + lifetime - margin);
            return token;
        }
        finally
        {
            _gate.Release();
        }
    }
}

public sealed class BotConnectorClient(HttpClient http, BotTokenProvider tokens) : IBotConnector
{
    public async Task<(string ConversationId, string ActivityId)> CreateChannelConversationAsync(string serviceUrl, string channelId, string? tenantId, JsonObject activity, CancellationToken ct)
    {
        var body = new JsonObject
        {
            ["isGroup"] = true,
            ["channelData"] = new JsonObject
            {
                ["channel"] = new JsonObject { ["id"] = channelId },
                ["tenant"] = tenantId is null ? null : new JsonObject { ["id"] = tenantId },
            },
            ["activity"] = activity,
        };
        if (tenantId is not null)
        {
            body["tenantId"] = tenantId;
        }
        var result = await SendAsync(HttpMethod.Post, serviceUrl, "v3/conversations", body, "create conversation", ct);
        var conversationId = (string?)result?["id"] ?? throw new BotConnectorException("create conversation", HttpStatusCode.OK, "no conversation id");
        var activityId = (string?)result?["activityId"] ?? conversationId.Split(";messageid=", 2).ElementAtOrDefault(1)
            ?? throw new BotConnectorException("create conversation", HttpStatusCode.OK, "no activity id");
        return (conversationId, activityId);
    }

    public async Task<string> SendAsync(string serviceUrl, string conversationId, JsonObject activity, string? replyToId, CancellationToken ct)
    {
        var path = $"v3/conversations/{Uri.EscapeDataString(conversationId)}/activities" + (replyToId is null ? "" : "/" + Uri.EscapeDataString(replyToId));
        if (replyToId is not null)
        {
            activity["replyToId"] = replyToId;
        }
        var result = await SendAsync(HttpMethod.Post, serviceUrl, path, activity, "send", ct);
        return (string?)result?["id"] ?? throw new BotConnectorException("send", HttpStatusCode.OK, "no activity id");
    }

    public async Task UpdateAsync(string serviceUrl, string conversationId, string activityId, JsonObject activity, CancellationToken ct)
    {
        activity["id"] = activityId;
        await SendAsync(HttpMethod.Put, serviceUrl, $"v3/conversations/{Uri.EscapeDataString(conversationId)}/activities/{Uri.EscapeDataString(activityId)}", activity, "update", ct);
    }

    public async Task<TeamsMember?> GetMemberAsync(string serviceUrl, string conversationId, string userId, CancellationToken ct)
    {
        // Members belong to the team or chat, not to one thread of it.
        var conversation = conversationId.Split(";messageid=", 2)[0];
        JsonObject? result;
        try
        {
            result = await SendAsync(HttpMethod.Get, serviceUrl, $"v3/conversations/{Uri.EscapeDataString(conversation)}/members/{Uri.EscapeDataString(userId)}", null, "get member", ct);
        }
        catch (BotConnectorException e) when (e.Status == HttpStatusCode.NotFound)
        {
            return null;
        }
        return result is null ? null : new TeamsMember(
            (string?)result["id"] ?? userId,
            (string?)result["name"],
            (string?)result["aadObjectId"],
            (string?)result["email"] ?? (string?)result["userPrincipalName"])
        {
            TenantId = (string?)result["tenantId"],
            UserRole = (string?)result["userRole"],
        };
    }

    private async Task<JsonObject?> SendAsync(HttpMethod method, string serviceUrl, string path, JsonObject? body, string operation, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, new Uri(new Uri(serviceUrl.TrimEnd('/') + "/"), path));
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, options: CardJson.Options);
        }
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await tokens.GetTokenAsync(ct));
        using var response = await http.SendAsync(request, ct);
        if (response.StatusCode == HttpStatusCode.TooManyRequests)
        {
            throw new BotConnectorRateLimitedException(operation, response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(2));
        }
        if ((int)response.StatusCode >= 500)
        {
            throw new HttpRequestException($"Bot Connector {operation} answered {(int)response.StatusCode}", null, response.StatusCode);
        }
        if (!response.IsSuccessStatusCode)
        {
            throw new BotConnectorException(operation, response.StatusCode, await response.Content.ReadAsStringAsync(ct));
        }
        return response.Content.Headers.ContentLength == 0 ? null : await response.Content.ReadFromJsonAsync<JsonObject>(ct);
    }
}
