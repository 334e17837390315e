using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Api.Tests;

public sealed class SqlitePolicySimulationTests() : PolicySimulationTests(StorageProvider.Sqlite);

public sealed class PostgresPolicySimulationTests() : PolicySimulationTests(StorageProvider.Postgres);

/// <summary><c>POST /api/v1/admin/policy/simulate</c> on seeded history, checked against a calculation written out
/// here from the rules of the two settings (not with the server's code): needs approval, floors, route, approvers,
/// grants, the totals and the differences. Nothing stored changes.</summary>
public abstract class PolicySimulationTests(StorageProvider provider) : IAsyncLifetime
{
    private const string Url = "/api/v1/admin/policy/simulate";
    private static CancellationToken Ct => Http.Ct;
    private DecidedHistory _history = null!;
    private FakeTimeProvider _time = null!;
    private HttpClient _admin = null!;
    private HttpClient _agent = null!;
    private HttpClient _alice = null!;

    /// <summary>A seeded request: what the agent asked for, and (filled in) its id and the grant that approved it.</summary>
    private sealed record Seed(string Action, decimal? Cost, string? Risk, string Priority, string Agent)
    {
        public string Id { get; set; } = "";
        public string? GrantId { get; set; }
    }

    private sealed record Expected(bool RequiresApproval, string Priority, string Route, string[] Approvers, string[] Grants);

    private static readonly string[] Priorities = ["critical", "high", "medium", "low"];

    // ---- the two settings and their rules, written out ---------------------------------------------------------

    private static readonly string[] DefaultApprovers = ["carol@example.com", "alice@example.com"];

    private static readonly object CurrentPolicy = new
    {
        approval_required_actions = new[] { "delete_*" },
        approval_cost_threshold_usd = 1000,
        approval_required_risk_levels = new[] { "critical" },
        default_approvers = DefaultApprovers,
        floors = new[] { new { actions = new[] { "wire_*" }, priority = "high" } },
    };

    private static readonly object[] CurrentRoutes =
    [
        new { name = "urgent", match = new { priorities = new[] { "high", "critical" } }, approvers = new[] { "bob@example.com" } },
        new { name = "default" },
    ];

    private static readonly object CandidatePolicy = new
    {
        approval_required_actions = new[] { "delete_*", "transfer_*" },
        approval_cost_threshold_usd = 100,
        approval_required_risk_levels = new[] { "high", "critical" },
        default_approvers = DefaultApprovers,
        floors = Array.Empty<object>(),
    };

    private static readonly object[] CandidateRoutes =
    [
        new { name = "payments", match = new { actions = new[] { "refund", "transfer_*" } }, approvers = new[] { "alice@example.com" } },
        new { name = "urgent", match = new { priorities = new[] { "high", "critical" } }, approvers = new[] { "bob@example.com" } },
        new { name = "default" },
    ];

    private static bool AtLeastHigh(string priority) => priority is "high" or "critical";

    private static Expected UnderCurrent(Seed s)
    {
        var needs = s.Action.StartsWith("delete_", StringComparison.Ordinal) || s.Cost >= 1000 || s.Risk == "critical";
        var priority = s.Action.StartsWith("wire_", StringComparison.Ordinal) && Array.IndexOf(Priorities, s.Priority) > 1 ? "high" : s.Priority;
        var route = AtLeastHigh(priority) ? "urgent" : "default";
        return new Expected(needs, priority, route, route == "urgent" ? ["bob@example.com"] : DefaultApprovers, s.GrantId is null ? [] : [s.GrantId]);
    }

    private static Expected UnderCandidate(Seed s)
    {
        var needs = s.Action.StartsWith("delete_", StringComparison.Ordinal) || s.Action.StartsWith("transfer_", StringComparison.Ordinal)
            || s.Cost >= 100 || s.Risk is "high" or "critical";
        var route = s.Action == "refund" || s.Action.StartsWith("transfer_", StringComparison.Ordinal) ? "payments"
            : AtLeastHigh(s.Priority) ? "urgent" : "default";
        string[] approvers = route switch { "payments" => ["alice@example.com"], "urgent" => ["bob@example.com"], _ => DefaultApprovers };
        // The grant was given on the default route: a request routed elsewhere is not matched by it.
        return new Expected(needs, s.Priority, route, approvers, []);
    }

