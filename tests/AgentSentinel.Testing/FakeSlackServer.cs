using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentSentinel.Testing;

/// <summary>A stand-in for the Slack Web API on loopback: answers the methods the product calls the way Slack does,
/// records every call, keeps the messages of each channel (with metadata, for conversations.history and
/// conversations.replies), and fails on demand (429 with Retry-After, 500, a post that lands but whose answer is lost,
/// or any <c>ok: false</c> error). Like Slack, it lets the bot read a channel's history only where it is a member (it
/// posts anywhere, as through chat:write.public) and only with the history scope, returns metadata only with
/// <c>include_all_metadata</c>, reads after <c>oldest</c> (exclusive), rate-limits history reads to tier 3 (about 50 a
/// minute, 429 with Retry-After), answers <c>message_not_found</c> to an update of a deleted message, and can refuse the
/// token (<c>invalid_auth</c>, <c>token_revoked</c>) from any moment on. Optionally it enforces Slack's limit of about
/// one message per second per channel (429 with Retry-After when posted or updated sooner) and fails a random share of
/// posts and updates.</summary>
public sealed class FakeSlackServer : IAsyncDisposable
{
    public const string Token = "xoxb-test-token";
    /// <summary>The workspace the app is installed in; signed payloads from <see cref="SlackRequests"/> come from it.</summary>
    public const string TeamId = "T0TEAM";

    private WebApplication _app = null!;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<SlackFault>> _faults = new();
    private readonly ConcurrentDictionary<string, ConcurrentQueue<string>> _errors = new();
    private readonly ConcurrentDictionary<string, ConcurrentQueue<DateTimeOffset>> _tierCalls = new();
    private readonly Lock _lock = new();
    private readonly List<JsonObject> _messages = [];
    private readonly Dictionary<string, DateTimeOffset> _lastWrite = [];
    private long _ts;
    private long _rateLimited;

    public sealed record Call(string Method, JsonObject Body, string? Authorization, DateTimeOffset At);

    public enum SlackFault
    {
        RateLimited,
        ServerError,
        /// <summary>The message is stored, but the connection is dropped before the answer.</summary>
        PostThenDrop,
    }

    public ConcurrentQueue<Call> Calls { get; } = new();

    /// <summary>When set, a post or update to a channel sooner than this after the previous accepted one gets a 429
    /// with Retry-After (whole seconds, rounded up), as Slack's per-channel limit does.</summary>
    public TimeSpan? ChannelWriteInterval { get; set; }

    /// <summary>The share (0..1) of posts and updates that fail at random: a 500, a 429, or a post that lands but whose
    /// answer is lost (the client sees a dropped connection, as on a timeout).</summary>
    public double RandomFaultRate { get; set; }

    /// <summary>The random source for <see cref="RandomFaultRate"/> (seed it to repeat a run).</summary>
    public Random FaultRandom { get; set; } = new(20260101);

    /// <summary>How many 429s this server has answered (queued, random and per-channel limit).</summary>
    public long RateLimitedCount => Interlocked.Read(ref _rateLimited);

    /// <summary>The workspace's users, as <c>users.info</c> describes them (a name and email pair converts to an
    /// active member of <see cref="TeamId"/> whose email Slack has confirmed).</summary>
    public ConcurrentDictionary<string, SlackTestUser> Users { get; } = new();

    /// <summary>Channels the bot is not a member of: it still posts there (chat:write.public), but reading their history
    /// answers <c>not_in_channel</c>.</summary>
    public ConcurrentDictionary<string, bool> ChannelsWithoutBot { get; } = new();

    /// <summary>False when the token lacks channels:history / groups:history: history reads answer <c>missing_scope</c>.</summary>
    public bool HasHistoryScope { get; set; } = true;

    /// <summary>Tier 3 of Slack's rate limits, for conversations.history and conversations.replies: calls allowed per
    /// minute and method before a 429 with Retry-After (null: no limit).</summary>
    public int? HistoryCallsPerMinute { get; set; } = 50;

