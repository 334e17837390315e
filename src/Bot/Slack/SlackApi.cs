using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Bot.Slack;

/// <summary>The Slack Web API methods this product uses.</summary>
public interface ISlackApi
{
    /// <summary>Posts a message; returns its <c>ts</c>.</summary>
    Task<string> PostMessageAsync(SlackMessage message, CancellationToken ct);
    Task UpdateMessageAsync(SlackMessage message, CancellationToken ct);
    Task PostEphemeralAsync(string channel, string user, string text, CancellationToken ct);
    Task OpenViewAsync(string triggerId, ModalView view, CancellationToken ct);
    Task<SlackUser?> GetUserAsync(string userId, CancellationToken ct);
    /// <summary>Looks for a message this server posted (found by its metadata) in a channel or thread since a time.</summary>
    Task<string?> FindPostedMessageAsync(string channel, Guid approvalId, string deliveryKey, DateTimeOffset since, CancellationToken ct);
    /// <summary>Looks for a message this server posted with the given metadata event type and payload values; returns its <c>ts</c>.</summary>
    Task<string?> FindMessageByMetadataAsync(string channel, string eventType, IReadOnlyDictionary<string, string> payload, DateTimeOffset since, CancellationToken ct);
}

/// <summary>A Slack user as <c>users.info</c> describes it. <see cref="EmailConfirmed"/> is Slack's
/// <c>is_email_confirmed</c>; <see cref="IsGuest"/> covers single- and multi-channel guests (<c>is_restricted</c>,
/// <c>is_ultra_restricted</c>); <see cref="IsStranger"/> marks a user Slack shows from another organisation.</summary>
public sealed record SlackUser(string Id, string? Name, string? RealName, string? Email, bool IsBot, bool Deleted)
{
    public bool EmailConfirmed { get; init; }
    public string? TeamId { get; init; }
    public bool IsGuest { get; init; }
    public bool IsStranger { get; init; }
}

/// <summary>Slack answered <c>ok: false</c>; <see cref="IsPermanent"/> when retrying cannot help.</summary>
public class SlackApiException(string method, string error) : Exception($"Slack {method} failed: {error}")
{
    public string Method { get; } = method;
    public string Error { get; } = error;

    private static readonly HashSet<string> Permanent =
    [
        "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed", "account_inactive",
        "token_revoked", "missing_scope", "invalid_blocks", "invalid_arguments", "msg_too_long", "no_text",
        "message_not_found", "cant_update_message", "edit_window_closed", "restricted_action", "user_not_found",
        "expired_trigger_id", "invalid_trigger_id", "exchanged_trigger_id", "view_too_large",
    ];

    public bool IsPermanent => Permanent.Contains(Error);
}

public sealed class SlackRateLimitedException(string method, TimeSpan retryAfter)
    : SlackApiException(method, $"ratelimited (retry after {retryAfter.TotalSeconds:0} s)")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}

/// <summary>A typed client over <see cref="HttpClient"/>: JSON bodies for write methods, form bodies for read methods,
/// the bot token as a bearer token, <c>ok: false</c>, 429 and 5xx turned into exceptions.</summary>
public sealed class SlackApiClient(HttpClient http, IOptionsMonitor<SlackOptions> options) : ISlackApi
{
    public async Task<string> PostMessageAsync(SlackMessage message, CancellationToken ct)
    {
        var result = await CallJsonAsync("chat.postMessage", message, ct);
        return result["ts"]?.GetValue<string>() ?? throw new SlackApiException("chat.postMessage", "no ts in the answer");
    }

    public Task UpdateMessageAsync(SlackMessage message, CancellationToken ct) => CallJsonAsync("chat.update", message, ct);

    public Task PostEphemeralAsync(string channel, string user, string text, CancellationToken ct) =>
        CallJsonAsync("chat.postEphemeral", new { channel, user, text }, ct);

    public Task OpenViewAsync(string triggerId, ModalView view, CancellationToken ct) =>
        CallJsonAsync("views.open", new { trigger_id = triggerId, view }, ct);

