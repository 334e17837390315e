using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

using static AgentSentinel.Testing.ChatText;

namespace AgentSentinel.Bot.Tests;

/// <summary>Standing grants in Teams, through the fake Bot Connector: the card offers the grant fields only where the
/// route allows a grant, Approve gives the grant with the approval, bad grant input is refused on the card with nothing
/// stored, and the card of a request a grant approved says so and names the granter.</summary>
public sealed class TeamsGrantTests : IAsyncLifetime
{
    private const string Channel = "19:refunds0123@thread.tacv2";
    private ChatHarness _h = null!;
    private static CancellationToken Ct => ChatHarness.Ct;

    public async ValueTask InitializeAsync()
    {
        _h = await ChatHarness.StartAsync(new ChatSetup(StorageProvider.Sqlite, "teams-grants")
        {
            Teams = true,
            AgentKeyName = "refund-bot",
            TeamsMembers = { ["29:alice"] = ("Alice", "aad-alice-0001", "alice@example.com") },
            Settings =
            {
                ["AgentSentinel:Routing:Routes:0:Name"] = "refunds",
                ["AgentSentinel:Routing:Routes:0:Teams:Channel"] = Channel,
                ["AgentSentinel:Routing:Routes:0:Grants:MaxMinutes"] = "45",
            },
        });
        await _h.ApproverAsync("alice", "alice@example.com");
        await _h.InstallBotAsync(Channel, "29:alice", "aad-alice-0001");
    }

    public async ValueTask DisposeAsync() => await _h.DisposeAsync();

    private static object Refund(int order, string priority = "medium") => new
    {
        action_name = "refund",
        agent_id = "refund-bot",
        risk_level = "low",
        priority,
        estimated_cost = 10,
        action_inputs = new { order },
    };

    private async Task<(string Id, JsonObject Card)> CreateAndAwaitCardAsync(object body)
    {
        var id = await _h.CreateAsync(body);
        var post = await _h.TeamsCardAsync(id);
        return (id, post.Body!["activity"]!["attachments"]![0]!["content"]!.AsObject());
    }

    /// <summary>Approve on the card with the grant fields as Teams sends input values (strings; empty ones left out).</summary>
    private async Task<JsonObject> ApproveAsync(string id, string? minutes, string? maxUses = null, string? maxCost = null, string? match = null)
    {
        var activity = _h.Bot.Invoke(Channel, "29:alice", "approve", id, null, $"{Channel};messageid=1");
        var data = activity["value"]!["action"]!["data"]!.AsObject();
        foreach (var (name, value) in new[] { ("grant_minutes", minutes), ("grant_max_uses", maxUses), ("grant_max_total_cost", maxCost), ("grant_match", match) })
        {
            if (value is not null)
            {
                data[name] = value;
            }
        }
        return await _h.CardAnswerAsync(activity);
    }

    private async Task<JsonObject> GetAsync(string path) => (await (await _h.Admin.GetAsync(path, Ct)).Content.ReadFromJsonAsync<JsonObject>(Ct))!;

    [Fact]
    public async Task The_card_offers_the_grant_fields_only_where_a_grant_is_allowed()
    {
        var (_, card) = await CreateAndAwaitCardAsync(Refund(1));
        var minutes = CardElement(card, "grant_minutes")!;
        Assert.Equal("Input.Number", (string?)minutes["type"]);
        Assert.Equal(45, (int)minutes["max"]!);
        Assert.Equal("Input.Number", (string?)CardElement(card, "grant_max_uses")!["type"]);
        Assert.Equal("action_and_inputs", (string?)CardElement(card, "grant_match")!["value"]);
        var parsed = await TeamsCardTests.ParseWithLibraryAsync(card.ToJsonString());
        Assert.Empty(parsed["errors"]!.AsArray());

        var (_, critical) = await CreateAndAwaitCardAsync(Refund(2, priority: "critical"));
        Assert.Null(CardElement(critical, "grant_minutes"));
        Assert.NotNull(CardElement(critical, "notes"));
    }

    [Fact]
    public async Task Approve_with_a_grant_gives_it_and_the_next_matching_card_says_approved_by_grant()
    {
        var (id, _) = await CreateAndAwaitCardAsync(Refund(1));
        var answer = await ApproveAsync(id, "30", maxUses: "3", match: "action");
        Assert.Contains("gave a standing grant", (string?)CardElement(answer, "notice")!["text"], StringComparison.Ordinal);
        Assert.Contains("Standing grant given by alice@example.com", Plain((string)CardElement(answer, "grant")!["text"]!), StringComparison.Ordinal);
        var grant = Assert.Single((await GetAsync("/api/v1/grants"))["items"]!.AsArray())!;
        Assert.Equal(id, (string?)grant["source_approval_id"]);
        Assert.Equal(3, (int)grant["max_uses"]!);
        Assert.Equal("action", (string?)grant["match"]);

        var (next, card) = await CreateAndAwaitCardAsync(Refund(2));
        Assert.Equal("approved", (string?)(await GetAsync($"/api/v1/approvals/{next}"))["status"]);
        Assert.Contains("Approved by grant given by alice@example.com", Plain((string)CardElement(card, "outcome")!["text"]!), StringComparison.Ordinal);
        Assert.Null(card["actions"]);
    }

    [Theory]
    [InlineData("500", null, "between 1 and 45 minutes")]
    [InlineData("1.5", null, "whole number")]
    [InlineData("30", "0", "at least 1")]
    [InlineData(null, "2", "Give the number of minutes")]
    public async Task Bad_grant_input_is_refused_on_the_card_and_changes_nothing(string? minutes, string? maxUses, string reason)
    {
        var (id, _) = await CreateAndAwaitCardAsync(Refund(1));
        var answer = await ApproveAsync(id, minutes, maxUses);
        Assert.Contains(reason, Plain((string)CardElement(answer, "notice")!["text"]!), StringComparison.Ordinal);
        Assert.Equal("Attention", (string?)CardElement(answer, "notice")!["color"]);
        Assert.NotNull(answer["actions"]);
        Assert.Equal("pending", (string?)(await GetAsync($"/api/v1/approvals/{id}"))["status"]);
        Assert.Empty((await GetAsync("/api/v1/grants?state=all"))["items"]!.AsArray());
    }

    [Fact]
    public async Task A_revoked_grant_redraws_the_card_of_the_approval_that_gave_it()
    {
        var (id, _) = await CreateAndAwaitCardAsync(Refund(1));
        await ApproveAsync(id, "20");
        var grantId = (string)(await GetAsync("/api/v1/grants"))["items"]![0]!["id"]!;
        var revoke = await _h.Admin.PostAsync($"/api/v1/grants/{grantId}/revoke", null, Ct);
        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        var update = await _h.Bot.WaitForAsync(b => b.CallsTo("update").LastOrDefault(c => Plain(c.Body!.ToJsonString()).Contains("Revoked by", StringComparison.Ordinal)),
            what: "the card redrawn after the revocation");
        var card = update.Body!["attachments"]![0]!["content"]!.AsObject();
        Assert.Contains("Standing grant given by alice@example.com", Plain((string)CardElement(card, "grant")!["text"]!), StringComparison.Ordinal);
    }
}
