using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace AgentSentinel.Testing;

/// <summary>Slack's Socket Mode, on the fake Slack's loopback host: <c>apps.connections.open</c> (app-level token,
/// one-time ticket URLs on <c>ws://127.0.0.1</c>) and the WebSocket itself. Each connection gets <c>hello</c>; tests send
/// envelopes, <c>disconnect</c> messages or drop the socket; acks are recorded. Like Slack, an envelope whose
/// connection closes before it is acknowledged is delivered again, with <c>retry_attempt</c> raised, on the next
/// connection that opens.</summary>
public sealed class FakeSlackSocketMode
{
    public const string AppToken = "xapp-1-A0APP-1764000000-0123456789abcdef";

    private readonly Lock _lock = new();
    private readonly ConcurrentDictionary<string, byte> _tickets = new();
    private readonly List<Connection> _connections = [];
    private readonly Dictionary<string, Pending> _unacknowledged = [];
    private int _envelopes;

    internal FakeSlackSocketMode()
    {
    }

    public sealed record OpenCall(string? Authorization, DateTimeOffset At);

    public sealed record Ack(string EnvelopeId, int Connection, JsonObject Message, DateTimeOffset At);

    public sealed record Delivery(string EnvelopeId, int Connection, int RetryAttempt, DateTimeOffset At);

    private sealed record Pending(JsonObject Envelope, int Connection, int RetryAttempt);

    /// <summary>One accepted WebSocket.</summary>
    public sealed class Connection(int number, WebSocket socket, HttpContext http)
    {
        internal SemaphoreSlim Send { get; } = new(1, 1);
        internal WebSocket Socket { get; } = socket;
        internal HttpContext Http { get; } = http;
        public int Number { get; } = number;
        public DateTimeOffset OpenedAt { get; } = DateTimeOffset.UtcNow;
        /// <summary>When the socket stopped (closed by either side, or dropped).</summary>
        public DateTimeOffset? ClosedAt { get; internal set; }
        /// <summary>True when the app sent the close frame first.</summary>
        public bool ClosedByApp { get; internal set; }
        public bool IsOpen => ClosedAt is null;
        internal bool Greeted { get; set; }
    }

    internal Uri Root { get; set; } = null!;

    public ConcurrentQueue<OpenCall> OpenCalls { get; } = new();

    public ConcurrentQueue<Ack> Acks { get; } = new();

    public ConcurrentQueue<Delivery> Deliveries { get; } = new();

    /// <summary>While set, <c>apps.connections.open</c> answers <c>ok: false</c> with this error.</summary>
    public string? OpenError { get; set; }

    public IReadOnlyList<Connection> Connections
    {
        get
        {
            lock (_lock)
            {
                return [.. _connections];
            }
        }
    }

    internal void Map(WebApplication app)
    {
        app.UseWebSockets();
        app.MapPost("/api/apps.connections.open", Open);
        app.Map("/socket-mode/link", LinkAsync);
    }

    private JsonObject Open(HttpContext http)
    {
        var authorization = http.Request.Headers.Authorization.ToString();
        OpenCalls.Enqueue(new OpenCall(authorization, DateTimeOffset.UtcNow));
        if (authorization != $"Bearer {AppToken}")
        {
            return new JsonObject { ["ok"] = false, ["error"] = "invalid_auth" };
        }
        if (OpenError is { } error)
        {
            return new JsonObject { ["ok"] = false, ["error"] = error };
        }
        var ticket = Guid.NewGuid().ToString("N");
        _tickets[ticket] = 0;
        var url = new UriBuilder(Root) { Scheme = "ws", Path = "/socket-mode/link", Query = $"ticket={ticket}" }.Uri;
        return new JsonObject { ["ok"] = true, ["url"] = url.ToString() };
    }

