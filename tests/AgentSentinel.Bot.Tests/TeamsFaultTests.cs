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
/// before anything is stored): every card arrives once and every decision redraws it.</summary>
public abstract class TeamsFaultTests(StorageProvider provider)
{
    private const string Channel = "19:faults0789@thread.tacv2";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static List<FakeBotConnector.Call> Accepted(FakeBotConnector bot, string operation, string id) =>
        [.. bot.Accepted.Where(c => c.Operation == operation && c.Body!.ToJsonString().Contains(id, StringComparison.Ordinal))];

    [Fact]
    public async Task With_a_third_of_connector_writes_failing_every_card_is_posted_once_and_redrawn()
    {
        await using var bot = await FakeBotConnector.StartAsync();
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "teamsfault"), runJobServer: true,
            settings: new Dictionary<string, string?>(bot.HostSettings())
            {
                ["AgentSentinel:Routing:Routes:0:Name"] = "default",
                ["AgentSentinel:Routing:Routes:0:Teams:Channel"] = Channel,
            });
        _ = app.Server;
        using var anonymous = app.Client(null);
        using var install = new HttpRequestMessage(HttpMethod.Post, "/api/messages") { Content = JsonContent.Create(bot.ConversationUpdate(Channel, "29:alice", "aad-alice")) };
        install.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bot.SignToken());
        Assert.Equal(HttpStatusCode.OK, (await anonymous.SendAsync(install, Ct)).StatusCode);
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
