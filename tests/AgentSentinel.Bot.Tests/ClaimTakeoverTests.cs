using System.Data.Common;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Bot.Delivery;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Bot.Tests;

public sealed class SqliteClaimTakeoverTests() : ClaimTakeoverTests(StorageProvider.Sqlite);

public sealed class PostgresClaimTakeoverTests() : ClaimTakeoverTests(StorageProvider.Postgres);

/// <summary>A post claimed by another server instance and never finished: taken over at once when that instance is
/// gone (killed on this machine, its heartbeat too old, or stopped), never while it is alive; exactly one message
/// results. Fake time, the real delivery engine, the fake Slack.</summary>
public abstract class ClaimTakeoverTests(StorageProvider provider)
{
    private const string Channel = "C0TAKEOVER";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    private static Dictionary<string, string?> Settings(FakeSlackServer? slack) => new(slack?.HostSettings() ?? [])
    {
        ["AgentSentinel:Routing:Routes:0:Name"] = "default",
        ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = Channel,
        // The dispatcher queues posts as jobs (and there is no job server), so a creation the first server left in the
        // outbox is not posted by the second one's dispatcher before the test makes its claim.
        ["AgentSentinel:Jobs:ChatFromDispatcher"] = "false",
    };

    private static List<JsonObject> RootMessages(FakeSlackServer slack, Guid id) =>
        [.. slack.Messages(Channel).Where(m => (string?)m["metadata"]?["event_payload"]?["approval_id"] == id.ToString() && m["thread_ts"] is null)];

    /// <summary>A request stored while Slack was off (nothing posted or queued for it), and a server with Slack on, no
    /// job server and no delivery by the dispatcher: only the calls the test makes deliver anything.</summary>
    private async Task<(AgentSentinelApp App, FakeSlackServer Slack, Guid Id)> StartAsync(string name)
    {
        var storage = await TestStorage.CreateAsync(provider, name);
        Guid id;
        await using (var first = new AgentSentinelApp(storage, _time, settings: Settings(null)))
        {
            using var agent = first.Client(await first.CreateKeyAsync("agent", [Scopes.Agent]));
            var response = await agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", timeout_seconds = 600 }, Ct);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            id = Guid.Parse((string)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!);
        }
        var slack = await FakeSlackServer.StartAsync();
        var app = new AgentSentinelApp(storage, _time, settings: Settings(slack));
        _ = app.Server;
        return (app, slack, id);
    }

    /// <summary>The post's claim, as an attempt of <paramref name="owner"/> left it: claimed, nothing posted, no error.</summary>
    private async Task<ChatMessage> ClaimAsAsync(AgentSentinelApp app, Guid id, string owner)
    {
        var (message, claimed) = await app.Service<IChatMessageStore>().ClaimAsync(id, Surface.Slack, Channel, DeliveryKeys.Root, _time.GetUtcNow(), Ct);
        Assert.True(claimed);
        await ExecuteAsync(app, "UPDATE chat_messages SET claimed_by = @owner WHERE id = @id", ("owner", owner), ("id", message.Id));
        return message;
    }

    /// <summary>The liveness row of another instance.</summary>
    private static Task RecordInstanceAsync(AgentSentinelApp app, string id, string host, string? machine, int pid, string? pidStart, DateTimeOffset heartbeat) =>
        ExecuteAsync(app, """
            INSERT INTO server_instances (id, host, machine, pid, pid_start, started_at, heartbeat_at)
            VALUES (@id, @host, @machine, @pid, @pidStart, @at, @at)
            """, ("id", id), ("host", host), ("machine", machine), ("pid", pid), ("pidStart", pidStart), ("at", heartbeat.ToUnixMicroseconds()));

