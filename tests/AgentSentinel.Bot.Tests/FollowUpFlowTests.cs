using System.Net;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Jobs;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

using static AgentSentinel.Testing.ChatText;

namespace AgentSentinel.Bot.Tests;

/// <summary>Reminders and escalation as approvers see them: the real host and job server on an injected clock, the
/// fake Slack Web API and the fake Bot Connector recording every post. The follow-up job is run when the clock says
/// it is due, as its scheduled Hangfire job would.</summary>
public sealed class FollowUpFlowTests : IAsyncLifetime
{
    private const string PayChannel = EscalatingRoute.PayChannel;
    private const string LeadsChannel = EscalatingRoute.LeadsChannel;
    private const string TeamsChannel = EscalatingRoute.TeamsChannel;
    private const string TeamsLeads = EscalatingRoute.TeamsLeads;
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private ChatHarness _h = null!;
    private static CancellationToken Ct => ChatHarness.Ct;

    public async ValueTask InitializeAsync()
    {
        _h = await ChatHarness.StartAsync(EscalatingRoute.Setup(StorageProvider.Sqlite, "followups", _time, [10], 15, "U0BOSS", "here"));
        // Chat users decide as the approver identities their verified emails match.
        await _h.ApproverAsync("alice", "alice@example.com");
        await _h.ApproverAsync("boss", "boss@example.com");
        await _h.InstallBotAsync(TeamsChannel, "29:alice", "aad-alice");
    }

    public async ValueTask DisposeAsync() => await _h.DisposeAsync();

    private FakeSlackServer Slack => _h.Slack;

    private FakeBotConnector Bot => _h.Bot;

    private Task<JsonObject> SlackMessageAsync(string channel, string deliveryKey) =>
        Slack.WaitForAsync(s => s.Messages(channel).FirstOrDefault(m => KeyOf(m) == deliveryKey), what: $"{deliveryKey} in {channel}");

    private Task<HttpResponseMessage> SlackAsync(JsonObject payload) => _h.SlackInteractionAsync(payload);

    private Task RunFollowUpAsync(string id) => _h.App.Service<FollowUpJobs>().RunAsync(Guid.Parse(id), Ct);

    [Fact]
    public async Task A_reminder_goes_to_the_thread_and_the_escalation_to_the_leads_who_may_then_decide()
    {
        var created = _time.GetUtcNow();
        var id = await _h.CreateAsync(new { action_name = "transfer_funds", priority = "critical", timeout_seconds = 3600 });
        var root = await SlackMessageAsync(PayChannel, "root");
        var rootTs = (string)root["ts"]!;
        await Bot.WaitForAsync(b => b.CallsTo("create").FirstOrDefault(), what: "the Teams card");

        // Minute 10: a reminder in each thread, saying how long is left.
        _time.SetUtcNow(created.AddMinutes(10));
        await RunFollowUpAsync(id);
        var reminder = await SlackMessageAsync(PayChannel, "reminder:1");
        Assert.Equal(rootTs, (string?)reminder["thread_ts"]);
        Assert.Contains("50 min left", (string?)reminder["text"], StringComparison.Ordinal);
        var teamsReminder = await Bot.WaitForAsync(b => b.CallsTo("reply").FirstOrDefault(), what: "the Teams reminder");
        Assert.Contains("50 min left", (string?)teamsReminder.Body!["text"], StringComparison.Ordinal);

        // Before the escalation the lead is not an approver.
        Assert.Equal(HttpStatusCode.OK, (await SlackAsync(SlackRequests.BlockActions("U0BOSS", "approve", id, PayChannel, rootTs))).StatusCode);
        var refused = await Slack.WaitForAsync(s => s.CallsTo("chat.postEphemeral").FirstOrDefault(), what: "the not-authorized note");
        Assert.Contains("not", (string?)refused.Body["text"], StringComparison.OrdinalIgnoreCase);
        Assert.Empty(Slack.CallsTo("views.open"));

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
        var teamsEscalation = await Bot.WaitForAsync(b => b.CallsTo("create").FirstOrDefault(c => c.Body!.ToJsonString().Contains("Escalated (level 1)", StringComparison.Ordinal)), what: "the Teams escalation card");
        Assert.Equal(TeamsLeads, (string?)teamsEscalation.Body!["channelData"]!["channel"]!["id"]);

        // The lead decides from the leads' channel; both messages show the outcome.
        var ts = (string)escalated["ts"]!;
        Assert.Equal(HttpStatusCode.OK, (await SlackAsync(SlackRequests.BlockActions("U0BOSS", "approve", id, LeadsChannel, ts))).StatusCode);
        await Slack.WaitForAsync(s => s.CallsTo("views.open").FirstOrDefault(), what: "the approve modal");
        Assert.Equal(HttpStatusCode.OK, (await SlackAsync(SlackRequests.ViewSubmission("U0BOSS", "decision_approve", id, "covering"))).StatusCode);
        var poll = await _h.PollAsync(id);
        Assert.Equal("approved", (string?)poll["status"]);
        Assert.Equal("boss@example.com", (string?)poll["decided_by_email"]);
        foreach (var (channel, messageTs) in new[] { (PayChannel, rootTs), (LeadsChannel, ts) })
        {
            await Slack.WaitForAsync(s => s.CallsTo("chat.update").LastOrDefault(c => (string?)c.Body["channel"] == channel && (string?)c.Body["ts"] == messageTs
                && c.Body["blocks"]!.AsArray().Any(b => (string?)b!["block_id"] == "outcome")), what: $"the outcome in {channel}");
        }

        // Nothing more is posted, however late it gets.
        var posts = Slack.CallsTo("chat.postMessage").Count;
        var teamsPosts = Bot.Calls.Count(c => c.Operation is "create" or "send" or "reply");
        _time.Advance(TimeSpan.FromHours(2));
        await RunFollowUpAsync(id);
        await _h.App.Service<FollowUpJobs>().SweepAsync(Ct);
        await Task.Delay(500, Ct);
        Assert.Equal(posts, Slack.CallsTo("chat.postMessage").Count);
        Assert.Equal(teamsPosts, Bot.Calls.Count(c => c.Operation is "create" or "send" or "reply"));
        Assert.Equal(["root", "reminder:1", "escalated:1"], Slack.Messages(PayChannel).Select(KeyOf));
        Assert.Equal(["escalation:1"], Slack.Messages(LeadsChannel).Select(KeyOf));
    }
}
