using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Bot.Tests;

/// <summary>Standing grants in Slack, end to end: the approve modal offers a grant only where the route allows one, a
/// submission gives it with the approval, the next matching request is approved at once and its message says so, and
/// "Revoke grant" on the message revokes it under the one rule (the granter or an admin) and redraws the message.</summary>
public sealed class SlackGrantTests : IAsyncLifetime
{
    private ChatHarness _h = null!;
    private static CancellationToken Ct => ChatHarness.Ct;

    public async ValueTask InitializeAsync()
    {
        _h = await ChatHarness.StartAsync(new ChatSetup(StorageProvider.Sqlite, "slack-grants")
        {
            Slack = true,
            AgentKeyName = "refund-bot",
            AgentIds = ["refund-bot"],
            SlackUsers =
            {
                ["U0ALICE"] = ("Alice", "alice@example.com"),
                ["U0BOB"] = ("Bob", "bob@example.com"),
                ["U0EVE"] = ("Eve", "eve@example.com"),
            },
            Settings =
            {
                ["AgentSentinel:Routing:Routes:0:Name"] = "refunds",
                ["AgentSentinel:Routing:Routes:0:Match:Actions:0"] = "refund*",
                ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = "C0REF",
                ["AgentSentinel:Routing:Routes:0:Grants:Allowed"] = "true",
                ["AgentSentinel:Routing:Routes:0:Grants:MaxMinutes"] = "120",
                ["AgentSentinel:Routing:Routes:1:Name"] = "default",
                ["AgentSentinel:Routing:Routes:1:Slack:Channel"] = "C0ALL",
                ["AgentSentinel:Routing:Routes:1:Grants:Allowed"] = "false",
            },
        });
        await _h.ApproverAsync("alice", "alice@example.com");
        await _h.ApproverAsync("bob", "bob@example.com");
    }

    public async ValueTask DisposeAsync() => await _h.DisposeAsync();

    private FakeSlackServer Slack => _h.Slack;

    private static object Refund(int order, string action = "refund", string priority = "medium") => new
    {
        action_name = action,
        agent_id = "refund-bot",
        risk_level = "low",
        priority,
        estimated_cost = 10,
        action_inputs = new { order },
    };

    private async Task<(string Id, JsonObject Message)> CreateAndAwaitPostAsync(object body, string channel = "C0REF")
    {
        var id = await _h.CreateAsync(body);
        return (id, await _h.SlackPostAsync(channel, id));
    }

    private Task<HttpResponseMessage> InteractAsync(JsonObject payload) => _h.SlackInteractionAsync(payload);

    private async Task<JsonObject> ModalFor(string user, string id, string ts, string channel = "C0REF")
    {
        var before = Slack.CallsTo("views.open").Count;
        Assert.Equal(HttpStatusCode.OK, (await InteractAsync(SlackRequests.BlockActions(user, "approve", id, channel, ts))).StatusCode);
        return (await Slack.WaitForAsync(s => s.CallsTo("views.open").Skip(before).FirstOrDefault(), what: "the approve modal")).Body["view"]!.AsObject();
    }

    private async Task<JsonObject> GetAsync(string path) => (await (await _h.Admin.GetAsync(path, Ct)).Content.ReadFromJsonAsync<JsonObject>(Ct))!;

    private static JsonObject? Block(JsonObject message, string blockId) =>
        message["blocks"]?.AsArray().FirstOrDefault(b => (string?)b!["block_id"] == blockId)?.AsObject();

    private static string Text(JsonObject message) => message["blocks"]!.ToJsonString();

    private Task<JsonObject> UpdatedAsync(string channel, string ts, Func<JsonObject, bool> when, string what) =>
        Slack.WaitForAsync(s => s.Messages(channel).FirstOrDefault(m => (string?)m["ts"] == ts && when(m)), what: what);

    [Fact]
    public async Task The_approve_modal_offers_a_grant_only_where_the_route_allows_one()
    {
        var (id, message) = await CreateAndAwaitPostAsync(Refund(1));
        var modal = await ModalFor("U0ALICE", id, (string)message["ts"]!);
        var minutes = Block(modal, "grant_minutes")!;
        Assert.Equal("number_input", (string?)minutes["element"]!["type"]);
        Assert.Equal("120", (string?)minutes["element"]!["max_value"]);
        Assert.True((bool)minutes["optional"]!);
        Assert.NotNull(Block(modal, "grant_max_uses"));
        Assert.False((bool)minutes["element"]!["is_decimal_allowed"]!);
        Assert.Equal("action_and_inputs", (string?)Block(modal, "grant_match")!["element"]!["initial_option"]!["value"]);

        // A critical request (and any request on a route that refuses grants) gets the plain approve modal.
        var (critical, criticalMessage) = await CreateAndAwaitPostAsync(Refund(2, priority: "critical"));
        Assert.Null(Block(await ModalFor("U0ALICE", critical, (string)criticalMessage["ts"]!), "grant_minutes"));
        var (other, otherMessage) = await CreateAndAwaitPostAsync(Refund(3, action: "ship_parcel"), "C0ALL");
        Assert.Null(Block(await ModalFor("U0ALICE", other, (string)otherMessage["ts"]!, "C0ALL"), "grant_minutes"));
    }

