using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Jobs;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace AgentSentinel.Testing;

/// <summary>What a seeded request went through, as the test did it: the raw record an independent calculation of the
/// digest starts from.</summary>
public sealed record SeededRequest(
    string Id,
    string ActionName,
    string? AgentId,
    string Priority,
    string? RiskLevel,
    string? Route,
    DateTimeOffset CreatedAt,
    DateTimeOffset ExpiresAt,
    List<(string Kind, DateTimeOffset At)> Transitions);

/// <summary>
/// Two realistic ISO weeks (2025-W12 and 2025-W13) of approval traffic in Europe/Berlin, with a clock change on the
/// last Sunday, driven through the real API with a fake clock: every priority and risk level (and none), four routes
/// and requests no route matches, approvals and rejections after minutes or hours, questions answered and then
/// decided, questions never answered, cancellations, expiries (some recorded by the sweep, some not yet), requests still
/// open (some from the week before), decisions that land after the week ended, and requests created one microsecond
/// either side of the week boundaries. The clock ends on the Wednesday of 2025-W14.
/// </summary>
public sealed class DigestScenario
{
    public const string TimeZone = "Europe/Berlin";
    public const string Week = "2025-W13";
    public const string PreviousWeek = "2025-W12";
    public const string HostileAction = "<!channel> *wire* `now` <https://evil.example|click> & more";

    /// <summary>Monday 2025-03-24 00:00 CET and Monday 2025-03-31 00:00 CEST (the clocks went forward on the 30th).</summary>
    public static readonly DateTimeOffset WeekStart = new(2025, 3, 23, 23, 0, 0, TimeSpan.Zero);
    public static readonly DateTimeOffset WeekEnd = new(2025, 3, 30, 22, 0, 0, TimeSpan.Zero);
    public static readonly DateTimeOffset PreviousStart = new(2025, 3, 16, 23, 0, 0, TimeSpan.Zero);
    public static readonly DateTimeOffset Start = new(2025, 3, 12, 8, 0, 0, TimeSpan.Zero);
    public static readonly DateTimeOffset End = WeekEnd.AddDays(2).AddHours(10);

    /// <summary>The agent ids of the scenario's agent key: its own name (for requests that name none) and the agents it plays.</summary>
    public static readonly string[] AgentIds = ["agent", "agent-*"];