    public async Task<SlackUser?> GetUserAsync(string userId, CancellationToken ct)
    {
        JsonNode result;
        try
        {
            result = await CallFormAsync("users.info", new Dictionary<string, string> { ["user"] = userId }, ct);
        }
        catch (SlackApiException e) when (e.Error == "user_not_found")
        {
            return null;
        }
        var user = result["user"];
        if (user is null)
        {
            return null;
        }
        return new SlackUser(
            Text(user["id"]) ?? userId,
            Text(user["name"]),
            Text(user["real_name"]) ?? Text(user["profile"]?["real_name"]),
            Text(user["profile"]?["email"]),
            Flag(user["is_bot"]),
            Flag(user["deleted"]))
        {
            EmailConfirmed = Flag(user["is_email_confirmed"]),
            TeamId = Text(user["team_id"]),
            IsGuest = Flag(user["is_restricted"]) || Flag(user["is_ultra_restricted"]),
            IsStranger = Flag(user["is_stranger"]),
        };
    }

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    /// <summary>A boolean field; anything else (absent, null, another type) reads as false.</summary>
    private static bool Flag(JsonNode? node) => node is JsonValue v && v.TryGetValue<bool>(out var b) && b;

    public Task<string?> FindPostedMessageAsync(string channel, Guid approvalId, string deliveryKey, DateTimeOffset since, CancellationToken ct) =>
        FindMessageByMetadataAsync(channel, SlackMessages.MetadataEventType,
            new Dictionary<string, string> { ["approval_id"] = approvalId.ToString(), ["delivery_key"] = deliveryKey }, since, ct);

    public async Task<string?> FindMessageByMetadataAsync(string channel, string eventType, IReadOnlyDictionary<string, string> payload, DateTimeOffset since, CancellationToken ct)
    {
        var form = new Dictionary<string, string>
        {
            ["channel"] = channel,
            ["oldest"] = (since.ToUnixTimeMilliseconds() / 1000.0).ToString("0.000000", System.Globalization.CultureInfo.InvariantCulture),
            ["include_all_metadata"] = "true",
            ["limit"] = "200",
        };
        var result = await CallFormAsync("conversations.history", form, ct);
        foreach (var message in result["messages"]?.AsArray() ?? [])
        {
            var metadata = message?["metadata"];
            if (metadata?["event_type"]?.GetValue<string>() == eventType
                && payload.All(p => metadata["event_payload"]?[p.Key]?.GetValue<string>() == p.Value))
            {
                return message!["ts"]?.GetValue<string>();
            }
        }
        return null;
    }

    private Task<JsonNode> CallJsonAsync<T>(string method, T body, CancellationToken ct)
    {
        var content = JsonContent.Create(body, options: SlackJson.Options);
        return SendAsync(method, content, ct);
    }

    private Task<JsonNode> CallFormAsync(string method, Dictionary<string, string> form, CancellationToken ct) =>
        SendAsync(method, new FormUrlEncodedContent(form), ct);

    private async Task<JsonNode> SendAsync(string method, HttpContent content, CancellationToken ct)
    {
        var settings = options.CurrentValue;
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(new Uri(settings.ApiBaseUrl.TrimEnd('/') + "/"), method)) { Content = content };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", settings.BotToken);
        using var response = await http.SendAsync(request, ct);
        if (response.StatusCode == HttpStatusCode.TooManyRequests)
        {
            var retryAfter = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(
                int.TryParse(response.Headers.TryGetValues("Retry-After", out var v) ? v.FirstOrDefault() : null, out var s) ? s : 1);
            throw new SlackRateLimitedException(method, retryAfter);
        }
        if ((int)response.StatusCode >= 500)
        {
            throw new HttpRequestException($"Slack {method} answered {(int)response.StatusCode}", null, response.StatusCode);
        }
        JsonNode? result;
        try
        {
            result = await response.Content.ReadFromJsonAsync<JsonNode>(ct);
        }
        catch (JsonException)
        {
            throw new HttpRequestException($"Slack {method} answered {(int)response.StatusCode} without JSON", null, response.StatusCode);
        }
        if (result?["ok"]?.GetValue<bool>() != true)
        {
            throw new SlackApiException(method, result?["error"]?.GetValue<string>() ?? $"HTTP {(int)response.StatusCode}");
        }
        return result;
    }
}
