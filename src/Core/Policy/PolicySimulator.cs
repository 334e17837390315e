using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Grants;
using AgentSentinel.Core.Routing;
using AgentSentinel.Core.Storage;

namespace AgentSentinel.Core.Policy;

/// <summary>How intake would treat a request under one policy and route table: whether <c>/check</c> says it needs
/// approval (and why), its priority and risk level after the floors, its route, who may decide it, and the standing
/// grants that would have approved it at creation.</summary>
public sealed record Treatment(
    bool RequiresApproval, IReadOnlyList<string> Reasons, Priority Priority, RiskLevel? RiskLevel, string? Route, IReadOnlyList<string> Approvers,
    IReadOnlyList<Guid> Grants);

/// <summary>A past request with its treatment under the settings in force and under the candidate ones; <see cref="Changed"/>
/// names what differs (<c>requires_approval</c>, <c>priority</c>, <c>risk_level</c>, <c>route</c>, <c>approvers</c>, <c>grants</c>).</summary>
public sealed record SimulatedRequest(PastRequest Request, Treatment Current, Treatment Candidate, IReadOnlyList<string> Changed);

/// <summary>The settings a side of the comparison uses; a version is null for a candidate that is not stored.</summary>
public sealed record SimulationSettings(PolicyOptions Policy, long? PolicyVersion, IReadOnlyList<RouteDefinition> Routes, long? RoutesVersion);

public sealed record PolicySimulation(
    DateTimeOffset From, DateTimeOffset To, bool Truncated, SimulationSettings Current, SimulationSettings Candidate, IReadOnlyList<SimulatedRequest> Requests);

/// <summary>Replays the requests of a past window through the live intake rules (<see cref="PolicyEvaluator"/>,
/// <see cref="IntakePlanner"/>, <see cref="GrantRules"/> and the grant store's match) under the settings in force and
/// under candidate ones. Read-only: nothing is stored.</summary>
public sealed class PolicySimulator(RuntimeSettings settings, PolicyHistoryStore history, TimeProvider time)
{
    public const int MinDays = 1;
    public const int MaxDays = 90;

    /// <summary>The most past requests one simulation replays (the newest ones); beyond, the answer says it is truncated.</summary>
    public const int MaxRequests = 5000;

    public static readonly IReadOnlyList<string> Aspects = ["requires_approval", "priority", "risk_level", "route", "approvers", "grants"];

    public async Task<PolicySimulation> SimulateAsync(PolicyOptions? candidatePolicy, IReadOnlyList<RouteDefinition>? candidateRoutes, int days, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(days, MinDays);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(days, MaxDays);
        var (policy, policyVersion, _) = await settings.GetPolicyAsync(ct);
        var (routes, routesVersion, _) = await settings.GetRoutesAsync(ct);
        var current = new SimulationSettings(policy, policyVersion, routes, routesVersion);
        var candidate = new SimulationSettings(
            candidatePolicy is null ? policy : settings.WithConfiguredFloors(candidatePolicy), candidatePolicy is null ? policyVersion : null,
            candidateRoutes ?? routes, candidateRoutes is null ? routesVersion : null);

        var to = time.GetUtcNow();
        var from = to.AddDays(-days);
        var past = await history.ListCreatedAsync(from, to, MaxRequests + 1, ct);
        var truncated = past.Count > MaxRequests;
        var anyGrants = await history.AnyGrantsAsync(ct);
        var results = new List<SimulatedRequest>(Math.Min(past.Count, MaxRequests));
        foreach (var request in past.Take(MaxRequests))
        {
            var now = await TreatAsync(request, current, anyGrants, ct);
            var then = await TreatAsync(request, candidate, anyGrants, ct);
            results.Add(new SimulatedRequest(request, now, then, Differences(now, then)));
        }
        return new PolicySimulation(from, to, truncated, current, candidate, results);
    }

    private async Task<Treatment> TreatAsync(PastRequest request, SimulationSettings side, bool anyGrants, CancellationToken ct)
    {
        var decision = PolicyEvaluator.Evaluate(side.Policy,
            new PolicyCheck(request.ActionName, request.EstimatedCost, request.AgentId, request.RunId, request.RequestedRisk, request.RequestedPriority));
        var plan = IntakePlanner.Plan(side.Policy, side.Routes, request.ActionName, request.AgentId, request.RequestedPriority, request.RequestedRisk);
        IReadOnlyList<Guid> grants = [];
        if (anyGrants && request.RequesterKeyId.Length > 0 && GrantRules.Refusal(plan.Route, plan.Floored.Priority, plan.Floored.RiskLevel) is null)
        {
            grants = await history.GrantsMatchingAtAsync(request.Id, new GrantProbe(request.RequesterKeyId, request.AgentId, request.ActionName,
                GrantInputs.Hash(request.ActionInputs), plan.Route?.Name, request.EstimatedCost, request.CreatedAt), ct);
        }
        return new Treatment(decision.RequiresApproval, decision.Reasons, plan.Floored.Priority, plan.Floored.RiskLevel, plan.Route?.Name, plan.Approvers, grants);
    }

    private static List<string> Differences(Treatment a, Treatment b)
    {
        var changed = new List<string>();
        if (a.RequiresApproval != b.RequiresApproval)
        {
            changed.Add("requires_approval");
        }
        if (a.Priority != b.Priority)
        {
            changed.Add("priority");
        }
        if (a.RiskLevel != b.RiskLevel)
        {
            changed.Add("risk_level");
        }
        if (!string.Equals(a.Route, b.Route, StringComparison.Ordinal))
        {
            changed.Add("route");
        }
        if (!a.Approvers.ToHashSet(StringComparer.OrdinalIgnoreCase).SetEquals(b.Approvers))
        {
            changed.Add("approvers");
        }
        if (!a.Grants.ToHashSet().SetEquals(b.Grants))
        {
            changed.Add("grants");
        }
        return changed;
    }
}
