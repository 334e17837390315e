using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

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
}
