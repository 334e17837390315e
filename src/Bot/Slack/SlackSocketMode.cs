using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Bot.Slack;

/// <summary>
/// Slack Socket Mode: with an app-level token the server opens a WebSocket to Slack (the URL comes from
/// <c>apps.connections.open</c>) and receives clicks, modal submissions, slash commands and events over it, so it needs
/// no public address. Each envelope is handled by the same code as the matching HTTP endpoint and acknowledged by its
/// <c>envelope_id</c> within Slack's 3 seconds, with the answer the endpoint would have given as the ack's payload.
/// On a <c>disconnect</c> message a new connection is opened before the old one is closed (the old one keeps
/// acknowledging what it received); a dropped socket is reopened with backoff. Envelopes are remembered for a while by
/// id, so one that Slack delivers again (after a lost ack, on a new connection) is acknowledged with the first answer
/// and never handled twice.
/// </summary>
public sealed class SlackSocketModeService(
    IOptionsMonitor<SlackOptions> options,
    IHttpClientFactory httpClients,
    SlackEnvelopeHandler handler,
    SlackSocketModeStatus status,
    TimeProvider time,
    ILogger<SlackSocketModeService> logger) : BackgroundService
{
    public const string HttpClientName = "SlackSocketMode";

    /// <summary>Slack wants the ack within 3 seconds; an envelope still being handled by then is acknowledged without
    /// an answer (its handling goes on).</summary>
    public static readonly TimeSpan AckDeadline = TimeSpan.FromSeconds(2.5);

    private static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LongestRetry = TimeSpan.FromSeconds(60);

    private readonly EnvelopeWindow _seen = new(time, TimeSpan.FromMinutes(30), 10_000);
    private int _connections;
    private CancellationToken _stopping;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.CurrentValue.SocketMode)
        {
            return;
        }
        _stopping = stoppingToken;
        var retiring = new List<Task>();
        TaskCompletionSource? replacement = null;
        SlackSocketConnection? connection = null;
        var failures = 0;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                string problem;
                TimeSpan? retryAfter = null;
                try
                {
                    var url = await OpenConnectionAsync(stoppingToken);
                    connection = await SlackSocketConnection.ConnectAsync(url, Interlocked.Increment(ref _connections), OnEnvelopeAsync, time, stoppingToken);
                    failures = 0;
                    replacement?.TrySetResult();
                    replacement = null;
                    status.Connected();
                    SlackLog.SocketConnected(logger, connection.Number);
                    var end = await connection.Ended.WaitAsync(stoppingToken);
                    if (end.DisconnectReason is { } reason)
                    {
                        // Slack asked for a new connection: open it first, and let this one finish acknowledging.
                        SlackLog.SocketDisconnectRequested(logger, connection.Number, reason);
                        replacement = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        retiring.RemoveAll(t => t.IsCompleted);
                        retiring.Add(RetireAsync(connection, replacement.Task, stoppingToken));
                        connection = null;
                        continue;
                    }
                    problem = $"connection {connection.Number} was lost ({end.Description})";
                    await connection.DisposeAsync();
                    connection = null;
                }
                catch (SlackRateLimitedException e)
                {
                    problem = "apps.connections.open was rate limited";
                    retryAfter = e.RetryAfter;
                }
                catch (SlackApiException e)
                {
                    problem = e.Error is "invalid_auth" or "not_authed" or "token_revoked" or "account_inactive" or "missing_scope" or "not_allowed_token_type"
                        ? $"apps.connections.open answered {e.Error}: check {SlackOptions.SectionName}:AppToken (an app-level token with connections:write)"
                        : $"apps.connections.open answered {e.Error}";
                }
                catch (Exception e) when (e is HttpRequestException or WebSocketException or SlackSocketModeException
                    || (e is OperationCanceledException && !stoppingToken.IsCancellationRequested))
                {
                    problem = e is OperationCanceledException ? "Slack did not answer in time" : e.Message;
                }
                failures++;
                var delay = retryAfter ?? Backoff(failures);
                status.NotConnected(problem, delay);
                SlackLog.SocketNotConnected(logger, problem, delay);
                await Task.Delay(delay, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
        finally
        {
            replacement?.TrySetCanceled(CancellationToken.None);
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
            await Task.WhenAll(retiring);
        }
    }

    /// <summary>1 s, 2 s, 4 s, ... up to a minute, with a little jitter so that several instances do not reconnect in step.</summary>
    internal static TimeSpan Backoff(int failures)
    {
        var seconds = Math.Min(LongestRetry.TotalSeconds, FirstRetry.TotalSeconds * Math.Pow(2, Math.Min(failures - 1, 16)));
        return TimeSpan.FromSeconds(seconds * (1 + (Random.Shared.NextDouble() * 0.1)));
    }

    /// <summary><c>apps.connections.open</c> with the app-level token: a one-time <c>wss://</c> URL.</summary>
    private async Task<Uri> OpenConnectionAsync(CancellationToken ct)
    {
        const string Method = "apps.connections.open";
        var settings = options.CurrentValue;
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(new Uri(settings.ApiBaseUrl.TrimEnd('/') + "/"), Method))
        {
            Content = new FormUrlEncodedContent([]),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", settings.AppToken);
        using var response = await httpClients.CreateClient(HttpClientName).SendAsync(request, ct);
        if (response.StatusCode == HttpStatusCode.TooManyRequests)
        {
            throw new SlackRateLimitedException(Method, response.Headers.RetryAfter?.Delta ?? FirstRetry);
        }
        if ((int)response.StatusCode >= 500)
        {
            throw new HttpRequestException($"Slack {Method} answered {(int)response.StatusCode}", null, response.StatusCode);
        }
        JsonNode? result;
        try
        {
            result = await response.Content.ReadFromJsonAsync<JsonNode>(ct);
        }
        catch (JsonException)
        {
            throw new HttpRequestException($"Slack {Method} answered {(int)response.StatusCode} without JSON", null, response.StatusCode);
        }
        if (result?["ok"] is not JsonValue ok || !ok.TryGetValue<bool>(out var isOk) || !isOk)
        {
            throw new SlackApiException(Method, SlackEnvelopeHandler.Str(result, "error") ?? $"HTTP {(int)response.StatusCode}");
        }
        // The URL carries a one-time ticket: it is checked, never logged.
        return IsAllowedSocketUrl(SlackEnvelopeHandler.Str(result, "url"), out var url)
            ? url
            : throw new SlackSocketModeException($"{Method} gave a URL that is not wss:// (plain ws:// is accepted only for loopback)");
    }

    /// <summary><c>wss://</c>, or plain <c>ws://</c> only to this machine (a local test server).</summary>
    public static bool IsAllowedSocketUrl(string? value, out Uri url)
    {
        url = null!;
        if (!Uri.TryCreate(value, UriKind.Absolute, out var parsed)
            || !(parsed.Scheme == Uri.UriSchemeWss || (parsed.Scheme == Uri.UriSchemeWs && parsed.IsLoopback)))
        {
            return false;
        }
        url = parsed;
        return true;
    }

    /// <summary>One envelope: handled once (a repeat waits for, or reuses, the first answer), then acknowledged on the
    /// connection it came on, within the deadline. The handling does not depend on that connection: when it is lost
    /// meanwhile, the ack is lost with it and Slack's redelivery gets the same answer.</summary>
    private async Task OnEnvelopeAsync(SlackSocketConnection connection, JsonObject envelope, CancellationToken ct)
    {
        var id = SlackEnvelopeHandler.Str(envelope, "envelope_id")!;
        var type = SlackEnvelopeHandler.Str(envelope, "type") ?? "";
        var payload = envelope["payload"]?.DeepClone();
        var stopping = _stopping;
        var (handling, first) = _seen.GetOrStart(id, () => HandleAsync(id, type, payload, stopping));
        if (!first)
        {
            SlackLog.EnvelopeRepeated(logger, id, type, envelope["retry_attempt"]?.ToJsonString() ?? "?");
        }
        JsonNode? answer = null;
        try
        {
            answer = await handling.WaitAsync(AckDeadline, time, ct);
        }
        catch (TimeoutException)
        {
            SlackLog.EnvelopeSlow(logger, id, type, AckDeadline);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        var ack = new JsonObject { ["envelope_id"] = id };
        if (answer is not null)
        {
            ack["payload"] = answer.DeepClone();
        }
        if (!await connection.SendAsync(ack, ct))
        {
            SlackLog.AckFailed(logger, id, connection.Number);
        }
    }

    private async Task<JsonNode?> HandleAsync(string id, string type, JsonNode? payload, CancellationToken ct)
    {
        try
        {
            return await handler.HandleAsync(id, type, payload, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // The HTTP endpoint would answer 500 here; over the socket the envelope is acknowledged without an answer.
            SlackLog.EnvelopeFailed(logger, e, id, type);
            return null;
        }
    }

    /// <summary>A connection Slack asked to replace: it keeps receiving and acknowledging until its replacement said
    /// hello and what it received is acknowledged (or Slack closes it), then it is closed.</summary>
    private static async Task RetireAsync(SlackSocketConnection connection, Task replacementUp, CancellationToken stoppingToken)
    {
        try
        {
            var handedOver = Task.WhenAll(replacementUp, connection.IdleAsync());
            await Task.WhenAny(handedOver, connection.Finished).WaitAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            // Stopping (or the replacement never came up): close it now.
        }
        await connection.DisposeAsync();
    }
}

/// <summary>Thrown when a Socket Mode connection cannot be used (bad URL, no hello, oversized message).</summary>
public sealed class SlackSocketModeException(string message) : Exception(message);

/// <summary>Runs a Socket Mode envelope's payload through the same handlers as Slack's HTTP endpoints
/// (<see cref="SlackEndpoints"/>), in a request context of its own; what the endpoint would have answered becomes the
/// ack's payload. The signature check is the only step skipped: the envelope came over the socket opened with the
/// app-level token.</summary>
public sealed class SlackEnvelopeHandler(IServiceScopeFactory scopes, ILogger<SlackEnvelopeHandler> logger)
{
    public const string Interactive = "interactive";
    public const string SlashCommands = "slash_commands";
    public const string EventsApi = "events_api";

    /// <summary>Handles one envelope; returns the ack payload, or null when there is nothing to answer.</summary>
    public async Task<JsonNode?> HandleAsync(string envelopeId, string type, JsonNode? payload, CancellationToken ct)
    {
        var path = type switch
        {
            Interactive => "/slack/interactions",
            SlashCommands => "/slack/commands",
            EventsApi => "/slack/events",
            _ => null,
        };
        if (path is null)
        {
            SlackLog.EnvelopeUnknown(logger, envelopeId, type);
            return null;
        }
        await using var scope = scopes.CreateAsyncScope();
        var http = new DefaultHttpContext { RequestServices = scope.ServiceProvider, RequestAborted = ct };
        http.Request.Method = HttpMethods.Post;
        http.Request.Path = path;
        using var body = new MemoryStream();
        http.Response.Body = body;
        switch (type)
        {
            case Interactive:
                await SlackEndpoints.HandleInteractionAsync(http, payload);
                break;
            case SlashCommands:
                await SlackEndpoints.HandleCommandAsync(http, CommandForm(payload));
                break;
            default:
                await SlackEndpoints.HandleEventAsync(http, payload);
                break;
        }
        await http.Response.CompleteAsync();
        if (http.Response.StatusCode != StatusCodes.Status200OK)
        {
            SlackLog.EnvelopeRefused(logger, envelopeId, type, http.Response.StatusCode);
            return null;
        }
        if (body.Length == 0)
        {
            return null;
        }
        try
        {
            return JsonNode.Parse(body.ToArray());
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A slash command arrives as a JSON object with the fields of the HTTP form.</summary>
    private static Dictionary<string, string> CommandForm(JsonNode? payload)
    {
        var form = new Dictionary<string, string>(StringComparer.Ordinal);
        if (payload is JsonObject fields)
        {
            foreach (var (key, value) in fields)
            {
                if (value is JsonValue v && v.TryGetValue<string>(out var s))
                {
                    form[key] = s;
                }
                else if (value is not null)
                {
                    form[key] = value.ToJsonString();
                }
            }
        }
        return form;
    }

    internal static string? Str(JsonNode? node, string name) =>
        node is JsonObject o && o[name] is JsonValue value && value.TryGetValue<string>(out var s) ? s : null;
}

/// <summary>Envelope ids seen lately, with the task that handles each (bounded in time and count): a repeat gets the
/// first handling's answer instead of a second handling.</summary>
internal sealed class EnvelopeWindow(TimeProvider time, TimeSpan keep, int capacity)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Task<JsonNode?>> _handling = new(StringComparer.Ordinal);
    private readonly Queue<(string Id, DateTimeOffset At)> _order = new();

    public (Task<JsonNode?> Handling, bool First) GetOrStart(string envelopeId, Func<Task<JsonNode?>> start)
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            while (_order.TryPeek(out var oldest) && (oldest.At < now - keep || _order.Count >= capacity))
            {
                _order.Dequeue();
                _handling.Remove(oldest.Id);
            }
            if (_handling.TryGetValue(envelopeId, out var existing))
            {
                return (existing, false);
            }
            var started = Task.Run(start);
            _handling[envelopeId] = started;
            _order.Enqueue((envelopeId, now));
            return (started, true);
        }
    }
}

