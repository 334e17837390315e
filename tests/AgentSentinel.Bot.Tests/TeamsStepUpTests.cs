using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Bot.Tests;

/// <summary>Teams on a step-up route (<c>RequireRecentSignInMinutes</c>): a card action by an approver is refused with a
/// link to decide in the console, nothing changes, and the card still shows the approver the request's details.</summary>
public sealed class TeamsStepUpTests : IAsyncLifetime
{
    private const string Channel = "19:stepup0123@thread.tacv2";
    private const string PublicBaseUrl = "https://approvals.example.com";
    private FakeBotConnector _bot = null!;
    private AgentSentinelApp _app = null!;
    private HttpClient _agent = null!;
    private HttpClient _teams = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _bot = await FakeBotConnector.StartAsync();
        _bot.Members["29:alice"] = ("Alice", "aad-alice-0001", "alice@example.com");
        _app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "teamsstepup"), runJobServer: true, settings: new Dictionary<string, string?>(_bot.HostSettings())
        {
            ["AgentSentinel:PublicBaseUrl"] = PublicBaseUrl,
            ["AgentSentinel:Routing:Routes:0:Name"] = "payments",
            ["AgentSentinel:Routing:Routes:0:Teams:Channel"] = Channel,
            ["AgentSentinel:Routing:Routes:0:RequireRecentSignInMinutes"] = "10",
        });
        _ = _app.Server;
        _agent = _app.Client(await _app.CreateKeyAsync("agent", [Scopes.Agent]));
        await _app.CreateKeyAsync("alice", [Scopes.Approver], "alice@example.com");
        _teams = _app.Client(null);
        Assert.Equal(HttpStatusCode.OK, (await SendActivityAsync(_bot.ConversationUpdate(Channel, "29:alice", "aad-alice-0001"))).StatusCode);
    }

    public async ValueTask DisposeAsync()
    {
        _agent.Dispose();
        _teams.Dispose();
        await _app.DisposeAsync();
        await _bot.DisposeAsync();
    }

    private Task<HttpResponseMessage> SendActivityAsync(JsonObject activity)
    {
        var message = new HttpRequestMessage(HttpMethod.Post, "/api/messages") { Content = JsonContent.Create(activity) };
        message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _bot.SignToken());
        return _teams.SendAsync(message, Ct);
    }

    private static JsonNode? Element(JsonObject card, string id) => card["body"]!.AsArray().FirstOrDefault(e => (string?)e!["id"] == id)
        ?? card["body"]!.AsArray().SelectMany(e => e!["items"]?.AsArray() ?? []).FirstOrDefault(e => (string?)e!["id"] == id);

    /// <summary>Card text as a reader sees it: markdown escapes and word joiners removed.</summary>
    private static string Plain(string text) => text.Replace("\\", "", StringComparison.Ordinal).Replace("\u2060", "", StringComparison.Ordinal);

    [Fact]
    public async Task A_card_action_on_a_step_up_route_is_refused_with_a_link_to_the_console()
    {
        var response = await _agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", action_inputs = new { to = "ACC-9" } }, Ct);
        var id = (string)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!;
        await _bot.WaitForAsync(b => b.CallsTo("create").LastOrDefault(c => c.Body!.ToJsonString().Contains(id, StringComparison.Ordinal)), what: "the card");

        var invoke = await (await SendActivityAsync(_bot.Invoke(Channel, "29:alice", "approve", id, "Fine", $"{Channel};messageid=1"))).Content.ReadFromJsonAsync<JsonObject>(Ct);

        var card = invoke!["value"]!.AsObject();
        var notice = Plain((string)Element(card, "notice")!["text"]!);
        Assert.Contains("needs a recent sign-in through your company's identity provider (within 10 minutes)", notice, StringComparison.Ordinal);
        Assert.Contains($"{PublicBaseUrl}/approvals/{id}", notice, StringComparison.Ordinal);
        Assert.Null(card["actions"]);
        // The approver still sees what the request is about; only the decision moves to the console.
        Assert.Contains("ACC-9", Plain((string)Element(card, "inputs")!["text"]!), StringComparison.Ordinal);
        var poll = await (await _agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.Equal("pending", (string?)poll!["status"]);
    }
}
