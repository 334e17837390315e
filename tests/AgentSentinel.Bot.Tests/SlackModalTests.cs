using System.Net;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;
using static AgentSentinel.Testing.FakeSlackServer;

namespace AgentSentinel.Bot.Tests;

/// <summary>A click whose modal Slack does not open: <c>views.open</c> rate limited (429 with <c>Retry-After</c>) or
/// failing. The real host on an injected clock, signed requests, the fake Slack recording every call. The clicker is
/// told privately what happened and when to click again, nothing changes, and the method is not called again before
/// its <c>Retry-After</c>.</summary>
public sealed class SlackModalTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private ChatHarness _h = null!;

    public async ValueTask InitializeAsync()
    {
        var setup = new ChatSetup(StorageProvider.Sqlite, "slack-modal")
        {
            Slack = true,
            Time = _time,
            SlackUsers = { ["U0ALICE"] = ("Alice", "alice@example.com") },
            Settings =
            {
                ["AgentSentinel:Routing:Routes:0:Name"] = "payments",
                ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = "C0PAY",
                ["AgentSentinel:Routing:Routes:0:Approvers:0"] = "U0ALICE",
            },
        };
        _h = await ChatHarness.StartAsync(setup);
        await _h.ApproverAsync("alice", "alice@example.com");
    }

    public async ValueTask DisposeAsync() => await _h.DisposeAsync();

    private FakeSlackServer Slack => _h.Slack;

    private async Task ClickAsync(System.Text.Json.Nodes.JsonObject payload) =>
        Assert.Equal(HttpStatusCode.OK, (await _h.SlackInteractionAsync(payload)).StatusCode);

    private Task<IReadOnlyList<Call>> EphemeralsAsync(int count) =>
        Slack.WaitForAsync(s => s.CallsTo("chat.postEphemeral") is { } told && told.Count >= count ? told : null, what: $"{count} private note(s)");

    [Fact]
    public async Task A_rate_limited_views_open_tells_the_clicker_when_to_click_again_and_is_not_called_before_then()
    {
        var id = await _h.CreateAsync(new { action_name = "transfer_funds", timeout_seconds = 3600 });
        var ts = (string)(await _h.SlackPostAsync("C0PAY", id))["ts"]!;
        Slack.FailNext("views.open", SlackFault.RateLimited);

        // The approve button: Slack answers 429 (Retry-After 1 s); Alice hears why and when to try again.
        await ClickAsync(SlackRequests.BlockActions("U0ALICE", "approve", id, "C0PAY", ts));
        var first = Assert.Single(await EphemeralsAsync(1));
        Assert.Equal("U0ALICE", (string?)first.Body["user"]);
        Assert.Contains("limiting how often this app can open forms", (string?)first.Body["text"], StringComparison.Ordinal);
        Assert.Contains("click again in 1 s", (string?)first.Body["text"], StringComparison.Ordinal);
        Assert.Single(Slack.CallsTo("views.open"));

        // Within the Retry-After the reassign menu is refused without calling Slack again.
        await ClickAsync(SlackRequests.Overflow("U0ALICE", $"person:{id}", "C0PAY", ts));
        var second = (await EphemeralsAsync(2))[1];
        Assert.Contains("click again in 1 s", (string?)second.Body["text"], StringComparison.Ordinal);
        Assert.Single(Slack.CallsTo("views.open"));

        // Once the Retry-After has passed the same menu opens the reassign modal; nothing was decided meanwhile.
        _time.Advance(TimeSpan.FromSeconds(1.5));
        await ClickAsync(SlackRequests.Overflow("U0ALICE", $"person:{id}", "C0PAY", ts));
        Assert.Equal(2, Slack.CallsTo("views.open").Count);
        Assert.Equal("reassign_person", (string?)Slack.CallsTo("views.open")[1].Body["view"]!["callback_id"]);
        Assert.Equal("pending", await _h.StatusAsync(id));
        Assert.Equal(2, Slack.CallsTo("chat.postEphemeral").Count);
    }

    [Fact]
    public async Task A_views_open_that_fails_otherwise_tells_the_clicker_to_click_again_and_the_next_click_opens_it()
    {
        var id = await _h.CreateAsync(new { action_name = "transfer_funds", timeout_seconds = 3600 });
        var ts = (string)(await _h.SlackPostAsync("C0PAY", id))["ts"]!;
        Slack.FailNext("views.open", SlackFault.ServerError);

        await ClickAsync(SlackRequests.Overflow("U0ALICE", $"channel:{id}", "C0PAY", ts));
        var told = Assert.Single(await EphemeralsAsync(1));
        Assert.Equal("Slack did not open the form in time, so nothing was changed; please click again.", (string?)told.Body["text"]);

        // A 5xx holds nothing: the next click opens the modal at once.
        await ClickAsync(SlackRequests.BlockActions("U0ALICE", "reject", id, "C0PAY", ts));
        Assert.Equal(2, Slack.CallsTo("views.open").Count);
        Assert.Equal("decision_reject", (string?)Slack.CallsTo("views.open")[1].Body["view"]!["callback_id"]);
        Assert.Equal("pending", await _h.StatusAsync(id));
    }
}
