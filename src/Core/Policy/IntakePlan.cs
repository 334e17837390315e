using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Routing;

namespace AgentSentinel.Core.Policy;

/// <summary>How intake treats a request under a policy and a route table: the priority and risk level after the
/// policy floors, the deadline it gets when it names none, the route it follows and who may decide it.</summary>
public sealed record IntakePlan(FlooredValues Floored, int DefaultTimeoutSeconds, RouteDefinition? Route, IReadOnlyList<string> Approvers);

/// <summary>The one planning rule of intake, used by the live path (<see cref="ApprovalService.CreateAsync"/>) and by
/// the policy simulation, so that both treat a request the same way.</summary>
public static class IntakePlanner
{
    /// <summary>The floors come first: the agent's values can raise priority and risk, never lower them below the floor
    /// of the action, and the deadline and the route follow the floored values. A route that names approvers decides
    /// who may decide; otherwise the policy's default approvers do.</summary>
    public static IntakePlan Plan(PolicyOptions policy, IReadOnlyList<RouteDefinition> routes, string actionName, string? agentId,
        Priority requestedPriority, RiskLevel? requestedRisk)
    {
        var floored = PolicyEvaluator.ApplyFloors(policy, actionName, requestedPriority, requestedRisk);
        var route = RouteTable.Select(routes, actionName, agentId, floored.Priority, floored.RiskLevel);
        var approvers = route is { Approvers.Count: > 0 } ? route.Approvers : policy.DefaultApprovers;
        return new IntakePlan(floored, PolicyEvaluator.DefaultTimeout(policy, floored.Priority), route, approvers);
    }
}