    [Fact]
    public async Task A_grant_given_in_the_modal_approves_the_next_matching_request_and_its_message_names_the_granter()
    {
        var (id, message) = await CreateAndAwaitPostAsync(Refund(1));
        var ts = (string)message["ts"]!;
        var submit = await InteractAsync(SlackRequests.ApproveWithGrant("U0ALICE", id, "fine", "30", maxUses: "2", maxTotalCost: "100", match: "action"));
        Assert.Equal("", await submit.Content.ReadAsStringAsync(Ct));

        var grants = (await GetAsync("/api/v1/grants"))["items"]!.AsArray();
        var grant = Assert.Single(grants)!;
        Assert.Equal("alice@example.com", (string?)grant["created_by_email"]);
        Assert.Equal("action", (string?)grant["match"]);
        Assert.Equal(2, (int)grant["max_uses"]!);
        Assert.Equal(100m, (decimal)grant["max_total_cost"]!);
        Assert.Equal(id, (string?)grant["source_approval_id"]);

        // The approval's message is redrawn with the grant and its Revoke button.
        var redrawn = await UpdatedAsync("C0REF", ts, m => Block(m, "grant_actions") is not null, "the message with the grant");
        Assert.Contains("Standing grant", (string?)Block(redrawn, "grant")!["text"]!["text"], StringComparison.Ordinal);
        var button = Block(redrawn, "grant_actions")!["elements"]![0]!;
        Assert.Equal("revoke_grant", (string?)button["action_id"]);
        Assert.Equal((string?)grant["id"], (string?)button["value"]);
        Assert.NotNull(button["confirm"]);

        // The next matching request is approved at once, and its message says by whose grant.
        var (next, nextMessage) = await CreateAndAwaitPostAsync(Refund(2));
        Assert.Equal("approved", (string?)(await GetAsync($"/api/v1/approvals/{next}"))["status"]);
        var outcome = (string?)Block(nextMessage, "outcome")!["text"]!["text"];
        Assert.Contains("*Approved by grant* given by alice@example.com", outcome, StringComparison.Ordinal);
        Assert.Null(Block(nextMessage, "decision"));
        Assert.Null(Block(nextMessage, "grant_actions"));
    }

    [Theory]
    [InlineData("500", null, null, null, "grant_minutes", "between 1 and 120 minutes on route 'refunds'")]
    [InlineData("ten", null, null, null, "grant_minutes", "whole number")]
    [InlineData(null, "3", null, null, "grant_minutes", "Give the number of minutes")]
    [InlineData("30", "0", null, null, "grant_max_uses", "at least 1")]
    [InlineData("30", null, "lots", null, "grant_max_total_cost", "number of dollars")]
    [InlineData("30", null, null, "everything", "grant_match", "'action_and_inputs'")]
    public async Task Bad_grant_input_keeps_the_modal_open_with_the_reason_and_changes_nothing(
        string? minutes, string? maxUses, string? maxCost, string? match, string block, string reason)
    {
        var (id, _) = await CreateAndAwaitPostAsync(Refund(1));
        var submit = await InteractAsync(SlackRequests.ApproveWithGrant("U0ALICE", id, "fine", minutes, maxUses, maxCost, match));
        Assert.Equal(HttpStatusCode.OK, submit.StatusCode);
        var answer = (await submit.Content.ReadFromJsonAsync<JsonObject>(Ct))!;
        Assert.Equal("errors", (string?)answer["response_action"]);
        Assert.Contains(reason, (string?)answer["errors"]![block], StringComparison.Ordinal);
        Assert.Equal("pending", (string?)(await GetAsync($"/api/v1/approvals/{id}"))["status"]);
        Assert.Empty((await GetAsync("/api/v1/grants?state=all"))["items"]!.AsArray());
    }