/// <summary>Whether Socket Mode is connected, and if not why, for <c>/health/ready</c>.</summary>
public sealed class SlackSocketModeStatus
{
    private volatile string? _problem = "connecting";

    public bool IsConnected => _problem is null;

    public string? Problem => _problem;

    internal void Connected() => _problem = null;

    internal void NotConnected(string problem, TimeSpan retryIn) =>
        _problem = $"{problem}; retrying in {Math.Ceiling(retryIn.TotalSeconds):0} s";
}

/// <summary>Readiness: degraded (still serving) while Slack Socket Mode is not connected, with the reason.</summary>
public sealed class SlackSocketModeHealthCheck(SlackSocketModeStatus status) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(status.Problem is { } problem
            ? HealthCheckResult.Degraded($"Slack Socket Mode is not connected: {problem}")
            : HealthCheckResult.Healthy("Slack Socket Mode is connected"));
}

/// <summary>Why a connection stopped serving: Slack's <c>disconnect</c> message (with its reason), or the socket ended.</summary>
internal sealed record SocketEnd(string? DisconnectReason, string Description);

/// <summary>One Socket Mode WebSocket: waits for <c>hello</c>, then receives until it is closed, passing envelopes on
/// without waiting for them (acks are sent one at a time, from any thread).</summary>
internal sealed class SlackSocketConnection : IAsyncDisposable
{
    private const int MaxMessageBytes = 1024 * 1024;
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(2);

