using System.Data.Common;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Notifications;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Bot.Tests;

public sealed class SqliteOutboxTests() : OutboxTests(StorageProvider.Sqlite);

public sealed class PostgresOutboxTests() : OutboxTests(StorageProvider.Postgres);

/// <summary>Effects of a committed change go through the transactional outbox: a database error after a decision's
/// commit does not change the decider's answer and only delays the Slack redraw, and a server that stops between a
/// commit and the dispatch of its effects leaves them to the next server on the database, which carries them out once.</summary>
public abstract class OutboxTests(StorageProvider provider)
{
    private const string Channel = "C0OUTBOX";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Dictionary<string, string?> Settings(FakeSlackServer slack, FakeCallbackReceiver? receiver = null)
    {
        var settings = new Dictionary<string, string?>(slack.HostSettings())
        {
            ["AgentSentinel:Routing:Routes:0:Name"] = "default",
            ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = Channel,
            ["AgentSentinel:Jobs:OutboxSweepInterval"] = "00:00:00.200",
        };
        if (receiver is not null)
        {
            settings["AgentSentinel:Callbacks:SigningSecret"] = "outbox-test-callback-secret-0123456789";
            settings["AgentSentinel:Callbacks:AllowedHosts:0"] = "127.0.0.1";
        }
        return settings;
    }

    private static string? ApprovalOf(JsonObject message) => (string?)message["metadata"]?["event_payload"]?["approval_id"];

    private static JsonObject? RootMessage(FakeSlackServer slack, string id) =>
        slack.Messages(Channel).SingleOrDefault(m => ApprovalOf(m) == id && m["thread_ts"] is null);

    private static IReadOnlyList<FakeSlackServer.Call> UpdatesOf(FakeSlackServer slack, string ts) =>
        [.. slack.CallsTo("chat.update").Where(c => (string?)c.Body["channel"] == Channel && (string?)c.Body["ts"] == ts)];

    private static async Task<string> CreateAsync(HttpClient agent, string? callbackUrl = null)
    {
        var response = await agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", timeout_seconds = 600, callback_url = callbackUrl }, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (string)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!;
    }

    private static async Task<long> OutboxAttemptsAsync(AgentSentinelApp app, string id, string kind)
    {
        await using var connection = await app.Service<Database>().OpenAsync(Ct);
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT attempts FROM outbox WHERE approval_id = @id AND kind = @kind";
        AddParameter(cmd, "id", id);
        AddParameter(cmd, "kind", kind);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(Ct), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static void AddParameter(DbCommand cmd, string name, object value)
    {
        var p = cmd.CreateParameter();
        p.ParameterName = name;
        p.Value = value;
        cmd.Parameters.Add(p);
    }

    [Fact]
    public async Task A_database_error_right_after_a_decision_commits_answers_200_and_the_message_is_redrawn_later()
    {
        await using var slack = await FakeSlackServer.StartAsync();
        FailingChatMessages? failing = null;
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "outboxfault"), runJobServer: true, settings: Settings(slack),
            services: s => s.Replace(ServiceDescriptor.Singleton<IChatMessageStore>(sp =>
                failing = new FailingChatMessages(new ChatMessageStore(sp.GetRequiredService<Database>(), sp.GetRequiredService<ServerInstance>()), sp.GetRequiredService<Database>()))));
        _ = app.Server;
        using var agent = app.Client(await app.CreateKeyAsync("agent", [Scopes.Agent]));
        using var approver = app.Client(await app.CreateKeyAsync("approver", [Scopes.Approver], "approver@example.com"));
        var id = await CreateAsync(agent);
        var ts = (string)(await slack.WaitForAsync(s => RootMessage(s, id), TimeSpan.FromSeconds(30), "the request's message"))["ts"]!;
        await app.EffectsQueuedAsync();
        await app.JobsIdleAsync(); // the post job has finished (it redraws by itself when the request changed meanwhile)

