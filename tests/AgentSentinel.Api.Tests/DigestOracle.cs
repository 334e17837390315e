using System.Globalization;
using System.Text.Json.Nodes;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

/// <summary>
/// The weekly digest computed from the test's own record of what it did, without the product's code: week membership
/// by the local date's ISO week, states by replaying the recorded transitions up to the instant, percentiles by linear
/// interpolation in decimal arithmetic. The result has the shape of the endpoint's JSON.
/// </summary>
public static class DigestOracle
{
    private const string Format = "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'";

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString(Format, CultureInfo.InvariantCulture);

    private static DateOnly LocalDate(DateTimeOffset t, TimeZoneInfo zone) => DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(t, zone).DateTime);

    private static DateTimeOffset LocalMidnight(DateOnly date, TimeZoneInfo zone)
    {
        var local = date.ToDateTime(TimeOnly.MinValue, DateTimeKind.Unspecified);
        return new DateTimeOffset(TimeZoneInfo.ConvertTimeToUtc(local, zone), TimeSpan.Zero);
    }

    private static string State(SeededRequest r, DateTimeOffset asOf)
    {
        var closing = r.Transitions.FirstOrDefault(t => t.At <= asOf && t.Kind is "approve" or "reject" or "cancel");
        if (closing.Kind is { } kind)
        {
            return kind switch { "approve" => "approved", "reject" => "rejected", _ => "cancelled" };
        }
        return r.ExpiresAt <= asOf ? "expired" : "open";
    }

    private static long DecisionMicroseconds(SeededRequest r) =>
        (r.Transitions.First(t => t.Kind is "approve" or "reject").At - r.CreatedAt).Ticks / 10;

    public static double? Percentile(IEnumerable<long> values, decimal p)
    {
        var x = values.Order().ToList();
        if (x.Count == 0)
        {
            return null;
        }
        var h = (x.Count - 1) * p;
        var k = (int)decimal.Floor(h);
        decimal v = k + 1 < x.Count ? x[k] + ((h - k) * (x[k + 1] - x[k])) : x[k];
        return (double)Math.Round(v / 1_000_000m, 3);
    }

    private static double Rate(long n, long closed) => closed == 0 ? 0 : (double)Math.Round((decimal)n / closed, 4);

    private static JsonObject Summary(IReadOnlyList<SeededRequest> week, DateTimeOffset asOf)
    {
        var states = week.Select(r => (Request: r, State: State(r, asOf))).ToList();
        long Count(string s) => states.Count(x => x.State == s);
        var (approved, rejected, expired, cancelled) = (Count("approved"), Count("rejected"), Count("expired"), Count("cancelled"));
        var closed = approved + rejected + expired + cancelled;
        var times = states.Where(x => x.State is "approved" or "rejected").Select(x => DecisionMicroseconds(x.Request)).ToList();
        return new JsonObject
        {
            ["total"] = (long)week.Count,
            ["approved"] = approved,
            ["rejected"] = rejected,
            ["expired"] = expired,
            ["cancelled"] = cancelled,
            ["open"] = Count("open"),
            ["decided"] = approved + rejected,
            ["approval_rate"] = Rate(approved, closed),
            ["rejection_rate"] = Rate(rejected, closed),
            ["expiry_rate"] = Rate(expired, closed),
            ["cancellation_rate"] = Rate(cancelled, closed),
            ["median_decision_seconds"] = Percentile(times, 0.5m),
            ["p90_decision_seconds"] = Percentile(times, 0.9m),
            ["closed"] = closed,
        };
    }

    public static JsonObject Compute(IReadOnlyList<SeededRequest> all, int year, int weekNumber, TimeZoneInfo zone, DateTimeOffset now)
    {
        var monday = DateOnly.FromDateTime(ISOWeek.ToDateTime(year, weekNumber, DayOfWeek.Monday));
        var previousMonday = monday.AddDays(-7);
        List<SeededRequest> CreatedIn(DateOnly first) =>
            [.. all.Where(r => LocalDate(r.CreatedAt, zone) is var d && d >= first && d < first.AddDays(7))];
        var from = LocalMidnight(monday, zone);
        var to = LocalMidnight(monday.AddDays(7), zone);
        var asOf = to <= now ? to : now;
        var week = CreatedIn(monday);
        var previous = CreatedIn(previousMonday);
        var summary = Summary(week, asOf);
        var previousSummary = Summary(previous, from);

        var decided = week.Where(r => State(r, asOf) is "approved" or "rejected").ToList();
        var routes = decided.GroupBy(r => r.Route)
            .Select(g => (Route: g.Key, Decided: (long)g.Count(), Median: Percentile(g.Select(DecisionMicroseconds), 0.5m)!.Value))
            .OrderByDescending(r => r.Median).ThenByDescending(r => r.Decided).ThenBy(r => r.Route, StringComparer.Ordinal)
            .Take(5);
        var open = all.Where(r => r.CreatedAt <= asOf && State(r, asOf) == "open").OrderBy(r => r.CreatedAt).ThenBy(r => r.Id, StringComparer.Ordinal).ToList();

        double Diff(string key, int digits) => Math.Round((double)summary[key]! - (double)previousSummary[key]!, digits);
        double? DiffOrNull(string key) => summary[key] is null || previousSummary[key] is null ? null : Diff(key, 3);
        var total = (long)summary["total"]!;
        var previousTotal = (long)previousSummary["total"]!;

        return new JsonObject
        {
            ["week"] = string.Create(CultureInfo.InvariantCulture, $"{year:0000}-W{weekNumber:00}"),
            ["time_zone"] = DigestScenario.TimeZone,
            ["from"] = Time(from),
            ["to"] = Time(to),
            ["as_of"] = Time(asOf),
            ["complete"] = now >= to,
            ["summary"] = summary,
            ["by_day"] = new JsonArray([.. Enumerable.Range(0, 7).Select(i => monday.AddDays(i)).Select(d => (JsonNode)new JsonObject
            {
                ["date"] = d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                ["day"] = d.DayOfWeek.ToString(),
                ["total"] = week.Count(r => LocalDate(r.CreatedAt, zone) == d),
            })]),
            ["by_priority"] = new JsonObject([.. new[] { "critical", "high", "medium", "low" }
                .Select(p => KeyValuePair.Create(p, (JsonNode?)week.Count(r => r.Priority == p)))]),
            ["by_risk_level"] = new JsonObject([.. new[] { "critical", "high", "medium", "low", "minimal", "unspecified" }
                .Select(k => KeyValuePair.Create(k, (JsonNode?)week.Count(r => (r.RiskLevel ?? "unspecified") == k)))]),
            ["slowest_routes"] = new JsonArray([.. routes.Select(r => (JsonNode)new JsonObject
            {
                ["route"] = r.Route,
                ["decided"] = r.Decided,
                ["median_decision_seconds"] = r.Median,
            })]),
            ["pending_total"] = open.Count,
            ["oldest_pending"] = new JsonArray([.. open.Take(5).Select(r => (JsonNode)new JsonObject
            {
                ["id"] = r.Id,
                ["action_name"] = r.ActionName,
                ["agent_id"] = r.AgentId,
                ["priority"] = r.Priority,
                ["risk_level"] = r.RiskLevel,
                ["route"] = r.Route,
                ["created_at"] = Time(r.CreatedAt),
                ["expires_at"] = Time(r.ExpiresAt),
                ["age_seconds"] = (double)Math.Round((decimal)((asOf - r.CreatedAt).Ticks / 10) / 1_000_000m, 3),
            })]),
            ["previous_week"] = new JsonObject
            {
                ["week"] = ISOWeek.GetYear(previousMonday.ToDateTime(TimeOnly.MinValue)) + "-W" + ISOWeek.GetWeekOfYear(previousMonday.ToDateTime(TimeOnly.MinValue)).ToString("00", CultureInfo.InvariantCulture),
                ["from"] = Time(LocalMidnight(previousMonday, zone)),
                ["to"] = Time(from),
                ["as_of"] = Time(from),
                ["summary"] = previousSummary,
            },
            ["change"] = new JsonObject
            {
                ["total"] = total - previousTotal,
                ["total_ratio"] = previousTotal == 0 ? null : (double)Math.Round((decimal)(total - previousTotal) / previousTotal, 4),
                ["approved"] = (long)summary["approved"]! - (long)previousSummary["approved"]!,
                ["rejected"] = (long)summary["rejected"]! - (long)previousSummary["rejected"]!,
                ["expired"] = (long)summary["expired"]! - (long)previousSummary["expired"]!,
                ["cancelled"] = (long)summary["cancelled"]! - (long)previousSummary["cancelled"]!,
                ["approval_rate"] = Diff("approval_rate", 4),
                ["rejection_rate"] = Diff("rejection_rate", 4),
                ["expiry_rate"] = Diff("expiry_rate", 4),
                ["cancellation_rate"] = Diff("cancellation_rate", 4),
                ["median_decision_seconds"] = DiffOrNull("median_decision_seconds"),
                ["p90_decision_seconds"] = DiffOrNull("p90_decision_seconds"),
            },
        };
    }

    private static double Number(JsonNode node) => double.Parse(node.ToJsonString(), CultureInfo.InvariantCulture);

    /// <summary>Every value of <paramref name="expected"/> is in <paramref name="actual"/> at the same path. Numbers
    /// are equal after the documented rounding (seconds to 0.001, rates to 0.0001: one unit of slack for the last digit,
    /// as the two sides round in different arithmetic).</summary>
    public static void AssertEqual(JsonNode? expected, JsonNode? actual, string path = "$")
    {
        switch (expected)
        {
            case null:
                Assert.True(actual is null, $"{path}: expected null, got {actual?.ToJsonString()}");
                break;
            case JsonObject o:
                Assert.True(actual is JsonObject, $"{path}: expected an object, got {actual?.ToJsonString()}");
                Assert.Equal(o.Select(p => p.Key), actual!.AsObject().Select(p => p.Key).Where(o.ContainsKey));
                foreach (var (key, value) in o)
                {
                    Assert.True(actual.AsObject().ContainsKey(key), $"{path}.{key} is missing");
                    AssertEqual(value, actual[key], $"{path}.{key}");
                }
                break;
            case JsonArray a:
                Assert.True(actual is JsonArray b && b.Count == a.Count, $"{path}: expected {a.ToJsonString()}, got {actual?.ToJsonString()}");
                for (var i = 0; i < a.Count; i++)
                {
                    AssertEqual(a[i], actual![i], $"{path}[{i}]");
                }
                break;
            case JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.Number:
                Assert.True(actual is JsonValue w && w.GetValueKind() == System.Text.Json.JsonValueKind.Number, $"{path}: expected {v}, got {actual?.ToJsonString()}");
                var tolerance = path.EndsWith("seconds", StringComparison.Ordinal) ? 0.0011 : path.EndsWith("rate", StringComparison.Ordinal) || path.EndsWith("ratio", StringComparison.Ordinal) ? 0.00011 : 0;
                Assert.True(Math.Abs(Number(v) - Number(actual!)) <= tolerance, $"{path}: expected {v}, got {actual}");
                break;
            default:
                Assert.True(actual is not null && expected.ToJsonString() == actual.ToJsonString(), $"{path}: expected {expected.ToJsonString()}, got {actual?.ToJsonString()}");
                break;
        }
    }
}