    private readonly ClientWebSocket _socket;
    private readonly TimeProvider _time;
    private readonly Func<SlackSocketConnection, JsonObject, CancellationToken, Task> _onEnvelope;
    private readonly SemaphoreSlim _send = new(1, 1);
    private readonly CancellationTokenSource _stop;
    private readonly TaskCompletionSource<SocketEnd> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private readonly HashSet<Task> _inFlight = [];
    private Task _receiving = Task.CompletedTask;

    private SlackSocketConnection(ClientWebSocket socket, int number, Func<SlackSocketConnection, JsonObject, CancellationToken, Task> onEnvelope,
        TimeProvider time, CancellationToken stoppingToken)
    {
        _socket = socket;
        _time = time;
        Number = number;
        _onEnvelope = onEnvelope;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
    }

    public int Number { get; }

    /// <summary>Completes when Slack asks for a new connection or the socket ends, whichever comes first.</summary>
    public Task<SocketEnd> Ended => _ended.Task;

    /// <summary>Completes when the socket no longer receives.</summary>
    public Task Finished => _receiving;

    public static async Task<SlackSocketConnection> ConnectAsync(Uri url, int number,
        Func<SlackSocketConnection, JsonObject, CancellationToken, Task> onEnvelope, TimeProvider time, CancellationToken ct)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(30);
        var connection = new SlackSocketConnection(socket, number, onEnvelope, time, ct);
        var ready = false;
        try
        {
            using var timeout = new CancellationTokenSource(HelloTimeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
            try
            {
                await socket.ConnectAsync(url, linked.Token);
                var hello = await connection.ReceiveMessageAsync(linked.Token);
                if (SlackEnvelopeHandler.Str(hello, "type") != "hello")
                {
                    throw new SlackSocketModeException("Slack did not say hello on the new connection");
                }
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                throw new SlackSocketModeException($"no hello from Slack within {HelloTimeout.TotalSeconds:0} s");
            }
            ready = true;
        }
        finally
        {
            if (!ready)
            {
                await connection.DisposeAsync();
            }
        }
        connection._receiving = connection.ReceiveLoopAsync();
        return connection;
    }

