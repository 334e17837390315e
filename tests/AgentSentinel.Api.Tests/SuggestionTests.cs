using System.Text.Json.Nodes;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteSuggestionTests() : SuggestionTests(StorageProvider.Sqlite);

public sealed class PostgresSuggestionTests() : SuggestionTests(StorageProvider.Postgres);

/// <summary>The suggestions on seeded decisions, checked against figures computed here from what was seeded: pairs
/// approved 10 times and never rejected in 30 days (not 9, not with one rejection, not counting approvals by a grant),
/// and each approver's share of approvals given under 10 seconds after the request appeared.</summary>
public abstract class SuggestionTests(StorageProvider provider) : IAsyncLifetime
{
    private const string Url = "/api/v1/approvals/suggestions";
    private static CancellationToken Ct => Http.Ct;
    private DecidedHistory _history = null!;
    private FakeTimeProvider _time = null!;
    private AgentSentinelApp _app = null!;
    private HttpClient _agent = null!;

    /// <summary>A seeded decision as the oracle sees it.</summary>
    private sealed record Decision(string Agent, string Action, string Outcome, string Approver, DateTimeOffset CreatedAt, DateTimeOffset DecidedAt, bool ByGrant);

    private readonly List<Decision> _seeded = [];

    public async ValueTask InitializeAsync()
    {
        _history = await DecidedHistory.StartAsync(provider, "suggest", new DateTimeOffset(2026, 9, 1, 8, 0, 0, TimeSpan.Zero), "suggest-agent", "alice", "bob", "carol");
        (_time, _app, _agent) = (_history.Time, _history.App, _history.Agent);
    }

    public async ValueTask DisposeAsync() => await _history.DisposeAsync();

    /// <summary>A request from <paramref name="agent"/>, decided by <paramref name="approver"/> <paramref name="after"/> its creation.</summary>
    private async Task<string> DecideAsync(string agent, string action, string outcome, string approver, TimeSpan after, object? grant = null)
    {
        var created = await _history.CreateAsync(new { action_name = action, agent_id = agent, risk_level = "low" });
        var createdAt = _time.GetUtcNow();
        _time.Advance(after);
        await (outcome == "approved"
            ? _history.DecideAsync(approver, created.Id(), approve: true, grant is null ? new { notes = "ok" } : new { notes = "ok", grant })
            : _history.DecideAsync(approver, created.Id(), approve: false, new { reason = "no" }));
        _seeded.Add(new Decision(agent, action, outcome, $"{approver}@example.com", createdAt, _time.GetUtcNow(), ByGrant: false));
        _time.Advance(TimeSpan.FromMinutes(1));
        return created.Id();
    }

    private async Task<JsonNode> SuggestionsAsync()
    {
        var response = await _history.Approver("alice").GetAsync(Url, Ct);
        var json = await response.Json();
        Assert.True(response.StatusCode == HttpStatusCode.OK, json.ToJsonString());
        return json;
    }

