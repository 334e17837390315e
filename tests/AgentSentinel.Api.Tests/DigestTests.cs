using System.Globalization;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteDigestTests() : DigestTests(StorageProvider.Sqlite);

public sealed class PostgresDigestTests() : DigestTests(StorageProvider.Postgres);

/// <summary>The digest's figures against figures computed here, independently, from the raw record of what the test
/// did through the API (plain LINQ over the seeded requests, its own percentile), on both providers.</summary>
public abstract class DigestTests(StorageProvider provider)
{
    private static CancellationToken Ct => Http.Ct;

    private async Task<(AgentSentinelApp App, FakeTimeProvider Time, IReadOnlyList<SeededRequest> Seeded, HttpClient Approver)> SeededAppAsync()
    {
        var time = new FakeTimeProvider(DigestScenario.Start);
        var app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "digest"), time, settings: DigestScenario.Settings());
        var agent = app.Client(await app.CreateKeyAsync("agent", [Scopes.Agent], agentIds: DigestScenario.AgentIds));
        var approver = app.Client(await app.CreateKeyAsync("approver", [Scopes.Approver], "approver@example.com"));
        var seeded = await DigestScenario.SeedAsync(app, time, agent, approver, Ct);
        agent.Dispose();
        return (app, time, seeded, approver);
    }

    [Fact]
    public async Task Digest_figures_equal_figures_computed_independently_from_the_seeded_requests()
    {
        var (app, time, seeded, approver) = await SeededAppAsync();
        await using var _ = app;
        using var __ = approver;
        var zone = TimeZoneInfo.FindSystemTimeZoneById(DigestScenario.TimeZone);

        var response = await approver.GetAsync($"/api/v1/approvals/digest?week={DigestScenario.Week}", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var digest = await response.Json();
        var expected = DigestOracle.Compute(seeded, 2025, 13, zone, time.GetUtcNow());
        DigestOracle.AssertEqual(expected, digest);

        // The scenario really covers what it claims to.
        Assert.Equal("2025-03-23T23:00:00.000000Z", digest.Str("from"));
        Assert.Equal("2025-03-30T22:00:00.000000Z", digest.Str("to"));
        Assert.Equal(digest.Str("to"), digest.Str("as_of"));
        Assert.True((bool)digest["complete"]!);
        var summary = digest["summary"]!;
        Assert.All(new[] { "approved", "rejected", "expired", "cancelled", "open" }, k => Assert.True((long)summary[k]! > 0, k));
        Assert.True((long)digest["by_risk_level"]!["unspecified"]! > 0);
        Assert.Contains(digest["slowest_routes"]!.AsArray(), r => r!["route"] is null);
        Assert.Equal(7, digest["by_day"]!.AsArray().Count);
        Assert.Equal("2025-03-30", digest["by_day"]![6]!.Str("date"));

        // A finished week never changes: more decisions and another sweep later give the same figures.
        time.Advance(TimeSpan.FromDays(3));
        await app.Service<Core.Jobs.ExpiryJobs>().SweepAsync(Ct);
        var later = await (await approver.GetAsync($"/api/v1/approvals/digest?week={DigestScenario.Week}", Ct)).Json();
        Assert.Equal(digest.ToJsonString(), later.ToJsonString());
    }

    [Fact]
    public async Task A_finished_weeks_digest_is_computed_once_and_kept_and_the_next_weeks_comparison_reads_it()
    {
        var (app, time, seeded, approver) = await SeededAppAsync();
        await using var _ = app;
        using var __ = approver;
        var zone = TimeZoneInfo.FindSystemTimeZoneById(DigestScenario.TimeZone);
        time.Advance(Core.Digest.DigestService.KeepAfter);

        var first = await (await approver.GetAsync($"/api/v1/approvals/digest?week={DigestScenario.Week}", Ct)).Json();
        DigestOracle.AssertEqual(DigestOracle.Compute(seeded, 2025, 13, zone, time.GetUtcNow()), first);
        // Read back from the kept copy: the same answer.
        var again = await (await approver.GetAsync($"/api/v1/approvals/digest?week={DigestScenario.Week}", Ct)).Json();
        Assert.Equal(first.ToJsonString(), again.ToJsonString());

        // The kept copy is what is served: a changed copy shows, in the week and as the next week's previous week.
        var db = app.Service<Core.Storage.Database>();
        await using (var connection = await db.OpenAsync(Ct))
        {
            var body = System.Text.Json.Nodes.JsonNode.Parse(await Dapper.SqlMapper.ExecuteScalarAsync<string>(connection, "SELECT body FROM digest_weeks") ?? "")!;
            body["PendingTotal"] = 987654;
            body["Summary"]!["Total"] = 424242;
            Assert.Equal(1, await Dapper.SqlMapper.ExecuteAsync(connection, "UPDATE digest_weeks SET body = @body", new { body = body.ToJsonString() }));
        }
        var kept = await (await approver.GetAsync($"/api/v1/approvals/digest?week={DigestScenario.Week}", Ct)).Json();
        Assert.Equal(987654, (long)kept["pending_total"]!);
        var current = await (await approver.GetAsync("/api/v1/approvals/digest", Ct)).Json();
        Assert.Equal("2025-W14", current.Str("week"));
        Assert.Equal(424242, (long)current["previous_week"]!["summary"]!["total"]!);
    }

    [Fact]
    public async Task The_current_week_is_the_default_and_counts_states_as_of_now()
    {
        var (app, time, seeded, approver) = await SeededAppAsync();
        await using var _ = app;
        using var __ = approver;
        var zone = TimeZoneInfo.FindSystemTimeZoneById(DigestScenario.TimeZone);

        var digest = await (await approver.GetAsync("/api/v1/approvals/digest", Ct)).Json();
        Assert.Equal("2025-W14", digest.Str("week"));
        Assert.False((bool)digest["complete"]!);
        Assert.Equal(Core.Storage.TimeConversions.TruncateToMicroseconds(time.GetUtcNow()).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture), digest.Str("as_of"));
        DigestOracle.AssertEqual(DigestOracle.Compute(seeded, 2025, 14, zone, time.GetUtcNow()), digest);
        Assert.True((long)digest["summary"]!["total"]! > 0);
    }

    [Fact]
    public async Task Bad_weeks_are_refused_naming_week_and_agents_are_forbidden()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero));
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "digestbad"), time);
        using var approver = app.Client(await app.CreateKeyAsync("approver", [Scopes.Approver], "a@example.com"));
        foreach (var bad in new[] { "2026-48", "2026-W4", "2026-W00", "2026-W54", "2025-W53", "26-W48", "2026-w48", "2026W48", "", "2026-W48x", "1969-W52", "0001-W01", "2026-W49", "2027-W01", "9998-W01" })
        {
            var response = await approver.GetAsync($"/api/v1/approvals/digest?week={Uri.EscapeDataString(bad)}", Ct);
            var text = await response.Content.ReadAsStringAsync(Ct);
            await response.AssertProblemAsync(HttpStatusCode.BadRequest);
            Assert.Equal("week", System.Text.Json.Nodes.JsonNode.Parse(text)!.Str("field"));
        }
        await (await approver.GetAsync("/api/v1/approvals/digest?week=2026-W47&week=2026-W48", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest, "once");
        Assert.Equal(HttpStatusCode.OK, (await approver.GetAsync("/api/v1/approvals/digest?week=2026-W48", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await approver.GetAsync("/api/v1/approvals/digest?week=2020-W53", Ct)).StatusCode);

        using var agent = app.Client(await app.CreateKeyAsync("agent", [Scopes.Agent]));
        await (await agent.GetAsync("/api/v1/approvals/digest?week=2026-W48", Ct)).AssertProblemAsync(HttpStatusCode.Forbidden);
        using var anonymous = app.Client(null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/approvals/digest", Ct)).StatusCode);
        using var admin = app.Client();
        var empty = await (await admin.GetAsync("/api/v1/approvals/digest?week=2026-W48", Ct)).Json();
        Assert.Equal(0, (long)empty["summary"]!["total"]!);
        Assert.Null(empty["summary"]!["median_decision_seconds"]);
        Assert.Null(empty["change"]!["total_ratio"]);
    }
}
