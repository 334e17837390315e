using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

using static AgentSentinel.Testing.ChatText;

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
    private ChatHarness _h = null!;
    private HttpClient _alice = null!;
    private HttpClient _carol = null!;
    private static CancellationToken Ct => ChatHarness.Ct;

    public async ValueTask InitializeAsync()
    {
        _h = await ChatHarness.StartAsync(new ChatSetup(provider, "quorumchat")
        {
            Slack = true,
            Teams = true,
            SlackUsers =
            {
                // Display names an agent or a user could pick to mention everyone are shown inert.
                ["U0ALICE"] = ("Alice <!channel>", "alice@example.com"),
                ["U0BOB"] = ("Bob", "bob@example.com"),
                ["U0MALLORY"] = ("Mallory", "mallory@example.com"),
            },
            TeamsMembers =
            {
                ["29:alice"] = ("Alice", "aad-alice-0001", "alice@example.com"),
                ["29:bob"] = ("Bob", "aad-bob-0001", "bob@example.com"),
            },
            Settings =
            {
                ["AgentSentinel:Routing:Routes:0:Name"] = "payments-quorum",
                ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = SlackChannel,
                ["AgentSentinel:Routing:Routes:0:Teams:Channel"] = TeamsChannel,
                ["AgentSentinel:Routing:Routes:0:Approvers:0"] = "alice@example.com",
                ["AgentSentinel:Routing:Routes:0:Approvers:1"] = "bob@example.com",
                ["AgentSentinel:Routing:Routes:0:Approvers:2"] = "carol@example.com",
                ["AgentSentinel:Routing:Routes:0:Quorum:Approvals"] = "2",
                ["AgentSentinel:Routing:Routes:0:Quorum:Groups:0:0"] = "bob@example.com",
                ["AgentSentinel:Routing:Routes:0:Quorum:Groups:0:1"] = "U0BOB",
            },
        });
        _alice = await _h.ApproverClientAsync("alice", "alice@example.com");
        await _h.ApproverAsync("bob", "bob@example.com");
        _carol = await _h.ApproverClientAsync("carol", "carol@example.com");
        await _h.ApproverAsync("mallory", "mallory@example.com");
        await _h.InstallBotAsync(TeamsChannel, "29:alice", "aad-alice-0001");
    }

    public async ValueTask DisposeAsync() => await _h.DisposeAsync();

    private Task<JsonObject> CardAnswerAsync(string user, string id, string? notes) =>
        _h.CardAnswerAsync(_h.Bot.Invoke(TeamsChannel, user, "approve", id, notes, $"{TeamsChannel};messageid=1"));

    /// <summary>Creates a request and waits for its Slack message and Teams card; returns the id and the message's ts.</summary>
    private async Task<(string Id, string Ts)> CreateAsync()
    {
        var id = await _h.CreateAsync(new { action_name = "transfer_funds", timeout_seconds = 600 });
        var message = await _h.SlackPostAsync(SlackChannel, id);
        await _h.TeamsCardAsync(id);
        return (id, (string)message["ts"]!);
    }

    private Task<JsonObject> DetailAsync(string id) => _h.DetailAsync(id, _h.Agent);

    private Task<JsonObject> SlackMessageAsync(string ts, Func<JsonObject, bool> when, string what) =>
        _h.Slack.WaitForAsync(s => s.Messages(SlackChannel).FirstOrDefault(m => (string?)m["ts"] == ts && when(m)), what: what);

    [Fact]
    public async Task Slack_teams_and_api_votes_count_together_and_each_person_votes_once()
    {
        var (id, ts) = await CreateAsync();

        // Alice votes in Slack: the modal closes, the request stays pending, the message shows the progress.
        var slackVote = await _h.SlackSubmitAsync("U0ALICE", "decision_approve", id, "looks right");
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
        var teamsAgain = await CardAnswerAsync("29:alice", id, "me again");
        Assert.Contains("already voted", Plain(CardText(teamsAgain, "notice")), StringComparison.Ordinal);

        // Carol's API vote makes two, but bob's group has not approved yet.
        var carol = await (await _carol.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { }, Ct)).Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.Equal("pending", (string?)carol!["status"]);

        // Bob approves on the Teams card: that completes the quorum.
        var card = await CardAnswerAsync("29:bob", id, "security ok");
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
        await _h.Bot.WaitForAsync(b => b.CallsTo("update").LastOrDefault(c => c.Body!.ToJsonString().Contains(id, StringComparison.Ordinal)
            && Plain(CardText(Card(c.Body), "outcome")).Contains("Approved", StringComparison.Ordinal)), what: "the Teams card updated with the approval");
    }

    [Fact]
    public async Task A_rejection_in_slack_vetoes_after_an_approval_and_a_stranger_cannot_vote()
    {
        var (id, ts) = await CreateAsync();
        var card = await CardAnswerAsync("29:alice", id, null);
        Assert.Contains("Your approval was counted", Plain(CardText(card, "notice")), StringComparison.Ordinal);
        Assert.Contains("1 of 2 approvals: Alice ✓", Plain(CardText(card, "quorum")), StringComparison.Ordinal);
        Assert.NotNull(card["actions"]);

        // Mallory is an approver identity, but not one of this route's approvers.
        var stranger = await _h.SlackSubmitAsync("U0MALLORY", "decision_reject", id, "no");
        Assert.Contains("not one of the approvers", await stranger.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        var veto = await _h.SlackSubmitAsync("U0BOB", "decision_reject", id, "wrong account");
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

        var response = await _h.SlackCommandAsync("U0BOB", SlackChannel, userName: "bob");
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
