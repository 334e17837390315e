using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;

namespace AgentSentinel.Bot.Tests;

public sealed class SqliteSlackFaultTests() : SlackFaultTests(StorageProvider.Sqlite);

public sealed class PostgresSlackFaultTests() : SlackFaultTests(StorageProvider.Postgres);

/// <summary>Chat delivery under faults: a Slack that fails a share of calls at random, and a process that stopped
/// after storing a request but before queuing its post. Every message arrives, and none twice.</summary>
public abstract class SlackFaultTests(StorageProvider provider)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Dictionary<string, string?> Settings(FakeSlackServer? slack) => new(slack?.HostSettings() ?? [])
    {
        ["AgentSentinel:Routing:Routes:0:Name"] = "default",
        ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = "C0FAULT",
    };

    private static string? ApprovalOf(JsonObject message) => (string?)message["metadata"]?["event_payload"]?["approval_id"];

    private static List<JsonObject> RootMessages(FakeSlackServer slack, string id) =>
        [.. slack.Messages("C0FAULT").Where(m => ApprovalOf(m) == id && m["thread_ts"] is null)];

    private static async Task<string> CreateAsync(HttpClient agent)
    {
        var response = await agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", timeout_seconds = 600 }, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (string)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!;
    }

    [Fact]
    public async Task With_a_third_of_slack_calls_failing_every_message_is_posted_and_updated_exactly_once()
    {
        await using var slack = await FakeSlackServer.StartAsync();
        slack.RandomFaultRate = 0.3;
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "slackfault"), runJobServer: true, settings: Settings(slack));
        _ = app.Server;
        using var agent = app.Client(await app.CreateKeyAsync("agent", [Scopes.Agent]));
        using var approver = app.Client(await app.CreateKeyAsync("approver", [Scopes.Approver], "approver@example.com"));

        var ids = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            ids.Add(await CreateAsync(agent));
        }
        await slack.WaitForAsync(s => ids.All(id => RootMessages(s, id).Count > 0) ? ids : null, TimeSpan.FromSeconds(90), "every request's message");
        foreach (var id in ids.Where((_, i) => i % 2 == 0))
        {
            (await approver.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = "fine" }, Ct)).EnsureSuccessStatusCode();
        }
        // Each approved request's message is redrawn with the outcome, whatever failed on the way.
        await slack.WaitForAsync(s => ids.Where((_, i) => i % 2 == 0).All(id => RootMessages(s, id).Single()["blocks"]!.ToJsonString().Contains("Approved", StringComparison.Ordinal)) ? ids : null,
            TimeSpan.FromSeconds(90), "the approved messages redrawn");
        await Task.Delay(2000, Ct); // a late duplicate would show up here

        Assert.All(ids, id => Assert.Single(RootMessages(slack, id)));
        Assert.All(ids.Where((_, i) => i % 2 == 1), id => Assert.DoesNotContain("Approved", RootMessages(slack, id).Single()["blocks"]!.ToJsonString(), StringComparison.Ordinal));
        // The faults did happen: the run is not a fault-free one by luck.
        Assert.True(slack.Calls.Count(c => c.Method is "chat.postMessage" or "chat.update") > ids.Count + ids.Count / 2);
    }

    [Fact]
    public async Task A_request_stored_before_a_stop_that_never_queued_its_post_is_posted_once_after_the_restart()
    {
        var storage = await TestStorage.CreateAsync(provider, "slackrecover");
        string id;
        // First run: the route names a Slack channel but Slack is not configured, so nothing is queued for it,
        // as when the process stops between storing the request and queuing its post.
        await using (var first = new AgentSentinelApp(storage, settings: Settings(null)))
        {
            using var agent = first.Client(await first.CreateKeyAsync("agent", [Scopes.Agent]));
            id = await CreateAsync(agent);
        }

        await using var slack = await FakeSlackServer.StartAsync();
        await using (var second = new AgentSentinelApp(storage, runJobServer: true, settings: Settings(slack)))
        {
            _ = second.Server;
            await slack.WaitForAsync(s => RootMessages(s, id).Count > 0 ? id : null, TimeSpan.FromSeconds(30), "the recovered post");
            await Task.Delay(1500, Ct);
            Assert.Single(RootMessages(slack, id));
        }

        // A third start finds it posted and queues nothing.
        await using var third = new AgentSentinelApp(storage, runJobServer: true, settings: Settings(slack));
        _ = third.Server;
        await Task.Delay(2500, Ct);
        Assert.Single(RootMessages(slack, id));
    }

    [Fact]
    public async Task A_post_left_half_done_by_a_stopped_server_is_posted_after_the_restart_even_when_the_request_was_decided_meanwhile()
    {
        var storage = await TestStorage.CreateAsync(provider, "slackhalfdone");
        string id;
        await using (var first = new AgentSentinelApp(storage, settings: Settings(null)))
        {
            using var agent = first.Client(await first.CreateKeyAsync("agent", [Scopes.Agent]));
            using var approver = first.Client(await first.CreateKeyAsync("approver", [Scopes.Approver], "approver@example.com"));
            id = await CreateAsync(agent);
            // A post job of a server that was killed while posting: its claim stays, with nothing posted and no error.
            var (_, claimed) = await first.Service<IChatMessageStore>().ClaimAsync(Guid.Parse(id), Surface.Slack, "C0FAULT", DeliveryKeys.Root,
                DateTimeOffset.UtcNow - TimeSpan.FromMinutes(10), Ct);
            Assert.True(claimed);
            // Decided while the post was never finished (in the API, or expired while the server was down).
            (await approver.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = "fine" }, Ct)).EnsureSuccessStatusCode();
        }

        await using var slack = await FakeSlackServer.StartAsync();
        await using var second = new AgentSentinelApp(storage, runJobServer: true, settings: Settings(slack));
        _ = second.Server;
        await slack.WaitForAsync(s => RootMessages(s, id).FirstOrDefault(), TimeSpan.FromSeconds(30), "the half-done post, finished");
        await second.EffectsQueuedAsync();
        await second.JobsIdleAsync();
        await Task.Delay(1500, Ct); // a late duplicate would show up here
        Assert.Contains("Approved", Assert.Single(RootMessages(slack, id))["blocks"]!.ToJsonString(), StringComparison.Ordinal);
    }
}
