using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Bot.Tests;

public sealed class SqliteChatDelegationTests() : ChatDelegationTests(StorageProvider.Sqlite);

public sealed class PostgresChatDelegationTests() : ChatDelegationTests(StorageProvider.Postgres);

/// <summary>Delegation while away through the chat surfaces: the Slack command sets and ends it (signed requests, fake
/// Slack), and a delegate decides in Slack and in Teams (fake Bot Connector) on behalf of the person away, which the
/// messages say; a revoked delegate is refused. The route names Alice only by her Slack and Teams ids.</summary>
public abstract class ChatDelegationTests(StorageProvider provider) : IAsyncLifetime
{
    private const string TeamsChannel = "19:payments0123@thread.tacv2";
    private const string AliceAad = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f";
    private FakeSlackServer _slack = null!;
    private FakeBotConnector _bot = null!;
    private AgentSentinelApp _app = null!;
    private HttpClient _agent = null!;
    private HttpClient _chat = null!;
    private string _bobKeyId = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _slack = await FakeSlackServer.StartAsync();
        _slack.Users["U0ALICE"] = ("Alice", "alice@example.com");
        _slack.Users["U0BOB"] = ("Bob", "bob@example.com");
        _slack.Users["U0EVE"] = ("Eve", "eve@example.com");
        _bot = await FakeBotConnector.StartAsync();
        _bot.Members["29:alice"] = ("Alice", AliceAad, "alice@example.com");
        _bot.Members["29:bob"] = ("Bob", "aad-bob-0002", "bob@example.com");
        var settings = new Dictionary<string, string?>(_slack.HostSettings().Concat(_bot.HostSettings()))
        {
            ["AgentSentinel:Routing:Routes:0:Name"] = "payments",
            ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = "C0PAY",
            ["AgentSentinel:Routing:Routes:0:Teams:Channel"] = TeamsChannel,
            ["AgentSentinel:Routing:Routes:0:Approvers:0"] = "U0ALICE",
            ["AgentSentinel:Routing:Routes:0:Approvers:1"] = AliceAad,
        };
        _app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "chat-delegation"), runJobServer: true, settings: settings);
        _ = _app.Server;
        _agent = _app.Client(await _app.CreateKeyAsync("agent", [Scopes.Agent]));
        await _app.CreateKeyAsync("alice", [Scopes.Approver], "alice@example.com");
        _bobKeyId = (await _app.CreateKeyWithIdAsync("bob", [Scopes.Approver], "bob@example.com")).Id;
        _chat = _app.Client(null);
        Assert.Equal(HttpStatusCode.OK, (await SendActivityAsync(_bot.ConversationUpdate(TeamsChannel, "29:alice", AliceAad))).StatusCode);
    }

    public async ValueTask DisposeAsync()
    {
        _agent.Dispose();
        _chat.Dispose();
        await _app.DisposeAsync();
        await _bot.DisposeAsync();
        await _slack.DisposeAsync();
    }

    private static string InDays(int days) => DateTime.UtcNow.Date.AddDays(days).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private async Task<string> CommandAsync(string user, string text)
    {
        var form = $"token=t&team_id=T0TEAM&channel_id=C0PAY&user_id={user}&user_name={user.ToLowerInvariant()}&command=%2Fapprovals&text={Uri.EscapeDataString(text)}&trigger_id=1.2.3";
        var response = await _chat.SendAsync(SlackRequests.Signed("/slack/commands", form), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!;
        Assert.Equal("ephemeral", (string?)json["response_type"]);
        return (string)json["text"]!;
    }

    private async Task<JsonNode?> DelegationOfAsync(string email)
    {
        // Read through the store the API uses, as the person would see it.
        var d = await _app.Service<Core.Delegation.DelegationService>().GetAsync(email, Ct);
        return d is null ? null : JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(d));
    }

    private Task<HttpResponseMessage> SendActivityAsync(JsonObject activity)
    {
        var message = new HttpRequestMessage(HttpMethod.Post, "/api/messages") { Content = JsonContent.Create(activity) };
        message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _bot.SignToken());
        return _chat.SendAsync(message, Ct);
    }

    private async Task<(string Id, string Ts)> CreateAndAwaitSlackPostAsync()
    {
        var response = await _agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", timeout_seconds = 3600 }, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var id = (string)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!;
        var message = await _slack.WaitForAsync(s => s.Messages("C0PAY").FirstOrDefault(m => (string?)m["metadata"]?["event_payload"]?["approval_id"] == id && m["thread_ts"] is null),
            what: $"the message of {id}");
        return (id, (string)message["ts"]!);
    }

    private async Task<JsonObject> PollAsync(string id) =>
        (await (await _agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).Content.ReadFromJsonAsync<JsonObject>(Ct))!;

    [Fact]
    public async Task The_away_command_sets_a_delegation_and_the_delegate_decides_in_slack_on_behalf_of_the_person_away()
    {
        var (id, ts) = await CreateAndAwaitSlackPostAsync();
        // Bob is not on the list yet: his click is refused.
        await _chat.SendAsync(SlackRequests.Signed("/slack/interactions", SlackRequests.PayloadForm(SlackRequests.BlockActions("U0BOB", "approve", id, "C0PAY", ts))), Ct);
        Assert.Empty(_slack.CallsTo("views.open"));

        var answer = await CommandAsync("U0ALICE", $"away until {InDays(3)} delegate <@U0BOB|bob>");
        Assert.Contains("bob@example.com may decide what you could", answer, StringComparison.Ordinal);
        Assert.Contains($"{InDays(4)} 00:00:00 UTC", answer, StringComparison.Ordinal);
        var stored = await DelegationOfAsync("alice@example.com");
        Assert.Equal("bob@example.com", (string?)stored!["DelegateEmail"]);
        Assert.Equal("U0ALICE", (string?)stored["DelegatorSlackId"]);

        // Bob sees Alice's request in /approvals and decides it.
        Assert.Contains("1 request(s) waiting", await CommandAsync("U0BOB", ""), StringComparison.Ordinal);
        await _chat.SendAsync(SlackRequests.Signed("/slack/interactions", SlackRequests.PayloadForm(SlackRequests.BlockActions("U0BOB", "approve", id, "C0PAY", ts))), Ct);
        Assert.Single(_slack.CallsTo("views.open"));
        var submit = await _chat.SendAsync(SlackRequests.Signed("/slack/interactions", SlackRequests.PayloadForm(SlackRequests.ViewSubmission("U0BOB", "decision_approve", id, "for alice"))), Ct);
        Assert.Equal("", await submit.Content.ReadAsStringAsync(Ct));
        var poll = await PollAsync(id);
        Assert.Equal("approved", (string?)poll["status"]);
        Assert.Equal("bob@example.com", (string?)poll["decided_by_email"]);
        var update = await _slack.WaitForAsync(s => s.CallsTo("chat.update").Select(c => c.Body).LastOrDefault(b => b.ToJsonString().Contains("Approved", StringComparison.Ordinal)),
            what: "the redrawn message");
        var outcome = (string?)update["blocks"]!.AsArray().Single(b => (string?)b!["block_id"] == "outcome")!["text"]!["text"];
        Assert.Contains("*Approved* by <@U0BOB> on behalf of alice@example.com", outcome, StringComparison.Ordinal);

        // Back: the delegation ends and Bob is refused again.
        Assert.Contains("Welcome back", await CommandAsync("U0ALICE", "back"), StringComparison.Ordinal);
        Assert.Null(await DelegationOfAsync("alice@example.com"));
        await CreateAndAwaitSlackPostAsync();
        Assert.Contains("0 request(s) waiting", await CommandAsync("U0BOB", ""), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_away_command_refuses_what_it_cannot_read_and_stores_nothing()
    {
        foreach (var (text, expected) in new[]
        {
            ("away until 2026-02-30 delegate <@U0BOB|bob>", "is not a date written as yyyy-MM-dd"),
            ($"away until {InDays(3).Replace('-', '/')} delegate <@U0BOB|bob>", "is not a date written as yyyy-MM-dd"),
            ("away until next week delegate <@U0BOB|bob>", "I could not read that"),
            ($"away until {InDays(3)} delegate @bob", "is not a mention"),
            ($"away until {InDays(-2)} delegate <@U0BOB|bob>", "is not in the future"),
            ($"away until {InDays(3)} delegate <@U0ALICE|alice>", "yourself"),
            ($"away until {InDays(3)} delegate <@U0EVE|eve>", "cannot decide for you"),
            ($"away until {InDays(3)} delegate <@U0NOBODY|x>", "cannot decide for you"),
            ($"away until {InDays(3)} delegate <!channel>", "is not a mention"),
        })
        {
            var answer = await CommandAsync("U0ALICE", text);
            Assert.True(answer.Contains(expected, StringComparison.Ordinal), $"{text} -> {answer}");
            Assert.DoesNotContain("<!channel>", answer, StringComparison.Ordinal);
        }
        Assert.Null(await DelegationOfAsync("alice@example.com"));
        Assert.Contains("no delegation", await CommandAsync("U0ALICE", "away"), StringComparison.Ordinal);
        // Someone unknown to the server sets nothing either.
        Assert.DoesNotContain("may decide", await CommandAsync("U0EVE", $"away until {InDays(3)} delegate <@U0BOB|bob>"), StringComparison.Ordinal);
        Assert.Null(await DelegationOfAsync("eve@example.com"));
    }

    [Fact]
    public async Task A_delegate_decides_from_a_teams_card_on_behalf_of_the_person_away_until_their_key_is_revoked()
    {
        Assert.Contains("may decide", await CommandAsync("U0ALICE", $"away until {InDays(2)} delegate <@U0BOB|bob>"), StringComparison.Ordinal);
        var first = await CreateAndAwaitCardAsync();
        var invoke = await (await SendActivityAsync(_bot.Invoke(TeamsChannel, "29:bob", "approve", first, "ok", $"{TeamsChannel};messageid=1"))).Content.ReadFromJsonAsync<JsonObject>(Ct);
        var outcome = invoke!["value"]!["body"]!.AsArray().Select(e => e!.ToJsonString()).Single(e => e.Contains("\"outcome\"", StringComparison.Ordinal));
        Assert.Contains("bob@example.com on behalf of alice@example.com", outcome.Replace("\\\\", "", StringComparison.Ordinal).Replace("\\u2060", "", StringComparison.Ordinal), StringComparison.Ordinal);
        var poll = await PollAsync(first);
        Assert.Equal("approved", (string?)poll["status"]);
        Assert.Equal("teams", (string?)poll["decided_via"]);

        // Bob's key revoked: his next click decides nothing, on either surface.
        var second = await CreateAndAwaitCardAsync();
        await _app.RevokeKeyAsync(_bobKeyId);
        var refused = await (await SendActivityAsync(_bot.Invoke(TeamsChannel, "29:bob", "approve", second, "ok", $"{TeamsChannel};messageid=2"))).Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.Contains("not an approver known to this server", refused!.ToJsonString(), StringComparison.Ordinal);
        var submit = await _chat.SendAsync(SlackRequests.Signed("/slack/interactions", SlackRequests.PayloadForm(SlackRequests.ViewSubmission("U0BOB", "decision_approve", second, null))), Ct);
        Assert.Contains("not an approver known to this server", await submit.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal("pending", (string?)(await PollAsync(second))["status"]);
    }

    [Fact]
    public async Task A_request_handed_to_a_channel_is_posted_there_and_its_old_messages_say_where_it_went()
    {
        // The route names Alice by her chat ids only: through the API an admin hands it on.
        var admin = _app.Client();
        var (id, ts) = await CreateAndAwaitSlackPostAsync();
        var handed = await admin.PostAsJsonAsync($"/api/v1/approvals/{id}/reassign", new { slack_channel = "C0OPS", note = "ops <!channel> owns it" }, Ct);
        Assert.Equal(HttpStatusCode.OK, handed.StatusCode);

        var copy = await _slack.WaitForAsync(s => s.Messages("C0OPS").FirstOrDefault(m => (string?)m["metadata"]?["event_payload"]?["approval_id"] == id),
            what: "the copy in the new channel");
        Assert.StartsWith("reassigned:", (string?)copy["metadata"]!["event_payload"]!["delivery_key"], StringComparison.Ordinal);
        Assert.NotNull(copy["blocks"]!.AsArray().FirstOrDefault(b => (string?)b!["block_id"] == "decision"));
        var note = await _slack.WaitForAsync(s => s.Messages("C0PAY").FirstOrDefault(m => (string?)m["thread_ts"] == ts), what: "the note in the old thread");
        var text = (string)note["text"]!;
        Assert.Contains("*Reassigned* to <#C0OPS> by root@example.com", text, StringComparison.Ordinal);
        Assert.DoesNotContain("<!channel>", text, StringComparison.Ordinal);
        var redrawn = await _slack.WaitForAsync(s => s.CallsTo("chat.update").Select(c => c.Body)
            .FirstOrDefault(b => (string?)b["ts"] == ts && b["blocks"]!.AsArray().Any(x => (string?)x!["block_id"] == "reassigned")), what: "the old message redrawn");
        Assert.Contains("<#C0OPS>", (string?)redrawn["blocks"]!.AsArray().First(x => (string?)x!["block_id"] == "reassigned")!["text"]!["text"], StringComparison.Ordinal);

        // The same request handed to a Teams channel the bot is in gets a card there, and its old card says so.
        var cards = _bot.CallsTo("create").Count;
        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsJsonAsync($"/api/v1/approvals/{id}/reassign", new { teams_channel = TeamsChannel }, Ct)).StatusCode);
        await _bot.WaitForAsync(b => b.CallsTo("create").Count > cards ? b.CallsTo("create").Last() : null, TimeSpan.FromSeconds(60), what: "the card where it went");
        var update = await _bot.WaitForAsync(b => b.CallsTo("update").LastOrDefault(c => c.Body!.ToJsonString().Contains("\"reassigned\"", StringComparison.Ordinal)), TimeSpan.FromSeconds(60), what: "the old card redrawn");
        Assert.Contains("Reassigned to", update.Body!.ToJsonString(), StringComparison.Ordinal);
    }

    private async Task<string> CreateAndAwaitCardAsync()
    {
        var response = await _agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", timeout_seconds = 3600 }, Ct);
        var id = (string)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!;
        await _bot.WaitForAsync(b => b.CallsTo("create").LastOrDefault(c => c.Body!.ToJsonString().Contains(id, StringComparison.Ordinal)), what: $"the card of {id}");
        return id;
    }
}
