using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Bot.Tests;

public sealed class SqliteSlackIdentityTests() : SlackIdentityTests(StorageProvider.Sqlite);

public sealed class PostgresSlackIdentityTests() : SlackIdentityTests(StorageProvider.Postgres);

/// <summary>Who may decide in Slack: only a workspace member whose email Slack has confirmed and that matches an active
/// approver identity. The shipped defaults (no routes, no approver lists) are used, so every request has an empty list.</summary>
public abstract class SlackIdentityTests(StorageProvider provider) : IAsyncLifetime
{
    private const string Channel = "C0ANY";
    private ChatHarness _h = null!;
    private string _aliceKeyId = null!;
    private static CancellationToken Ct => ChatHarness.Ct;

    public async ValueTask InitializeAsync()
    {
        _h = await ChatHarness.StartAsync(new ChatSetup(provider, "slackid")
        {
            Slack = true,
            SlackUsers =
            {
                ["U0ALICE"] = ("Alice", "alice@example.com"),
                ["U0MALLORY"] = ("Mallory", "mallory@example.com"),
                ["U0UNCONF"] = new SlackTestUser("Unconfirmed", "pat@example.com") { IsEmailConfirmed = false },
                ["U0GONE"] = new SlackTestUser("Gone", "gone@example.com") { Deleted = true },
                ["U0GUEST"] = new SlackTestUser("Guest", "guest@example.com") { IsRestricted = true },
                ["U0CONNECT"] = new SlackTestUser("Connect", "connect@example.com") { TeamId = "T0OTHER", IsStranger = true },
                ["U0NOMAIL"] = new SlackTestUser("No mail", null),
            },
        });
        _aliceKeyId = await _h.ApproverAsync("alice", "Alice@Example.com");
        // Every other Slack user's email has an approver key too: what refuses them is what Slack says about them.
        foreach (var email in new[] { "pat@example.com", "gone@example.com", "guest@example.com", "connect@example.com" })
        {
            await _h.ApproverAsync(email, email);
        }
    }

    public async ValueTask DisposeAsync() => await _h.DisposeAsync();

    private FakeSlackServer Slack => _h.Slack;

    private Task<string> CreateAsync(object? inputs = null) => _h.CreateAsync(new { action_name = "transfer_funds", action_inputs = inputs });

    private Task<HttpResponseMessage> SendAsync(string path, string form) => _h.SlackFormAsync(path, form);

    private Task<HttpResponseMessage> ClickAsync(string user, string id) => _h.SlackClickAsync(user, "approve", id, Channel, "1764000000.000100");

    private async Task<string?> SubmitErrorAsync(string user, string id)
    {
        var response = await _h.SlackSubmitAsync(user, "decision_approve", id, "ok");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return text.Length == 0 ? null : (string?)JsonNode.Parse(text)!["errors"]!["decision_text"];
    }

    private async Task<JsonObject> CommandAsync(string user) =>
        (await (await _h.SlackCommandAsync(user, Channel, userName: "x")).Content.ReadFromJsonAsync<JsonObject>(Ct))!;

    private Task<string> StatusAsync(string id) => _h.StatusAsync(id);

    private Task<FakeSlackServer.Call> EphemeralForAsync(string user) => _h.EphemeralForAsync(user);

    [Fact]
    public async Task A_slack_user_without_an_approver_key_decides_nothing_and_approvals_lists_nothing_for_them()
    {
        var id = await CreateAsync();

        Assert.Equal(HttpStatusCode.OK, (await ClickAsync("U0MALLORY", id)).StatusCode);
        var reply = await EphemeralForAsync("U0MALLORY");
        Assert.Contains("not an approver known to this server", (string?)reply.Body["text"], StringComparison.Ordinal);
        Assert.Contains("approver key with your Slack email", (string?)reply.Body["text"], StringComparison.Ordinal);
        Assert.Empty(Slack.CallsTo("views.open"));

        var error = await SubmitErrorAsync("U0MALLORY", id);
        Assert.Contains("not an approver known to this server", error, StringComparison.Ordinal);
        Assert.Equal("pending", await StatusAsync(id));

        var list = await CommandAsync("U0MALLORY");
        Assert.Equal("ephemeral", (string?)list["response_type"]);
        Assert.DoesNotContain(id, list.ToJsonString(), StringComparison.Ordinal);
        Assert.Contains("not an approver known to this server", (string?)list["text"], StringComparison.Ordinal);

        // The person with a key sees the request and decides it.
        Assert.Contains(id, (await CommandAsync("U0ALICE")).ToJsonString(), StringComparison.Ordinal);
        Assert.Null(await SubmitErrorAsync("U0ALICE", id));
        Assert.Equal("approved", await StatusAsync(id));
    }

