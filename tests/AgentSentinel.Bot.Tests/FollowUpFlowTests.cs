using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Jobs;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Bot.Tests;

/// <summary>Reminders and escalation as approvers see them: the real host and job server on an injected clock, the
/// fake Slack Web API and the fake Bot Connector recording every post. The follow-up job is run when the clock says
/// it is due, as its scheduled Hangfire job would.</summary>
public sealed class FollowUpFlowTests : IAsyncLifetime
{
    private const string PayChannel = "C0PAY";
    private const string LeadsChannel = "C0LEADS";
    private const string TeamsChannel = "19:general0123@thread.tacv2";
    private const string TeamsLeads = "19:leads0456@thread.tacv2";
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private FakeSlackServer _slack = null!;
    private FakeBotConnector _bot = null!;
    private AgentSentinelApp _app = null!;
    private HttpClient _agent = null!;
    private HttpClient _anonymous = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _slack = await FakeSlackServer.StartAsync();
        _slack.Users["U0ALICE"] = ("Alice", "alice@example.com");
        _slack.Users["U0BOSS"] = ("Boss", "boss@example.com");
        _bot = await FakeBotConnector.StartAsync();
        _app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "followups"), _time, runJobServer: true, settings: new Dictionary<string, string?>(_slack.HostSettings(pacingSeconds: "0").Concat(_bot.HostSettings()))
        {
            ["AgentSentinel:Routing:Routes:0:Name"] = "payments",
            ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = PayChannel,
            ["AgentSentinel:Routing:Routes:0:Teams:Channel"] = TeamsChannel,
            ["AgentSentinel:Routing:Routes:0:Approvers:0"] = "U0ALICE",
            ["AgentSentinel:Routing:Routes:0:RemindersMinutes:0"] = "10",
            ["AgentSentinel:Routing:Routes:0:Escalation:0:AfterMinutes"] = "15",
            ["AgentSentinel:Routing:Routes:0:Escalation:0:Slack:Channel"] = LeadsChannel,
            ["AgentSentinel:Routing:Routes:0:Escalation:0:Teams:Channel"] = TeamsLeads,
            ["AgentSentinel:Routing:Routes:0:Escalation:0:Mention:0"] = "U0BOSS",
            ["AgentSentinel:Routing:Routes:0:Escalation:0:Mention:1"] = "here",
        });
        _ = _app.Server;
        _agent = _app.Client(await _app.CreateKeyAsync("agent", [Scopes.Agent]));
        // Chat users decide as the approver identities their verified emails match.
        await _app.CreateKeyAsync("alice", [Scopes.Approver], "alice@example.com");
        await _app.CreateKeyAsync("boss", [Scopes.Approver], "boss@example.com");
        _anonymous = _app.Client(null);
        var install = new HttpRequestMessage(HttpMethod.Post, "/api/messages") { Content = JsonContent.Create(_bot.ConversationUpdate(TeamsChannel, "29:alice", "aad-alice")) };
        install.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _bot.SignToken());
        Assert.Equal(HttpStatusCode.OK, (await _anonymous.SendAsync(install, Ct)).StatusCode);
    }

    public async ValueTask DisposeAsync()
    {
        _agent.Dispose();
        _anonymous.Dispose();
        await _app.DisposeAsync();
        await _slack.DisposeAsync();
        await _bot.DisposeAsync();
    }

    private static string? KeyOf(JsonObject message) => (string?)message["metadata"]?["event_payload"]?["delivery_key"];

    private Task<JsonObject> SlackMessageAsync(string channel, string deliveryKey) =>
        _slack.WaitForAsync(s => s.Messages(channel).FirstOrDefault(m => KeyOf(m) == deliveryKey), what: $"{deliveryKey} in {channel}");

    private Task<HttpResponseMessage> SlackAsync(JsonObject payload) =>
        _anonymous.SendAsync(SlackRequests.Signed("/slack/interactions", SlackRequests.PayloadForm(payload), at: _time.GetUtcNow()), Ct);

    private Task RunFollowUpAsync(string id) => _app.Service<FollowUpJobs>().RunAsync(Guid.Parse(id), Ct);

    [Fact]
    public async Task A_reminder_goes_to_the_thread_and_the_escalation_to_the_leads_who_may_then_decide()
    {
        var created = _time.GetUtcNow();
        var response = await _agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", priority = "critical", timeout_seconds = 3600 }, Ct);
        var id = (string)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!;
        var root = await SlackMessageAsync(PayChannel, "root");
        var rootTs = (string)root["ts"]!;
        await _bot.WaitForAsync(b => b.CallsTo("create").FirstOrDefault(), what: "the Teams card");

        // Minute 10: a reminder in each thread, saying how long is left.
        _time.SetUtcNow(created.AddMinutes(10));
        await RunFollowUpAsync(id);
        var reminder = await SlackMessageAsync(PayChannel, "reminder:1");
        Assert.Equal(rootTs, (string?)reminder["thread_ts"]);
        Assert.Contains("50 min left", (string?)reminder["text"], StringComparison.Ordinal);
        var teamsReminder = await _bot.WaitForAsync(b => b.CallsTo("reply").FirstOrDefault(), what: "the Teams reminder");
        Assert.Contains("50 min left", (string?)teamsReminder.Body!["text"], StringComparison.Ordinal);

        // Before the escalation the lead is not an approver.
        Assert.Equal(HttpStatusCode.OK, (await SlackAsync(SlackRequests.BlockActions("U0BOSS", "approve", id, PayChannel, rootTs))).StatusCode);
        var refused = await _slack.WaitForAsync(s => s.CallsTo("chat.postEphemeral").FirstOrDefault(), what: "the not-authorized note");
        Assert.Contains("not", (string?)refused.Body["text"], StringComparison.OrdinalIgnoreCase);
        Assert.Empty(_slack.CallsTo("views.open"));

        // Minute 15: the request goes to the leads' channel with the mentions, and the thread says where it went.
        _time.SetUtcNow(created.AddMinutes(15));
        await RunFollowUpAsync(id);
        var escalated = await SlackMessageAsync(LeadsChannel, "escalation:1");
        Assert.Null(escalated["thread_ts"]);
        Assert.StartsWith("<@U0BOSS> <!here> Escalated: ", (string?)escalated["text"], StringComparison.Ordinal);
        var banner = escalated["blocks"]!.AsArray().Single(b => (string?)b!["block_id"] == "escalation")!["text"]!["text"]!.ToString();
        Assert.Contains("level 1", banner, StringComparison.Ordinal);
        Assert.Contains("15 min", banner, StringComparison.Ordinal);
        Assert.Contains(escalated["blocks"]!.AsArray(), b => (string?)b!["block_id"] == "decision");
        var note = await SlackMessageAsync(PayChannel, "escalated:1");
        Assert.Equal(rootTs, (string?)note["thread_ts"]);
        Assert.Contains($"<#{LeadsChannel}>", (string?)note["text"], StringComparison.Ordinal);
        var teamsEscalation = await _bot.WaitForAsync(b => b.CallsTo("create").FirstOrDefault(c => c.Body!.ToJsonString().Contains("Escalated (level 1)", StringComparison.Ordinal)), what: "the Teams escalation card");
        Assert.Equal(TeamsLeads, (string?)teamsEscalation.Body!["channelData"]!["channel"]!["id"]);

        // The lead decides from the leads' channel; both messages show the outcome.
        var ts = (string)escalated["ts"]!;
        Assert.Equal(HttpStatusCode.OK, (await SlackAsync(SlackRequests.BlockActions("U0BOSS", "approve", id, LeadsChannel, ts))).StatusCode);
        await _slack.WaitForAsync(s => s.CallsTo("views.open").FirstOrDefault(), what: "the approve modal");
        Assert.Equal(HttpStatusCode.OK, (await SlackAsync(SlackRequests.ViewSubmission("U0BOSS", "decision_approve", id, "covering"))).StatusCode);
        var poll = await (await _agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.Equal("approved", (string?)poll!["status"]);
        Assert.Equal("boss@example.com", (string?)poll["decided_by_email"]);
        foreach (var (channel, messageTs) in new[] { (PayChannel, rootTs), (LeadsChannel, ts) })
        {
            await _slack.WaitForAsync(s => s.CallsTo("chat.update").LastOrDefault(c => (string?)c.Body["channel"] == channel && (string?)c.Body["ts"] == messageTs
                && c.Body["blocks"]!.AsArray().Any(b => (string?)b!["block_id"] == "outcome")), what: $"the outcome in {channel}");
        }

        // Nothing more is posted, however late it gets.
        var posts = _slack.CallsTo("chat.postMessage").Count;
        var teamsPosts = _bot.Calls.Count(c => c.Operation is "create" or "send" or "reply");
        _time.Advance(TimeSpan.FromHours(2));
        await RunFollowUpAsync(id);
        await _app.Service<FollowUpJobs>().SweepAsync(Ct);
        await Task.Delay(500, Ct);
        Assert.Equal(posts, _slack.CallsTo("chat.postMessage").Count);
        Assert.Equal(teamsPosts, _bot.Calls.Count(c => c.Operation is "create" or "send" or "reply"));
        Assert.Equal(["root", "reminder:1", "escalated:1"], _slack.Messages(PayChannel).Select(KeyOf));
        Assert.Equal(["escalation:1"], _slack.Messages(LeadsChannel).Select(KeyOf));
    }
}
