using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

using static AgentSentinel.Testing.ChatText;

namespace AgentSentinel.Bot.Tests;

/// <summary>The Teams bot end to end: the real host with its job server, activities shaped as Teams sends them with
/// tokens signed by a local key published through local OpenID metadata, and a fake Bot Connector and token endpoint
/// that record what the bot sent.</summary>
public sealed class TeamsFlowTests : IAsyncLifetime
{
    private const string Channel = "19:general0123@thread.tacv2";
    private const string AliceAad = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f";
    private ChatHarness _h = null!;
    private static CancellationToken Ct => ChatHarness.Ct;

    public async ValueTask InitializeAsync()
    {
        _h = await ChatHarness.StartAsync(new ChatSetup(StorageProvider.Sqlite, "teams")
        {
            Teams = true,
            TeamsMembers =
            {
                ["29:alice"] = ("Alice", AliceAad, "alice@example.com"),
                ["29:bob"] = ("Bob", "aad-bob-0002", "bob@example.com"),
                ["29:dan"] = ("Dan", "aad-dan-0004", "dan@example.com"),
                ["29:eve"] = ("Eve", "aad-eve-0003", "eve@example.com"),
            },
            Settings =
            {
                ["AgentSentinel:Routing:Routes:0:Name"] = "payments",
                ["AgentSentinel:Routing:Routes:0:Teams:Channel"] = Channel,
                ["AgentSentinel:Routing:Routes:0:Approvers:0"] = AliceAad,
                ["AgentSentinel:Routing:Routes:0:Approvers:1"] = "bob@example.com",
            },
        });
        // Teams members decide as the approver identities their emails match; Eve has no key.
        foreach (var person in new[] { "alice", "bob", "dan" })
        {
            await _h.ApproverAsync(person, $"{person}@example.com");
        }
        await _h.InstallBotAsync(Channel, "29:alice", AliceAad);
    }

    public async ValueTask DisposeAsync() => await _h.DisposeAsync();

    private FakeBotConnector Bot => _h.Bot;

    private Task<HttpResponseMessage> SendActivityAsync(JsonObject activity, string? token = null) => _h.SendActivityAsync(activity, token);

    private async Task<(string Id, FakeBotConnector.Call Post)> CreateAndAwaitCardAsync(object body)
    {
        var id = await _h.CreateAsync(body);
        return (id, await _h.TeamsCardAsync(id));
    }

    private Task<JsonObject> PollAsync(string id) => _h.PollAsync(id);

    private static string ConversationOf(string channel, string activityId) => $"{channel};messageid={activityId}";