    private async Task LinkAsync(HttpContext http)
    {
        if (!http.WebSockets.IsWebSocketRequest)
        {
            http.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        if (!_tickets.TryRemove(http.Request.Query["ticket"].ToString(), out _))
        {
            http.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }
        using var socket = await http.WebSockets.AcceptWebSocketAsync();
        Connection connection;
        lock (_lock)
        {
            connection = new Connection(_connections.Count + 1, socket, http);
            _connections.Add(connection);
        }
        await SendAsync(connection, new JsonObject
        {
            ["type"] = "hello",
            ["num_connections"] = Connections.Count(c => c.IsOpen),
            ["debug_info"] = new JsonObject { ["host"] = "applink-fake", ["approximate_connection_time"] = 18060 },
            ["connection_info"] = new JsonObject { ["app_id"] = "A0APP" },
        });
        connection.Greeted = true;
        await RedeliverOrphansAsync(connection);
        await ReceiveAsync(connection);
    }

    /// <summary>Delivers again, on <paramref name="target"/>, the envelopes whose connection closed before their ack.</summary>
    private async Task RedeliverOrphansAsync(Connection target)
    {
        List<Pending> orphans;
        lock (_lock)
        {
            orphans = [.. _unacknowledged.Values.Where(p => !_connections[p.Connection - 1].IsOpen)];
            foreach (var orphan in orphans)
            {
                // Claimed for the target under the lock, so that no other connection delivers it again as well.
                _unacknowledged[(string)orphan.Envelope["envelope_id"]!] = orphan with { Connection = target.Number };
            }
        }
        foreach (var orphan in orphans)
        {
            await DeliverAsync(target, orphan.Envelope, orphan.RetryAttempt + 1);
        }
    }

    private async Task ReceiveAsync(Connection connection)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                using var message = new MemoryStream();
                WebSocketReceiveResult result;
                do
                {
                    result = await connection.Socket.ReceiveAsync(buffer, CancellationToken.None);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        connection.ClosedByApp = connection.Socket.State == WebSocketState.CloseReceived;
                        Closed(connection);
                        if (connection.Socket.State == WebSocketState.CloseReceived)
                        {
                            await connection.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
                        }
                        return;
                    }
                    message.Write(buffer, 0, result.Count);
                }
                while (!result.EndOfMessage);
                if (JsonNode.Parse(message.ToArray()) is JsonObject ack && (string?)ack["envelope_id"] is { } id)
                {
                    lock (_lock)
                    {
                        _unacknowledged.Remove(id);
                    }
                    Acks.Enqueue(new Ack(id, connection.Number, ack, DateTimeOffset.UtcNow));
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            Closed(connection);
        }
    }

    private void Closed(Connection connection)
    {
        Connection? newest;
        lock (_lock)
        {
            connection.ClosedAt ??= DateTimeOffset.UtcNow;
            newest = _connections.LastOrDefault(c => c.IsOpen && c.Greeted);
        }
        if (newest is not null)
        {
            _ = Task.Run(() => RedeliverOrphansAsync(newest));
        }
    }

    /// <summary>Waits for an open connection (the newest) that got its hello.</summary>
    public Task<Connection> WaitForConnectionAsync(int atLeast = 1, TimeSpan? timeout = null) =>
        LoopbackHost.WaitForAsync(() => Connections.Count >= atLeast && Connections[^1].IsOpen ? Connections[^1] : null, timeout,
            () => $"Timed out waiting for Socket Mode connection {atLeast}; apps.connections.open calls: {OpenCalls.Count}, connections: {Connections.Count}");

    /// <summary>Sends an envelope as Slack does on the newest open connection (or the given one); returns its id. An
    /// existing <paramref name="envelopeId"/> with a <paramref name="retryAttempt"/> delivers that envelope again.</summary>
    public async Task<string> SendEnvelopeAsync(string type, JsonNode payload, bool acceptsResponsePayload, Connection? on = null,
        string? envelopeId = null, int retryAttempt = 0)
    {
        var connection = on ?? await WaitForConnectionAsync();
        var id = envelopeId ?? $"{Interlocked.Increment(ref _envelopes):x8}-57d6-4a70-b2c1-{Guid.NewGuid().ToString("N")[..12]}";
        var envelope = new JsonObject
        {
            ["envelope_id"] = id,
            ["payload"] = payload.DeepClone(),
            ["type"] = type,
            ["accepts_response_payload"] = acceptsResponsePayload,
        };
        await DeliverAsync(connection, envelope, retryAttempt);
        return id;
    }

    private async Task DeliverAsync(Connection connection, JsonObject envelope, int retryAttempt)
    {
        var message = (JsonObject)envelope.DeepClone();
        message["retry_attempt"] = retryAttempt;
        message["retry_reason"] = retryAttempt == 0 ? "" : "timeout";
        var id = (string)envelope["envelope_id"]!;
        lock (_lock)
        {
            _unacknowledged[id] = new Pending(envelope, connection.Number, retryAttempt);
        }
        Deliveries.Enqueue(new Delivery(id, connection.Number, retryAttempt, DateTimeOffset.UtcNow));
        await SendAsync(connection, message);
    }

    /// <summary>A <c>disconnect</c> message (<c>warning</c>, <c>refresh_requested</c>, <c>link_disabled</c>); with
    /// <paramref name="closeAfter"/>, the server closes the socket itself that long after.</summary>
    public async Task SendDisconnectAsync(Connection connection, string reason, TimeSpan? closeAfter = null)
    {
        await SendAsync(connection, new JsonObject
        {
            ["type"] = "disconnect",
            ["reason"] = reason,
            ["debug_info"] = new JsonObject { ["host"] = "applink-fake" },
        });
        if (closeAfter is { } delay)
        {
            _ = Task.Run(async () =>
            {
                await Task.Delay(delay);
                await connection.Send.WaitAsync();
                try
                {
                    if (connection.Socket.State == WebSocketState.Open)
                    {
                        await connection.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, reason, CancellationToken.None);
                    }
                }
                catch (Exception e) when (e is WebSocketException or ObjectDisposedException or IOException)
                {
                    // Already gone.
                }
                finally
                {
                    connection.Send.Release();
                }
            });
        }
    }

    /// <summary>Drops the connection without a close frame (the TCP connection is reset), as a network failure does.</summary>
    public void Drop(Connection connection)
    {
        Closed(connection);
        connection.Http.Abort();
    }

    /// <summary>The acks of one envelope, in order.</summary>
    public IReadOnlyList<Ack> AcksOf(string envelopeId) => [.. Acks.Where(a => a.EnvelopeId == envelopeId)];

    public Task<Ack> WaitForAckAsync(string envelopeId, TimeSpan? timeout = null) =>
        LoopbackHost.WaitForAsync(() => AcksOf(envelopeId).FirstOrDefault(), timeout,
            () => $"Timed out waiting for the ack of envelope {envelopeId}; acks so far: {string.Join(", ", Acks.Select(a => a.EnvelopeId))}");

    private static async Task SendAsync(Connection connection, JsonObject message)
    {
        await connection.Send.WaitAsync();
        try
        {
            await connection.Socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or IOException)
        {
            // The socket is gone: the envelope stays unacknowledged and is delivered again on the next connection.
        }
        finally
        {
            connection.Send.Release();
        }
    }
}