    [Theory]
    [InlineData("U0UNCONF", "has not confirmed an email address")]
    [InlineData("U0NOMAIL", "has not confirmed an email address")]
    [InlineData("U0GONE", "does not show you as an active member")]
    [InlineData("U0GUEST", "Guest accounts cannot decide")]
    [InlineData("U0CONNECT", "another workspace or organisation")]
    [InlineData("U0NOBODY", "does not show you as an active member")]
    public async Task A_slack_user_slack_does_not_vouch_for_is_refused_with_the_reason(string user, string reason)
    {
        var id = await CreateAsync();
        await ClickAsync(user, id);
        var reply = await EphemeralForAsync(user);
        Assert.Contains(reason, (string?)reply.Body["text"], StringComparison.Ordinal);
        var error = await SubmitErrorAsync(user, id);
        Assert.Contains("not an approver known to this server", error, StringComparison.Ordinal);
        Assert.Contains(reason, error, StringComparison.Ordinal);
        Assert.DoesNotContain(id, (await CommandAsync(user)).ToJsonString(), StringComparison.Ordinal);
        Assert.Empty(Slack.CallsTo("views.open"));
        Assert.Equal("pending", await StatusAsync(id));
    }

    [Fact]
    public async Task A_payload_from_another_workspace_recognises_nobody()
    {
        var id = await CreateAsync();
        var submission = SlackRequests.ViewSubmission("U0ALICE", "decision_approve", id, null);
        submission["team"]!["id"] = "T0OTHER";
        var response = await SendAsync("/slack/interactions", SlackRequests.PayloadForm(submission));
        Assert.Contains("another workspace", (string?)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["errors"]!["decision_text"], StringComparison.Ordinal);
        Assert.Equal("pending", await StatusAsync(id));
    }

    [Fact]
    public async Task A_revoked_approver_is_refused_at_the_next_click()
    {
        var first = await CreateAsync();
        var second = await CreateAsync();
        await ClickAsync("U0ALICE", first);
        await Slack.WaitForAsync(s => s.CallsTo("views.open").FirstOrDefault(), what: "the modal for Alice");

        await _h.App.RevokeKeyAsync(_aliceKeyId);

        // The modal she opened before the revocation no longer decides, and no new click does.
        Assert.Contains("not an approver known to this server", await SubmitErrorAsync("U0ALICE", first), StringComparison.Ordinal);
        await ClickAsync("U0ALICE", second);
        Assert.Contains("not an approver known to this server", (string?)(await EphemeralForAsync("U0ALICE")).Body["text"], StringComparison.Ordinal);
        Assert.Single(Slack.CallsTo("views.open"));
        Assert.DoesNotContain(second, (await CommandAsync("U0ALICE")).ToJsonString(), StringComparison.Ordinal);
        Assert.Equal("pending", await StatusAsync(first));
        Assert.Equal("pending", await StatusAsync(second));
    }

    [Fact]
    public async Task A_slack_decision_records_the_key_of_the_matched_approver()
    {
        var id = await CreateAsync();
        Assert.Null(await SubmitErrorAsync("U0ALICE", id));
        var detail = await _h.DetailAsync(id);
        Assert.Equal("approved", (string?)detail["status"]);
        Assert.Equal(_aliceKeyId, (string?)detail["decided_by_key_id"]);
        Assert.Equal("Alice@Example.com", (string?)detail["decided_by_email"]);
        Assert.Equal("U0ALICE", (string?)detail["decided_by_user_id"]);
        var approved = detail["events"]!.AsArray().Single(e => (string?)e!["kind"] == "approved")!;
        Assert.Equal(_aliceKeyId, (string?)approved["actor_key_id"]);
        Assert.Equal("slack", (string?)approved["surface"]);
    }
}

public sealed class SqliteTeamsIdentityTests() : TeamsIdentityTests(StorageProvider.Sqlite);

public sealed class PostgresTeamsIdentityTests() : TeamsIdentityTests(StorageProvider.Postgres);

