using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Bot.Slack;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Microsoft.Extensions.DependencyInjection;
using static AgentSentinel.Testing.FakeSlackServer;

namespace AgentSentinel.Bot.Tests;

public sealed class SqliteDeliveryEngineTests() : DeliveryEngineTests(StorageProvider.Sqlite);

public sealed class PostgresDeliveryEngineTests() : DeliveryEngineTests(StorageProvider.Postgres);

/// <summary>The delivery engine against the fake Slack and Bot Connector: every class of answer on both platforms
/// (not delivered, ambiguous with and without a lookup, permanent, credentials, a deleted message), and the failed
/// deliveries that administrators list and retry.</summary>
public abstract class DeliveryEngineTests(StorageProvider provider)
{
    private const string SlackChannel = "C0ENGINE";
    private const string TeamsChannel = "19:engine0123@thread.tacv2";
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(45);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<AgentSentinelApp> StartAsync(FakeSlackServer? slack = null, FakeBotConnector? bot = null)
    {
        var settings = new Dictionary<string, string?>((slack?.HostSettings() ?? []).Concat(bot?.HostSettings() ?? []))
        {
            ["AgentSentinel:Routing:Routes:0:Name"] = "default",
        };
        if (slack is not null)
        {
            settings["AgentSentinel:Routing:Routes:0:Slack:Channel"] = SlackChannel;
        }
        if (bot is not null)
        {
            settings["AgentSentinel:Routing:Routes:0:Teams:Channel"] = TeamsChannel;
        }
        var app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "engine"), runJobServer: true, settings: settings);
        _ = app.Server;
        if (bot is not null)
        {
            using var anonymous = app.Client(null);
            using var install = new HttpRequestMessage(HttpMethod.Post, "/api/messages") { Content = JsonContent.Create(bot.ConversationUpdate(TeamsChannel, "29:alice", "aad-alice")) };
            install.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bot.SignToken());
            Assert.Equal(HttpStatusCode.OK, (await anonymous.SendAsync(install, Ct)).StatusCode);
        }
        return app;
    }

    private static async Task<string> CreateAsync(AgentSentinelApp app, HttpClient? agent = null)
    {
        using var own = agent is null ? app.Client(await app.CreateKeyAsync("agent", [Scopes.Agent])) : null;
        var response = await (agent ?? own!).PostAsJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", timeout_seconds = 600 }, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (string)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!;
    }

    private static string? ApprovalOf(JsonObject message) => (string?)message["metadata"]?["event_payload"]?["approval_id"];

    private static List<JsonObject> SlackRoots(FakeSlackServer slack, string id) =>
        [.. slack.Messages(SlackChannel).Where(m => ApprovalOf(m) == id && m["thread_ts"] is null)];

    private static List<FakeBotConnector.Call> TeamsCreates(FakeBotConnector bot, string id, bool accepted = true) =>
        [.. (accepted ? bot.Accepted : bot.Calls).Where(c => c.Operation == "create" && c.Body!.ToJsonString().Contains(id, StringComparison.Ordinal))];

    private static async Task<JsonObject> DeliveriesAsync(AgentSentinelApp app, string query = "state=failed")
    {
        using var admin = app.Client();
        var response = await admin.GetAsync($"/api/v1/admin/deliveries?{query}", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!;
    }

    private static async Task<JsonObject> AwaitFailedAsync(AgentSentinelApp app, string id) =>
        await LoopbackHost.WaitForAsync(async () => (await DeliveriesAsync(app))["items"]!.AsArray().FirstOrDefault(d => (string?)d!["approval_id"] == id)?.AsObject(),
            Long, () => $"a failed delivery of {id}");

    /// <summary>The request's delivery once it is recorded as posted (just after the platform answered).</summary>
    private static Task<JsonObject> PostedAsync(AgentSentinelApp app, string id) =>
        LoopbackHost.WaitForAsync(async () => (await DeliveriesAsync(app, "state=posted"))["items"]!.AsArray()
            .FirstOrDefault(d => (string?)d!["approval_id"] == id)?.AsObject(), Long, () => $"the posted delivery of {id}");

    private static async Task<JsonObject> ReadyAsync(AgentSentinelApp app)
    {
        using var anonymous = app.Client(null);
        return (await (await anonymous.GetAsync("/health/ready", Ct)).Content.ReadFromJsonAsync<JsonObject>(Ct))!;
    }

    // ---- not delivered ---------------------------------------------------------------------------------------------

    [Fact]
    public async Task A_429_in_a_channel_the_bot_is_not_in_ends_in_exactly_one_message_without_a_lookup()
    {
        await using var slack = await FakeSlackServer.StartAsync();
        slack.ChannelsWithoutBot[SlackChannel] = true; // reached through chat:write.public
        slack.FailNext("chat.postMessage", SlackFault.RateLimited);
        await using var app = await StartAsync(slack);

        var id = await CreateAsync(app);
        await slack.WaitForAsync(s => SlackRoots(s, id).Count > 0 ? id : null, Long, "the message after the 429");
        await Task.Delay(1500, Ct);

        Assert.Single(SlackRoots(slack, id));
        Assert.Equal(2, slack.CallsTo("chat.postMessage").Count);
        // A 429 means Slack did not store the message: there is nothing to look for.
        Assert.Empty(slack.CallsTo("conversations.history"));
    }

    [Fact]
    public async Task A_validation_error_is_retried_without_a_lookup()
    {
        await using var slack = await FakeSlackServer.StartAsync();
        slack.AnswerNext("chat.postMessage", "invalid_arguments");
        await using var app = await StartAsync(slack);

        var id = await CreateAsync(app);
        await slack.WaitForAsync(s => SlackRoots(s, id).Count > 0 ? id : null, Long, "the message after invalid_arguments");
        await Task.Delay(1000, Ct);

        Assert.Single(SlackRoots(slack, id));
        Assert.Empty(slack.CallsTo("conversations.history"));
    }

    // ---- ambiguous -------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("not_in_channel")]
    [InlineData("missing_scope")]
    [InlineData("ratelimited")]
    public async Task After_a_5xx_a_lookup_that_slack_refuses_does_not_hold_the_post_back(string refusal)
    {
        await using var slack = await FakeSlackServer.StartAsync();
        switch (refusal)
        {
            case "not_in_channel":
                slack.ChannelsWithoutBot[SlackChannel] = true;
                break;
            case "missing_scope":
                slack.HasHistoryScope = false;
                break;
            default:
                slack.HistoryCallsPerMinute = 0; // tier 3 used up
                break;
        }
        slack.FailNext("chat.postMessage", SlackFault.ServerError);
        await using var app = await StartAsync(slack);

        var id = await CreateAsync(app);
        await slack.WaitForAsync(s => SlackRoots(s, id).Count > 0 ? id : null, Long, "the message after the 5xx");
        await Task.Delay(1500, Ct);

        Assert.Single(SlackRoots(slack, id));
        // The lookup was tried once, refused, and the post went ahead.
        Assert.Single(slack.CallsTo("conversations.history"));
        Assert.Equal(2, slack.CallsTo("chat.postMessage").Count);
    }

    [Fact]
    public async Task After_a_lost_answer_the_lookup_finds_the_message_and_nothing_is_posted_again()
    {
        await using var slack = await FakeSlackServer.StartAsync();
        slack.FailNext("chat.postMessage", SlackFault.PostThenDrop);
        await using var app = await StartAsync(slack);

        var id = await CreateAsync(app);
        await slack.WaitForAsync(s => s.CallsTo("conversations.history").Count > 0 ? id : null, Long, "the lookup");
        await Task.Delay(1500, Ct);

        Assert.Single(SlackRoots(slack, id));
        Assert.Single(slack.CallsTo("chat.postMessage"));
        Assert.Equal((string?)SlackRoots(slack, id)[0]["ts"], (string?)(await PostedAsync(app, id))["message_id"]);
    }

    [Fact]
    public async Task Teams_has_no_lookup_so_an_ambiguous_answer_is_followed_by_another_post()
    {
        await using var bot = await FakeBotConnector.StartAsync();
        bot.FailNext("create", HttpStatusCode.BadGateway);
        await using var app = await StartAsync(bot: bot);

        var id = await CreateAsync(app);
        await bot.WaitForAsync(b => TeamsCreates(b, id).Count > 0 ? id : null, Long, "the card after the 502");

        Assert.Equal(2, TeamsCreates(bot, id, accepted: false).Count);
        Assert.Single(TeamsCreates(bot, id));
    }

    // ---- permanent -------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("channel_not_found")]
    [InlineData("is_archived")]
    [InlineData("msg_too_long")]
    [InlineData("invalid_blocks")]
    public async Task A_permanent_slack_refusal_is_recorded_as_failed_listed_for_admins_and_posted_when_retried(string error)
    {
        await using var slack = await FakeSlackServer.StartAsync();
        slack.AnswerNext("chat.postMessage", error);
        await using var app = await StartAsync(slack);

        var id = await CreateAsync(app);
        var failed = await AwaitFailedAsync(app, id);
        Assert.Equal("slack", (string?)failed["surface"]);
        Assert.Equal(SlackChannel, (string?)failed["channel"]);
        Assert.Equal("root", (string?)failed["delivery_key"]);
        Assert.Equal("failed", (string?)failed["state"]);
        Assert.Equal(error, (string?)failed["last_error"]);
        Assert.Equal("permanent", (string?)failed["error_class"]);
        Assert.Equal(1, (int)failed["attempts"]!);
        Assert.Equal("transfer_funds", (string?)failed["action_name"]);
        await Task.Delay(1500, Ct);
        Assert.Single(slack.CallsTo("chat.postMessage")); // not retried
        Assert.Empty(SlackRoots(slack, id));

        using var admin = app.Client();
        var retry = await admin.PostAsync($"/api/v1/admin/deliveries/{(long)failed["id"]!}/retry", null, Ct);
        Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        await slack.WaitForAsync(s => SlackRoots(s, id).Count > 0 ? id : null, Long, "the retried message");
        await LoopbackHost.WaitForAsync(async () => (await DeliveriesAsync(app))["items"]!.AsArray().Count == 0 ? "none" : null, Long, () => "the failed list to empty");
        Assert.Single(SlackRoots(slack, id));
    }

    [Theory]
    [InlineData(HttpStatusCode.NotFound, "ConversationNotFound")]
    [InlineData(HttpStatusCode.Forbidden, "BotNotInConversationRoster")]
    public async Task A_permanent_teams_refusal_is_recorded_as_failed_with_the_connectors_reason(HttpStatusCode status, string code)
    {
        await using var bot = await FakeBotConnector.StartAsync();
        bot.FailNext("create", status, code);
        await using var app = await StartAsync(bot: bot);

        var id = await CreateAsync(app);
        var failed = await AwaitFailedAsync(app, id);
        Assert.Equal("teams", (string?)failed["surface"]);
        Assert.Equal($"{(int)status} {code}", (string?)failed["last_error"]);
        Assert.Equal("permanent", (string?)failed["error_class"]);
        await Task.Delay(1500, Ct);
        Assert.Single(TeamsCreates(bot, id, accepted: false));
        Assert.Equal("healthy", (string?)(await ReadyAsync(app))["status"]);

        using var admin = app.Client();
        Assert.Equal(HttpStatusCode.Accepted, (await admin.PostAsync($"/api/v1/admin/deliveries/{(long)failed["id"]!}/retry", null, Ct)).StatusCode);
        await bot.WaitForAsync(b => TeamsCreates(b, id).Count > 0 ? id : null, Long, "the retried card");
    }

    // ---- credentials -----------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("token_revoked")]
    [InlineData("invalid_auth")]
    public async Task A_refused_slack_token_pauses_delivery_reports_degraded_and_resumes_without_loss(string error)
    {
        await using var slack = await FakeSlackServer.StartAsync();
        await using var app = await StartAsync(slack);
        using var agent = app.Client(await app.CreateKeyAsync("agent", [Scopes.Agent]));
        slack.TokenError = error;

        var ids = new[] { await CreateAsync(app, agent), await CreateAsync(app, agent), await CreateAsync(app, agent) };
        var ready = await LoopbackHost.WaitForAsync(async () => await ReadyAsync(app) is { } r && (string?)r["status"] == "degraded" ? r : null,
            Long, () => "readiness to report the pause");
        Assert.Contains(error, (string?)ready["checks"]!["chat-delivery"]!["description"], StringComparison.Ordinal);
        await Task.Delay(1000, Ct);
        Assert.All(ids, id => Assert.Empty(SlackRoots(slack, id)));
        Assert.Empty(await DeliveriesAsync(app) is var f ? f["items"]!.AsArray() : []); // paused, not failed

        slack.TokenError = null;
        await slack.WaitForAsync(s => ids.All(id => SlackRoots(s, id).Count > 0) ? ids : null, Long, "every message after the token works again");
        await LoopbackHost.WaitForAsync(async () => (string?)(await ReadyAsync(app))["status"] == "healthy" ? "ok" : null, Long, () => "readiness healthy again");
        await Task.Delay(1000, Ct);
        Assert.All(ids, id => Assert.Single(SlackRoots(slack, id)));
        Assert.NotEmpty(slack.CallsTo("auth.test"));
    }

    [Theory]
    [InlineData("token", HttpStatusCode.Unauthorized)]
    [InlineData("connector", HttpStatusCode.Unauthorized)]
    [InlineData("connector", HttpStatusCode.Forbidden)]
    public async Task Refused_teams_credentials_pause_delivery_and_it_resumes_without_loss(string where, HttpStatusCode status)
    {
        await using var bot = await FakeBotConnector.StartAsync();
        await using var app = await StartAsync(bot: bot);
        using var agent = app.Client(await app.CreateKeyAsync("agent", [Scopes.Agent]));
        if (where == "token")
        {
            bot.TokenRefusal = status;
        }
        else
        {
            bot.ConnectorRefusal = status;
        }

        var ids = new[] { await CreateAsync(app, agent), await CreateAsync(app, agent) };
        var ready = await LoopbackHost.WaitForAsync(async () => await ReadyAsync(app) is { } r && (string?)r["status"] == "degraded" ? r : null,
            Long, () => "readiness to report the pause");
        Assert.Contains(((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture), (string?)ready["checks"]!["chat-delivery"]!["description"], StringComparison.Ordinal);
        Assert.All(ids, id => Assert.Empty(TeamsCreates(bot, id)));

        bot.TokenRefusal = null;
        bot.ConnectorRefusal = null;
        await bot.WaitForAsync(b => ids.All(id => TeamsCreates(b, id).Count > 0) ? ids : null, Long, "every card after the credentials work again");
        await LoopbackHost.WaitForAsync(async () => (string?)(await ReadyAsync(app))["status"] == "healthy" ? "ok" : null, Long, () => "readiness healthy again");
        await Task.Delay(1000, Ct);
        Assert.All(ids, id => Assert.Single(TeamsCreates(bot, id)));
    }

    // ---- deleted messages ------------------------------------------------------------------------------------------

    [Fact]
    public async Task A_deleted_slack_message_is_posted_again_on_update_and_adopted()
    {
        await using var slack = await FakeSlackServer.StartAsync();
        await using var app = await StartAsync(slack);
        var id = await CreateAsync(app);
        var first = await slack.WaitForAsync(s => SlackRoots(s, id).FirstOrDefault(), Long, "the message");
        Assert.True(slack.DeleteMessage(SlackChannel, (string)first["ts"]!));

        using var approver = app.Client(await app.CreateKeyAsync("approver", [Scopes.Approver], "approver@example.com"));
        (await approver.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = "fine" }, Ct)).EnsureSuccessStatusCode();
        var again = await slack.WaitForAsync(s => SlackRoots(s, id).FirstOrDefault(m => m["blocks"]!.ToJsonString().Contains("Approved", StringComparison.Ordinal)),
            Long, "the message posted again with the outcome");
        Assert.NotEqual((string?)first["ts"], (string?)again["ts"]);

        // The new message is the one redrawn from now on.
        using var agent = app.Client(await app.CreateKeyAsync("agent2", [Scopes.Agent]));
        await LoopbackHost.WaitForAsync(async () => (await DeliveriesAsync(app, "state=posted"))["items"]!.AsArray()
            .FirstOrDefault(d => (string?)d!["approval_id"] == id && (string?)d["message_id"] == (string?)again["ts"]), Long, () => "the new ts adopted");
        Assert.Single(SlackRoots(slack, id));
        Assert.Contains(slack.CallsTo("chat.update"), c => (string?)c.Body["ts"] == (string?)first["ts"]);
    }

    [Fact]
    public async Task A_deleted_teams_card_is_posted_again_on_update_and_adopted()
    {
        await using var bot = await FakeBotConnector.StartAsync();
        await using var app = await StartAsync(bot: bot);
        var id = await CreateAsync(app);
        await bot.WaitForAsync(b => TeamsCreates(b, id).Count > 0 ? id : null, Long, "the card");
        var posted = await PostedAsync(app, id);
        bot.DeleteActivity((string)posted["message_id"]!);

        using var approver = app.Client(await app.CreateKeyAsync("approver", [Scopes.Approver], "approver@example.com"));
        (await approver.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = "fine" }, Ct)).EnsureSuccessStatusCode();
        await bot.WaitForAsync(b => TeamsCreates(b, id).Count > 1 && TeamsCreates(b, id)[^1].Body!.ToJsonString().Contains("Approved", StringComparison.Ordinal) ? id : null,
            Long, "the card posted again with the outcome");
        var adopted = await LoopbackHost.WaitForAsync(async () => (await DeliveriesAsync(app, "state=posted"))["items"]!.AsArray()
            .FirstOrDefault(d => (string?)d!["approval_id"] == id && (string?)d["message_id"] != (string?)posted["message_id"])?.AsObject(), Long, () => "the new card adopted");
        Assert.Equal("posted", (string?)adopted["state"]);
    }

    // ---- Retry-After on every method, and the admin API's edges ----------------------------------------------------

    [Fact]
    public async Task A_rate_limited_slack_method_is_not_called_again_before_its_retry_after()
    {
        await using var slack = await FakeSlackServer.StartAsync();
        await using var app = await StartAsync(slack);
        var api = app.Services.GetRequiredService<ISlackApi>();
        slack.FailNext("users.info", SlackFault.RateLimited);

        await Assert.ThrowsAsync<SlackRateLimitedException>(() => api.GetUserAsync("U0ALICE", Ct));
        var again = await Assert.ThrowsAsync<SlackRateLimitedException>(() => api.GetUserAsync("U0ALICE", Ct));
        Assert.True(again.RetryAfter <= TimeSpan.FromSeconds(1));
        Assert.Single(slack.CallsTo("users.info"));

        await Task.Delay(1100, Ct);
        Assert.Null(await api.GetUserAsync("U0ALICE", Ct)); // asked again: no such user
        Assert.Equal(2, slack.CallsTo("users.info").Count);
    }

    [Fact]
    public async Task The_deliveries_api_is_for_admins_and_refuses_bad_input_with_problems()
    {
        await using var slack = await FakeSlackServer.StartAsync();
        await using var app = await StartAsync(slack);
        var id = await CreateAsync(app);
        var posted = await PostedAsync(app, id);

        using var approver = app.Client(await app.CreateKeyAsync("approver", [Scopes.Approver], "approver@example.com"));
        Assert.Equal(HttpStatusCode.Forbidden, (await approver.GetAsync("/api/v1/admin/deliveries", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await approver.PostAsync($"/api/v1/admin/deliveries/{(long)posted["id"]!}/retry", null, Ct)).StatusCode);
        using var anonymous = app.Client(null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/admin/deliveries", Ct)).StatusCode);

        using var admin = app.Client();
        foreach (var query in new[] { "state=lost", "surface=console", "cursor=abc", "limit=0", "limit=201" })
        {
            var response = await admin.GetAsync($"/api/v1/admin/deliveries?{query}", Ct);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.PostAsync("/api/v1/admin/deliveries/x1/retry", null, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PostAsync("/api/v1/admin/deliveries/999999/retry", null, Ct)).StatusCode);
        var conflict = await admin.PostAsync($"/api/v1/admin/deliveries/{(long)posted["id"]!}/retry", null, Ct);
        Assert.Equal(HttpStatusCode.Conflict, conflict.StatusCode);
        Assert.Contains("posted", await conflict.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        // Paging: one per page, newest first, until no next cursor.
        var second = await CreateAsync(app);
        await PostedAsync(app, second);
        var page1 = await DeliveriesAsync(app, "state=posted&surface=slack&limit=1");
        Assert.Equal(second, (string?)page1["items"]![0]!["approval_id"]);
        var page2 = await DeliveriesAsync(app, $"state=posted&surface=slack&limit=1&cursor={(string?)page1["next_cursor"]}");
        Assert.Equal(id, (string?)page2["items"]![0]!["approval_id"]);
        Assert.Null((string?)page2["next_cursor"]);
    }
}
