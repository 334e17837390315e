using System.Net.Http.Json;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

/// <summary>PostgreSQL going away under a running server: every call answers 503 with Retry-After (never a 500)
/// while it is down, and the server recovers by itself once it is back.</summary>
public sealed class DatabaseOutageTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task While_postgres_is_down_calls_get_503_and_the_server_recovers_by_itself()
    {
        // A server of its own: stopping the shared one would break the tests running beside this one.
        await using var postgres = await PostgresServer.StartDedicatedAsync();
        var storage = new TestStorage(StorageProvider.Postgres, await postgres.CreateDatabaseAsync("outage"));
        await using var app = new AgentSentinelApp(storage, runJobServer: true);
        _ = app.Server;
        using var agent = app.Client(await app.CreateKeyAsync("agent", [Scopes.Agent]));
        using var approver = app.Client(await app.CreateKeyAsync("approver", [Scopes.Approver], "approver@example.com"));
        var before = await agent.CreateApprovalAsync();
        var id = (string)before["id"]!;

        // A clean stop: the test server runs with synchronous_commit=off, so a crash-like stop could lose the last
        // commits (the keys above) and turn this into a test of that setting.
        postgres.StopServer(immediate: false);
        var calls = new Func<Task<HttpResponseMessage>>[]
        {
            () => agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", timeout_seconds = 300 }, Ct),
            () => agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct),
            () => agent.GetAsync($"/api/v1/approvals/{id}/wait?timeout_seconds=1", Ct),
            () => agent.GetAsync("/api/v1/approvals?limit=5", Ct),
            () => agent.GetAsync("/api/v1/approvals/stats", Ct),
            () => approver.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { }, Ct),
        };
        foreach (var call in calls)
        {
            for (var i = 0; i < 2; i++)
            {
                var response = await call();
                Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable,
                    $"{response.RequestMessage!.Method} {response.RequestMessage.RequestUri}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
                Assert.True(response.Headers.RetryAfter is not null, "a 503 says when to try again");
            }
        }

        postgres.StartServer();
        // Recovery without help: the first calls after the restart may still meet dead pooled connections (503),
        // never a 500, and within a few attempts everything answers again.
        HttpResponseMessage? created = null;
        for (var attempt = 0; attempt < 40 && created?.StatusCode != HttpStatusCode.Created; attempt++)
        {
            created = await agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", timeout_seconds = 300 }, Ct);
            Assert.True(created.StatusCode is HttpStatusCode.Created or HttpStatusCode.ServiceUnavailable, $"{(int)created.StatusCode}");
            if (created.StatusCode != HttpStatusCode.Created)
            {
                await Task.Delay(250, Ct);
            }
        }
        Assert.Equal(HttpStatusCode.Created, created!.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await approver.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.Client().GetAsync("/health/ready", Ct)).StatusCode);
        // The outage changed nothing stored: the one request made before it, the one after, and the decision.
        var list = await (await agent.GetAsync("/api/v1/approvals?limit=10", Ct)).Json();
        Assert.Equal(2, list["items"]!.AsArray().Count);
    }
}