    [Fact]
    public async Task Pairs_approved_ten_times_without_a_rejection_in_thirty_days_are_suggested()
    {
        var slow = TimeSpan.FromMinutes(2);
        // An old rejection, 31 days before the end: outside the window, so it does not count against bot-a.
        await DecideAsync("bot-a", "refund", "rejected", "bob", slow);
        _time.Advance(TimeSpan.FromDays(31));
        for (var i = 0; i < 10; i++)
        {
            await DecideAsync("bot-a", "refund", "approved", i % 2 == 0 ? "alice" : "bob", slow);
        }
        for (var i = 0; i < 9; i++)
        {
            await DecideAsync("bot-b", "refund", "approved", "alice", slow);
        }
        for (var i = 0; i < 12; i++)
        {
            await DecideAsync("bot-c", "export", "approved", "carol", slow);
        }
        await DecideAsync("bot-c", "export", "rejected", "bob", slow);
        // Nine approvals by people and one by the grant one of them gave: the grant's does not count.
        await DecideAsync("bot-d", "sync", "approved", "alice", slow, new { minutes = 60, max_uses = 1, match = "action" });
        var byGrant = await _agent.CreateApprovalAsync(new { action_name = "sync", agent_id = "bot-d", risk_level = "low" });
        Assert.Equal("approved", byGrant.Str("status"));
        _seeded.Add(new Decision("bot-d", "sync", "approved", "alice@example.com", _time.GetUtcNow(), _time.GetUtcNow(), ByGrant: true));
        for (var i = 0; i < 8; i++)
        {
            await DecideAsync("bot-d", "sync", "approved", "bob", slow);
        }
        // The same action from another agent is another pair.
        for (var i = 0; i < 10; i++)
        {
            await DecideAsync("bot-e", "export", "approved", "alice", slow);
        }

        var now = _time.GetUtcNow();
        var expected = _seeded
            .Where(d => !d.ByGrant && d.DecidedAt >= now.AddDays(-30) && d.DecidedAt < now)
            .GroupBy(d => (d.Agent, d.Action))
            .Where(g => g.Count(d => d.Outcome == "approved") >= 10 && !g.Any(d => d.Outcome == "rejected"))
            .Select(g => $"{g.Key.Agent}/{g.Key.Action}/{g.Count()}")
            .Order()
            .ToList();
        Assert.Equal(["bot-a/refund/10", "bot-e/export/10"], expected); // the seeding is what this test means it to be

        var answer = await SuggestionsAsync();
        var exemptions = answer["exemptions"]!.AsArray();
        Assert.Equal(expected, exemptions.Select(e => $"{e!.Str("agent_id")}/{e!.Str("action_name")}/{e!["approved"]!.GetValue<long>()}").Order());
        var lastA = _seeded.Where(d => d.Agent == "bot-a" && d.Outcome == "approved").Max(d => d.DecidedAt);
        Assert.Equal(lastA, exemptions.Single(e => e!.Str("agent_id") == "bot-a")!["last_approved_at"]!.GetValue<DateTimeOffset>());
        Assert.Equal(30, answer["rules"]!["window_days"]!.GetValue<int>());
        // The weekly digest of the week in progress carries the same suggestions, as of now.
        var digest = await (await _history.Approver("alice").GetAsync("/api/v1/approvals/digest", Ct)).Json();
        Assert.Equal(expected, digest["suggestions"]!["exemptions"]!.AsArray().Select(e => $"{e!.Str("agent_id")}/{e!.Str("action_name")}/{e!["approved"]!.GetValue<long>()}").Order());
        Assert.Equal(10, answer["rules"]!["min_approvals"]!.GetValue<int>());
    }

