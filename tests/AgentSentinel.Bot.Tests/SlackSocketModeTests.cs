using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Bot.Slack;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Logging;

namespace AgentSentinel.Bot.Tests;

/// <summary>Slack Socket Mode end to end: the real host with an app-level token and no signing secret, against the fake
/// Slack's <c>apps.connections.open</c> and Socket Mode WebSocket on loopback. Envelopes run through the same handlers
/// as the HTTP endpoints; acks carry their envelope id and the answer, within Slack's 3 seconds.</summary>
public sealed class SlackSocketModeTests : IAsyncLifetime
{
    private static readonly TimeSpan AckLimit = TimeSpan.FromSeconds(3);
    private FakeSlackServer _slack = null!;
    private readonly List<IAsyncDisposable> _apps = [];
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _slack = await FakeSlackServer.StartAsync();
        _slack.Users["U0ALICE"] = ("Alice", "alice@example.com");
        _slack.Users["U0BOB"] = ("Bob", "bob@example.com");
        _slack.Users["U0EVE"] = ("Eve", "eve@example.com");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _apps)
        {
            await app.DisposeAsync();
        }
        await _slack.DisposeAsync();
    }

    private FakeSlackSocketMode Socket => _slack.SocketMode;

    /// <summary>The host on Socket Mode, with Alice and Bob as approvers of the payments route (and approver keys with
    /// their Slack emails).</summary>
    private async Task<AgentSentinelApp> StartAsync(bool withSigningSecret = false)
    {
        var app = await NewAppAsync(withSigningSecret);
        _ = app.Server;
        await app.CreateKeyAsync("alice", [Scopes.Approver], "alice@example.com");
        await app.CreateKeyAsync("bob", [Scopes.Approver], "bob@example.com");
        return app;
    }

    private async Task<AgentSentinelApp> NewAppAsync(bool withSigningSecret = false, string appToken = FakeSlackSocketMode.AppToken)
    {
        var app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "socket"), runJobServer: true,
            settings: new Dictionary<string, string?>(_slack.SocketModeHostSettings(withSigningSecret, appToken))
            {
                ["AgentSentinel:PublicBaseUrl"] = "https://approvals.example.com",
                ["AgentSentinel:Routing:Routes:0:Name"] = "payments",
                ["AgentSentinel:Routing:Routes:0:Match:Actions:0"] = "transfer_*",
                ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = "C0PAY",
                ["AgentSentinel:Routing:Routes:0:Approvers:0"] = "U0ALICE",
                ["AgentSentinel:Routing:Routes:0:Approvers:1"] = "bob@example.com",
                ["AgentSentinel:Routing:Routes:1:Name"] = "default",
                ["AgentSentinel:Routing:Routes:1:Slack:Channel"] = "C0ALL",
            });
        _apps.Add(app);
        return app;
    }

    private static async Task<string> CreateAsync(AgentSentinelApp app, string action = "transfer_funds")
    {
        using var agent = app.Client(await app.CreateKeyAsync("agent-" + Guid.NewGuid().ToString("N")[..6], [Scopes.Agent]));
        var response = await agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = action, action_description = "Pay invoice 42" }, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (string)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!;
    }

    private static async Task<JsonObject> DetailAsync(AgentSentinelApp app, string id)
    {
        using var admin = app.Client();
        return (await admin.GetFromJsonAsync<JsonObject>($"/api/v1/approvals/{id}", Ct))!;
    }

    private static JsonObject Command(string userId) => new()
    {
        ["token"] = "legacy-verification-token",
        ["team_id"] = "T0TEAM",
        ["team_domain"] = "example",
        ["channel_id"] = "C0PAY",
        ["channel_name"] = "payments",
        ["user_id"] = userId,
        ["user_name"] = userId.ToLowerInvariant(),
        ["command"] = "/approvals",
        ["text"] = "",
        ["api_app_id"] = "A0APP",
        ["is_enterprise_install"] = "false",
        ["response_url"] = "https://hooks.slack.com/commands/T0TEAM/1/abc",
        ["trigger_id"] = "1.2.abcdef",
    };

    /// <summary>Waits for the first ack of an envelope and checks it came within Slack's 3 seconds of the delivery.</summary>
    private async Task<JsonObject> AckedInTimeAsync(string envelopeId)
    {
        var ack = await Socket.WaitForAckAsync(envelopeId);
        var delivered = Socket.Deliveries.Last(d => d.EnvelopeId == envelopeId && d.At <= ack.At);
        Assert.True(ack.At - delivered.At < AckLimit, $"acknowledged after {ack.At - delivered.At}");
        Assert.Equal(envelopeId, (string?)ack.Message["envelope_id"]);
        return ack.Message;
    }

    private static async Task<JsonObject> ReadyAsync(WebApplicationFactory<Program> app)
    {
        using var anonymous = app.CreateClient();
        var response = await anonymous.GetAsync("/health/ready", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!;
    }

    /// <summary>Polls <c>/health/ready</c> until <paramref name="until"/> holds (15 s at most).</summary>
    private static async Task<JsonObject> ReadyWhenAsync(WebApplicationFactory<Program> app, Func<JsonObject, bool> until)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            var ready = await ReadyAsync(app);
            if (until(ready))
            {
                return ready;
            }
            Assert.True(DateTime.UtcNow < deadline, $"readiness stayed {ready.ToJsonString()}");
            await Task.Delay(50, Ct);
        }
    }

    private static bool SocketHealthy(JsonObject ready) => (string?)ready["checks"]?["slack_socket_mode"]?["status"] == "healthy";

    [Fact]
    public async Task With_an_app_token_and_no_signing_secret_socket_mode_connects_and_the_http_endpoints_stay_off()
    {
        var app = await StartAsync();
        var connection = await Socket.WaitForConnectionAsync();
        Assert.Equal($"Bearer {FakeSlackSocketMode.AppToken}", Socket.OpenCalls.First().Authorization);
        Assert.Equal(1, connection.Number);

        using var client = app.Client(null);
        foreach (var path in new[] { "/slack/interactions", "/slack/commands", "/slack/events" })
        {
            var response = await client.SendAsync(SlackRequests.Signed(path, "payload=%7B%7D"), Ct);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
        var ready = await ReadyWhenAsync(app, SocketHealthy);
        Assert.Equal("healthy", (string?)ready["status"]);

        // Slack is on for posting too: a new request is posted with the bot token.
        var id = await CreateAsync(app);
        await _slack.WaitForAsync(s => s.Messages("C0PAY").FirstOrDefault(m => (string?)m["metadata"]?["event_payload"]?["approval_id"] == id), what: "the post");
    }

    [Fact]
    public async Task A_button_click_envelope_opens_the_modal_and_is_acknowledged_in_time()
    {
        var app = await StartAsync();
        var id = await CreateAsync(app);
        var envelope = await Socket.SendEnvelopeAsync(SlackEnvelopeHandler.Interactive,
            SlackRequests.BlockActions("U0ALICE", "approve", id, "C0PAY", "1764000000.000100"), acceptsResponsePayload: false);

        var ack = await AckedInTimeAsync(envelope);
        Assert.Null(ack["payload"]);
        var open = Assert.Single(_slack.CallsTo("views.open"));
        Assert.Equal("decision_approve", (string?)open.Body["view"]!["callback_id"]);
        Assert.Equal(id, (string?)open.Body["view"]!["private_metadata"]);
        Assert.Equal("pending", (string?)(await DetailAsync(app, id))["status"]);
    }

    [Fact]
    public async Task A_modal_submission_envelope_decides_and_a_missing_reason_comes_back_as_errors_in_the_ack()
    {
        var app = await StartAsync();
        var id = await CreateAsync(app);
        var post = await _slack.WaitForAsync(s => s.Messages("C0PAY").FirstOrDefault(m => (string?)m["metadata"]?["event_payload"]?["approval_id"] == id), what: "the post");

        var noReason = await Socket.SendEnvelopeAsync(SlackEnvelopeHandler.Interactive,
            SlackRequests.ViewSubmission("U0ALICE", "decision_reject", id, "  "), acceptsResponsePayload: true);
        var refused = await AckedInTimeAsync(noReason);
        Assert.Equal("errors", (string?)refused["payload"]!["response_action"]);
        Assert.Contains("reason", (string?)refused["payload"]!["errors"]!["decision_text"], StringComparison.Ordinal);
        Assert.Equal("pending", (string?)(await DetailAsync(app, id))["status"]);

        var approve = await Socket.SendEnvelopeAsync(SlackEnvelopeHandler.Interactive,
            SlackRequests.ViewSubmission("U0ALICE", "decision_approve", id, "Checked the invoice"), acceptsResponsePayload: true);
        var ack = await AckedInTimeAsync(approve);
        Assert.Null(ack["payload"]);
        var detail = await DetailAsync(app, id);
        Assert.Equal("approved", (string?)detail["status"]);
        Assert.Equal("alice@example.com", (string?)detail["decided_by_email"]);
        Assert.Equal("slack", (string?)detail["decided_via"]);
        Assert.Equal("Checked the invoice", (string?)detail["decision_notes"]);
        await _slack.WaitForAsync(s => s.Messages("C0PAY").FirstOrDefault(m => (string?)m["ts"] == (string?)post["ts"] && m.ToJsonString().Contains("outcome", StringComparison.Ordinal)),
            what: "the redrawn message");
    }

    [Fact]
    public async Task The_approvals_command_envelope_is_answered_in_the_ack_with_the_pending_list()
    {
        var app = await StartAsync();
        var id = await CreateAsync(app);
        var envelope = await Socket.SendEnvelopeAsync(SlackEnvelopeHandler.SlashCommands, Command("U0ALICE"), acceptsResponsePayload: true);

        var payload = (await AckedInTimeAsync(envelope))["payload"]!;
        Assert.Equal("ephemeral", (string?)payload["response_type"]);
        Assert.Contains(id, payload["blocks"]!.ToJsonString(), StringComparison.Ordinal);

        // Eve is no approver of the payments route: not listed for her.
        var eve = await Socket.SendEnvelopeAsync(SlackEnvelopeHandler.SlashCommands, Command("U0EVE"), acceptsResponsePayload: true);
        Assert.DoesNotContain(id, (await AckedInTimeAsync(eve))["payload"]!["blocks"]!.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Events_api_envelopes_are_acknowledged_and_a_challenge_is_answered()
    {
        _ = await StartAsync();
        var appEvent = await Socket.SendEnvelopeAsync(SlackEnvelopeHandler.EventsApi, new JsonObject
        {
            ["token"] = "legacy-verification-token",
            ["team_id"] = "T0TEAM",
            ["api_app_id"] = "A0APP",
            ["type"] = "event_callback",
            ["event_id"] = "Ev0APPHOME",
            ["event_time"] = 1764000000,
            ["event"] = new JsonObject { ["type"] = "app_home_opened", ["user"] = "U0ALICE", ["channel"] = "D0ALICE", ["tab"] = "home" },
        }, acceptsResponsePayload: false);
        var ack = await AckedInTimeAsync(appEvent);
        Assert.Null(ack["payload"]);

        var challenge = await Socket.SendEnvelopeAsync(SlackEnvelopeHandler.EventsApi,
            new JsonObject { ["type"] = "url_verification", ["challenge"] = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" }, acceptsResponsePayload: true);
        Assert.Equal("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", (string?)(await AckedInTimeAsync(challenge))["payload"]!["challenge"]);
    }

    [Theory]
    [InlineData("warning")]
    [InlineData("refresh_requested")]
    public async Task A_disconnect_mid_flight_opens_a_new_connection_before_closing_the_old_and_handles_the_envelope_once(string reason)
    {
        var app = await StartAsync();
        var id = await CreateAsync(app);
        var first = await Socket.WaitForConnectionAsync();

        var envelope = await Socket.SendEnvelopeAsync(SlackEnvelopeHandler.Interactive,
            SlackRequests.BlockActions("U0ALICE", "reject", id, "C0PAY", "1764000000.000100"), acceptsResponsePayload: false, on: first);
        await Socket.SendDisconnectAsync(first, reason);

        var second = await Socket.WaitForConnectionAsync(2);
        await AckedInTimeAsync(envelope);
        await LoopbackHost.WaitForAsync(() => first.IsOpen ? null : first, TimeSpan.FromSeconds(10), () => "the old connection was never closed");
        Assert.True(first.ClosedByApp, "the app closes the old connection itself");
        Assert.True(second.OpenedAt <= first.ClosedAt, $"the new connection opened at {second.OpenedAt:O}, after the old one closed at {first.ClosedAt:O}");

        // Later envelopes arrive on the new connection and are handled there.
        var later = await Socket.SendEnvelopeAsync(SlackEnvelopeHandler.SlashCommands, Command("U0ALICE"), acceptsResponsePayload: true, on: second);
        Assert.Equal(second.Number, (await Socket.WaitForAckAsync(later)).Connection);
        await Task.Delay(500, Ct);
        Assert.Single(_slack.CallsTo("views.open"));
        Assert.Equal(2, Socket.OpenCalls.Count);
    }

    [Fact]
    public async Task An_envelope_whose_connection_slack_closes_before_the_ack_is_delivered_again_and_handled_once()
    {
        var app = await StartAsync();
        var id = await CreateAsync(app);
        var first = await Socket.WaitForConnectionAsync();

        // link_disabled: Slack closes the socket itself almost at once, possibly before the ack gets through.
        var envelope = await Socket.SendEnvelopeAsync(SlackEnvelopeHandler.Interactive,
            SlackRequests.ViewSubmission("U0ALICE", "decision_approve", id, "ok"), acceptsResponsePayload: true, on: first);
        await Socket.SendDisconnectAsync(first, "link_disabled", closeAfter: TimeSpan.FromMilliseconds(20));

        await Socket.WaitForConnectionAsync(2);
        await Socket.WaitForAckAsync(envelope);
        await Task.Delay(500, Ct);
        Assert.All(Socket.AcksOf(envelope), a => Assert.Null(a.Message["payload"]));
        var detail = await DetailAsync(app, id);
        Assert.Equal("approved", (string?)detail["status"]);
        Assert.Single(detail["events"]!.AsArray(), e => (string?)e!["kind"] == "approved");
    }

    [Fact]
    public async Task A_repeated_envelope_gets_the_first_answer_and_is_not_handled_twice()
    {
        var app = await StartAsync();
        var id = await CreateAsync(app);
        var submission = SlackRequests.ViewSubmission("U0ALICE", "decision_approve", id, "ok");
        var envelope = await Socket.SendEnvelopeAsync(SlackEnvelopeHandler.Interactive, submission, acceptsResponsePayload: true);
        Assert.Null((await AckedInTimeAsync(envelope))["payload"]);

        // Slack delivers it again (its ack was lost, say): handled a second time it would answer "already approved".
        await Socket.SendEnvelopeAsync(SlackEnvelopeHandler.Interactive, submission, acceptsResponsePayload: true, envelopeId: envelope, retryAttempt: 1);
        var again = await LoopbackHost.WaitForAsync(() => Socket.AcksOf(envelope).Skip(1).FirstOrDefault(), null, () => "no second ack");
        Assert.Null(again.Message["payload"]);
        Assert.Single((await DetailAsync(app, id))["events"]!.AsArray(), e => (string?)e!["kind"] == "approved");

        // A different envelope with the same content is a new submission, and is answered as one.
        var other = await Socket.SendEnvelopeAsync(SlackEnvelopeHandler.Interactive, submission, acceptsResponsePayload: true);
        Assert.Equal("errors", (string?)(await AckedInTimeAsync(other))["payload"]!["response_action"]);
    }

    [Fact]
    public async Task A_dropped_socket_is_reopened_with_nothing_lost_and_nothing_handled_twice()
    {
        var app = await StartAsync();
        var first = await CreateAsync(app);
        var second = await CreateAsync(app);
        var connection = await Socket.WaitForConnectionAsync();

        var inFlight = await Socket.SendEnvelopeAsync(SlackEnvelopeHandler.Interactive,
            SlackRequests.BlockActions("U0ALICE", "approve", first, "C0PAY", "1764000000.000100"), acceptsResponsePayload: false, on: connection);
        Socket.Drop(connection);

        var reopened = await Socket.WaitForConnectionAsync(2);
        await Socket.WaitForAckAsync(inFlight);
        var after = await Socket.SendEnvelopeAsync(SlackEnvelopeHandler.Interactive,
            SlackRequests.BlockActions("U0BOB", "reject", second, "C0PAY", "1764000000.000200"), acceptsResponsePayload: false, on: reopened);
        await AckedInTimeAsync(after);

        await Task.Delay(500, Ct);
        var opened = _slack.CallsTo("views.open");
        Assert.Equal(2, opened.Count);
        Assert.Single(opened, c => (string?)c.Body["view"]!["private_metadata"] == first);
        Assert.Single(opened, c => (string?)c.Body["view"]!["private_metadata"] == second);
        await ReadyWhenAsync(app, SocketHealthy);
    }

    [Fact]
    public async Task A_refused_app_token_is_logged_retried_with_backoff_and_shown_in_readiness_until_it_works()
    {
        var logs = new LogCapture();
        Socket.OpenError = "invalid_auth";
        var app = (await NewAppAsync()).WithWebHostBuilder(b => b.ConfigureLogging(l => l.AddProvider(logs)));
        _apps.Add(app);
        _ = app.Server;

        await LoopbackHost.WaitForAsync(() => Socket.OpenCalls.Count >= 3 ? Socket.OpenCalls : null, TimeSpan.FromSeconds(15), () => $"{Socket.OpenCalls.Count} attempts");
        var at = Socket.OpenCalls.Select(c => c.At).ToList();
        Assert.True(at[1] - at[0] >= TimeSpan.FromSeconds(0.9), $"first retry after {at[1] - at[0]}");
        Assert.True(at[2] - at[1] >= TimeSpan.FromSeconds(1.8), $"second retry after {at[2] - at[1]}: no backoff");
        Assert.Empty(Socket.Connections);

        var ready = await ReadyAsync(app);
        Assert.Equal("degraded", (string?)ready["status"]);
        Assert.Equal("healthy", (string?)ready["checks"]!["database"]!["status"]);
        var check = ready["checks"]!["slack_socket_mode"]!;
        Assert.Equal("degraded", (string?)check["status"]);
        Assert.Contains("invalid_auth", (string?)check["description"], StringComparison.Ordinal);
        Assert.Contains("AgentSentinel:Slack:AppToken", (string?)check["description"], StringComparison.Ordinal);
        Assert.DoesNotContain(FakeSlackSocketMode.AppToken, ready.ToJsonString(), StringComparison.Ordinal);

        Assert.Contains(logs.Entries, e => e.EventId == 3051 && e.Message.Contains("invalid_auth", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Entries, e => e.Message.Contains(FakeSlackSocketMode.AppToken, StringComparison.Ordinal));

        // Once Slack accepts the token again, the server connects by itself.
        Socket.OpenError = null;
        await Socket.WaitForConnectionAsync(timeout: TimeSpan.FromSeconds(30));
        await ReadyWhenAsync(app, r => (string?)r["status"] == "healthy");
    }

    [Fact]
    public async Task With_both_a_signing_secret_and_an_app_token_http_and_socket_mode_both_work()
    {
        var app = await StartAsync(withSigningSecret: true);
        using var client = app.Client(null);
        var body = """{"token":"t","challenge":"abc123","type":"url_verification"}""";
        var request = SlackRequests.Signed("/slack/events", body);
        request.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        var response = await client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("abc123", (string?)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["challenge"]);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(SlackRequests.Signed("/slack/commands", "user_id=U0ALICE", secret: "wrong-secret"), Ct)).StatusCode);

        var envelope = await Socket.SendEnvelopeAsync(SlackEnvelopeHandler.SlashCommands, Command("U0ALICE"), acceptsResponsePayload: true);
        Assert.Equal("ephemeral", (string?)(await AckedInTimeAsync(envelope))["payload"]!["response_type"]);
    }

    [Fact]
    public async Task An_app_token_that_is_not_an_app_level_token_stops_start_up_without_being_echoed()
    {
        const string Wrong = "xoxb-this-is-a-bot-token-0123456789";
        var validation = await StartupFailure.ValidationErrorAsync(await TestStorage.CreateAsync(StorageProvider.Sqlite, "badapptoken"),
            _slack.SocketModeHostSettings(appToken: Wrong), Ct);
        Assert.Contains("AgentSentinel:Slack:AppToken must be an app-level token starting with 'xapp-'", validation.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Wrong, validation.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("wss://wss-primary.slack.com/link/?ticket=abc&app_id=A0APP", true)]
    [InlineData("ws://127.0.0.1:5000/link/?ticket=abc", true)]
    [InlineData("ws://localhost:5000/link/?ticket=abc", true)]
    [InlineData("ws://wss-primary.slack.com/link/?ticket=abc", false)]
    [InlineData("https://wss-primary.slack.com/link/?ticket=abc", false)]
    [InlineData("/link/?ticket=abc", false)]
    [InlineData(null, false)]
    public void Only_wss_urls_are_used_and_plain_ws_only_on_loopback(string? url, bool allowed) =>
        Assert.Equal(allowed, SlackSocketModeService.IsAllowedSocketUrl(url, out _));

    [Fact]
    public void The_socket_mode_manifest_asks_for_the_same_app_without_request_urls()
    {
        var http = File.ReadAllLines(Path.Combine(Repository.Root, "manifest", "slack", "manifest.yaml"));
        var socket = File.ReadAllLines(Path.Combine(Repository.Root, "manifest", "slack", "manifest.socket-mode.yaml"));
        Assert.Contains(socket, l => l.Trim() == "socket_mode_enabled: true");
        Assert.Contains(http, l => l.Trim() == "socket_mode_enabled: false");
        Assert.DoesNotContain(socket, l => l.Contains("url:", StringComparison.Ordinal) || l.Contains("https://approvals", StringComparison.Ordinal));
        // Scopes, the command, bot events and interactivity: every other line of the HTTP manifest is in the Socket Mode one.
        static bool Kept(string line) => !line.TrimStart().StartsWith('#') && !line.Contains("url:", StringComparison.Ordinal)
            && !line.Contains("socket_mode_enabled", StringComparison.Ordinal) && line.Trim().Length > 0;
        Assert.Equal(http.Where(Kept), socket.Where(Kept));
    }
}

/// <summary>Keeps every log entry of a host (all levels), for assertions about what is and is not logged.</summary>
public sealed class LogCapture : ILoggerProvider
{
    public sealed record Entry(string Category, LogLevel Level, int EventId, string Message);

    public ConcurrentQueue<Entry> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogCapture capture, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            capture.Entries.Enqueue(new Entry(category, logLevel, eventId.Id, formatter(state, exception) + (exception is null ? "" : " " + exception)));
    }
}