    // ---- seeded history ----------------------------------------------------------------------------------------

    private readonly List<Seed> _window = [];
    private Seed _old = null!;

    public async ValueTask InitializeAsync()
    {
        _history = await DecidedHistory.StartAsync(provider, "simulate", new DateTimeOffset(2026, 10, 1, 9, 0, 0, TimeSpan.Zero), "sim-agent", "alice");
        (_time, _agent, _alice) = (_history.Time, _history.Agent, _history.Approver("alice"));
        _admin = _history.App.Client();
        Assert.Equal(HttpStatusCode.OK, (await _admin.PutAsJsonAsync("/api/v1/admin/policy", new { policy = CurrentPolicy }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _admin.PutAsJsonAsync("/api/v1/admin/routes", new { routes = CurrentRoutes }, Ct)).StatusCode);

        // Forty days ago: outside a 30-day window.
        _old = await CreateAsync(new Seed("delete_table", null, "high", "low", "bot-3"));
        _time.Advance(TimeSpan.FromDays(15));

        // A grant given with the approval of a refund approves the next refund of the same agent.
        var source = await CreateAsync(new Seed("refund", 50m, "low", "medium", "bot-1"));
        var approved = await _history.DecideAsync("alice", source.Id, approve: true, new { grant = new { minutes = 60, match = "action" } });
        var grantId = approved["grant"]!.Id();
        _window.Add(source);
        _time.Advance(TimeSpan.FromMinutes(5));
        var byGrant = await CreateAsync(new Seed("refund", 20m, "low", "medium", "bot-1"));
        Assert.Equal(grantId, byGrant.GrantId);
        _window.Add(byGrant);
        // The grant has ended for everything after this.
        _time.Advance(TimeSpan.FromHours(2));

        foreach (var seed in new Seed[]
        {
            new("refund", 500m, "medium", "low", "bot-1"),
            new("wire_usd", 2000m, "high", "medium", "bot-2"),
            new("delete_table", null, "high", "low", "bot-3"),
            new("transfer_funds", 150m, "medium", "medium", "bot-1"),
            new("transfer_funds", 5m, "minimal", "low", "bot-2"),
            new("report", null, null, "medium", "bot-1"),
            new("deploy", 99.99m, "critical", "critical", "bot-4"),
        })
        {
            _window.Add(await CreateAsync(seed));
            _time.Advance(TimeSpan.FromDays(3));
        }
    }

    public async ValueTask DisposeAsync()
    {
        _admin.Dispose();
        await _history.DisposeAsync();
    }

    private async Task<Seed> CreateAsync(Seed seed)
    {
        var created = await _history.CreateAsync(new
        {
            action_name = seed.Action,
            estimated_cost = seed.Cost,
            risk_level = seed.Risk,
            priority = seed.Priority,
            agent_id = seed.Agent,
            timeout_seconds = 600,
            action_inputs = new { n = _window.Count },
        });
        seed.Id = created.Id();
        seed.GrantId = created.Str("grant_id");
        return seed;
    }

    private static string[] Strings(JsonNode? array) => [.. array!.AsArray().Select(n => n!.GetValue<string>())];

    private static void AssertTreatment(Expected expected, JsonNode actual, string because)
    {
        Assert.True(expected.RequiresApproval == actual["requires_approval"]!.GetValue<bool>(), $"requires_approval: {because}");
        Assert.True(expected.Priority == actual.Str("priority"), $"priority: {because}");
        Assert.True(expected.Route == actual.Str("route"), $"route: {because}");
        Assert.Equal(expected.Approvers, Strings(actual["approvers"]));
        Assert.Equal(expected.Grants, Strings(actual["grants"]));
    }

    [Fact]
    public async Task Each_request_of_the_window_is_treated_as_the_written_out_rules_say_with_totals_and_differences()
    {
        var versions = (await (await _admin.GetAsync("/api/v1/admin/policy", Ct)).Json())["version"]!.GetValue<long>();
        var response = await _admin.PostJsonAsync(Url, new { policy = CandidatePolicy, routes = CandidateRoutes, days = 30, items = "all" });
        var answer = await response.Json();
        Assert.True(response.StatusCode == HttpStatusCode.OK, answer.ToJsonString());

        var items = answer["items"]!.AsArray();
        Assert.Equal(_window.Count, answer["requests"]!.GetValue<int>());
        Assert.False(answer["truncated"]!.GetValue<bool>());
        Assert.Equal(_window.Select(s => s.Id).Order(), items.Select(i => i!.Id()).Order());
        Assert.DoesNotContain(items, i => i!.Id() == _old.Id);

        var changedCounts = new Dictionary<string, int>();
        foreach (var seed in _window)
        {
            var item = items.Single(i => i!.Id() == seed.Id)!;
            var (now, then) = (UnderCurrent(seed), UnderCandidate(seed));
            AssertTreatment(now, item["current"]!, $"{seed} under the current settings");
            AssertTreatment(then, item["candidate"]!, $"{seed} under the candidate settings");
            var changed = new List<string>();
            if (now.RequiresApproval != then.RequiresApproval) changed.Add("requires_approval");
            if (now.Priority != then.Priority) changed.Add("priority");
            if (now.Route != then.Route) changed.Add("route");
            if (!now.Approvers.SequenceEqual(then.Approvers)) changed.Add("approvers");
            if (!now.Grants.SequenceEqual(then.Grants)) changed.Add("grants");
            Assert.Equal(changed.Order(), Strings(item["changed"]).Order());
            foreach (var aspect in changed.Append(changed.Count > 0 ? "any" : null).OfType<string>())
            {
                changedCounts[aspect] = changedCounts.GetValueOrDefault(aspect) + 1;
            }
        }

        foreach (var (side, rule) in new (string, Func<Seed, Expected>)[] { ("current", UnderCurrent), ("candidate", UnderCandidate) })
        {
            var totals = answer[side]!;
            var expected = _window.Select(rule).ToList();
            Assert.Equal(expected.Count(e => e.RequiresApproval), totals["requires_approval"]!.GetValue<int>());
            Assert.Equal(expected.Count(e => e.Grants.Length > 0), totals["grant_matched"]!.GetValue<int>());
            var byRoute = totals["by_route"]!.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<int>());
            Assert.Equal(expected.GroupBy(e => e.Route).ToDictionary(g => g.Key, g => g.Count()), byRoute);
        }
        Assert.Equal(versions, answer["current"]!["policy_version"]!.GetValue<long>());
        Assert.Null(answer["candidate"]!["policy_version"]);
        var differences = answer["differences"]!.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<int>());
        foreach (var aspect in new[] { "requires_approval", "priority", "route", "approvers", "grants", "any" })
        {
            Assert.True(changedCounts.GetValueOrDefault(aspect) == differences[aspect], $"{aspect}: expected {changedCounts.GetValueOrDefault(aspect)}, got {differences[aspect]}");
        }
        // The seeded history exercises every difference at least once.
        Assert.All(new[] { "requires_approval", "priority", "route", "approvers", "grants" }, a => Assert.True(differences[a] > 0, a));

