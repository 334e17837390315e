using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Bot.Tests;

public sealed class SqliteStepUpChatTests() : StepUpChatTests(StorageProvider.Sqlite);

public sealed class PostgresStepUpChatTests() : StepUpChatTests(StorageProvider.Postgres);

/// <summary>A route with <c>RequireRecentSignInMinutes</c> (step-up): a chat click or an API key cannot decide its
/// requests, whoever clicks; the refusal links to the request in the console. Other routes are unaffected.</summary>
public abstract class StepUpChatTests(StorageProvider provider) : IAsyncLifetime
{
    private const string Channel = "C0STEPUP";
    private const string PublicBaseUrl = "https://approvals.example.com";
    private ChatHarness _h = null!;
    private HttpClient _alice = null!;
    private static CancellationToken Ct => ChatHarness.Ct;

    public async ValueTask InitializeAsync()
    {
        _h = await ChatHarness.StartAsync(new ChatSetup(provider, "stepup")
        {
            Slack = true,
            SlackUsers = { ["U0ALICE"] = ("Alice", "alice@example.com") },
            Settings =
            {
                ["AgentSentinel:PublicBaseUrl"] = PublicBaseUrl,
                ["AgentSentinel:Routing:Routes:0:Name"] = "payments-critical",
                ["AgentSentinel:Routing:Routes:0:Match:Priorities:0"] = "critical",
                ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = Channel,
                ["AgentSentinel:Routing:Routes:0:RequireRecentSignInMinutes"] = "15",
                ["AgentSentinel:Routing:Routes:1:Name"] = "default",
                ["AgentSentinel:Routing:Routes:1:Slack:Channel"] = Channel,
            },
        });
        _alice = await _h.ApproverClientAsync("alice", "alice@example.com");
    }

    public async ValueTask DisposeAsync() => await _h.DisposeAsync();

    private Task<string> CreateAsync(string priority) => _h.CreateAsync(new { action_name = "transfer_funds", priority });

    private Task<string> StatusAsync(string id) => _h.StatusAsync(id);

    [Fact]
    public async Task A_slack_click_on_a_step_up_route_is_refused_with_a_link_to_decide_in_the_console()
    {
        var id = await CreateAsync("critical");

        var click = await _h.SlackClickAsync("U0ALICE", "approve", id, Channel, "1764000000.000100");
        Assert.Equal(HttpStatusCode.OK, click.StatusCode);
        var reply = await _h.EphemeralForAsync("U0ALICE");
        var text = (string)reply.Body["text"]!;
        Assert.Contains("needs a recent sign-in through your company's identity provider (within 15 minutes)", text, StringComparison.Ordinal);
        Assert.Contains($"{PublicBaseUrl}/approvals/{id}", text, StringComparison.Ordinal);
        Assert.Empty(_h.Slack.CallsTo("views.open"));

        // A modal submission that did not come from an opened modal changes nothing either.
        var submit = await _h.SlackSubmitAsync("U0ALICE", "decision_approve", id, "ok");
        Assert.Equal(HttpStatusCode.OK, submit.StatusCode);
        var error = (string?)JsonNode.Parse(await submit.Content.ReadAsStringAsync(Ct))!["errors"]!["decision_text"];
        Assert.Contains("recent sign-in", error, StringComparison.Ordinal);
        Assert.Equal("pending", await StatusAsync(id));

        // Alice still sees the request in /approvals: she may decide it, in the console.
        var list = await (await _h.SlackCommandAsync("U0ALICE", Channel, userName: "x")).Content.ReadAsStringAsync(Ct);
        Assert.Contains(id, list, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_api_key_cannot_decide_a_step_up_request_but_decides_others()
    {
        var stepUp = await CreateAsync("critical");
        var ordinary = await CreateAsync("medium");

        var refused = await _alice.PostAsJsonAsync($"/api/v1/approvals/{stepUp}/approve", new { notes = "fine" }, Ct);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        var problem = (await refused.Content.ReadFromJsonAsync<JsonObject>(Ct))!;
        Assert.Equal("Recent sign-in required", (string?)problem["title"]);
        Assert.Equal(15, (int)problem["recent_sign_in_minutes"]!);
        Assert.Contains($"{PublicBaseUrl}/approvals/{stepUp}", (string?)problem["detail"], StringComparison.Ordinal);
        Assert.Null(problem["sign_in_url"]);
        Assert.Equal("pending", await StatusAsync(stepUp));

        var approved = await _alice.PostAsJsonAsync($"/api/v1/approvals/{ordinary}/approve", new { notes = "fine" }, Ct);
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
    }
}