    [Fact]
    public async Task Each_approvers_share_of_approvals_under_ten_seconds_is_reported_with_the_boundary_excluded()
    {
        var underTen = TimeSpan.FromSeconds(10) - TimeSpan.FromMicroseconds(1);
        var ten = TimeSpan.FromSeconds(10);
        // alice: 4 of 6 under 10 s (two at exactly 10 s are not): flagged.
        for (var i = 0; i < 4; i++)
        {
            await DecideAsync("bot-1", "refund", "approved", "alice", underTen);
        }
        for (var i = 0; i < 2; i++)
        {
            await DecideAsync("bot-1", "refund", "approved", "alice", ten);
        }
        // bob: every approval fast, but fewer than 5: not flagged. His fast rejection is not an approval.
        for (var i = 0; i < 4; i++)
        {
            await DecideAsync("bot-2", "refund", "approved", "bob", TimeSpan.FromSeconds(3));
        }
        await DecideAsync("bot-2", "refund", "rejected", "bob", TimeSpan.FromSeconds(1));
        // carol: 2 of 5 fast: under half, not flagged.
        for (var i = 0; i < 5; i++)
        {
            await DecideAsync("bot-3", "refund", "approved", "carol", i < 2 ? TimeSpan.FromSeconds(2) : TimeSpan.FromMinutes(5));
        }

        var now = _time.GetUtcNow();
        var expected = _seeded
            .Where(d => d.Outcome == "approved" && d.DecidedAt >= now.AddDays(-30))
            .GroupBy(d => d.Approver)
            .ToDictionary(g => g.Key, g => (Approvals: g.Count(), Fast: g.Count(d => d.DecidedAt - d.CreatedAt < TimeSpan.FromSeconds(10))));
        Assert.Equal((6, 4), expected["alice@example.com"]);

        var figures = (await SuggestionsAsync())["fast_approvals"]!.AsArray();
        Assert.Equal(expected.Keys.Order(), figures.Select(f => f!.Str("approver")).Order());
        foreach (var figure in figures.Select(f => f!))
        {
            var (approvals, fast) = expected[figure.Str("approver")!];
            Assert.Equal(approvals, figure["approvals"]!.GetValue<long>());
            Assert.Equal(fast, figure["fast"]!.GetValue<long>());
            var share = Math.Round((double)fast / approvals, 4);
            Assert.Equal(share, figure["share"]!.GetValue<double>());
            Assert.Equal(approvals >= 5 && share >= 0.5, figure["flagged"]!.GetValue<bool>());
        }
        // The flagged approver comes first.
        Assert.Equal("alice@example.com", figures[0]!.Str("approver"));
        Assert.True(figures[0]!["flagged"]!.GetValue<bool>());
    }

    /// <summary>The suggestions computed here from what was seeded, as of now: the exemptions as
    /// "agent/action/approvals/last approval" and each approver's approvals and fast approvals.</summary>
    private (List<string> Exemptions, Dictionary<string, (long Approvals, long Fast)> Fast) Expected()
    {
        var now = _time.GetUtcNow();
        var people = _seeded.Where(d => !d.ByGrant && d.DecidedAt >= now.AddDays(-30) && d.DecidedAt < now).ToList();
        var exemptions = people
            .GroupBy(d => (d.Agent, d.Action))
            .Where(g => g.Count(d => d.Outcome == "approved") >= 10 && !g.Any(d => d.Outcome == "rejected"))
            .Select(g => $"{g.Key.Agent}/{g.Key.Action}/{g.Count()}/{g.Max(d => d.DecidedAt):O}")
            .Order()
            .ToList();
        var fast = people.Where(d => d.Outcome == "approved").GroupBy(d => d.Approver)
            .ToDictionary(g => g.Key, g => ((long)g.Count(), (long)g.Count(d => d.DecidedAt - d.CreatedAt < TimeSpan.FromSeconds(10))));
        return (exemptions, fast);
    }

    private async Task AssertAsExpectedAsync()
    {
        var (exemptions, fast) = Expected();
        var answer = await SuggestionsAsync();
        Assert.Equal(exemptions, answer["exemptions"]!.AsArray()
            .Select(e => $"{e!.Str("agent_id")}/{e!.Str("action_name")}/{e!["approved"]!.GetValue<long>()}/{e!["last_approved_at"]!.GetValue<DateTimeOffset>():O}").Order());
        Assert.Equal(fast, answer["fast_approvals"]!.AsArray().ToDictionary(f => f!.Str("approver")!, f => (f!["approvals"]!.GetValue<long>(), f!["fast"]!.GetValue<long>())));
    }