    /// <summary>When set, every call answers <c>ok: false</c> with this error (<c>token_revoked</c>,
    /// <c>invalid_auth</c>, ...), as Slack does once a token is revoked; set it back to null to restore the token.</summary>
    public string? TokenError { get; set; }

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>Socket Mode on this server (<c>apps.connections.open</c> and the WebSocket).</summary>
    public FakeSlackSocketMode SocketMode { get; } = new();

    /// <summary>The host settings for Socket Mode: the bot token and the app-level token, no signing secret (so the
    /// HTTP endpoints are off) unless <paramref name="withSigningSecret"/>.</summary>
    public IEnumerable<KeyValuePair<string, string?>> SocketModeHostSettings(bool withSigningSecret = false, string appToken = FakeSlackSocketMode.AppToken)
    {
        yield return new("AgentSentinel:Slack:BotToken", Token);
        yield return new("AgentSentinel:Slack:AppToken", appToken);
        yield return new("AgentSentinel:Slack:ApiBaseUrl", BaseUrl.ToString());
        yield return new("AgentSentinel:Slack:MinSecondsBetweenPostsPerChannel", "0.02");
        if (withSigningSecret)
        {
            yield return new("AgentSentinel:Slack:SigningSecret", SlackRequests.SigningSecret);
        }
    }

    private FakeSlackServer()
    {
    }

    /// <summary>The host settings that point the Slack bot at this fake, with posts paced by <paramref name="pacingSeconds"/>.</summary>
    public IEnumerable<KeyValuePair<string, string?>> HostSettings(string pacingSeconds = "0.02") =>
    [
        new("AgentSentinel:Slack:BotToken", Token),
        new("AgentSentinel:Slack:SigningSecret", SlackRequests.SigningSecret),
        new("AgentSentinel:Slack:ApiBaseUrl", BaseUrl.ToString()),
        new("AgentSentinel:Slack:MinSecondsBetweenPostsPerChannel", pacingSeconds),
    ];

    public static async Task<FakeSlackServer> StartAsync()
    {
        var server = new FakeSlackServer();
        (server._app, var root) = await LoopbackHost.StartAsync(app =>
        {
            server.SocketMode.Map(app);
            app.MapPost("/api/{method}", server.HandleAsync);
        });
        server.BaseUrl = new Uri(root, "api/");
        server.SocketMode.Root = root;
        return server;
    }

    /// <summary>The next call(s) to this method fail this way, in order.</summary>
    public void FailNext(string method, params SlackFault[] faults)
    {
        var queue = _faults.GetOrAdd(method, _ => new ConcurrentQueue<SlackFault>());
        foreach (var f in faults)
        {
            queue.Enqueue(f);
        }
    }

    /// <summary>The next call(s) to this method answer <c>ok: false</c> with these errors, in order.</summary>
    public void AnswerNext(string method, params string[] errors)
    {
        var queue = _errors.GetOrAdd(method, _ => new ConcurrentQueue<string>());
        foreach (var e in errors)
        {
            queue.Enqueue(e);
        }
    }

    /// <summary>Deletes a message, as a person in the channel can; a later chat.update of it answers <c>message_not_found</c>.</summary>
    public bool DeleteMessage(string channel, string ts)
    {
        lock (_lock)
        {
            return _messages.RemoveAll(m => (string?)m["channel"] == channel && (string?)m["ts"] == ts) > 0;
        }
    }

    public IReadOnlyList<Call> CallsTo(string method) => [.. Calls.Where(c => c.Method == method)];

    /// <summary>Messages posted in a channel (replies included), oldest first.</summary>
    public IReadOnlyList<JsonObject> Messages(string channel)
    {
        lock (_lock)
        {
            return [.. _messages.Where(m => (string?)m["channel"] == channel).Select(m => (JsonObject)m.DeepClone())];
        }
    }

    /// <summary>Waits until a condition over the recorded calls holds; fails the test after the timeout.</summary>
    public Task<T> WaitForAsync<T>(Func<FakeSlackServer, T?> probe, TimeSpan? timeout = null, string? what = null) where T : class =>
        LoopbackHost.WaitForAsync(() => probe(this), timeout,
            () => $"Timed out waiting for {what ?? "a Slack call"}; calls so far: {string.Join(", ", Calls.Select(c => c.Method))}");

