using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteTrendsApiTests() : TrendsApiTests(StorageProvider.Sqlite);

public sealed class PostgresTrendsApiTests() : TrendsApiTests(StorageProvider.Postgres);

/// <summary>Outcomes over time and time to decision, computed in SQL, on both providers; the clock is moved to place
/// every event in a known bucket.</summary>
public abstract class TrendsApiTests(StorageProvider provider) : IAsyncLifetime
{
    private static readonly DateTimeOffset Nov10 = new(2026, 11, 10, 0, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(Nov10.AddHours(9));
    private AgentSentinelApp _app = null!;
    private HttpClient _agent = null!;
    private HttpClient _approver = null!;

    private static CancellationToken Ct => Http.Ct;

    public async ValueTask InitializeAsync()
    {
        _app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "trends"), _time);
        _agent = _app.Client(await _app.CreateKeyAsync("agent", [Scopes.Agent]));
        _approver = _app.Client(await _app.CreateKeyAsync("approver", [Scopes.Approver], "approver@example.com"));
    }

    public async ValueTask DisposeAsync()
    {
        _agent.Dispose();
        _approver.Dispose();
        await _app.DisposeAsync();
    }

    private async Task<string> CreateAsync(int timeoutSeconds = 36_000) =>
        (await _agent.CreateApprovalAsync(new { action_name = "transfer_funds", timeout_seconds = timeoutSeconds })).Id();

    private async Task DecideAsync(string id, string action, object body) =>
        Assert.Equal(HttpStatusCode.OK, (await _approver.PostJsonAsync($"/api/v1/approvals/{id}/{action}", body)).StatusCode);

    /// <summary>Nov 10: approved after 30 s, rejected after 10 min, expired (never decided) at its 2-minute deadline.
    /// Nov 11: cancelled after 2 min, approved after 2 h, and one created at 23:59:30 approved 60 s later, on Nov 12.
    /// Nov 12: one left pending.</summary>
    private async Task SeedAsync()
    {
        var a = await CreateAsync();
        var b = await CreateAsync();
        var c = await CreateAsync(timeoutSeconds: 120);
        _time.Advance(TimeSpan.FromSeconds(30));
        await DecideAsync(a, "approve", new { notes = "ok" });
        _time.Advance(TimeSpan.FromSeconds(570));
        await DecideAsync(b, "reject", new { reason = "no" });

        _time.SetUtcNow(Nov10.AddDays(1).AddHours(9));
        var d = await CreateAsync();
        var e = await CreateAsync();
        _time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(HttpStatusCode.OK, (await _agent.PostJsonAsync($"/api/v1/approvals/{d}/cancel", null)).StatusCode);
        _time.Advance(TimeSpan.FromMinutes(118));
        await DecideAsync(e, "approve", new { });
        _time.SetUtcNow(Nov10.AddDays(1).AddHours(23).AddMinutes(59).AddSeconds(30));
        var f = await CreateAsync();
        _time.Advance(TimeSpan.FromSeconds(60));
        await DecideAsync(f, "approve", new { });
        _time.Advance(TimeSpan.FromHours(9));
        await CreateAsync();
        Assert.NotNull(c);
    }

    [Fact]
    public async Task Outcomes_are_counted_on_the_day_they_happened_and_creations_on_the_day_they_were_made()
    {
        await SeedAsync();
        var json = await (await _approver.GetAsync("/api/v1/approvals/stats/timeseries?from=2026-11-10T00:00:00Z&to=2026-11-13T00:00:00Z&bucket=day", Ct)).Json();
        Assert.Equal("day", json.Str("bucket"));
        var buckets = json["buckets"]!.AsArray();
        Assert.Equal(["2026-11-10T00:00:00.000000Z", "2026-11-11T00:00:00.000000Z", "2026-11-12T00:00:00.000000Z"], buckets.Select(b => b!.Str("start")!));
        long[] Row(int i) => [.. new[] { "created", "approved", "rejected", "expired", "cancelled" }.Select(k => buckets[i]![k]!.GetValue<long>())];
        Assert.Equal([3L, 1, 1, 1, 0], Row(0));
        Assert.Equal([3L, 1, 0, 0, 1], Row(1));
        Assert.Equal([1L, 1, 0, 0, 0], Row(2));
    }

    [Fact]
    public async Task Hour_buckets_start_on_the_hour_before_the_window()
    {
        await SeedAsync();
        var json = await (await _approver.GetAsync("/api/v1/approvals/stats/timeseries?from=2026-11-10T08:30:00Z&to=2026-11-10T10:00:00Z&bucket=hour", Ct)).Json();
        var buckets = json["buckets"]!.AsArray();
        Assert.Equal(["2026-11-10T08:00:00.000000Z", "2026-11-10T09:00:00.000000Z"], buckets.Select(b => b!.Str("start")!));
        Assert.Equal(0, buckets[0]!["created"]!.GetValue<long>());
        Assert.Equal(3, buckets[1]!["created"]!.GetValue<long>());
        Assert.Equal(1, buckets[1]!["expired"]!.GetValue<long>());
    }

    [Fact]
    public async Task Decision_times_fall_in_their_histogram_buckets()
    {
        await SeedAsync();
        var json = await (await _approver.GetAsync("/api/v1/approvals/stats/decision-times?from=2026-11-10T00:00:00Z&to=2026-11-13T00:00:00Z", Ct)).Json();
        Assert.Equal(4, json["decided"]!.GetValue<long>());
        var buckets = json["buckets"]!.AsArray().ToDictionary(b => b!.Str("label")!, b => (b!["approved"]!.GetValue<long>(), b["rejected"]!.GetValue<long>()));
        Assert.Equal((1L, 0L), buckets["under 1 min"]);
        Assert.Equal((1L, 0L), buckets["1-5 min"]);
        Assert.Equal((0L, 1L), buckets["5-15 min"]);
        Assert.Equal((0L, 0L), buckets["15-60 min"]);
        Assert.Equal((1L, 0L), buckets["1-4 h"]);
        Assert.Equal((0L, 0L), buckets["over 24 h"]);
        Assert.Equal(7, buckets.Count);
    }

    [Fact]
    public async Task Bad_windows_and_buckets_are_refused()
    {
        await (await _approver.GetAsync("/api/v1/approvals/stats/timeseries?bucket=week", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest, "bucket");
        await (await _approver.GetAsync("/api/v1/approvals/stats/timeseries?from=2026-11-12T00:00:00Z&to=2026-11-10T00:00:00Z", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest, "from must not be after to");
        await (await _approver.GetAsync("/api/v1/approvals/stats/timeseries?from=2026-01-01T00:00:00Z&to=2026-11-10T00:00:00Z&bucket=hour", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest, "1000 buckets");
        await (await _approver.GetAsync("/api/v1/approvals/stats/decision-times?from=yesterday", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest, "ISO-8601");
        using var anonymous = _app.Client(null);
        await (await anonymous.GetAsync("/api/v1/approvals/stats/timeseries", Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized);
    }
}