/// <summary>Who may decide in Teams: only a member the connector's lookup confirms, in an allowed tenant, whose email
/// matches an active approver identity, and only through activities from Teams itself in an allowed tenant.</summary>
public abstract class TeamsIdentityTests(StorageProvider provider) : IAsyncLifetime
{
    private const string Channel = "19:identity0123@thread.tacv2";
    private const string AliceAad = "aad-alice-0001";
    private ChatHarness _h = null!;
    private string _aliceKeyId = null!;
    private static readonly string Conversation = $"{Channel};messageid=1";

    public async ValueTask InitializeAsync()
    {
        _h = await ChatHarness.StartAsync(new ChatSetup(provider, "teamsid")
        {
            Teams = true,
            RunJobServer = false,
            TeamsMembers =
            {
                ["29:alice"] = ("Alice", AliceAad, "alice@example.com"),
                ["29:mallory"] = ("Mallory", "aad-mallory-0002", "mallory@example.com"),
                ["29:foreign"] = new TeamsTestMember("Foreign", "aad-foreign-0003", "foreign@example.com") { TenantId = "tenant-other" },
                ["29:guest"] = new TeamsTestMember("Guest", "aad-guest-0004", "guest@example.com") { UserRole = "guest" },
            },
            Settings =
            {
                ["AgentSentinel:Routing:Routes:0:Name"] = "payments",
                ["AgentSentinel:Routing:Routes:0:Match:Actions:0"] = "transfer_*",
                ["AgentSentinel:Routing:Routes:0:Approvers:0"] = AliceAad,
            },
        });
        _aliceKeyId = await _h.ApproverAsync("alice", "alice@example.com");
        foreach (var email in new[] { "foreign@example.com", "guest@example.com" })
        {
            await _h.ApproverAsync(email, email);
        }
    }

    public async ValueTask DisposeAsync() => await _h.DisposeAsync();

    /// <summary>An open request; <c>transfer_*</c> lists Alice (by AAD id), anything else lists nobody.</summary>
    private Task<string> CreateAsync(string action = "transfer_funds") => _h.CreateAsync(new
    {
        action_name = action,
        action_inputs = new { account = "ACCSECRET42" },
        context = new { note = "contextsecret" },
    });

    private Task<JsonObject> InvokeAsync(JsonObject activity) => _h.CardAnswerAsync(activity);

    private JsonObject Click(string user, string id, string verb = "approve") => _h.Bot.Invoke(Channel, user, verb, id, "notes", Conversation);

    private static string Notice(JsonObject card) =>
        ((string)card["body"]!.AsArray().First(e => (string?)e!["id"] == "notice")!["text"]!).Replace("\\", "", StringComparison.Ordinal);

    private Task<string> StatusAsync(string id) => _h.StatusAsync(id);

    [Fact]
    public async Task A_teams_member_without_an_approver_key_decides_nothing()
    {
        var id = await CreateAsync("read_report");
        var card = await InvokeAsync(Click("29:mallory", id));
        Assert.Contains("not an approver known to this server", Notice(card), StringComparison.Ordinal);
        Assert.Contains("approver key with your Teams email", Notice(card), StringComparison.Ordinal);
        Assert.Null(card["actions"]);
        Assert.Equal("pending", await StatusAsync(id));
    }

    [Fact]
    public async Task A_revoked_approver_is_refused_at_the_next_click()
    {
        var id = await CreateAsync();
        var refresh = await InvokeAsync(Click("29:alice", id, "refresh"));
        Assert.NotNull(refresh["actions"]);

        await _h.App.RevokeKeyAsync(_aliceKeyId);

        var card = await InvokeAsync(Click("29:alice", id));
        Assert.Contains("not an approver known to this server", Notice(card), StringComparison.Ordinal);
        Assert.Equal("pending", await StatusAsync(id));
    }

    [Theory]
    [InlineData(HttpStatusCode.NotFound, "does not show you as an active member")]
    [InlineData(HttpStatusCode.InternalServerError, "did not tell this server who you are")]
    public async Task A_failed_member_lookup_refuses_the_decision(HttpStatusCode lookup, string reason)
    {
        // The activity body names Alice's AAD id, which is on the request's list: only the lookup may say who clicked.
        var id = await CreateAsync();
        _h.Bot.FailNext("member", lookup);
        var card = await InvokeAsync(Click("29:alice", id));
        Assert.Contains(reason, Notice(card), StringComparison.Ordinal);
        Assert.Null(card["actions"]);
        Assert.Equal("pending", await StatusAsync(id));
    }

