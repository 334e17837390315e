using System.Security.Cryptography;
using AgentSentinel.Core.Audit;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Notifications;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteCoalescedReadTests() : CoalescedReadTests(StorageProvider.Sqlite);

public sealed class PostgresCoalescedReadTests() : CoalescedReadTests(StorageProvider.Postgres);

/// <summary>Polls, waits and the configuration version are read by shared statements while other polls keep the
/// reads busy; a change committed before a call was made is still what that call sees, on both instances.</summary>
public abstract class CoalescedReadTests(StorageProvider provider)
{
    private static CancellationToken Ct => Http.Ct;

    private Task<(AgentSentinelApp First, AgentSentinelApp Second)> TwoInstancesAsync(string name) =>
        AgentSentinelApp.TwoInstancesAsync(provider, name, Ct);

    /// <summary>Polls <paramref name="ids"/> from several loops on both instances until <paramref name="stop"/>, so
    /// reads are in flight whenever the test asks.</summary>
    private static List<Task> BusyPollers(HttpClient[] clients, IReadOnlyList<string> ids, CancellationToken stop) =>
        [.. Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            var client = clients[i % clients.Length];
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                using var response = await client.GetAsync($"/api/v1/approvals/{ids[(i + n) % ids.Count]}/poll", CancellationToken.None);
            }
        }, CancellationToken.None))];

    [Fact]
    public async Task A_decision_made_right_before_a_poll_or_wait_is_seen_on_both_instances_while_other_polls_are_in_flight()
    {
        var (first, second) = await TwoInstancesAsync("coalescedpoll");
        await using var a = first;
        await using var b = second;
        var key = await first.CreateKeyAsync("agent", [Scopes.Agent]);
        using var agentFirst = first.Client(key);
        using var agentSecond = second.Client(key);
        using var approver = first.Client(await first.CreateKeyAsync("approver", [Scopes.Approver], "alice@example.com"));
        var ids = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            ids.Add((await agentFirst.CreateApprovalAsync(new { action_name = $"deploy-{i}" })).Id());
        }
        using var stop = new CancellationTokenSource();
        var pollers = BusyPollers([agentFirst, agentSecond], ids, stop.Token);
        try
        {
            foreach (var id in ids)
            {
                var decision = id == ids[^1] ? "reject" : "approve";
                var decided = decision == "approve"
                    ? await approver.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = "ok" })
                    : await approver.PostJsonAsync($"/api/v1/approvals/{id}/reject", new { reason = "no" });
                Assert.Equal(HttpStatusCode.OK, decided.StatusCode);
                var expected = decision == "approve" ? "approved" : "rejected";

                var polls = await Task.WhenAll(
                    agentSecond.GetAsync($"/api/v1/approvals/{id}/poll", Ct),
                    agentFirst.GetAsync($"/api/v1/approvals/{id}/poll", Ct),
                    agentSecond.GetAsync($"/api/v1/approvals/{id}/wait?timeout_seconds=0", Ct));
                foreach (var poll in polls)
                {
                    Assert.Equal(expected, (await poll.Json()).Str("status"));
                }
            }
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(pollers);
        }
    }

    [Fact]
    public async Task A_key_revoked_while_it_polls_on_both_instances_is_refused_at_its_next_poll_on_both()
    {
        var (first, second) = await TwoInstancesAsync("coalescedrevoke");
        await using var a = first;
        await using var b = second;
        var (keyId, key) = await first.CreateKeyWithIdAsync("agent", [Scopes.Agent]);
        using var onFirst = first.Client(key);
        using var onSecond = second.Client(key);
        var id = (await onFirst.CreateApprovalAsync(new { action_name = "deploy" })).Id();
        // Other callers (with a key that stays valid) keep the version reads busy on both instances.
        var other = await first.CreateKeyAsync("other", [Scopes.Approver], "bob@example.com");
        using var otherFirst = first.Client(other);
        using var otherSecond = second.Client(other);
        using var stop = new CancellationTokenSource();
        var pollers = BusyPollers([otherFirst, otherSecond], [id], stop.Token);
        try
        {
            Assert.Equal(HttpStatusCode.OK, (await onSecond.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await onFirst.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).StatusCode);

            await first.RevokeKeyAsync(keyId);

            await (await onSecond.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized, "revoked");
            await (await onFirst.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized, "revoked");
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(pollers);
        }
    }

    [Fact]
    public async Task A_final_request_is_answered_without_a_read_on_both_instances_until_retention_deletes_it_on_one_of_them()
    {
        using var signing = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var keyFile = Path.Combine(TestPaths.NewTempDirectory(), "audit-key.pem");
        await File.WriteAllTextAsync(keyFile, signing.ExportECPrivateKeyPem(), Ct);
        Dictionary<string, string?> retention = new()
        {
            ["AgentSentinel:Retention:DecidedDays"] = "30",
            ["AgentSentinel:Retention:SigningKeyFile"] = keyFile,
        };
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 10, 1, 9, 0, 0, TimeSpan.Zero));
        var storage = await TestStorage.CreateAsync(provider, "finalstates");
        await using var first = new AgentSentinelApp(storage, time, settings: retention);
        _ = first.Server;
        // On PostgreSQL the second instance does not run retention itself: only the first one's notification of the
        // deletion can tell it. SQLite has no notifications between instances: there the second instance stops answering
        // from its cache when retention (configured alike) may delete the request.
        await using var second = new AgentSentinelApp(storage, time, settings: provider == StorageProvider.Postgres ? null : retention);
        _ = second.Server;
        if (provider == StorageProvider.Postgres)
        {
            await second.Service<PostgresChangeListener>().Listening.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        }
        var key = await first.CreateKeyAsync("agent", [Scopes.Agent]);
        using var agentFirst = first.Client(key);
        using var agentSecond = second.Client(key);
        using var approver = first.Client(await first.CreateKeyAsync("approver", [Scopes.Approver], "alice@example.com"));
        var decided = (await agentFirst.CreateApprovalAsync(new { action_name = "deploy", timeout_seconds = 3600 })).Id();
        var finalsFirst = first.Service<ApprovalChangeHub>().Finals;
        var finalsSecond = second.Service<ApprovalChangeHub>().Finals;

        // A pending request is never kept: its decision on the first instance is what the second one answers next.
        Assert.Equal("pending", (await (await agentSecond.GetAsync($"/api/v1/approvals/{decided}/poll", Ct)).Json()).Str("status"));
        Assert.False(finalsSecond.TryGet(Guid.Parse(decided), out _));
        Assert.Equal(HttpStatusCode.OK, (await approver.PostJsonAsync($"/api/v1/approvals/{decided}/approve", new { notes = "ok" })).StatusCode);
        Assert.True(finalsFirst.TryGet(Guid.Parse(decided), out _)); // kept from the state the decision committed
        var onSecond = await (await agentSecond.GetAsync($"/api/v1/approvals/{decided}/poll", Ct)).Json();
        Assert.Equal("approved", onSecond.Str("status"));
        Assert.True(finalsSecond.TryGet(Guid.Parse(decided), out var kept)); // kept from the read
        Assert.NotNull(kept.Receipt);
        var fromCache = await (await agentSecond.GetAsync($"/api/v1/approvals/{decided}/wait?timeout_seconds=0", Ct)).Json();
        Assert.Equal(onSecond.ToJsonString(), fromCache.ToJsonString());
        // Another agent's key still cannot see it.
        using var stranger = second.Client(await first.CreateKeyAsync("stranger", [Scopes.Agent]));
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.GetAsync($"/api/v1/approvals/{decided}/poll", Ct)).StatusCode);

        time.Advance(TimeSpan.FromDays(35));
        var open = (await agentFirst.CreateApprovalAsync(new { action_name = "deploy", timeout_seconds = 3600 })).Id();
        Assert.Equal(1, await first.Service<RetentionService>().RunAsync(Ct));

        Assert.Equal(HttpStatusCode.NotFound, (await agentFirst.GetAsync($"/api/v1/approvals/{decided}/poll", Ct)).StatusCode);
        if (provider == StorageProvider.Postgres)
        {
            // The notification arrives at the second instance's listener shortly after the commit.
            var patience = DateTime.UtcNow.AddSeconds(10);
            while (finalsSecond.TryGet(Guid.Parse(decided), out _) && DateTime.UtcNow < patience)
            {
                await Task.Delay(20, Ct);
            }
        }
        Assert.Equal(HttpStatusCode.NotFound, (await agentSecond.GetAsync($"/api/v1/approvals/{decided}/poll", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await agentSecond.GetAsync($"/api/v1/approvals/{decided}/wait?timeout_seconds=0", Ct)).StatusCode);
        Assert.Equal("pending", (await (await agentSecond.GetAsync($"/api/v1/approvals/{open}/poll", Ct)).Json()).Str("status"));
    }
}
