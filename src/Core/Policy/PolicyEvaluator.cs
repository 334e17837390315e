using System.Globalization;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Routing;

namespace AgentSentinel.Core.Policy;

public sealed record PolicyCheck(string ActionName, decimal? CostUsd, string? AgentId, string? RunId, RiskLevel? RiskLevel, Priority? Priority);

public sealed record PolicyDecision(bool RequiresApproval, IReadOnlyList<string> Reasons, int TimeoutSeconds, IReadOnlyList<string> Approvers);

/// <summary>A request's priority and risk level after the policy floors: <see cref="Raised"/> when a floor changed either.</summary>
public sealed record FlooredValues(Priority Priority, RiskLevel? RiskLevel, bool Raised);

public static class PolicyEvaluator
{
    public static PolicyDecision Evaluate(PolicyOptions policy, PolicyCheck check)
    {
        var reasons = new List<string>();
        var listed = policy.ApprovalRequiredActions.FirstOrDefault(p => Glob.IsMatch(p, check.ActionName));
        if (listed is not null)
        {
            reasons.Add(listed == check.ActionName
                ? $"action '{check.ActionName}' is on the list of actions that require approval"
                : $"action '{check.ActionName}' matches '{listed}', which requires approval");
        }
        if (policy.ApprovalCostThresholdUsd is { } threshold && check.CostUsd is { } cost && cost >= threshold)
        {
            reasons.Add(string.Create(CultureInfo.InvariantCulture, $"estimated cost {cost} USD is at or above the threshold of {threshold} USD"));
        }
        if (check.RiskLevel is { } risk
            && policy.ApprovalRequiredRiskLevels.Any(r => WireNames.TryParseRisk(r, out var listed) && listed == risk))
        {
            reasons.Add($"risk level '{risk.ToWire()}' requires approval");
        }
        var floored = ApplyFloors(policy, check.ActionName, check.Priority ?? Priority.Medium, check.RiskLevel);
        return new PolicyDecision(reasons.Count > 0, reasons, DefaultTimeout(policy, floored.Priority), policy.DefaultApprovers);
    }

    /// <summary>Raises <paramref name="priority"/> and <paramref name="risk"/> to the highest floor among those whose
    /// actions match <paramref name="actionName"/>; never lowers them.</summary>
    public static FlooredValues ApplyFloors(PolicyOptions policy, string actionName, Priority priority, RiskLevel? risk)
    {
        var (p, r) = (priority, risk);
        foreach (var floor in policy.Floors ?? [])
        {
            if (floor is null || !Glob.AnyMatch(floor.Actions, actionName))
            {
                continue;
            }
            // The enums run from the most severe (0) down, so raising is taking the smaller value.
            if (WireNames.TryParsePriority(floor.Priority, out var fp) && fp < p)
            {
                p = fp;
            }
            if (WireNames.TryParseRisk(floor.RiskLevel, out var fr) && (r is null || fr < r))
            {
                r = fr;
            }
        }
        return new FlooredValues(p, r, p != priority || r != risk);
    }

    public static int DefaultTimeout(PolicyOptions policy, Priority priority)
    {
        var t = policy.DefaultTimeoutSeconds;
        var seconds = priority switch
        {
            Priority.Critical => t.Critical,
            Priority.High => t.High,
            Priority.Low => t.Low,
            _ => t.Medium,
        };
        return Math.Clamp(seconds, policy.MinTimeoutSeconds, policy.MaxTimeoutSeconds);
    }

    /// <summary>Every problem with a policy, each naming the field; empty when valid.</summary>
    public static IReadOnlyList<string> Validate(PolicyOptions policy)
    {
        var errors = new List<string>();
        if (policy.MinTimeoutSeconds < 1)
        {
            errors.Add("policy.min_timeout_seconds: must be at least 1.");
        }
        if (policy.MaxTimeoutSeconds < policy.MinTimeoutSeconds)
        {
            errors.Add("policy.max_timeout_seconds: must not be less than min_timeout_seconds.");
        }
        if (policy.MaxTimeoutSeconds > 365 * 24 * 3600)
        {
            errors.Add("policy.max_timeout_seconds: at most one year (31536000).");
        }
        var t = policy.DefaultTimeoutSeconds;
        if (t is null)
        {
            errors.Add("policy.default_timeout_seconds: required.");
        }
        else
        {
            foreach (var (name, value) in new[] { ("critical", t.Critical), ("high", t.High), ("medium", t.Medium), ("low", t.Low) })
            {
                if (value < policy.MinTimeoutSeconds || value > policy.MaxTimeoutSeconds)
                {
                    errors.Add($"policy.default_timeout_seconds.{name}: {value} is outside min_timeout_seconds..max_timeout_seconds ({policy.MinTimeoutSeconds}..{policy.MaxTimeoutSeconds}).");
                }
            }
        }
        if (policy.ApprovalCostThresholdUsd is < 0)
        {
            errors.Add("policy.approval_cost_threshold_usd: must not be negative.");
        }
        foreach (var a in policy.ApprovalRequiredActions)
        {
            if (string.IsNullOrWhiteSpace(a) || a.Length > 200)
            {
                errors.Add("policy.approval_required_actions: names and patterns must be 1 to 200 characters.");
            }
        }
        foreach (var r in policy.ApprovalRequiredRiskLevels)
        {
            if (!WireNames.TryParseRisk(r, out _))
            {
                errors.Add($"policy.approval_required_risk_levels: '{r}' is not one of {string.Join(", ", WireNames.RiskLevels)}.");
            }
        }
        if (policy.DefaultApprovers.Any(a => string.IsNullOrWhiteSpace(a) || a.Length > 254))
        {
            errors.Add("policy.default_approvers: each approver must be 1 to 254 characters.");
        }
        ValidateFloors(policy.Floors, errors);
        return errors;
    }

    private static void ValidateFloors(List<PolicyFloor>? floors, List<string> errors)
    {
        if (floors is null)
        {
            return;
        }
        if (floors.Count > 100)
        {
            errors.Add($"policy.floors: at most 100 floors are allowed, got {floors.Count}.");
        }
        for (var i = 0; i < floors.Count; i++)
        {
            var at = $"policy.floors[{i}]";
            var floor = floors[i];
            if (floor is null)
            {
                errors.Add($"{at}: a floor must be an object.");
                continue;
            }
            if (floor.Actions is null || floor.Actions.Count == 0)
            {
                errors.Add($"{at}.actions: name at least one action or pattern (such as transfer_*).");
            }
            else if (floor.Actions.Any(a => string.IsNullOrWhiteSpace(a) || a.Length > 200))
            {
                errors.Add($"{at}.actions: names and patterns must be 1 to 200 characters.");
            }
            if (floor.Priority is null && floor.RiskLevel is null)
            {
                errors.Add($"{at}: a floor needs a priority, a risk_level or both.");
            }
            if (floor.Priority is not null && !WireNames.TryParsePriority(floor.Priority, out _))
            {
                errors.Add($"{at}.priority: '{floor.Priority}' is not one of {string.Join(", ", WireNames.Priorities)}.");
            }
            if (floor.RiskLevel is not null && !WireNames.TryParseRisk(floor.RiskLevel, out _))
            {
                errors.Add($"{at}.risk_level: '{floor.RiskLevel}' is not one of {string.Join(", ", WireNames.RiskLevels)}.");
            }
        }
    }
}
