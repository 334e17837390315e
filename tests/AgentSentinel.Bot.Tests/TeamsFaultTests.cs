using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Bot.Tests;

public sealed class SqliteTeamsFaultTests() : TeamsFaultTests(StorageProvider.Sqlite);

public sealed class PostgresTeamsFaultTests() : TeamsFaultTests(StorageProvider.Postgres);

/// <summary>Card delivery to a Bot Connector that fails a share of writes at random (500, 429, connections dropped
/// before anything is stored), and a process that stopped after storing a request but before queuing its card: every
/// card arrives once and every decision redraws it.</summary>
public abstract class TeamsFaultTests(StorageProvider provider)
{
    private const string Channel = "19:faults0789@thread.tacv2";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static List<FakeBotConnector.Call> Accepted(FakeBotConnector bot, string operation, string id) =>
        [.. bot.Accepted.Where(c => c.Operation == operation && c.Body!.ToJsonString().Contains(id, StringComparison.Ordinal))];

    private static Dictionary<string, string?> Settings(FakeBotConnector? bot) => new(bot?.HostSettings() ?? [])
    {
        ["AgentSentinel:Routing:Routes:0:Name"] = "default",
        ["AgentSentinel:Routing:Routes:0:Teams:Channel"] = Channel,
    };

    private static async Task InstallAsync(AgentSentinelApp app, FakeBotConnector bot)
    {
        using var anonymous = app.Client(null);
        using var install = new HttpRequestMessage(HttpMethod.Post, "/api/messages") { Content = JsonContent.Create(bot.ConversationUpdate(Channel, "29:alice", "aad-alice")) };
        install.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bot.SignToken());
        Assert.Equal(HttpStatusCode.OK, (await anonymous.SendAsync(install, Ct)).StatusCode);
    }

    [Fact]
    public async Task A_request_stored_before_a_stop_that_never_queued_its_card_is_posted_once_after_the_restart()
    {
        var storage = await TestStorage.CreateAsync(provider, "teamsrecover");
        string id;
        // First run: the route names a Teams channel but Teams is not configured, so nothing is queued for it, as
        // when the process stops between storing the request and queuing its card.
        await using (var first = new AgentSentinelApp(storage, settings: Settings(null)))
        {
            using var agent = first.Client(await first.CreateKeyAsync("agent", [Scopes.Agent]));
            var response = await agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", timeout_seconds = 600 }, Ct);
            id = (string)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!;
        }

        await using var bot = await FakeBotConnector.StartAsync();
        await using (var second = new AgentSentinelApp(storage, runJobServer: true, settings: Settings(bot)))
        {
            _ = second.Server;
            await InstallAsync(second, bot);
            await bot.WaitForAsync(b => Accepted(b, "create", id).Count > 0 ? id : null, TimeSpan.FromSeconds(30), "the recovered card");
            await Task.Delay(1500, Ct);
            Assert.Single(Accepted(bot, "create", id));
        }

        // A third start finds it posted and queues nothing.
        await using var third = new AgentSentinelApp(storage, runJobServer: true, settings: Settings(bot));
        _ = third.Server;
        await Task.Delay(2500, Ct);
        Assert.Single(Accepted(bot, "create", id));
    }

    [Fact]
    public async Task With_a_third_of_connector_writes_failing_every_card_is_posted_once_and_redrawn()
    {
        await using var bot = await FakeBotConnector.StartAsync();
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "teamsfault"), runJobServer: true, settings: Settings(bot));
        _ = app.Server;
        await InstallAsync(app, bot);
        bot.RandomFaultRate = 0.3;
        using var agent = app.Client(await app.CreateKeyAsync("agent", [Scopes.Agent]));
        using var approver = app.Client(await app.CreateKeyAsync("approver", [Scopes.Approver], "approver@example.com"));

        var ids = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            var response = await agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", timeout_seconds = 600 }, Ct);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            ids.Add((string)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!);
        }
        await bot.WaitForAsync(b => ids.All(id => Accepted(b, "create", id).Count > 0) ? ids : null, TimeSpan.FromSeconds(90), "every request's card");
        var approved = ids.Where((_, i) => i % 2 == 0).ToList();
        foreach (var id in approved)
        {
            (await approver.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = "fine" }, Ct)).EnsureSuccessStatusCode();
        }
        await bot.WaitForAsync(b => approved.All(id => Accepted(b, "update", id).Any(c => c.Body!.ToJsonString().Contains("Approved by", StringComparison.Ordinal))) ? ids : null,
            TimeSpan.FromSeconds(90), "the approved cards redrawn");
        await Task.Delay(2000, Ct); // a late duplicate would show up here

        Assert.All(ids, id => Assert.Single(Accepted(bot, "create", id)));
        Assert.All(ids.Except(approved), id => Assert.Empty(Accepted(bot, "update", id)));
        // The faults did happen: more writes were tried than were accepted.
        var tried = bot.Calls.Count(c => c.Operation is "create" or "update");
        Assert.True(tried > bot.Accepted.Count(c => c.Operation is "create" or "update"), $"{tried} writes tried, none failed");
    }
}