    [Fact]
    public async Task The_thirty_days_end_and_start_to_the_microsecond_across_day_and_hour_edges()
    {
        // Ten approvals of bot-e, the first exactly at midnight UTC, about eight minutes apart: the last ones in the next hour.
        var midnight = new DateTimeOffset(2026, 9, 2, 0, 0, 0, TimeSpan.Zero);
        _time.SetUtcNow(midnight - TimeSpan.FromSeconds(5));
        for (var i = 0; i < 10; i++)
        {
            await DecideAsync("bot-e", "export", "approved", "alice", i % 3 == 0 ? TimeSpan.FromSeconds(5) : TimeSpan.FromMinutes(10));
        }
        var first = _seeded[0].DecidedAt;
        var last = _seeded[^1].DecidedAt;
        Assert.Equal(midnight, first);
        Assert.True(last - first > TimeSpan.FromHours(1));
        // Decisions on other days and hours, inside hours, that stay in the window throughout.
        _time.SetUtcNow(midnight.AddDays(3).AddHours(5).AddMinutes(17));
        for (var i = 0; i < 6; i++)
        {
            await DecideAsync("bot-f", "sync", i == 5 ? "rejected" : "approved", "bob", TimeSpan.FromSeconds(i * 4));
        }

        // The window [now - 30 days, now): exactly 30 days after the first, it still counts; a microsecond later not.
        _time.SetUtcNow(first.AddDays(30));
        await AssertAsExpectedAsync();
        Assert.Equal((10, 4), Expected().Fast["alice@example.com"]);
        _time.SetUtcNow(first.AddDays(30).AddMicroseconds(1));
        await AssertAsExpectedAsync();
        Assert.Equal((9, 3), Expected().Fast["alice@example.com"]);
        Assert.DoesNotContain(Expected().Exemptions, e => e.StartsWith("bot-e/", StringComparison.Ordinal));
        // Only the last approval left, at the window's start; then none.
        _time.SetUtcNow(last.AddDays(30));
        await AssertAsExpectedAsync();
        Assert.Equal((1, 1), Expected().Fast["alice@example.com"]);
        _time.SetUtcNow(last.AddDays(30).AddMicroseconds(1));
        await AssertAsExpectedAsync();
        Assert.False(Expected().Fast.ContainsKey("alice@example.com"));
    }

    [Fact]
    public async Task A_rejection_after_ten_approvals_withdraws_the_suggestion_until_it_leaves_the_window()
    {
        for (var i = 0; i < 10; i++)
        {
            await DecideAsync("bot-g", "refund", "approved", i % 2 == 0 ? "alice" : "carol", TimeSpan.FromSeconds(30));
        }
        await AssertAsExpectedAsync();
        Assert.Single(Expected().Exemptions);

        _time.Advance(TimeSpan.FromHours(20));
        await DecideAsync("bot-g", "refund", "rejected", "bob", TimeSpan.FromSeconds(30));
        await AssertAsExpectedAsync();
        Assert.Empty(Expected().Exemptions);

        // Ten more approvals the next days: still withdrawn while the rejection is in the window.
        for (var i = 0; i < 10; i++)
        {
            _time.Advance(TimeSpan.FromHours(3));
            await DecideAsync("bot-g", "refund", "approved", "carol", TimeSpan.FromSeconds(8));
        }
        await AssertAsExpectedAsync();
        Assert.Empty(Expected().Exemptions);

        // Thirty days after the rejection it has left the window; the ten approvals after it remain.
        var rejection = _seeded.Single(d => d.Outcome == "rejected").DecidedAt;
        _time.SetUtcNow(rejection.AddDays(30).AddMicroseconds(1));
        await AssertAsExpectedAsync();
        Assert.Equal([$"bot-g/refund/10/{_seeded[^1].DecidedAt:O}"], Expected().Exemptions);
    }

    [Fact]
    public async Task Only_approvers_and_admins_read_suggestions()
    {
        Assert.Equal(HttpStatusCode.Forbidden, (await _agent.GetAsync(Url, Ct)).StatusCode);
        using var anonymous = _app.Client(key: null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(Url, Ct)).StatusCode);
        var empty = await SuggestionsAsync();
        Assert.Empty(empty["exemptions"]!.AsArray());
        Assert.Empty(empty["fast_approvals"]!.AsArray());
    }
}
