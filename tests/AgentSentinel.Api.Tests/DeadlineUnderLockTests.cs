using System.Data.Common;
using System.Diagnostics;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteDeadlineUnderLockTests() : DeadlineUnderLockTests(StorageProvider.Sqlite);

public sealed class PostgresDeadlineUnderLockTests() : DeadlineUnderLockTests(StorageProvider.Postgres);

/// <summary>The deadline is judged when a transition holds the write lock, and a read past the deadline records the
/// expiry before it reports it: whatever the order, what one caller was told is what the others see.</summary>
public abstract class DeadlineUnderLockTests(StorageProvider provider)
{
    private static CancellationToken Ct => Http.Ct;

    private async Task<(AgentSentinelApp App, HeldClock Time, HttpClient Agent, HttpClient Approver)> AppAsync()
    {
        var time = new HeldClock(DateTimeOffset.UtcNow);
        var app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "lock"), time);
        var agent = app.Client(await app.CreateKeyAsync("agent", [Scopes.Agent]));
        var approver = app.Client(await app.CreateKeyAsync("approver", [Scopes.Approver], "slow@example.com"));
        return (app, time, agent, approver);
    }

    [Fact]
    public async Task An_approve_that_waited_for_the_lock_past_the_deadline_is_refused_and_the_poll_that_said_expired_holds()
    {
        var (app, time, agent, approver) = await AppAsync();
        await using var _ = app;
        var id = (await agent.CreateApprovalAsync(new { action_name = "wire", timeout_seconds = 60 })).Id();

        Task<HttpResponseMessage> approving, polling;
        await using (await HoldWriteLockAsync(app.Storage, id))
        {
            time.Advance(TimeSpan.FromSeconds(59));
            approving = approver.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = "in time, I thought" });
            await WaitForLockWaitersAsync(app.Storage, 1);
            Assert.False(approving.IsCompleted);

            time.Advance(TimeSpan.FromSeconds(2));
            polling = agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct);
            await WaitForLockWaitersAsync(app.Storage, 2);
            // The poll may not report "expired" while a decision could still commit: it records the expiry first.
            Assert.False(polling.IsCompleted);
        }

        Assert.Equal("expired", (await (await polling.WaitAsync(TimeSpan.FromSeconds(30), Ct)).Json()).Str("status"));
        await (await approving.WaitAsync(TimeSpan.FromSeconds(30), Ct)).AssertProblemAsync(HttpStatusCode.Conflict, "expired");
        var store = app.Service<IApprovalStore>();
        Assert.Equal(ApprovalStatus.Expired, (await store.GetAsync(Guid.Parse(id), Ct))!.Status);
        Assert.Equal([EventKinds.Created, EventKinds.Expired], (await store.GetEventsAsync(Guid.Parse(id), Ct)).Select(e => e.Kind));
        Assert.Equal("expired", (await (await agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).Json()).Str("status"));
    }

    [Fact]
    public async Task A_read_past_the_deadline_waits_for_the_decision_that_holds_the_lock_and_reports_it()
    {
        var (app, time, agent, approver) = await AppAsync();
        await using var _ = app;
        var id = (await agent.CreateApprovalAsync(new { action_name = "wire", timeout_seconds = 60 })).Id();
        time.Advance(TimeSpan.FromSeconds(59));

        // The approve takes the lock and reads the clock one second before the deadline, then is held there.
        time.HoldNextTransition();
        var approving = approver.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = "just in time" });
        await time.TransitionHeld.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        time.Advance(TimeSpan.FromSeconds(2));
        var polling = agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct);
        var listing = agent.GetAsync("/api/v1/approvals?status=expired", Ct);
        await WaitForLockWaitersAsync(app.Storage, 2);
        Assert.False(polling.IsCompleted);
        Assert.False(listing.IsCompleted);
        time.ReleaseTransition();

        Assert.Equal(HttpStatusCode.OK, (await approving.WaitAsync(TimeSpan.FromSeconds(30), Ct)).StatusCode);
        var poll = await (await polling.WaitAsync(TimeSpan.FromSeconds(30), Ct)).Json();
        Assert.Equal("approved", poll.Str("status"));
        Assert.Equal("slow@example.com", poll.Str("decided_by_email"));
        Assert.Empty((await (await listing.WaitAsync(TimeSpan.FromSeconds(30), Ct)).Json())["items"]!.AsArray());
        Assert.Equal(ApprovalStatus.Approved, (await app.Service<IApprovalStore>().GetAsync(Guid.Parse(id), Ct))!.Status);
    }

    [Fact]
    public async Task Every_read_past_the_deadline_records_the_expiry_it_reports()
    {
        var (app, time, agent, approver) = await AppAsync();
        await using var _ = app;
        var store = app.Service<IApprovalStore>();
        var ids = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            ids.Add((await agent.CreateApprovalAsync(new { action_name = "wire", timeout_seconds = 60 })).Id());
        }
        time.Advance(TimeSpan.FromSeconds(60));

        Assert.Equal("expired", (await (await agent.GetAsync($"/api/v1/approvals/{ids[0]}", Ct)).Json()).Str("status"));
        Assert.Equal("expired", (await (await agent.GetAsync($"/api/v1/approvals/{ids[1]}/wait?timeout_seconds=5", Ct)).Json()).Str("status"));
        var listed = (await (await approver.GetAsync("/api/v1/approvals?action_name=wire", Ct)).Json())["items"]!.AsArray();
        Assert.All(listed, item => Assert.Equal("expired", item!.Str("status")));
        Assert.Equal(4, listed.Count);

        foreach (var id in ids)
        {
            var stored = (await store.GetAsync(Guid.Parse(id), Ct))!;
            Assert.Equal(ApprovalStatus.Expired, stored.Status);
            Assert.Equal(stored.ExpiresAt, stored.DecidedAt);
            await (await approver.PostJsonAsync($"/api/v1/approvals/{id}/approve", null)).AssertProblemAsync(HttpStatusCode.Conflict, "expired");
        }
    }

    /// <summary>Another connection holding what a transition waits for: SQLite's database write lock, or the
    /// request's row lock on PostgreSQL.</summary>
    private static async Task<IAsyncDisposable> HoldWriteLockAsync(TestStorage storage, string id)
    {
        DbConnection connection = storage.Provider == StorageProvider.Postgres
            ? new NpgsqlConnection(storage.ConnectionString)
            : new SqliteConnection(storage.ConnectionString);
        await connection.OpenAsync(Ct);
        var tx = storage.Provider == StorageProvider.Postgres
            ? await connection.BeginTransactionAsync(Ct)
            : ((SqliteConnection)connection).BeginTransaction(deferred: false);
        if (storage.Provider == StorageProvider.Postgres)
        {
            await using var cmd = connection.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = $"SELECT 1 FROM approvals WHERE id = '{Guid.Parse(id):D}' FOR UPDATE";
            Assert.Equal(1, await cmd.ExecuteScalarAsync(Ct));
        }
        return new HeldLock(connection, tx);
    }

    private sealed class HeldLock(DbConnection connection, DbTransaction tx) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await tx.RollbackAsync(Ct);
            await tx.DisposeAsync();
            await connection.DisposeAsync();
        }
    }

    /// <summary>Waits until <paramref name="count"/> server statements wait for a lock. PostgreSQL shows them; an
    /// SQLite writer waits inside the same process, unseen, so there a pause has to do.</summary>
    private static async Task WaitForLockWaitersAsync(TestStorage storage, int count)
    {
        if (storage.Provider != StorageProvider.Postgres)
        {
            await Task.Delay(500, Ct);
            return;
        }
        await using var connection = new NpgsqlConnection(storage.ConnectionString);
        await connection.OpenAsync(Ct);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            await using var cmd = connection.CreateCommand();
            cmd.CommandText = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
            if ((long)(await cmd.ExecuteScalarAsync(Ct))! >= count)
            {
                return;
            }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"fewer than {count} statements wait for a lock");
            await Task.Delay(20, Ct);
        }
    }

    /// <summary>A fake clock that can hold the next reading taken inside the store's transition (under its write lock):
    /// the transition keeps the instant it read and the lock until <see cref="ReleaseTransition"/>.</summary>
    private sealed class HeldClock(DateTimeOffset start) : FakeTimeProvider(start)
    {
        private readonly TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly ManualResetEventSlim _release = new();
        private int _armed;

        public Task TransitionHeld => _held.Task;

        public void HoldNextTransition() => Volatile.Write(ref _armed, 1);

        public void ReleaseTransition() => _release.Set();

        public override DateTimeOffset GetUtcNow()
        {
            var now = base.GetUtcNow();
            if (Volatile.Read(ref _armed) == 1 && InStoreTransition() && Interlocked.Exchange(ref _armed, 0) == 1)
            {
                _held.SetResult();
                _release.Wait(TimeSpan.FromSeconds(30));
            }
            return now;
        }

        private static bool InStoreTransition() => new StackTrace().GetFrames().Any(f =>
            f.GetMethod()?.DeclaringType is { } type
            && (type == typeof(ApprovalStore) || type.DeclaringType == typeof(ApprovalStore))
            && (f.GetMethod()!.Name == nameof(ApprovalStore.TransitionAsync) || type.Name.Contains(nameof(ApprovalStore.TransitionAsync), StringComparison.Ordinal)));
    }
}
