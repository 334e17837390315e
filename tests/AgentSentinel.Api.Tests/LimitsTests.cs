using System.Globalization;
using System.Net.Http.Json;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Notifications;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

/// <summary>One host with small per-key and per-session limits.</summary>
public sealed class LimitsAppFixture : IAsyncLifetime
{
    public AgentSentinelApp App { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        App = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "limits"), settings: new Dictionary<string, string?>
        {
            ["AgentSentinel:Limits:Intake:TokenLimit"] = "3",
            ["AgentSentinel:Limits:Intake:TokensPerPeriod"] = "1",
            ["AgentSentinel:Limits:Intake:ReplenishmentPeriod"] = "00:01:00",
            ["AgentSentinel:Limits:MaxConcurrentWaitsPerKey"] = "2",
            ["AgentSentinel:Limits:MaxEventStreamsPerSession"] = "2",
            ["AgentSentinel:Limits:AgentStatsMaxDays"] = "31",
        });
        _ = App.Server;
    }

    public async ValueTask DisposeAsync() => await App.DisposeAsync();
}

/// <summary>Per-key intake rate and open waits, per-session event streams, and the statistics window of agent keys:
/// each limit answers 429 with Retry-After (or 400 for the window), and other keys and sessions are unaffected.</summary>
public sealed class LimitsTests(LimitsAppFixture f) : IClassFixture<LimitsAppFixture>
{
    private static CancellationToken Ct => Http.Ct;

    private Task<string> KeyAsync(string scope) => f.App.CreateKeyAsync($"{scope}-{Guid.NewGuid():N}", [scope], $"{Guid.NewGuid():N}@example.com");

    [Fact]
    public async Task Creating_faster_than_the_keys_token_bucket_is_429_with_retry_after_and_other_keys_go_on()
    {
        using var busy = f.App.Client(await KeyAsync(Scopes.Agent));
        for (var i = 0; i < 3; i++)
        {
            await busy.CreateApprovalAsync();
        }
        var refused = await busy.PostAsJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", timeout_seconds = 300 }, Ct);
        await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests, "creates requests faster");
        var retryAfter = int.Parse(refused.Headers.GetValues("Retry-After").Single(), CultureInfo.InvariantCulture);
        Assert.InRange(retryAfter, 1, 60);

        // The same key may still read; another key may still create.
        Assert.Equal(HttpStatusCode.OK, (await busy.GetAsync("/api/v1/approvals", Ct)).StatusCode);
        using var other = f.App.Client(await KeyAsync(Scopes.Agent));
        await other.CreateApprovalAsync();
    }

    [Fact]
    public async Task Holding_more_waits_than_the_key_may_is_429_with_retry_after_and_other_keys_go_on()
    {
        using var agent = f.App.Client(await KeyAsync(Scopes.Agent));
        var id = (await agent.CreateApprovalAsync()).Id();
        var otherId = (await agent.CreateApprovalAsync()).Id();
        var hub = f.App.Service<ApprovalChangeHub>();
        var held = new[]
        {
            agent.GetAsync($"/api/v1/approvals/{id}/wait?timeout_seconds=30", Ct),
            agent.GetAsync($"/api/v1/approvals/{otherId}/wait?timeout_seconds=30", Ct),
        };
        // A wait watches its request once it holds its permit; no other test of this host waits.
        for (var i = 0; i < 200 && hub.WatchedCount < 2; i++)
        {
            await Task.Delay(50, Ct);
        }
        Assert.Equal(2, hub.WatchedCount);

        // Both are held: a third (even one that would answer at once) is refused.
        var third = await agent.GetAsync($"/api/v1/approvals/{id}/wait?timeout_seconds=0", Ct);
        await third.AssertProblemAsync(HttpStatusCode.TooManyRequests, "wait calls open");
        Assert.True(int.Parse(third.Headers.GetValues("Retry-After").Single(), CultureInfo.InvariantCulture) >= 1);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).StatusCode);

        using (var otherAgent = f.App.Client(await KeyAsync(Scopes.Agent)))
        {
            var ownId = (await otherAgent.CreateApprovalAsync()).Id();
            Assert.Equal(HttpStatusCode.OK, (await otherAgent.GetAsync($"/api/v1/approvals/{ownId}/wait?timeout_seconds=0", Ct)).StatusCode);
        }

        // Decisions end the held waits, and the key may wait again.
        using var approver = f.App.Client(await KeyAsync(Scopes.Approver));
        Assert.Equal(HttpStatusCode.OK, (await approver.PostJsonAsync($"/api/v1/approvals/{id}/approve", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await approver.PostJsonAsync($"/api/v1/approvals/{otherId}/approve", null)).StatusCode);
        foreach (var response in await Task.WhenAll(held))
        {
            Assert.Equal("approved", (await response.Json()).Str("status"));
        }
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync($"/api/v1/approvals/{id}/wait?timeout_seconds=0", Ct)).StatusCode);
    }

    [Fact]
    public async Task Opening_more_event_streams_than_the_session_may_is_429_with_retry_after_and_other_sessions_go_on()
    {
        using var session = await SignInAsync(await KeyAsync(Scopes.Approver));
        var open = new List<HttpResponseMessage>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                var stream = await session.GetAsync("/console/api/events", HttpCompletionOption.ResponseHeadersRead, Ct);
                open.Add(stream);
                Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
            }
            using var third = await session.GetAsync("/console/api/events", HttpCompletionOption.ResponseHeadersRead, Ct);
            Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode); // before reading: a stream would not end
            await third.AssertProblemAsync(HttpStatusCode.TooManyRequests, "live-update streams");
            Assert.True(third.Headers.Contains("Retry-After"));

            using var other = await SignInAsync(await KeyAsync(Scopes.Approver));
            using var otherStream = await other.GetAsync("/console/api/events", HttpCompletionOption.ResponseHeadersRead, Ct);
            Assert.Equal(HttpStatusCode.OK, otherStream.StatusCode);
        }
        finally
        {
            open.ForEach(r => r.Dispose());
        }
    }

    [Fact]
    public async Task An_agent_key_asking_statistics_over_more_than_the_bound_gets_400_naming_from_and_approvers_do_not()
    {
        var to = DateTimeOffset.UtcNow;
        var query = $"from={Uri.EscapeDataString(to.AddDays(-60).ToString("O", CultureInfo.InvariantCulture))}&to={Uri.EscapeDataString(to.ToString("O", CultureInfo.InvariantCulture))}";
        using var agent = f.App.Client(await KeyAsync(Scopes.Agent));
        using var approver = f.App.Client(await KeyAsync(Scopes.Approver));
        foreach (var path in new[] { "/api/v1/approvals/stats", "/api/v1/approvals/stats/timeseries", "/api/v1/approvals/stats/decision-times" })
        {
            var refused = await agent.GetAsync($"{path}?{query}", Ct);
            await refused.AssertProblemAsync(HttpStatusCode.BadRequest, "at most 31 days");
            Assert.Equal("from", (await refused.Json()).Str("field"));
            Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync(path, Ct)).StatusCode); // the default 30 days
            Assert.Equal(HttpStatusCode.OK, (await approver.GetAsync($"{path}?{query}", Ct)).StatusCode);
        }
    }

    private async Task<HttpClient> SignInAsync(string key)
    {
        var client = f.App.Client(null);
        var response = await client.PostAsJsonAsync("/console/api/session", new { api_key = key }, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        client.DefaultRequestHeaders.Add("Cookie", response.Headers.GetValues("Set-Cookie").Single().Split(';')[0]);
        return client;
    }

}
