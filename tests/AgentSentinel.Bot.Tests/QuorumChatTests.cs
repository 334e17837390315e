using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Bot.Tests;

public sealed class SqliteQuorumChatTests() : QuorumChatTests(StorageProvider.Sqlite);

public sealed class PostgresQuorumChatTests() : QuorumChatTests(StorageProvider.Postgres);

/// <summary>A quorum route posted to Slack and Teams: votes from signed Slack interactions, Teams card actions and the
/// approver API count together, one person (by email) votes once whatever the surface, the message and the card show
/// "1 of 2 approvals: ..." after a vote and the outcome after the deciding one, and a chat rejection vetoes.</summary>
public abstract class QuorumChatTests(StorageProvider provider) : IAsyncLifetime
{
    private const string SlackChannel = "C0QUORUM";
    private const string TeamsChannel = "19:quorum0123@thread.tacv2";
    private FakeSlackServer _slack = null!;
    private FakeBotConnector _bot = null!;
    private AgentSentinelApp _app = null!;
    private HttpClient _agent = null!;
    private HttpClient _alice = null!;
    private HttpClient _carol = null!;
    private HttpClient _anonymous = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _slack = await FakeSlackServer.StartAsync();
        // Display names an agent or a user could pick to mention everyone are shown inert.
        _slack.Users["U0ALICE"] = ("Alice <!channel>", "alice@example.com");
        _slack.Users["U0BOB"] = ("Bob", "bob@example.com");
        _slack.Users["U0MALLORY"] = ("Mallory", "mallory@example.com");
        _bot = await FakeBotConnector.StartAsync();
        _bot.Members["29:alice"] = ("Alice", "aad-alice-0001", "alice@example.com");
        _bot.Members["29:bob"] = ("Bob", "aad-bob-0001", "bob@example.com");
        var settings = new Dictionary<string, string?>(_slack.HostSettings());
        foreach (var (key, value) in _bot.HostSettings())
        {
            settings[key] = value;
        }
        settings["AgentSentinel:Routing:Routes:0:Name"] = "payments-quorum";
        settings["AgentSentinel:Routing:Routes:0:Slack:Channel"] = SlackChannel;
        settings["AgentSentinel:Routing:Routes:0:Teams:Channel"] = TeamsChannel;
        settings["AgentSentinel:Routing:Routes:0:Approvers:0"] = "alice@example.com";
        settings["AgentSentinel:Routing:Routes:0:Approvers:1"] = "bob@example.com";
        settings["AgentSentinel:Routing:Routes:0:Approvers:2"] = "carol@example.com";
        settings["AgentSentinel:Routing:Routes:0:Quorum:Approvals"] = "2";
        settings["AgentSentinel:Routing:Routes:0:Quorum:Groups:0:0"] = "bob@example.com";
        settings["AgentSentinel:Routing:Routes:0:Quorum:Groups:0:1"] = "U0BOB";
        _app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "quorumchat"), runJobServer: true, settings: settings);
        _ = _app.Server;
        _agent = _app.Client(await _app.CreateKeyAsync("agent", [Scopes.Agent]));
        _alice = _app.Client(await _app.CreateKeyAsync("alice", [Scopes.Approver], "alice@example.com"));
        await _app.CreateKeyAsync("bob", [Scopes.Approver], "bob@example.com");
        _carol = _app.Client(await _app.CreateKeyAsync("carol", [Scopes.Approver], "carol@example.com"));
        await _app.CreateKeyAsync("mallory", [Scopes.Approver], "mallory@example.com");
        _anonymous = _app.Client(null);
        Assert.Equal(HttpStatusCode.OK, (await SendActivityAsync(_bot.ConversationUpdate(TeamsChannel, "29:alice", "aad-alice-0001"))).StatusCode);
    }

    public async ValueTask DisposeAsync()
    {
        _agent.Dispose();
        _alice.Dispose();
        _carol.Dispose();
        _anonymous.Dispose();
        await _app.DisposeAsync();
        await _bot.DisposeAsync();
        await _slack.DisposeAsync();
    }

    private Task<HttpResponseMessage> SendActivityAsync(JsonObject activity)
    {
        var message = new HttpRequestMessage(HttpMethod.Post, "/api/messages") { Content = JsonContent.Create(activity) };
        message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _bot.SignToken());
        return _anonymous.SendAsync(message, Ct);
    }

    private Task<HttpResponseMessage> SlackAsync(JsonObject payload) =>
        _anonymous.SendAsync(SlackRequests.Signed("/slack/interactions", SlackRequests.PayloadForm(payload)), Ct);

    /// <summary>Creates a request and waits for its Slack message and Teams card; returns the id and the message's ts.</summary>
    private async Task<(string Id, string Ts)> CreateAsync()
    {
        var response = await _agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", timeout_seconds = 600 }, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var id = (string)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!;
        var message = await _slack.WaitForAsync(s => s.Messages(SlackChannel).FirstOrDefault(m => (string?)m["metadata"]?["event_payload"]?["approval_id"] == id && m["thread_ts"] is null),
            what: $"the Slack message of {id}");
        await _bot.WaitForAsync(b => b.CallsTo("create").LastOrDefault(c => c.Body!.ToJsonString().Contains(id, StringComparison.Ordinal)), what: $"the Teams card of {id}");
        return (id, (string)message["ts"]!);
    }

    private async Task<JsonObject> DetailAsync(string id) =>
        (await (await _agent.GetAsync($"/api/v1/approvals/{id}", Ct)).Content.ReadFromJsonAsync<JsonObject>(Ct))!;

    private static string? BlockText(JsonObject message, string blockId) =>
        (string?)message["blocks"]?.AsArray().FirstOrDefault(b => (string?)b!["block_id"] == blockId)?["text"]?["text"];

    private Task<JsonObject> SlackMessageAsync(string ts, Func<JsonObject, bool> when, string what) =>
        _slack.WaitForAsync(s => s.Messages(SlackChannel).FirstOrDefault(m => (string?)m["ts"] == ts && when(m)), what: what);

    private static JsonObject Card(JsonObject? activity) => activity!["attachments"]![0]!["content"]!.AsObject();

    private static string? CardText(JsonObject card, string id) =>
        (string?)(card["body"]!.AsArray().FirstOrDefault(e => (string?)e!["id"] == id)
            ?? card["body"]!.AsArray().SelectMany(e => e!["items"]?.AsArray() ?? []).FirstOrDefault(e => (string?)e!["id"] == id))?["text"];

    /// <summary>Card text as a reader sees it: markdown escapes and word joiners removed.</summary>
    private static string Plain(string? text) => (text ?? "").Replace("\\", "", StringComparison.Ordinal).Replace("\u2060", "", StringComparison.Ordinal);

    [Fact]
    public async Task Slack_teams_and_api_votes_count_together_and_each_person_votes_once()
    {
        var (id, ts) = await CreateAsync();

        // Alice votes in Slack: the modal closes, the request stays pending, the message shows the progress.
        var slackVote = await SlackAsync(SlackRequests.ViewSubmission("U0ALICE", "decision_approve", id, "looks right"));
        Assert.Equal(HttpStatusCode.OK, slackVote.StatusCode);
        Assert.Equal("", await slackVote.Content.ReadAsStringAsync(Ct));
        var progress = await SlackMessageAsync(ts, m => BlockText(m, "quorum")?.Contains("1 of 2", StringComparison.Ordinal) == true,
            "the message redrawn with the quorum's progress");
        // As a reader sees it: Slack text breaks links in names and emails with word joiners and dot leaders.
        var line = BlockText(progress, "quorum")!.Replace("\u2060", "", StringComparison.Ordinal).Replace("\u2024", ".", StringComparison.Ordinal);
        Assert.Contains("1 of 2 approvals: Alice", line, StringComparison.Ordinal);
        Assert.Contains("waiting for one of bob@example.com, U0BOB", line, StringComparison.Ordinal);
        Assert.DoesNotContain("<!channel>", line, StringComparison.Ordinal);
        Assert.NotNull(progress["blocks"]!.AsArray().FirstOrDefault(b => (string?)b!["block_id"] == "decision"));

        // The same person from the API, and from Teams, is refused.
        var again = await _alice.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = "me again" }, Ct);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Contains("already voted", (string?)(await again.Content.ReadFromJsonAsync<JsonObject>(Ct))!["detail"], StringComparison.Ordinal);
        var teamsAgain = await (await SendActivityAsync(_bot.Invoke(TeamsChannel, "29:alice", "approve", id, "me again", $"{TeamsChannel};messageid=1"))).Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.Contains("already voted", Plain(CardText(teamsAgain!["value"]!.AsObject(), "notice")), StringComparison.Ordinal);

        // Carol's API vote makes two, but bob's group has not approved yet.
        var carol = await (await _carol.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { }, Ct)).Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.Equal("pending", (string?)carol!["status"]);

        // Bob approves on the Teams card: that completes the quorum.
        var bob = await (await SendActivityAsync(_bot.Invoke(TeamsChannel, "29:bob", "approve", id, "security ok", $"{TeamsChannel};messageid=1"))).Content.ReadFromJsonAsync<JsonObject>(Ct);
        var card = bob!["value"]!.AsObject();
        Assert.Contains("You approved this request", Plain(CardText(card, "notice")), StringComparison.Ordinal);
        Assert.Contains("3 approvals (2 needed)", Plain(CardText(card, "quorum")), StringComparison.Ordinal);

        var detail = await DetailAsync(id);
        Assert.Equal("approved", (string?)detail["status"]);
        Assert.Equal("bob@example.com", (string?)detail["decided_by_email"]);
        Assert.Equal("teams", (string?)detail["decided_via"]);
        Assert.Equal("alice@example.com: looks right\nbob@example.com: security ok", (string?)detail["decision_notes"]);
        Assert.Equal(["slack", "api", "teams"], detail["votes"]!.AsArray().Select(v => (string?)v!["surface"]));
        Assert.Equal(["alice@example.com", "carol@example.com", "bob@example.com"], detail["votes"]!.AsArray().Select(v => (string?)v!["email"]));

        // Both chat surfaces redraw with the outcome.
        var final = await SlackMessageAsync(ts, m => BlockText(m, "outcome") is not null, "the message redrawn with the approval");
        Assert.Contains("Approved", BlockText(final, "outcome"), StringComparison.Ordinal);
        Assert.Null(final["blocks"]!.AsArray().FirstOrDefault(b => (string?)b!["block_id"] == "decision"));
        await _bot.WaitForAsync(b => b.CallsTo("update").LastOrDefault(c => c.Body!.ToJsonString().Contains(id, StringComparison.Ordinal)
            && Plain(CardText(Card(c.Body), "outcome")).Contains("Approved", StringComparison.Ordinal)), what: "the Teams card updated with the approval");
    }

    [Fact]
    public async Task A_rejection_in_slack_vetoes_after_an_approval_and_a_stranger_cannot_vote()
    {
        var (id, ts) = await CreateAsync();
        var teamsVote = await (await SendActivityAsync(_bot.Invoke(TeamsChannel, "29:alice", "approve", id, null, $"{TeamsChannel};messageid=1"))).Content.ReadFromJsonAsync<JsonObject>(Ct);
        var card = teamsVote!["value"]!.AsObject();
        Assert.Contains("Your approval was counted", Plain(CardText(card, "notice")), StringComparison.Ordinal);
        Assert.Contains("1 of 2 approvals: Alice ✓", Plain(CardText(card, "quorum")), StringComparison.Ordinal);
        Assert.NotNull(card["actions"]);

        // Mallory is an approver identity, but not one of this route's approvers.
        var stranger = await SlackAsync(SlackRequests.ViewSubmission("U0MALLORY", "decision_reject", id, "no"));
        Assert.Contains("not one of the approvers", await stranger.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        var veto = await SlackAsync(SlackRequests.ViewSubmission("U0BOB", "decision_reject", id, "wrong account"));
        Assert.Equal("", await veto.Content.ReadAsStringAsync(Ct));
        var detail = await DetailAsync(id);
        Assert.Equal("rejected", (string?)detail["status"]);
        Assert.Equal("bob@example.com", (string?)detail["decided_by_email"]);
        Assert.Equal("wrong account", (string?)detail["decision_notes"]);
        Assert.Equal(["approve", "reject"], detail["votes"]!.AsArray().Select(v => (string?)v!["choice"]));
        var final = await SlackMessageAsync(ts, m => BlockText(m, "outcome") is not null, "the message redrawn with the rejection");
        Assert.Contains("Rejected", BlockText(final, "outcome"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_approvals_command_lists_a_quorum_request_with_its_progress()
    {
        var (id, _) = await CreateAsync();
        Assert.Equal(HttpStatusCode.OK, (await _alice.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = "fine by me" }, Ct)).StatusCode);

        var form = $"token=t&team_id=T0TEAM&channel_id={SlackChannel}&user_id=U0BOB&user_name=bob&command=%2Fapprovals&text=&trigger_id=1.2.3";
        var response = await _anonymous.SendAsync(SlackRequests.Signed("/slack/commands", form), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var blocks = (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["blocks"]!.AsArray();
        var row = (string?)blocks.Single(b => (string?)b!["block_id"] == $"s_{id}")!["text"]!["text"];
        // As a reader sees it: Slack text breaks links in emails with word joiners and dot leaders.
        var line = row!.Replace("\u2060", "", StringComparison.Ordinal).Replace("\u2024", ".", StringComparison.Ordinal);
        Assert.Contains(":ballot_box_with_ballot: 1 of 2 approvals: alice", line, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("waiting for one of bob@example.com, U0BOB", line, StringComparison.Ordinal);
        Assert.DoesNotContain("<!channel>", line, StringComparison.Ordinal);
    }
}
