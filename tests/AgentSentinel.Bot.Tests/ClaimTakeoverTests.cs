using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Bot.Delivery;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Jobs;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Bot.Tests;

public sealed class SqliteClaimTakeoverTests() : ClaimTakeoverTests(StorageProvider.Sqlite);

public sealed class PostgresClaimTakeoverTests() : ClaimTakeoverTests(StorageProvider.Postgres);

/// <summary>A chat delivery claimed by a server instance that stopped (a SIGKILL: no more heartbeats) is taken over
/// at once, without waiting out the in-flight window; one claimed by an instance that is still running waits. The post
/// jobs run by hand on a fake clock, against the fake Slack, so every step is seen.</summary>
public abstract class ClaimTakeoverTests(StorageProvider provider) : IAsyncLifetime
{
    private const string Channel = "C0TAKEOVER";
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private FakeSlackServer _slack = null!;
    private AgentSentinelApp _app = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _slack = await FakeSlackServer.StartAsync();
        // No job server: the jobs the dispatcher queues stay queued, and the test runs the post job itself.
        _app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "takeover"), _time, settings: new Dictionary<string, string?>(_slack.HostSettings())
        {
            ["AgentSentinel:Routing:Routes:0:Name"] = "default",
            ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = Channel,
        });
        _ = _app.Server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        await _slack.DisposeAsync();
    }

    private ServerInstance Instance => _app.Service<ServerInstance>();

    private IChatMessageStore Messages => _app.Service<IChatMessageStore>();

    private async Task<Guid> CreateAsync()
    {
        using var agent = _app.Client(await _app.CreateKeyAsync("agent", [Scopes.Agent]));
        var response = await agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", timeout_seconds = 600 }, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return Guid.Parse((string)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!);
    }

    /// <summary>Another server process on the same database, as the table shows it: heard from now.</summary>
    private Task BeatAsync(string instance) =>
        _app.Service<IServerInstanceStore>().BeatAsync(instance, "other-host:4242", _time.GetUtcNow(), _time.GetUtcNow(), Ct);

    /// <summary>The claim a post job of <paramref name="instance"/> made before it was killed mid-post.</summary>
    private async Task ClaimAsync(Guid id, string instance)
    {
        var (_, claimed) = await Messages.ClaimAsync(id, Surface.Slack, Channel, DeliveryKeys.Root, _time.GetUtcNow(), Ct, instance: instance);
        Assert.True(claimed);
    }

    /// <summary>Runs the post job as Hangfire would (the job of the killed process run again, or the one the start-up
    /// recovery queued).</summary>
    private Task RunPostAsync(Guid id) => _app.Service<ChatDeliveryJobs>().PostAsync(Surface.Slack, id, Channel, DeliveryKeys.Root, Ct);

    private List<JsonObject> Roots(Guid id) =>
        [.. _slack.Messages(Channel).Where(m => (string?)m["metadata"]?["event_payload"]?["approval_id"] == id.ToString() && m["thread_ts"] is null)];

    private async Task<ChatMessage> RootAsync(Guid id) => (await Messages.ListAsync(id, Surface.Slack, Ct)).Single(m => m.DeliveryKey == DeliveryKeys.Root);

    [Fact]
    public async Task A_claim_of_an_instance_that_stopped_is_taken_over_at_once_and_posted_once()
    {
        var id = await CreateAsync();
        await BeatAsync("killed-instance");
        await ClaimAsync(id, "killed-instance");
        // No heartbeat since: after five missed heartbeats the instance counts as stopped, long before the in-flight
        // window (30 s) that a claim of a running instance is given.
        _time.Advance(Instance.DeadAfter + TimeSpan.FromSeconds(1));
        Assert.True(_time.GetUtcNow() - (await RootAsync(id)).ClaimedAt < DeliveryPolicy.ClaimInFlightWindow);

        await RunPostAsync(id);

        Assert.Single(Roots(id));
        var root = await RootAsync(id);
        Assert.Equal(ChatMessageState.Posted, root.State);
        Assert.Equal(Instance.Id, root.ClaimInstance);
        // The earlier post the killed attempt may have made was looked for first (the ambiguous path).
        Assert.NotEmpty(_slack.CallsTo("conversations.history"));

        // The killed process's own job, run again later, finds the message posted and posts nothing.
        await RunPostAsync(id);
        Assert.Single(Roots(id));
    }

    [Fact]
    public async Task A_claim_of_an_instance_that_stopped_after_its_post_arrived_is_adopted_not_posted_again()
    {
        var id = await CreateAsync();
        await BeatAsync("killed-instance");
        await ClaimAsync(id, "killed-instance");
        // The killed attempt's post reached Slack; its answer was lost with the process.
        var slack = _app.Service<IEnumerable<IChatTransport>>().Single(t => t.Surface == Surface.Slack);
        await slack.PostAsync((await _app.Service<ApprovalService>().GetAsync(id, Ct))!, await RootAsync(id), Ct);
        var posted = Assert.Single(Roots(id));
        _time.Advance(Instance.DeadAfter + TimeSpan.FromSeconds(1));

        await RunPostAsync(id);
        await RunPostAsync(id);

        Assert.Single(Roots(id));
        var root = await RootAsync(id);
        Assert.Equal(ChatMessageState.Posted, root.State);
        Assert.Equal((string?)posted["ts"], root.MessageId);
    }

    [Fact]
    public async Task A_claim_of_a_running_instance_waits_until_that_instance_stops_or_the_window_ends()
    {
        var id = await CreateAsync();
        await BeatAsync("running-instance");
        await ClaimAsync(id, "running-instance");
        var scheduled = _app.Service<Hangfire.JobStorage>().GetMonitoringApi().ScheduledCount();

        // The instance keeps beating: its attempt may be posting right now, so the job leaves the claim alone and
        // looks again later.
        for (var i = 0; i < 4; i++)
        {
            _time.Advance(Instance.Heartbeat);
            await BeatAsync("running-instance");
            await RunPostAsync(id);
            Assert.Empty(Roots(id));
            var root = await RootAsync(id);
            Assert.Equal(ChatMessageState.Claimed, root.State);
            Assert.Equal("running-instance", root.ClaimInstance);
        }
        Assert.Equal(scheduled + 4, _app.Service<Hangfire.JobStorage>().GetMonitoringApi().ScheduledCount());

        // Then it falls silent (killed): five heartbeats later its claim is taken over, and posted once.
        _time.Advance(Instance.DeadAfter + TimeSpan.FromMilliseconds(1));
        await RunPostAsync(id);
        Assert.Single(Roots(id));
        Assert.Equal(Instance.Id, (await RootAsync(id)).ClaimInstance);
        await RunPostAsync(id);
        Assert.Single(Roots(id));
    }

    [Fact]
    public async Task Of_two_attempts_that_meet_one_claim_of_a_stopped_instance_only_one_takes_it()
    {
        var id = await CreateAsync();
        await BeatAsync("killed-instance");
        await ClaimAsync(id, "killed-instance");
        _time.Advance(Instance.DeadAfter + TimeSpan.FromSeconds(1));
        var seen = await RootAsync(id);

        Assert.True(await Messages.TakeOverAsync(seen, "first-taker", _time.GetUtcNow(), Ct));
        Assert.False(await Messages.TakeOverAsync(seen, "second-taker", _time.GetUtcNow(), Ct));
        Assert.Equal("first-taker", (await RootAsync(id)).ClaimInstance);
    }

    [Fact]
    public async Task A_claim_of_this_process_that_no_job_here_works_on_is_taken_over_at_once()
    {
        var id = await CreateAsync();
        // An attempt of this very process claimed it and ended without recording how (a database error after the post,
        // say); no job here is working on it now.
        await ClaimAsync(id, Instance.Id);

        await RunPostAsync(id);

        Assert.Single(Roots(id));
        Assert.Equal(ChatMessageState.Posted, (await RootAsync(id)).State);
    }

    [Fact]
    public async Task This_process_is_recorded_at_start_renewed_every_heartbeat_and_removed_at_a_clean_stop()
    {
        var instances = _app.Service<IServerInstanceStore>();
        var started = await instances.LastSeenAsync(Instance.Id, Ct);
        Assert.NotNull(started);
        await LoopbackHost.WaitForAsync(async () =>
        {
            _time.Advance(Instance.Heartbeat);
            return await instances.LastSeenAsync(Instance.Id, Ct) > started ? "renewed" : null;
        }, TimeSpan.FromSeconds(30), () => "a renewed heartbeat");

        var id = Instance.Id;
        var database = _app.Storage;
        await _app.DisposeAsync(); // a clean stop
        await using var next = new AgentSentinelApp(database, _time);
        _ = next.Server;
        Assert.Null(await next.Service<IServerInstanceStore>().LastSeenAsync(id, Ct));
        Assert.NotNull(await next.Service<IServerInstanceStore>().LastSeenAsync(next.Service<ServerInstance>().Id, Ct));
    }
}