    /// <summary>Sends one message; false when the socket can no longer send (Slack delivers an unacknowledged envelope again).</summary>
    public async Task<bool> SendAsync(JsonObject message, CancellationToken ct)
    {
        var bytes = Encoding.UTF8.GetBytes(message.ToJsonString());
        try
        {
            await _send.WaitAsync(ct);
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        try
        {
            if (_socket.State != WebSocketState.Open)
            {
                return false;
            }
            await _socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, ct);
            return true;
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or IOException or OperationCanceledException)
        {
            return false;
        }
        finally
        {
            _send.Release();
        }
    }

    /// <summary>Completes when every envelope received so far is acknowledged (or given up).</summary>
    public async Task IdleAsync()
    {
        while (true)
        {
            Task[] pending;
            lock (_lock)
            {
                pending = [.. _inFlight];
            }
            if (pending.Length == 0)
            {
                return;
            }
            await Task.WhenAll(pending).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task ReceiveLoopAsync()
    {
        try
        {
            while (true)
            {
                var message = await ReceiveMessageAsync(_stop.Token);
                if (message is null)
                {
                    _ended.TrySetResult(new SocketEnd(null, $"closed by Slack: {_socket.CloseStatus} {_socket.CloseStatusDescription}".TrimEnd()));
                    return;
                }
                switch (SlackEnvelopeHandler.Str(message, "type"))
                {
                    case "hello":
                        break;
                    case "disconnect":
                        _ended.TrySetResult(new SocketEnd(SlackEnvelopeHandler.Str(message, "reason") ?? "unspecified", "Slack asked to reconnect"));
                        break;
                    default:
                        if (SlackEnvelopeHandler.Str(message, "envelope_id") is not null)
                        {
                            Track(_onEnvelope(this, message, _stop.Token));
                        }
                        break;
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException or SlackSocketModeException)
        {
            _ended.TrySetResult(new SocketEnd(null, e is OperationCanceledException ? "closed" : e.Message));
        }
    }

    private void Track(Task envelope)
    {
        lock (_lock)
        {
            _inFlight.Add(envelope);
        }
        envelope.ContinueWith(t =>
        {
            lock (_lock)
            {
                _inFlight.Remove(t);
            }
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>One whole text message as JSON (other messages are skipped); null when Slack closed the socket.</summary>
    private async Task<JsonObject?> ReceiveMessageAsync(CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            message.SetLength(0);
            ValueWebSocketReceiveResult result;
            do
            {
                result = await _socket.ReceiveAsync(buffer.AsMemory(), ct);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return null;
                }
                message.Write(buffer, 0, result.Count);
                if (message.Length > MaxMessageBytes)
                {
                    throw new SlackSocketModeException("Slack sent a message over 1 MiB");
                }
            }
            while (!result.EndOfMessage);
            if (result.MessageType != WebSocketMessageType.Text)
            {
                continue;
            }
            try
            {
                if (JsonNode.Parse(message.ToArray()) is JsonObject json)
                {
                    return json;
                }
            }
            catch (JsonException)
            {
                // Not JSON: nothing Slack sends; skip it.
            }
        }
    }

    /// <summary>Closes the socket politely (a close frame, briefly waiting for Slack's), then releases it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            using var timeout = new CancellationTokenSource(CloseTimeout, _time);
            try
            {
                await _send.WaitAsync(timeout.Token);
                try
                {
                    await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "reconnecting", timeout.Token);
                }
                finally
                {
                    _send.Release();
                }
                await _receiving.WaitAsync(timeout.Token);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
            {
                // Closing is best effort: the socket is aborted below.
            }
        }
        await _stop.CancelAsync();
        _socket.Abort();
        try
        {
            await _receiving;
        }
        finally
        {
            _socket.Dispose();
            _stop.Dispose();
            _ended.TrySetResult(new SocketEnd(null, "closed"));
        }
    }
}