    [Fact]
    public async Task A_new_request_is_posted_as_an_adaptive_card_in_the_routes_channel()
    {
        var (id, post) = await CreateAndAwaitCardAsync(new { action_name = "transfer_funds", action_description = "Pay [me](https://evil.example) **now** <at>Everyone</at>", priority = "critical", risk_level = "high", estimated_cost = 99.5, action_inputs = new { to = "ACC-2" } });
        Assert.Equal(Channel, (string?)post.Body!["channelData"]!["channel"]!["id"]);
        Assert.Equal(FakeBotConnector.TenantId, (string?)post.Body["channelData"]!["tenant"]!["id"]);
        Assert.True((bool)post.Body["isGroup"]!);
        var card = Card(post.Body["activity"]!.AsObject());
        Assert.Equal("AdaptiveCard", (string?)card["type"]);
        Assert.Equal("1.5", (string?)card["version"]);
        Assert.InRange(card["actions"]!.AsArray().Count, 1, 6);
        // The three decisions, then Reassign… (a card under the card, whose own action is sent).
        Assert.Equal("Action.ShowCard", (string?)card["actions"]![3]!["type"]);
        Assert.Equal("reassign", (string?)card["actions"]![3]!["card"]!["actions"]![0]!["verb"]);
        var actions = card["actions"]!.AsArray().Take(3).ToList();
        Assert.Equal(["approve", "reject", "request_info"], actions.Select(a => (string?)a!["verb"]));
        Assert.All(actions, a => Assert.Equal("Action.Execute", (string?)a!["type"]));
        Assert.All(actions, a => Assert.Equal(id, (string?)a!["data"]!["approval_id"]));
        Assert.Equal("Input.Text", (string?)CardElement(card, "notes")!["type"]);
        Assert.Contains(AliceAad, card["refresh"]!["userIds"]!.AsArray().Select(u => (string?)u));
        var description = (string)CardElement(card, "description")!["text"]!;
        Assert.DoesNotContain("[me](", description, StringComparison.Ordinal);
        Assert.DoesNotContain("https://evil", description, StringComparison.Ordinal);
        Assert.DoesNotContain("**now**", description, StringComparison.Ordinal);
        Assert.DoesNotContain("<at>", description, StringComparison.Ordinal);
        // The agent id is a claim; the key that made the request is shown beside it (here the key's name is its agent id).
        var agent = CardElement(card, "facts")!["facts"]!.AsArray().Single(f => (string?)f!["title"] == "Agent")!;
        Assert.Equal("agent · key agent", Plain((string)agent["value"]!));
        Assert.DoesNotContain("null", post.Body.ToJsonString(), StringComparison.Ordinal);
        Assert.StartsWith("Bearer connector-token-", post.Authorization, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Each_verb_decides_through_the_card_and_answers_with_the_updated_card()
    {
        var (id, post) = await CreateAndAwaitCardAsync(new { action_name = "transfer_funds" });
        var conversation = ConversationOf(Channel, "1");
        var response = await SendActivityAsync(Bot.Invoke(Channel, "29:alice", "approve", id, "Fine by me", conversation));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var invoke = await response.Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.Equal(200, (int)invoke!["statusCode"]!);
        Assert.Equal("application/vnd.microsoft.card.adaptive", (string?)invoke["type"]);
        var card = invoke["value"]!.AsObject();
        Assert.Null(card["actions"]);
        Assert.Contains("Approved by alice@example.com", Plain((string)CardElement(card, "outcome")!["text"]!), StringComparison.Ordinal);
        var poll = await PollAsync(id);
        Assert.Equal("approved", (string?)poll["status"]);
        Assert.Equal("alice@example.com", (string?)poll["decided_by_email"]);
        Assert.Equal("Fine by me", (string?)poll["decision_notes"]);
        Assert.Equal("teams", (string?)poll["decided_via"]);

        // The posted card is updated in place for everyone else.
        var update = await Bot.WaitForAsync(b => b.CallsTo("update").FirstOrDefault(), what: "the card update");
        Assert.Contains("Approved", Card(update.Body).ToJsonString(), StringComparison.Ordinal);
        Assert.Contains((string)(await Bot.WaitForAsync(b => b.CallsTo("create").FirstOrDefault()))!.Path, "/v3/conversations", StringComparison.Ordinal);
        _ = post;

        var (rejected, _) = await CreateAndAwaitCardAsync(new { action_name = "transfer_funds" });
        var reject = await (await SendActivityAsync(Bot.Invoke(Channel, "29:bob", "reject", rejected, "Too risky", conversation))).Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.Contains("Rejected by bob@example.com", Plain((string)CardElement(reject!["value"]!.AsObject(), "outcome")!["text"]!), StringComparison.Ordinal);
        Assert.Equal("Too risky", (string?)(await PollAsync(rejected))["decision_notes"]);

        var (asked, _) = await CreateAndAwaitCardAsync(new { action_name = "transfer_funds" });
        await SendActivityAsync(Bot.Invoke(Channel, "29:alice", "request_info", asked, "Which account?", conversation));
        Assert.Equal("info_requested", (string?)(await PollAsync(asked))["status"]);
        var reply = await Bot.WaitForAsync(b => b.CallsTo("reply").FirstOrDefault(), what: "the question in the thread");
        Assert.Contains("Which account?", (string?)reply.Body!["text"], StringComparison.Ordinal);
        await _h.Agent.PostAsJsonAsync($"/api/v1/approvals/{asked}/respond", new { response = "Savings" }, Ct);
        var answer = await Bot.WaitForAsync(b => b.CallsTo("reply").Skip(1).FirstOrDefault(), what: "the answer in the thread");
        Assert.Contains("Savings", (string?)answer.Body!["text"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reject_and_request_info_without_text_say_what_is_missing_and_change_nothing()
    {
        var (id, _) = await CreateAndAwaitCardAsync(new { action_name = "transfer_funds" });
        foreach (var verb in new[] { "reject", "request_info" })
        {
            var invoke = await (await SendActivityAsync(Bot.Invoke(Channel, "29:alice", verb, id, "  ", ConversationOf(Channel, "1")))).Content.ReadFromJsonAsync<JsonObject>(Ct);
            var notice = (string)CardElement(invoke!["value"]!.AsObject(), "notice")!["text"]!;
            Assert.Contains(verb == "reject" ? "reason is required" : "question", notice, StringComparison.Ordinal);
            Assert.NotNull(invoke["value"]!["actions"]);
        }
        Assert.Equal("pending", (string?)(await PollAsync(id))["status"]);
    }

    [Fact]
    public async Task An_approver_who_is_not_on_the_requests_list_is_told_so_and_nothing_changes()
    {
        var (id, _) = await CreateAndAwaitCardAsync(new { action_name = "transfer_funds" });
        var invoke = await (await SendActivityAsync(Bot.Invoke(Channel, "29:dan", "approve", id, null, ConversationOf(Channel, "1")))).Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.Contains("not one of the approvers", (string)CardElement(invoke!["value"]!.AsObject(), "notice")!["text"]!, StringComparison.Ordinal);
        Assert.Null(invoke["value"]!["actions"]);
        Assert.Equal("pending", (string?)(await PollAsync(id))["status"]);
        // A refresh shows the actions to approvers only.
        var forAlice = await (await SendActivityAsync(Bot.Invoke(Channel, "29:alice", "refresh", id, null, ConversationOf(Channel, "1")))).Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.NotNull(forAlice!["value"]!["actions"]);
        var forEve = await (await SendActivityAsync(Bot.Invoke(Channel, "29:eve", "refresh", id, null, ConversationOf(Channel, "1")))).Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.Null(forEve!["value"]!["actions"]);
    }

    [Fact]
    public async Task Decisions_elsewhere_and_expiry_update_the_card()
    {
        var (id, _) = await CreateAndAwaitCardAsync(new { action_name = "transfer_funds" });
        using var approver = _h.App.Client(await _h.App.CreateKeyAsync("api approver", [Scopes.Approver], "bob@example.com"));
        Assert.Equal(HttpStatusCode.OK, (await approver.PostAsJsonAsync($"/api/v1/approvals/{id}/reject", new { reason = "From the API" }, Ct)).StatusCode);
        var update = await Bot.WaitForAsync(b => b.CallsTo("update").FirstOrDefault(c => Card(c.Body).ToJsonString().Contains("From the API", StringComparison.Ordinal)), what: "update after an API decision");
        Assert.Null(Card(update.Body)["actions"]);

        var (expiring, _) = await CreateAndAwaitCardAsync(new { action_name = "transfer_funds", timeout_seconds = 1 });
        var expired = await Bot.WaitForAsync(b => b.CallsTo("update").FirstOrDefault(c => Card(c.Body).ToJsonString().Contains("Expired", StringComparison.Ordinal)), what: "the expiry update");
        Assert.Contains(expiring, Card(expired.Body).ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rate_limits_and_server_errors_are_retried_without_duplicates_and_one_token_serves_many_calls()
    {
        Bot.FailNext("create", HttpStatusCode.TooManyRequests, HttpStatusCode.InternalServerError);
        var response = await _h.Agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds" }, Ct);
        var id = (string)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!;
        // A 429, a 500, then the post that goes through.
        await Bot.WaitForAsync(b => b.CallsTo("create").Count(c => c.Body!.ToJsonString().Contains(id, StringComparison.Ordinal)) >= 3 ? "done" : null,
            TimeSpan.FromSeconds(20), "the retried post");
        for (var i = 0; i < 4; i++)
        {
            await CreateAndAwaitCardAsync(new { action_name = "transfer_funds" });
        }
        await Task.Delay(1500, Ct);
        Assert.Equal(3, Bot.CallsTo("create").Count(c => c.Body!.ToJsonString().Contains(id, StringComparison.Ordinal)));
        Assert.Equal(1, Bot.TokensIssued);
    }

    [Fact]
    public async Task Missing_forged_expired_and_misaddressed_tokens_get_exactly_401()
    {
        var (id, _) = await CreateAndAwaitCardAsync(new { action_name = "transfer_funds" });
        var activity = Bot.Invoke(Channel, "29:alice", "approve", id, null, ConversationOf(Channel, "1"));
        var none = new HttpRequestMessage(HttpMethod.Post, "/api/messages") { Content = JsonContent.Create(activity) };
        var responses = new List<HttpResponseMessage>
        {
            await _h.Anonymous.SendAsync(none, Ct),
            await SendActivityAsync(activity, Bot.SignToken(wrongKey: true)),
            await SendActivityAsync(activity, Bot.SignToken(audience: "someone-else")),
            await SendActivityAsync(activity, Bot.SignToken(expires: DateTime.UtcNow.AddMinutes(-10))),
            await SendActivityAsync(activity, Bot.SignToken(issuer: "https://evil.example")),
            await SendActivityAsync(activity, Bot.SignToken(serviceUrl: "https://smba.trafficmanager.net/other/")),
            await SendActivityAsync(activity, "not.a.jwt"),
        };
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode));
        Assert.Equal("pending", (string?)(await PollAsync(id))["status"]);
    }
}

/// <summary>Without an app id the Teams endpoint is off, never unchecked.</summary>
public sealed class TeamsDisabledTests
{
    [Fact]
    public async Task Without_an_app_id_the_messages_endpoint_answers_404()
    {
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "noteams"));
        using var client = app.Client(null);
        var response = await client.PostAsJsonAsync("/api/messages", new { type = "message" }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