    private async Task HandleAsync(HttpContext http, string method)
    {
        JsonObject body;
        if (http.Request.HasFormContentType)
        {
            var form = await http.Request.ReadFormAsync();
            body = new JsonObject(form.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value.ToString()))));
        }
        else
        {
            body = (await JsonNode.ParseAsync(http.Request.Body))?.AsObject() ?? [];
        }
        Calls.Enqueue(new Call(method, body, http.Request.Headers.Authorization.ToString(), DateTimeOffset.UtcNow));

        if (http.Request.Headers.Authorization.ToString() != $"Bearer {Token}" || TokenError is { } tokenError)
        {
            await http.Response.WriteAsJsonAsync(new JsonObject { ["ok"] = false, ["error"] = TokenError ?? "invalid_auth" });
            return;
        }
        if (_errors.TryGetValue(method, out var errors) && errors.TryDequeue(out var error))
        {
            await http.Response.WriteAsJsonAsync(new JsonObject { ["ok"] = false, ["error"] = error });
            return;
        }
        if (method is "conversations.history" or "conversations.replies" && TierLimited(method) is { } tierRetryAfter)
        {
            Interlocked.Increment(ref _rateLimited);
            http.Response.StatusCode = 429;
            http.Response.Headers.RetryAfter = tierRetryAfter.ToString(CultureInfo.InvariantCulture);
            return;
        }
        SlackFault? fault = _faults.TryGetValue(method, out var queue) && queue.TryDequeue(out var f) ? f : RandomFault(method);
        if (fault is null && ChannelLimited(method, (string?)body["channel"]) is { } retryAfter)
        {
            Interlocked.Increment(ref _rateLimited);
            http.Response.StatusCode = 429;
            http.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
            return;
        }
        switch (fault)
        {
            case SlackFault.RateLimited:
                Interlocked.Increment(ref _rateLimited);
                http.Response.StatusCode = 429;
                http.Response.Headers.RetryAfter = "1";
                return;
            case SlackFault.ServerError:
                http.Response.StatusCode = 500;
                return;
        }

        JsonObject answer = method switch
        {
            "chat.postMessage" => Post(body),
            "chat.update" => Update(body),
            "chat.postEphemeral" => new JsonObject { ["ok"] = true, ["message_ts"] = NextTs() },
            "views.open" => new JsonObject { ["ok"] = true, ["view"] = new JsonObject { ["id"] = "V" + NextTs().Replace(".", "", StringComparison.Ordinal) } },
            "users.info" => UserInfo((string?)body["user"]),
            "conversations.history" => History(body, null),
            "conversations.replies" => History(body, (string?)body["ts"]),
            "auth.test" => new JsonObject { ["ok"] = true, ["url"] = "https://example.slack.com/", ["team"] = "Example", ["user"] = "agentsentinel", ["team_id"] = "T0TEAM", ["user_id"] = "U0BOT", ["bot_id"] = "B0BOT" },
            _ => new JsonObject { ["ok"] = false, ["error"] = "unknown_method" },
        };
        if (fault == SlackFault.PostThenDrop)
        {
            http.Abort();
            return;
        }
        await http.Response.WriteAsJsonAsync(answer);
    }

    private static bool IsWrite(string method) => method is "chat.postMessage" or "chat.update";

    private SlackFault? RandomFault(string method)
    {
        if (RandomFaultRate <= 0 || !IsWrite(method))
        {
            return null;
        }
        lock (_lock)
        {
            if (FaultRandom.NextDouble() >= RandomFaultRate)
            {
                return null;
            }
            return (SlackFault)FaultRandom.Next(3);
        }
    }

    /// <summary>Seconds to wait when this write comes too soon after the channel's previous accepted one; otherwise
    /// records it as accepted and returns null.</summary>
    private int? ChannelLimited(string method, string? channel)
    {
        if (ChannelWriteInterval is not { } interval || !IsWrite(method) || channel is null)
        {
            return null;
        }
        var now = DateTimeOffset.UtcNow;
        lock (_lock)
        {
            if (_lastWrite.TryGetValue(channel, out var last) && now - last < interval)
            {
                return Math.Max(1, (int)Math.Ceiling((interval - (now - last)).TotalSeconds));
            }
            _lastWrite[channel] = now;
            return null;
        }
    }

    /// <summary>Slack's ts: the posting time in seconds with six digits, unique within the server.</summary>
    private string NextTs()
    {
        long v;
        lock (_lock)
        {
            _ts = Math.Max(_ts + 1, (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks / 10);
            v = _ts;
        }
        return (v / 1_000_000).ToString(CultureInfo.InvariantCulture) + "." + (v % 1_000_000).ToString("000000", CultureInfo.InvariantCulture);
    }

    private JsonObject Post(JsonObject body)
    {
        var channel = (string?)body["channel"];
        if (string.IsNullOrEmpty(channel))
        {
            return new JsonObject { ["ok"] = false, ["error"] = "channel_not_found" };
        }
        var message = (JsonObject)body.DeepClone();
        message["ts"] = NextTs();
        lock (_lock)
        {
            _messages.Add(message);
        }
        return new JsonObject { ["ok"] = true, ["channel"] = channel, ["ts"] = message["ts"]!.DeepClone(), ["message"] = message.DeepClone() };
    }

    private JsonObject Update(JsonObject body)
    {
        lock (_lock)
        {
            var existing = _messages.FirstOrDefault(m => (string?)m["channel"] == (string?)body["channel"] && (string?)m["ts"] == (string?)body["ts"]);
            if (existing is null)
            {
                return new JsonObject { ["ok"] = false, ["error"] = "message_not_found" };
            }
            existing["blocks"] = body["blocks"]?.DeepClone();
            existing["text"] = body["text"]?.DeepClone();
        }
        return new JsonObject { ["ok"] = true, ["channel"] = body["channel"]!.DeepClone(), ["ts"] = body["ts"]!.DeepClone() };
    }

    /// <summary>As Slack answers <c>users.info</c>: the user object with its team, flags and profile; the email only
    /// when the user has one (and the token may read it), and <c>is_email_confirmed</c> as Slack reports it.</summary>
    private JsonObject UserInfo(string? id)
    {
        if (id is null || !Users.TryGetValue(id, out var user))
        {
            return new JsonObject { ["ok"] = false, ["error"] = "user_not_found" };
        }
        var profile = new JsonObject { ["real_name"] = user.Name, ["display_name"] = user.Name, ["team"] = user.TeamId };
        if (user.Email is not null)
        {
            profile["email"] = user.Email;
        }
        return new JsonObject
        {
            ["ok"] = true,
            ["user"] = new JsonObject
            {
                ["id"] = id,
                ["team_id"] = user.TeamId,
                ["name"] = user.Name.ToLowerInvariant(),
                ["real_name"] = user.Name,
                ["deleted"] = user.Deleted,
                ["is_bot"] = user.IsBot,
                ["is_app_user"] = false,
                ["is_admin"] = false,
                ["is_owner"] = false,
                ["is_restricted"] = user.IsRestricted || user.IsUltraRestricted,
                ["is_ultra_restricted"] = user.IsUltraRestricted,
                ["is_stranger"] = user.IsStranger,
                ["is_email_confirmed"] = user.IsEmailConfirmed,
                ["tz"] = "Europe/Paris",
                ["updated"] = 1764000000,
                ["profile"] = profile,
            },
        };
    }

    /// <summary>conversations.history (a channel's messages, newest first) or, with <paramref name="thread"/>,
    /// conversations.replies (the thread's parent and replies, oldest first), read as Slack reads them.</summary>
    private JsonObject History(JsonObject body, string? thread)
    {
        var channel = (string?)body["channel"] ?? "";
        if (!HasHistoryScope)
        {
            return new JsonObject { ["ok"] = false, ["error"] = "missing_scope", ["needed"] = "channels:history", ["provided"] = "chat:write,chat:write.public" };
        }
        if (ChannelsWithoutBot.ContainsKey(channel))
        {
            return new JsonObject { ["ok"] = false, ["error"] = "not_in_channel" };
        }
        var inclusive = (string?)body["inclusive"] is "true" or "1";
        var since = double.TryParse((string?)body["oldest"], NumberStyles.Float, CultureInfo.InvariantCulture, out var o) ? o : 0;
        var metadata = (string?)body["include_all_metadata"] is "true" or "1";
        var selected = Messages(channel)
            .Where(m => thread is null ? m["thread_ts"] is null || (string?)m["thread_ts"] == (string?)m["ts"] : (string?)m["ts"] == thread || (string?)m["thread_ts"] == thread)
            .Where(m => double.Parse((string)m["ts"]!, CultureInfo.InvariantCulture) is var ts && (inclusive ? ts >= since : ts > since));
        var list = new JsonArray();
        foreach (var m in thread is null ? selected.Reverse() : selected)
        {
            if (!metadata)
            {
                m.Remove("metadata");
            }
            list.Add(m);
        }
        return new JsonObject { ["ok"] = true, ["messages"] = list, ["has_more"] = false };
    }

    /// <summary>Seconds to wait when a tier-3 method was called too often in the last minute; otherwise records the call.</summary>
    private int? TierLimited(string method)
    {
        if (HistoryCallsPerMinute is not { } perMinute)
        {
            return null;
        }
        var calls = _tierCalls.GetOrAdd(method, _ => new ConcurrentQueue<DateTimeOffset>());
        var now = DateTimeOffset.UtcNow;
        lock (calls)
        {
            while (calls.TryPeek(out var first) && now - first >= TimeSpan.FromMinutes(1))
            {
                calls.TryDequeue(out _);
            }
            if (calls.Count >= perMinute && calls.TryPeek(out var oldest))
            {
                return Math.Max(1, (int)Math.Ceiling((oldest + TimeSpan.FromMinutes(1) - now).TotalSeconds));
            }
            calls.Enqueue(now);
            return null;
        }
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

/// <summary>A user of the fake workspace, with the <c>users.info</c> fields the server relies on.</summary>
public sealed record SlackTestUser(string Name, string? Email)
{
    public string TeamId { get; init; } = FakeSlackServer.TeamId;
    public bool IsEmailConfirmed { get; init; } = true;
    public bool Deleted { get; init; }
    public bool IsBot { get; init; }
    /// <summary>A multi-channel guest.</summary>
    public bool IsRestricted { get; init; }
    /// <summary>A single-channel guest.</summary>
    public bool IsUltraRestricted { get; init; }
    /// <summary>A user from another organisation, as Slack shows Slack Connect users it knows little about.</summary>
    public bool IsStranger { get; init; }

    public static implicit operator SlackTestUser((string Name, string Email) user) => new(user.Name, user.Email);
}

/// <summary>Builds requests exactly as Slack sends them to an app: form-encoded, signed with the signing secret.</summary>
public static class SlackRequests
{
    public const string SigningSecret = "8f742231b10e8888abcd99yyyzzz85a5";

    public static HttpRequestMessage Signed(string path, string formBody, string secret = SigningSecret, DateTimeOffset? at = null)
    {
        var timestamp = (at ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var message = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(formBody, System.Text.Encoding.UTF8, "application/x-www-form-urlencoded"),
        };
        message.Headers.Add("X-Slack-Request-Timestamp", timestamp);
        message.Headers.Add("X-Slack-Signature", AgentSentinel.Bot.Slack.SlackSignature.Compute(secret, timestamp, System.Text.Encoding.UTF8.GetBytes(formBody)));
        return message;
    }

    public static string PayloadForm(JsonNode payload) => "payload=" + Uri.EscapeDataString(payload.ToJsonString());

    public static JsonObject BlockActions(string userId, string actionId, string approvalId, string channel, string messageTs) => new()
    {
        ["type"] = "block_actions",
        ["user"] = new JsonObject { ["id"] = userId, ["username"] = userId.ToLowerInvariant(), ["name"] = userId.ToLowerInvariant(), ["team_id"] = "T0TEAM" },
        ["api_app_id"] = "A0APP",
        ["token"] = "legacy-verification-token",
        ["container"] = new JsonObject { ["type"] = "message", ["message_ts"] = messageTs, ["channel_id"] = channel, ["is_ephemeral"] = false },
        ["trigger_id"] = $"{Random.Shared.NextInt64()}.{Random.Shared.NextInt64()}.abcdef",
        ["team"] = new JsonObject { ["id"] = "T0TEAM", ["domain"] = "example" },
        ["channel"] = new JsonObject { ["id"] = channel, ["name"] = "approvals" },
        ["message"] = new JsonObject { ["type"] = "message", ["ts"] = messageTs, ["text"] = "Approval needed" },
        ["response_url"] = "https://hooks.slack.com/actions/T0TEAM/1/abc",
        ["actions"] = new JsonArray(new JsonObject
        {
            ["action_id"] = actionId,
            ["block_id"] = "decision",
            ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = actionId, ["emoji"] = true },
            ["value"] = approvalId,
            ["type"] = "button",
            ["action_ts"] = "1764000000.123456",
        }),
    };

    /// <summary>A choice in a request message's "…" menu, as Slack sends it: an overflow action with its selected option.</summary>
    public static JsonObject Overflow(string userId, string option, string channel, string messageTs)
    {
        var payload = BlockActions(userId, "reassign", "", channel, messageTs);
        payload["actions"] = new JsonArray(new JsonObject
        {
            ["type"] = "overflow",
            ["action_id"] = "reassign",
            ["block_id"] = "decision",
            ["selected_option"] = new JsonObject { ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = "Reassign…", ["emoji"] = true }, ["value"] = option },
            ["action_ts"] = "1764000000.123456",
        });
        return payload;
    }

    /// <summary>The approve modal's submission with its grant fields as Slack sends them: each number field's value as a
    /// string (null when empty), the match as the selected radio option.</summary>
    public static JsonObject ApproveWithGrant(string userId, string approvalId, string? notes, string? minutes, string? maxUses = null, string? maxTotalCost = null, string? match = null)
    {
        var payload = ViewSubmission(userId, "decision_approve", approvalId, notes);
        var values = payload["view"]!["state"]!["values"]!.AsObject();
        static JsonObject Number(string? value) => new() { ["value"] = new JsonObject { ["type"] = "number_input", ["value"] = value is null ? null : JsonValue.Create(value) } };
        values["grant_minutes"] = Number(minutes);
        values["grant_max_uses"] = Number(maxUses);
        values["grant_max_total_cost"] = Number(maxTotalCost);
        values["grant_match"] = new JsonObject
        {
            ["value"] = new JsonObject
            {
                ["type"] = "radio_buttons",
                ["selected_option"] = match is null ? null : new JsonObject { ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = match }, ["value"] = match },
            },
        };
        return payload;
    }

    public static JsonObject ViewSubmission(string userId, string callbackId, string approvalId, string? text) => new()
    {
        ["type"] = "view_submission",
        ["team"] = new JsonObject { ["id"] = "T0TEAM", ["domain"] = "example" },
        ["user"] = new JsonObject { ["id"] = userId, ["username"] = userId.ToLowerInvariant(), ["name"] = userId.ToLowerInvariant(), ["team_id"] = "T0TEAM" },
        ["api_app_id"] = "A0APP",
        ["trigger_id"] = $"{Random.Shared.NextInt64()}.{Random.Shared.NextInt64()}.abcdef",
        ["view"] = new JsonObject
        {
            ["id"] = "V0VIEW",
            ["team_id"] = "T0TEAM",
            ["type"] = "modal",
            ["callback_id"] = callbackId,
            ["private_metadata"] = approvalId,
            ["state"] = new JsonObject
            {
                ["values"] = new JsonObject
                {
                    ["decision_text"] = new JsonObject
                    {
                        ["text"] = new JsonObject { ["type"] = "plain_text_input", ["value"] = text is null ? null : JsonValue.Create(text) },
                    },
                },
            },
            ["hash"] = "1764000000.abcdef",
        },
    };
}