    [Fact]
    public async Task A_member_of_another_tenant_or_a_guest_is_refused()
    {
        var id = await CreateAsync("read_report");
        Assert.Contains("another workspace or organisation", Notice(await InvokeAsync(Click("29:foreign", id))), StringComparison.Ordinal);
        Assert.Contains("Guest accounts cannot decide", Notice(await InvokeAsync(Click("29:guest", id))), StringComparison.Ordinal);
        Assert.Equal("pending", await StatusAsync(id));
    }

    [Fact]
    public async Task An_activity_from_a_foreign_tenant_is_refused_and_not_recorded()
    {
        var id = await CreateAsync();
        var activity = Click("29:alice", id);
        activity["channelData"]!["tenant"]!["id"] = "tenant-other";
        activity["conversation"]!["tenantId"] = "tenant-other";
        var card = await InvokeAsync(activity);
        Assert.Contains("another workspace or organisation", Notice(card), StringComparison.Ordinal);
        Assert.DoesNotContain("ACCSECRET42", card.ToJsonString(), StringComparison.Ordinal);
        Assert.Empty(_h.Bot.CallsTo("member"));
        Assert.Equal("pending", await StatusAsync(id));
    }

    [Fact]
    public async Task An_activity_from_another_bot_framework_channel_is_refused()
    {
        var id = await CreateAsync();
        var activity = Click("29:alice", id);
        activity["channelId"] = "webchat";
        var card = await InvokeAsync(activity);
        Assert.Contains("only from this server's own workspace", Notice(card), StringComparison.Ordinal);
        Assert.DoesNotContain("ACCSECRET42", card.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal("pending", await StatusAsync(id));
    }

    [Fact]
    public async Task A_refresh_by_someone_who_may_not_decide_hides_the_inputs_and_context()
    {
        var id = await CreateAsync();
        foreach (var user in new[] { "29:mallory", "29:foreign", "29:nobody" })
        {
            var card = (await InvokeAsync(Click(user, id, "refresh"))).ToJsonString();
            Assert.DoesNotContain("ACCSECRET42", card, StringComparison.Ordinal);
            Assert.DoesNotContain("contextsecret", card, StringComparison.Ordinal);
            Assert.DoesNotContain("\"actions\"", card, StringComparison.Ordinal);
        }
        var forAlice = (await InvokeAsync(Click("29:alice", id, "refresh"))).ToJsonString();
        Assert.Contains("ACCSECRET42", forAlice, StringComparison.Ordinal);
        Assert.Contains("contextsecret", forAlice, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_teams_decision_records_the_key_of_the_matched_approver()
    {
        var id = await CreateAsync();
        await InvokeAsync(Click("29:alice", id));
        var detail = await _h.DetailAsync(id);
        Assert.Equal("approved", (string?)detail["status"]);
        Assert.Equal(_aliceKeyId, (string?)detail["decided_by_key_id"]);
        Assert.Equal(AliceAad, (string?)detail["decided_by_user_id"]);
        Assert.Equal(_aliceKeyId, (string?)detail["events"]!.AsArray().Single(e => (string?)e!["kind"] == "approved")!["actor_key_id"]);
    }
}

/// <summary>Without <c>AllowedTenants</c>, the configured <c>TenantId</c> is the one tenant accepted.</summary>
public sealed class TeamsTenantOptionsTests
{
    [Fact]
    public async Task The_configured_tenant_id_is_the_default_allowed_tenant()
    {
        await using var bot = await FakeBotConnector.StartAsync();
        var settings = new Dictionary<string, string?>(bot.HostSettings().Where(s => !s.Key.Contains("AllowedTenants", StringComparison.Ordinal)))
        {
            ["AgentSentinel:Teams:TenantId"] = FakeBotConnector.TenantId,
        };
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "onetenant"), settings: settings);
        using var client = app.Client(null);
        using var install = new HttpRequestMessage(HttpMethod.Post, "/api/messages") { Content = JsonContent.Create(bot.ConversationUpdate("19:x@thread.tacv2", "29:a", "aad-a")) };
        install.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bot.SignToken());
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(install, TestContext.Current.CancellationToken)).StatusCode);
    }
}