        // By default only the requests treated differently are listed.
        var changedOnly = await (await _admin.PostJsonAsync(Url, new { policy = CandidatePolicy, routes = CandidateRoutes })).Json();
        Assert.Equal(changedCounts["any"], changedOnly["items"]!.AsArray().Count);
        Assert.Equal(_window.Count, changedOnly["requests"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_candidate_policy_alone_keeps_the_routes_in_force_and_a_shorter_window_replays_fewer_requests()
    {
        var answer = await (await _admin.PostJsonAsync(Url, new { policy = CandidatePolicy, days = 7, items = "all" })).Json();
        // The last seeded requests were made 3 and 6 days ago (one every 3 days, the clock moved 3 days after each).
        var recent = _window.TakeLast(2).ToList();
        Assert.Equal(recent.Select(s => s.Id).Order(), answer["items"]!.AsArray().Select(i => i!.Id()).Order());
        foreach (var seed in recent)
        {
            var item = answer["items"]!.AsArray().Single(i => i!.Id() == seed.Id)!;
            var candidate = UnderCandidate(seed);
            // The candidate policy with the current routes: the route follows the candidate's (unfloored) priority.
            var route = AtLeastHigh(candidate.Priority) ? "urgent" : "default";
            Assert.Equal(route, item["candidate"]!.Str("route"));
            Assert.Equal(candidate.RequiresApproval, item["candidate"]!["requires_approval"]!.GetValue<bool>());
            AssertTreatment(UnderCurrent(seed), item["current"]!, seed.ToString());
        }
        Assert.NotNull(answer["candidate"]!["routes_version"]);
    }

    [Fact]
    public async Task A_simulation_changes_nothing_stored()
    {
        var policyBefore = await (await _admin.GetAsync("/api/v1/admin/policy", Ct)).Json();
        var routesBefore = await (await _admin.GetAsync("/api/v1/admin/routes", Ct)).Json();
        var trailBefore = (await (await _admin.GetAsync($"/api/v1/approvals/{_window[3].Id}", Ct)).Json())["events"]!.ToJsonString();
        Assert.Equal(HttpStatusCode.OK, (await _admin.PostJsonAsync(Url, new { policy = CandidatePolicy, routes = CandidateRoutes })).StatusCode);
        Assert.Equal(policyBefore.ToJsonString(), (await (await _admin.GetAsync("/api/v1/admin/policy", Ct)).Json()).ToJsonString());
        Assert.Equal(routesBefore.ToJsonString(), (await (await _admin.GetAsync("/api/v1/admin/routes", Ct)).Json()).ToJsonString());
        Assert.DoesNotContain((await (await _admin.GetAsync("/api/v1/admin/policy/history", Ct)).Json()).AsArray(), c => c!["version"]!.GetValue<long>() > policyBefore["version"]!.GetValue<long>());
        Assert.Equal(trailBefore, (await (await _admin.GetAsync($"/api/v1/approvals/{_window[3].Id}", Ct)).Json())["events"]!.ToJsonString());
    }

    [Fact]
    public async Task A_bad_candidate_is_a_problem_and_only_admins_may_simulate()
    {
        await (await _admin.PostJsonAsync(Url, new { days = 30 })).AssertProblemAsync(HttpStatusCode.BadRequest, "candidate");
        await (await _admin.PostJsonAsync(Url, new { policy = new { min_timeout_seconds = 0 } })).AssertProblemAsync(HttpStatusCode.BadRequest, "min_timeout_seconds");
        await (await _admin.PostJsonAsync(Url, new { routes = new object[] { new { name = "default" }, new { name = "late", match = new { actions = new[] { "x" } } } } }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "must be the last one");
        await (await _admin.PostJsonAsync(Url, new { policy = new { no_such_field = 1 } })).AssertProblemAsync(HttpStatusCode.BadRequest, "policy");
        await (await _admin.PostJsonAsync(Url, new { routes = "default" })).AssertProblemAsync(HttpStatusCode.BadRequest, "routes");
        await (await _admin.PostJsonAsync(Url, new { policy = CandidatePolicy, days = 0 })).AssertProblemAsync(HttpStatusCode.BadRequest, "days");
        await (await _admin.PostJsonAsync(Url, new { policy = CandidatePolicy, days = 91 })).AssertProblemAsync(HttpStatusCode.BadRequest, "days");
        await (await _admin.PostJsonAsync(Url, new { policy = CandidatePolicy, items = "some" })).AssertProblemAsync(HttpStatusCode.BadRequest, "items");
        await (await _admin.PostRawAsync(Url, "{\"policy\": ")).AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal(HttpStatusCode.Forbidden, (await _alice.PostJsonAsync(Url, new { policy = CandidatePolicy })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await _agent.PostJsonAsync(Url, new { policy = CandidatePolicy })).StatusCode);
    }
}