    [Fact]
    public async Task A_forged_grant_for_a_critical_request_is_refused_and_nothing_is_decided()
    {
        var (id, _) = await CreateAndAwaitPostAsync(Refund(1, priority: "critical"));
        var answer = (await (await InteractAsync(SlackRequests.ApproveWithGrant("U0ALICE", id, null, "30"))).Content.ReadFromJsonAsync<JsonObject>(Ct))!;
        Assert.Contains("never allowed for critical", (string?)answer["errors"]!["grant_minutes"], StringComparison.Ordinal);
        Assert.Equal("pending", (string?)(await GetAsync($"/api/v1/approvals/{id}"))["status"]);
    }

    [Fact]
    public async Task Revoke_grant_on_the_message_is_for_the_granter_only_and_redraws_the_message()
    {
        var (id, message) = await CreateAndAwaitPostAsync(Refund(1));
        var ts = (string)message["ts"]!;
        await InteractAsync(SlackRequests.ApproveWithGrant("U0ALICE", id, null, "60", match: "action"));
        var grantId = (string)(await GetAsync("/api/v1/grants"))["items"]![0]!["id"]!;
        await UpdatedAsync("C0REF", ts, m => Block(m, "grant_actions") is not null, "the message with the grant");

        // Bob is an approver but did not give the grant; Eve is nobody the server knows. Neither changes anything.
        foreach (var (user, says) in new[] { ("U0BOB", "Only the person who gave a grant, or an admin"), ("U0EVE", "not an approver known to this server") })
        {
            var before = Slack.CallsTo("chat.postEphemeral").Count;
            Assert.Equal(HttpStatusCode.OK, (await InteractAsync(SlackRequests.BlockActions(user, "revoke_grant", grantId, "C0REF", ts))).StatusCode);
            var note = await Slack.WaitForAsync(s => s.CallsTo("chat.postEphemeral").Skip(before).FirstOrDefault(), what: "the refusal");
            Assert.Equal(user, (string?)note.Body["user"]);
            Assert.Contains(says, (string?)note.Body["text"], StringComparison.Ordinal);
            Assert.Equal("active", (string?)(await GetAsync($"/api/v1/grants/{grantId}"))["state"]);
        }

        var updates = Slack.CallsTo("chat.update").Count;
        await InteractAsync(SlackRequests.BlockActions("U0ALICE", "revoke_grant", grantId, "C0REF", ts));
        var revoked = await UpdatedAsync("C0REF", ts, m => Block(m, "grant_actions") is null && Text(m).Contains("Revoked by", StringComparison.Ordinal), "the redrawn message");
        Assert.Contains("Revoked by alice@example.com", (string?)Block(revoked, "grant")!["text"]!["text"], StringComparison.Ordinal);
        Assert.True(Slack.CallsTo("chat.update").Count > updates);
        Assert.Equal("revoked", (string?)(await GetAsync($"/api/v1/grants/{grantId}"))["state"]);
        var told = await Slack.WaitForAsync(s => s.CallsTo("chat.postEphemeral").LastOrDefault(c => (string?)c.Body["user"] == "U0ALICE"), what: "the confirmation");
        Assert.Contains("is revoked", (string?)told.Body["text"], StringComparison.Ordinal);

        // The agent's next matching request waits for a person again; a second click says it was already revoked.
        var (next, _) = await CreateAndAwaitPostAsync(Refund(2));
        Assert.Equal("pending", (string?)(await GetAsync($"/api/v1/approvals/{next}"))["status"]);
        var count = Slack.CallsTo("chat.postEphemeral").Count;
        await InteractAsync(SlackRequests.BlockActions("U0ALICE", "revoke_grant", grantId, "C0REF", ts));
        var again = await Slack.WaitForAsync(s => s.CallsTo("chat.postEphemeral").Skip(count).FirstOrDefault(), what: "the second answer");
        Assert.Contains("already revoked", (string?)again.Body["text"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_grant_revoked_through_the_api_redraws_the_slack_message_too()
    {
        var (id, message) = await CreateAndAwaitPostAsync(Refund(1));
        var ts = (string)message["ts"]!;
        await InteractAsync(SlackRequests.ApproveWithGrant("U0ALICE", id, null, "60"));
        var grantId = (string)(await GetAsync("/api/v1/grants"))["items"]![0]!["id"]!;
        await UpdatedAsync("C0REF", ts, m => Block(m, "grant_actions") is not null, "the message with the grant");

        var revoke = await _h.App.Client().PostAsync($"/api/v1/grants/{grantId}/revoke", null, Ct);
        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        await UpdatedAsync("C0REF", ts, m => Block(m, "grant_actions") is null && Text(m).Contains("Revoked by", StringComparison.Ordinal), "the redrawn message");
    }
}