    private static async Task ExecuteAsync(AgentSentinelApp app, string sql, params (string Name, object? Value)[] parameters)
    {
        await using var connection = await app.Service<Database>().OpenAsync(Ct);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            command.Parameters.Add(parameter);
        }
        Assert.Equal(1, await command.ExecuteNonQueryAsync(Ct));
    }

    private static async Task<ChatMessage> RootAsync(AgentSentinelApp app, Guid id) =>
        (await app.Service<IChatMessageStore>().ListAsync(id, Surface.Slack, Ct)).Single(m => m.DeliveryKey == DeliveryKeys.Root);

    private static Task PostAsync(AgentSentinelApp app, Guid id) =>
        app.Service<ChatDeliveryJobs>().PostAsync(Surface.Slack, id, Channel, DeliveryKeys.Root, Ct);

    [Fact]
    public async Task A_claim_of_a_process_killed_on_this_machine_is_taken_over_at_once_and_posted_once()
    {
        var (app, slack, id) = await StartAsync("takeoverkilled");
        await using var _ = app;
        await using var __ = slack;
        // Its heartbeat is fresh, but the process is gone: this pid now runs a process that started at another time.
        await RecordInstanceAsync(app, "killed", Environment.MachineName, ProcessIdentity.Machine, Environment.ProcessId, "1", _time.GetUtcNow());
        await ClaimAsAsync(app, id, "killed");
        Assert.NotNull(ProcessIdentity.Machine); // the test runs on Linux, where a process on this machine can be checked

        await PostAsync(app, id);

        Assert.Single(RootMessages(slack, id));
        var root = await RootAsync(app, id);
        Assert.Equal(ChatMessageState.Posted, root.State);
        Assert.Equal(app.Service<ServerInstance>().Id, root.ClaimedBy);
        await PostAsync(app, id); // a second attempt finds it posted
        Assert.Single(RootMessages(slack, id));
    }

    [Fact]
    public async Task A_claim_of_a_live_instance_is_never_taken_over_and_one_whose_heartbeat_stopped_is()
    {
        var (app, slack, id) = await StartAsync("takeoverlive");
        await using var _ = app;
        await using var __ = slack;
        // Another machine: only its heartbeat tells whether it is alive.
        await RecordInstanceAsync(app, "elsewhere", "another-host", "another-machine", 4242, "99", _time.GetUtcNow());
        var claim = await ClaimAsAsync(app, id, "elsewhere");

        // Long past the old 30 s window: the instance is alive (it beats), so its claim is left to it.
        _time.Advance(TimeSpan.FromMinutes(2));
        await ExecuteAsync(app, "UPDATE server_instances SET heartbeat_at = @at WHERE id = 'elsewhere'", ("at", _time.GetUtcNow().ToUnixMicroseconds()));
        await PostAsync(app, id);
        Assert.Empty(RootMessages(slack, id));
        Assert.Equal("elsewhere", (await RootAsync(app, id)).ClaimedBy);
        Assert.Equal(ChatMessageState.Claimed, (await RootAsync(app, id)).State);

        // Its heartbeat stops: once it is older than the liveness limit, the claim is taken over and posted once.
        _time.Advance(ServerInstance.DeadAfter - TimeSpan.FromSeconds(1));
        await PostAsync(app, id);
        Assert.Empty(RootMessages(slack, id));
        _time.Advance(TimeSpan.FromSeconds(2));
        await PostAsync(app, id);
        Assert.Single(RootMessages(slack, id));
        Assert.Equal(claim.Id, (await RootAsync(app, id)).Id);
        await PostAsync(app, id);
        Assert.Single(RootMessages(slack, id));
    }

    [Fact]
    public async Task A_claim_of_an_instance_that_stopped_is_taken_over_at_once_by_one_taker_only()
    {
        var (app, slack, id) = await StartAsync("takeoverstopped");
        await using var _ = app;
        await using var __ = slack;
        // The instance removed its liveness row when it stopped; the claim it left names it.
        var claim = await ClaimAsAsync(app, id, "stopped");
        var instance = app.Service<ServerInstance>();
        Assert.False(await instance.IsAliveAsync("stopped", Ct));
        Assert.True(await instance.IsAliveAsync(instance.Id, Ct));

        // Two takers of the same claim: the owner changes in one conditional update, so only the first gets it.
        var store = app.Service<IChatMessageStore>();
        Assert.True(await store.TakeOverAsync(claim.Id, "stopped", Ct));
        Assert.False(await store.TakeOverAsync(claim.Id, "stopped", Ct));
        Assert.Equal(instance.Id, (await RootAsync(app, id)).ClaimedBy);

        // A claim of this instance that no attempt here holds (it ended without a record) is sent again at once.
        await PostAsync(app, id);
        Assert.Single(RootMessages(slack, id));
    }
}
