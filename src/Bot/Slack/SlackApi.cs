using System.Collections.Concurrent;
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
    /// <summary>Looks for a reply this server posted (found by its metadata) in the thread of <paramref name="threadTs"/>.</summary>
    Task<string?> FindReplyAsync(string channel, string threadTs, Guid approvalId, string deliveryKey, DateTimeOffset since, CancellationToken ct);
    /// <summary><c>auth.test</c>: throws what Slack answered when it refuses the token.</summary>
    Task TestAuthAsync(CancellationToken ct);
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

    /// <summary>Slack refused the app's token: nothing works until an administrator fixes it.</summary>
    public static readonly IReadOnlySet<string> CredentialErrors = new HashSet<string>
    {
        "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission",
        "org_login_required", "ekm_access_denied", "team_access_not_granted",
    };

    /// <summary>Retrying the same call cannot help.</summary>
    public static readonly IReadOnlySet<string> PermanentErrors = new HashSet<string>
    {
        "channel_not_found", "not_in_channel", "is_archived", "missing_scope", "invalid_blocks", "invalid_blocks_format",
        "msg_too_long", "no_text", "message_not_found", "cant_update_message", "edit_window_closed", "restricted_action",
        "user_not_found", "user_not_in_channel", "expired_trigger_id", "invalid_trigger_id", "exchanged_trigger_id",
        "view_too_large", "invalid_metadata_format", "invalid_metadata_schema", "metadata_too_large", "too_many_attachments",
        "duplicate_channel_not_found", "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel", "team_not_found", "channel_type_not_supported",
    };

    /// <summary>Slack's own failure, after which it may or may not have stored the message.</summary>
    public static readonly IReadOnlySet<string> ServerErrors = new HashSet<string> { "internal_error", "fatal_error", "service_unavailable", "request_timeout" };

    public bool IsCredentials => CredentialErrors.Contains(Error);

    public bool IsPermanent => PermanentErrors.Contains(Error) || IsCredentials;
}

public sealed class SlackRateLimitedException(string method, TimeSpan retryAfter)
    : SlackApiException(method, $"ratelimited (retry after {retryAfter.TotalSeconds:0} s)")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}

/// <summary>
/// Slack's rate limits as this process has met them: after a 429, a method is not called again before its
/// <c>Retry-After</c> (Slack's limits are per method and workspace). Posts and updates are limited per channel instead,
/// which the delivery engine's pacer honours, so they are not held here.
/// </summary>
public sealed class SlackRateLimits(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, DateTimeOffset> _until = new();

    public static bool IsPerChannel(string method) => method is "chat.postMessage" or "chat.update";

    /// <summary>How long the method is still held, if it is.</summary>
    public TimeSpan? HeldFor(string method) =>
        _until.TryGetValue(method, out var until) && until - time.GetUtcNow() is { } left && left > TimeSpan.Zero ? left : null;

    public void Hold(string method, TimeSpan retryAfter)
    {
        if (!IsPerChannel(method))
        {
            var until = time.GetUtcNow() + retryAfter;
            _until.AddOrUpdate(method, until, (_, old) => old > until ? old : until);
        }
    }
}

/// <summary>A typed client over <see cref="HttpClient"/>: JSON bodies for write methods, form bodies for read methods,
/// the bot token as a bearer token, <c>ok: false</c>, 429 and 5xx turned into exceptions. A method Slack rate-limited
/// is not called again before its <c>Retry-After</c>: the call fails at once with <see cref="SlackRateLimitedException"/>.</summary>
public sealed class SlackApiClient(HttpClient http, IOptionsMonitor<SlackOptions> options, SlackRateLimits limits) : ISlackApi
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

    public Task<string?> FindMessageByMetadataAsync(string channel, string eventType, IReadOnlyDictionary<string, string> payload, DateTimeOffset since, CancellationToken ct) =>
        FindAsync("conversations.history", channel, null, eventType, payload, since, ct);

    public Task<string?> FindReplyAsync(string channel, string threadTs, Guid approvalId, string deliveryKey, DateTimeOffset since, CancellationToken ct) =>
        FindAsync("conversations.replies", channel, threadTs, SlackMessages.MetadataEventType,
            new Dictionary<string, string> { ["approval_id"] = approvalId.ToString(), ["delivery_key"] = deliveryKey }, since, ct);

    public Task TestAuthAsync(CancellationToken ct) => CallFormAsync("auth.test", [], ct);

    private async Task<string?> FindAsync(string method, string channel, string? threadTs, string eventType, IReadOnlyDictionary<string, string> payload, DateTimeOffset since, CancellationToken ct)
    {
        var form = new Dictionary<string, string>
        {
            ["channel"] = channel,
            ["oldest"] = (since.ToUnixTimeMilliseconds() / 1000.0).ToString("0.000000", System.Globalization.CultureInfo.InvariantCulture),
            ["include_all_metadata"] = "true",
            ["limit"] = "200",
        };
        if (threadTs is not null)
        {
            form["ts"] = threadTs;
        }
        var result = await CallFormAsync(method, form, ct);
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
        if (limits.HeldFor(method) is { } held)
        {
            content.Dispose();
            throw new SlackRateLimitedException(method, held);
        }
        var settings = options.CurrentValue;
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(new Uri(settings.ApiBaseUrl.TrimEnd('/') + "/"), method)) { Content = content };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", settings.BotToken);
        using var response = await http.SendAsync(request, ct);
        if (response.StatusCode == HttpStatusCode.TooManyRequests)
        {
            var retryAfter = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(
                int.TryParse(response.Headers.TryGetValues("Retry-After", out var v) ? v.FirstOrDefault() : null, out var s) ? s : 1);
            limits.Hold(method, retryAfter);
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