        // The first database read after the decision's commit (the chat surface looking up the request's messages) fails.
        failing!.FailNextListOf(Guid.Parse(id));
        var response = await approver.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = "fine" }, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("approved", (string?)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["status"]);
        var update = await slack.WaitForAsync(s => UpdatesOf(s, ts).FirstOrDefault(u => u.Body["blocks"]!.ToJsonString().Contains("Approved", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30), "the redraw with the outcome");
        Assert.NotNull(update);
        Assert.Equal(1, failing.Failures);
        // The decision's entry failed once and was handled on its next attempt.
        Assert.Equal(2, await OutboxAttemptsAsync(app, id, "Changed"));
        await app.EffectsQueuedAsync();
        Assert.Single(slack.Messages(Channel), m => ApprovalOf(m) == id);
    }

    [Fact]
    public async Task A_stop_between_a_commit_and_its_dispatch_leaves_the_effects_to_the_next_server_which_carries_them_out_once()
    {
        var storage = await TestStorage.CreateAsync(provider, "outboxstop");
        await using var slack = await FakeSlackServer.StartAsync();
        await using var receiver = await FakeCallbackReceiver.StartAsync();
        string id;
        string ts;
        StoppableOutbox? outbox = null;
        await using (var first = new AgentSentinelApp(storage, runJobServer: true, settings: Settings(slack, receiver),
            services: s => s.Replace(ServiceDescriptor.Singleton<IOutboxStore>(sp =>
                outbox = new StoppableOutbox(new OutboxStore(sp.GetRequiredService<Database>()), sp.GetRequiredService<Database>())))))
        {
            _ = first.Server;
            using var agent = first.Client(await first.CreateKeyAsync("agent", [Scopes.Agent]));
            using var approver = first.Client(await first.CreateKeyAsync("approver", [Scopes.Approver], "approver@example.com"));
            id = await CreateAsync(agent, receiver.BaseUrl + "hook");
            ts = (string)(await slack.WaitForAsync(s => RootMessage(s, id), TimeSpan.FromSeconds(30), "the request's message"))["ts"]!;
            await first.EffectsQueuedAsync();
            await first.JobsIdleAsync(); // the post job has finished (it redraws by itself when the request changed meanwhile)

            // From here the dispatcher of this server cannot claim anything: the process "dies" after the next commit.
            outbox!.StopDispatching();
            var response = await approver.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = "fine" }, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await LoopbackHost.WaitForAsync(() => outbox.RefusedClaims > 0 ? outbox : null, TimeSpan.FromSeconds(30), () => "a dispatch attempt after the decision");
            Assert.Equal(1, await first.Service<IOutboxStore>().CountUnhandledAsync(Ct));
            Assert.Empty(UpdatesOf(slack, ts));
            Assert.Empty(receiver.Requests);
        }

        await using var second = new AgentSentinelApp(storage, runJobServer: true, settings: Settings(slack, receiver));
        _ = second.Server;
        await slack.WaitForAsync(s => UpdatesOf(s, ts).FirstOrDefault(u => u.Body["blocks"]!.ToJsonString().Contains("Approved", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30), "the redraw by the second server");
        await LoopbackHost.WaitForAsync(() => receiver.Requests.FirstOrDefault(), TimeSpan.FromSeconds(30), () => "the approval's callback");
        await second.EffectsQueuedAsync();
        await Task.Delay(1500, Ct); // a late duplicate would show up here

        Assert.Single(UpdatesOf(slack, ts));
        Assert.Single(slack.Messages(Channel), m => ApprovalOf(m) == id);
        var callback = Assert.Single(receiver.Requests);
        Assert.Equal("approved", callback.Header("X-AgentSentinel-Event"));
        Assert.Equal(0, await second.Service<IOutboxStore>().CountUnhandledAsync(Ct));
    }

    [Fact]
    public async Task A_backlog_is_dispatched_several_requests_at_a_time_and_the_effects_of_one_request_in_commit_order()
    {
        var storage = await TestStorage.CreateAsync(provider, "outboxparallel");
        await using var slack = await FakeSlackServer.StartAsync();
        StoppableOutbox? outbox = null;
        await using var app = new AgentSentinelApp(storage, settings: Settings(slack),
            services: s => s.Replace(ServiceDescriptor.Singleton<IOutboxStore>(sp =>
                outbox = new StoppableOutbox(new OutboxStore(sp.GetRequiredService<Database>()), sp.GetRequiredService<Database>()))));
        _ = app.Server;
        using var agent = app.Client(await app.CreateKeyAsync("agent", [Scopes.Agent]));
        using var approver = app.Client(await app.CreateKeyAsync("approver", [Scopes.Approver], "approver@example.com"));

        // A backlog, as a restart after a crash finds it: the server's own dispatcher takes nothing from here on.
        outbox!.StopDispatching();
        var first = Guid.Parse(await CreateAsync(agent));
        Assert.Equal(HttpStatusCode.OK, (await approver.PostAsJsonAsync($"/api/v1/approvals/{first}/approve", new { notes = "fine" }, Ct)).StatusCode);
        var second = Guid.Parse(await CreateAsync(agent));

        var observer = new GatedObserver(first);
        var dispatcher = new OutboxDispatcher(outbox.Inner, app.Service<ApprovalChangeHub>(), new OutboxSignal(), [observer],
            app.Service<IOptions<AgentSentinelOptions>>(), TimeProvider.System, NullLogger<OutboxDispatcher>.Instance);
        var dispatch = dispatcher.DispatchDueAsync(Ct);

        // The first request's creation is held up; the second request's creation is handled meanwhile, and the first
        // request's decision waits for its creation.
        await LoopbackHost.WaitForAsync(() => observer.Seen.Contains((OutboxKind.Created, second)) ? observer : null,
            TimeSpan.FromSeconds(30), () => $"the second request's creation handled while the first is held; seen: {string.Join(", ", observer.Seen)}");
        Assert.DoesNotContain((OutboxKind.Changed, first), observer.Seen);
        observer.Release();

        Assert.Equal(3, await dispatch.WaitAsync(TimeSpan.FromSeconds(30), Ct));
        Assert.Equal([(OutboxKind.Created, first), (OutboxKind.Changed, first)], observer.Seen.Where(s => s.Id == first));
        Assert.Equal(0, await outbox.Inner.CountUnhandledAsync(Ct));
    }

    /// <summary>Records the entries it is told about; holds the creation of one request until released.</summary>
    private sealed class GatedObserver(Guid held) : IApprovalObserver
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly System.Collections.Concurrent.ConcurrentQueue<(OutboxKind Kind, Guid Id)> _seen = new();

        public IReadOnlyList<(OutboxKind Kind, Guid Id)> Seen => [.. _seen];

        public void Release() => _release.TrySetResult();

        public async Task OnCreatedAsync(ApprovalRequest request, CancellationToken ct)
        {
            if (request.Id == held)
            {
                await _release.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
            }
            _seen.Enqueue((OutboxKind.Created, request.Id));
        }

        public Task OnChangedAsync(ApprovalRequest request, TransitionKind transition, Actor actor, CancellationToken ct)
        {
            _seen.Enqueue((OutboxKind.Changed, request.Id));
            return Task.CompletedTask;
        }
    }

    /// <summary>Makes the database answer with a real error: a statement naming a table that does not exist.</summary>
    private static async Task FailOnDatabaseAsync(Database database, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT missing_column FROM outbox_fault_injection";
        await cmd.ExecuteNonQueryAsync(ct);
        throw new InvalidOperationException("The database accepted a statement on a table that does not exist.");
    }

    /// <summary>The real chat message store; armed for a request, its next message lookup for that request meets a real
    /// database error.</summary>
    private sealed class FailingChatMessages(ChatMessageStore inner, Database database) : IChatMessageStore
    {
        private Guid? _failFor;
        private int _failures;

        public int Failures => Volatile.Read(ref _failures);

        public void FailNextListOf(Guid approvalId) => _failFor = approvalId;

        public async Task<IReadOnlyList<ChatMessage>> ListAsync(Guid approvalId, Surface surface, CancellationToken ct)
        {
            if (_failFor == approvalId)
            {
                _failFor = null;
                Interlocked.Increment(ref _failures);
                await FailOnDatabaseAsync(database, ct);
            }
            return await inner.ListAsync(approvalId, surface, ct);
        }

        public Task<(ChatMessage Message, bool Claimed)> ClaimAsync(Guid approvalId, Surface surface, string channel, string deliveryKey, DateTimeOffset now, CancellationToken ct, string? body = null) =>
            inner.ClaimAsync(approvalId, surface, channel, deliveryKey, now, ct, body);

        public Task<bool> TakeOverAsync(long id, string? from, CancellationToken ct) => inner.TakeOverAsync(id, from, ct);

        public Task MarkPostedAsync(long id, string messageId, string? threadId, string? conversationId, DateTimeOffset now, CancellationToken ct) =>
            inner.MarkPostedAsync(id, messageId, threadId, conversationId, now, ct);

        public Task RecordErrorAsync(long id, string error, DeliveryErrorClass errorClass, bool failed, DateTimeOffset now, CancellationToken ct) =>
            inner.RecordErrorAsync(id, error, errorClass, failed, now, ct);

        public Task<ChatMessage?> GetAsync(long id, CancellationToken ct) => inner.GetAsync(id, ct);

        public Task<IReadOnlyList<DeliveryListItem>> ListDeliveriesAsync(ChatMessageState state, Surface? surface, long? beforeId, int limit, CancellationToken ct) =>
            inner.ListDeliveriesAsync(state, surface, beforeId, limit, ct);

        public Task<bool> ResetFailedAsync(long id, DateTimeOffset now, CancellationToken ct) => inner.ResetFailedAsync(id, now, ct);

        public Task<IReadOnlyList<Guid>> ListUnpostedAsync(Surface surface, DateTimeOffset from, DateTimeOffset before, int limit, CancellationToken ct) =>
            inner.ListUnpostedAsync(surface, from, before, limit, ct);
    }

    /// <summary>The real outbox store; once stopped, every claim meets a real database error, so nothing committed after
    /// that point is dispatched by this server.</summary>
    private sealed class StoppableOutbox(OutboxStore inner, Database database) : IOutboxStore
    {
        private volatile bool _stopped;

        /// <summary>The real store, never stopped.</summary>
        public IOutboxStore Inner => inner;
        private int _refused;

        public int RefusedClaims => Volatile.Read(ref _refused);

        public void StopDispatching() => _stopped = true;

        public async Task<IReadOnlyList<OutboxEntry>> ClaimAsync(DateTimeOffset now, DateTimeOffset claimUntil, int limit, CancellationToken ct)
        {
            if (_stopped)
            {
                Interlocked.Increment(ref _refused);
                await FailOnDatabaseAsync(database, ct);
            }
            return await inner.ClaimAsync(now, claimUntil, limit, ct);
        }

        public Task MarkHandledAsync(IReadOnlyCollection<long> ids, DateTimeOffset now, CancellationToken ct) => inner.MarkHandledAsync(ids, now, ct);

        public Task RetryLaterAsync(long id, DateTimeOffset dueAt, string error, CancellationToken ct) => inner.RetryLaterAsync(id, dueAt, error, ct);

        public Task<int> PurgeHandledAsync(DateTimeOffset before, int limit, CancellationToken ct) => inner.PurgeHandledAsync(before, limit, ct);

        public Task<int> CountUnhandledAsync(CancellationToken ct) => inner.CountUnhandledAsync(ct);
    }
}