    public static IDictionary<string, string?> Settings(IDictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["AgentSentinel:Digest:TimeZone"] = TimeZone,
            ["AgentSentinel:Policy:MaxTimeoutSeconds"] = (40 * 24 * 3600).ToString(CultureInfo.InvariantCulture),
            ["AgentSentinel:Routing:Routes:0:Name"] = "payments",
            ["AgentSentinel:Routing:Routes:0:Match:Actions:0"] = "transfer_*",
            ["AgentSentinel:Routing:Routes:1:Name"] = "data-deletion",
            ["AgentSentinel:Routing:Routes:1:Match:Actions:0"] = "delete_*",
            ["AgentSentinel:Routing:Routes:2:Name"] = "pricing",
            ["AgentSentinel:Routing:Routes:2:Match:Actions:0"] = "update_*",
            ["AgentSentinel:Routing:Routes:3:Name"] = "critical-ops <&>",
            ["AgentSentinel:Routing:Routes:3:Match:Priorities:0"] = "critical",
        };
        foreach (var (k, v) in more ?? new Dictionary<string, string?>())
        {
            settings[k] = v;
        }
        return settings;
    }

    /// <summary>The route the product must pick, by the same rules written out independently.</summary>
    public static string? ExpectedRoute(string action, string priority) =>
        action.StartsWith("transfer_", StringComparison.Ordinal) ? "payments"
        : action.StartsWith("delete_", StringComparison.Ordinal) ? "data-deletion"
        : action.StartsWith("update_", StringComparison.Ordinal) ? "pricing"
        : priority == "critical" ? "critical-ops <&>"
        : null;

    private sealed record Plan(DateTimeOffset CreateAt, string Action, string? Agent, string Priority, string? Risk, int TimeoutSeconds, List<(TimeSpan After, string Kind)> Steps);

    public static async Task<IReadOnlyList<SeededRequest>> SeedAsync(AgentSentinelApp app, FakeTimeProvider time, HttpClient agent, HttpClient approver, CancellationToken ct)
    {
        var plans = Plans();
        var events = plans.SelectMany((p, i) => p.Steps.Select((s, j) => (At: p.CreateAt + s.After, Plan: i, Step: j)).Prepend((At: p.CreateAt, Plan: i, Step: -1)))
            .Where(e => e.At <= End)
            .OrderBy(e => e.At).ThenBy(e => e.Plan).ThenBy(e => e.Step)
            .ToList();
        var seeded = new SeededRequest?[plans.Count];
        var swept = false;
        foreach (var (at, index, step) in events)
        {
            // The sweep runs once, in the middle of the week: later expiries stay unrecorded rows until read.
            if (!swept && at > WeekStart.AddDays(3.5))
            {
                time.SetUtcNow(WeekStart.AddDays(3.5));
                await app.Service<ExpiryJobs>().SweepAsync(ct);
                swept = true;
            }
            time.SetUtcNow(at);
            var plan = plans[index];
            if (step < 0)
            {
                var response = await agent.PostAsJsonAsync("/api/v1/approvals", new
                {
                    action_name = plan.Action,
                    agent_id = plan.Agent,
                    priority = plan.Priority,
                    risk_level = plan.Risk,
                    timeout_seconds = plan.TimeoutSeconds,
                }, ct);
                var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct))!;
                Assert.True(response.StatusCode == System.Net.HttpStatusCode.Created, body.ToJsonString());
                // As the server stored it: a request without an agent id gets the key's, and policy floors may raise
                // priority and risk (transfer_* is at least high/high in the shipped configuration).
                var priority = (string)body["priority"]!;
                seeded[index] = new SeededRequest((string)body["id"]!, plan.Action, (string?)body["agent_id"], priority, (string?)body["risk_level"],
                    ExpectedRoute(plan.Action, priority), at, at.AddSeconds(plan.TimeoutSeconds), []);
                continue;
            }
            var request = seeded[index]!;
            var kind = plan.Steps[step].Kind;
            var (client, path, payload) = kind switch
            {
                "approve" => (approver, "approve", (object)new { notes = "ok" }),
                "reject" => (approver, "reject", new { reason = "too risky" }),
                "info" => (approver, "request-info", new { question = "why?" }),
                "respond" => (agent, "respond", new { response = "because" }),
                _ => (agent, "cancel", (object?)null)!,
            };
            var result = kind == "cancel"
                ? await client.PostAsync($"/api/v1/approvals/{request.Id}/{path}", null, ct)
                : await client.PostAsJsonAsync($"/api/v1/approvals/{request.Id}/{path}", payload, ct);
            Assert.True(result.IsSuccessStatusCode, $"{kind} {request.Id}: {await result.Content.ReadAsStringAsync(ct)}");
            request.Transitions.Add((kind, at));
        }
        time.SetUtcNow(End);
        return [.. seeded.OfType<SeededRequest>()];
    }

    private static List<Plan> Plans()
    {
        var rng = new Random(20250324);
        string[] actions = ["transfer_funds", "transfer_crypto", "delete_records", "update_price", "send_email", "rotate_keys"];
        string[] priorities = ["critical", "high", "medium", "low"];
        string?[] risks = ["critical", "high", "medium", "low", "minimal", null];
        var plans = new List<Plan>();

        TimeSpan Delay() => TimeSpan.FromMicroseconds(Math.Round(Math.Exp(Math.Log(20) + (rng.NextDouble() * (Math.Log(36 * 3600) - Math.Log(20)))) * 1_000_000));
        int TimeoutAfter(TimeSpan last) => (int)Math.Ceiling(last.TotalSeconds) + 600 + rng.Next(86_400);
        Plan New(DateTimeOffset at, int timeout, List<(TimeSpan, string)> steps, string? action = null, string? priority = null) =>
            new(at, action ?? actions[rng.Next(actions.Length)], rng.Next(5) == 0 ? null : $"agent-{rng.Next(1, 6)}",
                priority ?? priorities[rng.Next(priorities.Length)], risks[rng.Next(risks.Length)], timeout, steps);

        Plan Random(DateTimeOffset weekStart)
        {
            var at = weekStart + TimeSpan.FromMicroseconds(rng.NextInt64(7L * 24 * 3600 * 1_000_000));
            var d = Delay();
            var roll = rng.Next(100);
            return roll switch
            {
                < 40 => New(at, TimeoutAfter(d), [(d, "approve")]),
                < 55 => New(at, TimeoutAfter(d), [(d, "reject")]),
                < 65 => New(at, TimeoutAfter(d), [(d * 0.3, "info"), (d * 0.6, "respond"), (d, rng.Next(2) == 0 ? "approve" : "reject")]),
                < 73 => New(at, TimeoutAfter(d), [(d, "cancel")]),
                < 85 => New(at, 600 + rng.Next(2 * 86_400), []),
                < 89 => New(at, 3600 + rng.Next(86_400), [(TimeSpan.FromSeconds(120), "info")]),
                < 95 => New(at, 30 * 86_400, []),
                _ => New(at, 30 * 86_400, [(TimeSpan.FromSeconds(300), "info")]),
            };
        }

        // Still open from the week before, one of them withdrawn during 2025-W13.
        plans.Add(New(PreviousStart.AddDays(-4), 35 * 86_400, [], "transfer_funds", "high"));
        plans.Add(New(PreviousStart.AddDays(-3), 35 * 86_400, [(TimeSpan.FromDays(9), "cancel")], "delete_records", "low"));
        plans.Add(New(PreviousStart.AddDays(-2), 35 * 86_400, [], "send_email", "medium"));
        for (var i = 0; i < 26; i++)
        {
            plans.Add(Random(PreviousStart));
        }
        for (var i = 0; i < 34; i++)
        {
            plans.Add(Random(WeekStart));
        }
        // At the boundaries, one microsecond either side; a decision that lands after the week ended.
        var us = TimeSpan.FromMicroseconds(1);
        plans.Add(New(WeekStart - us, 7200, [(TimeSpan.FromMinutes(30), "approve")], "transfer_funds", "high"));
        plans.Add(New(WeekStart, 7200, [(TimeSpan.FromMinutes(45), "reject")], "update_price", "medium"));
        plans.Add(New(WeekEnd - us, 7200, [(TimeSpan.FromMinutes(2), "approve")], "delete_records", "critical"));
        plans.Add(New(WeekEnd, 7200, [(TimeSpan.FromMinutes(5), "approve")], "transfer_crypto", "low"));
        plans.Add(New(WeekEnd.AddHours(-3), 3 * 86_400, [], HostileAction, "critical"));
        for (var i = 0; i < 5; i++)
        {
            plans.Add(Random(WeekEnd));
        }
        return plans;
    }
}
