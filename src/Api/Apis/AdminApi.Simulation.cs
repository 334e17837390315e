using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Policy;
using AgentSentinel.Core.Routing;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentSentinel.Api.Apis;

public sealed record TreatmentDto(
    bool RequiresApproval, IReadOnlyList<string> Reasons, string Priority, string? RiskLevel, string? Route, IReadOnlyList<string> Approvers,
    IReadOnlyList<string> Grants)
{
    public static TreatmentDto From(Treatment t) =>
        new(t.RequiresApproval, t.Reasons, t.Priority.ToWire(), t.RiskLevel?.ToWire(), t.Route, t.Approvers, [.. t.Grants.Select(g => g.ToString())]);
}

public sealed record SimulatedRequestDto(
    string Id, string ActionName, string? AgentId, DateTimeOffset CreatedAt, string Status, string? RouteAtCreation, string? GrantId,
    TreatmentDto Current, TreatmentDto Candidate, IReadOnlyList<string> Changed);

/// <summary>Totals of one side: requests <c>/check</c> says need approval, requests a standing grant would have
/// approved at creation, and requests per route (<c>(no route)</c> when none matched).</summary>
public sealed record SimulationSideDto(long? PolicyVersion, long? RoutesVersion, int RequiresApproval, int GrantMatched, IReadOnlyDictionary<string, int> ByRoute);

public sealed record PolicySimulationDto(
    DateTimeOffset From, DateTimeOffset To, int Days, int Requests, bool Truncated, SimulationSideDto Current, SimulationSideDto Candidate,
    IReadOnlyDictionary<string, int> Differences, IReadOnlyList<SimulatedRequestDto> Items, bool ItemsTruncated);

public static partial class AdminApi
{
    /// <summary>The most requests listed in <c>items</c>; the totals always cover every request replayed.</summary>
    public const int MaxSimulationItems = 1000;

    private const string NoRoute = "(no route)";

    /// <summary>How the requests of the last <c>days</c> days would have been treated under a candidate policy and/or
    /// routes (the shapes of <c>PUT /policy</c> and <c>PUT /routes</c>) compared with the settings in force. Nothing is
    /// stored.</summary>
    public static async Task<Results<Ok<PolicySimulationDto>, ProblemHttpResult>> SimulateAsync(HttpContext http, PolicySimulator simulator, CancellationToken ct)
    {
        using var body = await JsonBody.ReadAsync(http, allowEmpty: false);
        var policy = body.Deserialize<PolicyOptions>("policy", SettingsJson.Options);
        var routes = body.Deserialize<List<RouteDefinition>>("routes", SettingsJson.Options);
        if (policy is null && routes is null)
        {
            return Problems.BadRequest("Give a candidate 'policy', 'routes' or both (the shapes of PUT /api/v1/admin/policy and /routes).", "policy");
        }
        var errors = new List<string>();
        if (policy is not null)
        {
            errors.AddRange(PolicyEvaluator.Validate(policy));
        }
        if (routes is not null)
        {
            errors.AddRange(RouteTable.Validate(routes));
        }
        if (errors.Count > 0)
        {
            return ValidationProblem("The candidate settings are not valid.", errors);
        }
        var days = body.Integer("days", PolicySimulator.MinDays, PolicySimulator.MaxDays) ?? 30;
        var listAll = (body.Name("items", 10) ?? "changed") switch
        {
            "changed" => false,
            "all" => true,
            _ => throw JsonBody.Invalid("items", "items must be 'changed' (the default: only requests treated differently) or 'all'."),
        };

        var simulation = await simulator.SimulateAsync(policy, routes, days, ct);
        var requests = simulation.Requests;
        var differences = PolicySimulator.Aspects.ToDictionary(a => a, a => requests.Count(r => r.Changed.Contains(a)));
        differences["any"] = requests.Count(r => r.Changed.Count > 0);
        var listed = requests.Where(r => listAll || r.Changed.Count > 0).ToList();
        return TypedResults.Ok(new PolicySimulationDto(
            simulation.From, simulation.To, days, requests.Count, simulation.Truncated,
            Side(simulation.Current, requests.Select(r => r.Current)),
            Side(simulation.Candidate, requests.Select(r => r.Candidate)),
            differences,
            [.. listed.Take(MaxSimulationItems).Select(r => new SimulatedRequestDto(
                r.Request.Id.ToString(), r.Request.ActionName, r.Request.AgentId, r.Request.CreatedAt, r.Request.Status.ToWire(), r.Request.RouteName,
                r.Request.GrantId?.ToString(), TreatmentDto.From(r.Current), TreatmentDto.From(r.Candidate), r.Changed))],
            listed.Count > MaxSimulationItems));
    }

    private static SimulationSideDto Side(SimulationSettings settings, IEnumerable<Treatment> treatments)
    {
        var list = treatments.ToList();
        return new SimulationSideDto(settings.PolicyVersion, settings.RoutesVersion,
            list.Count(t => t.RequiresApproval), list.Count(t => t.Grants.Count > 0),
            list.GroupBy(t => t.Route ?? NoRoute, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal));
    }
}
