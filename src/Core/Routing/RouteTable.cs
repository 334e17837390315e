using System.Text.RegularExpressions;
using AgentSentinel.Core.Approvals;

namespace AgentSentinel.Core.Routing;

/// <summary>First-match route selection and route validation.</summary>
public static partial class RouteTable
{
    public const int MaxRoutes = 200;

    /// <summary>The first route whose conditions all hold; the default route (no conditions) is always last.</summary>
    public static RouteDefinition? Select(IReadOnlyList<RouteDefinition> routes, string actionName, string? agentId, Priority priority, RiskLevel? risk)
    {
        foreach (var route in routes)
        {
            if (Matches(route, actionName, agentId, priority, risk))
            {
                return route;
            }
        }
        return null;
    }

    public static bool Matches(RouteDefinition route, string actionName, string? agentId, Priority priority, RiskLevel? risk)
    {
        var m = route.Match;
        if (m is null || m.IsEmpty)
        {
            return true;
        }
        if (m.Priorities.Count > 0 && !m.Priorities.Contains(priority.ToWire(), StringComparer.OrdinalIgnoreCase))
        {
            return false;
        }
        if (m.RiskLevels.Count > 0 && (risk is null || !m.RiskLevels.Contains(risk.Value.ToWire(), StringComparer.OrdinalIgnoreCase)))
        {
            return false;
        }
        if (m.Actions.Count > 0 && !Glob.AnyMatch(m.Actions, actionName))
        {
            return false;
        }
        return m.Agents.Count == 0 || Glob.AnyMatch(m.Agents, agentId);
    }

    /// <summary>Every problem with a route list, each naming the field (<c>routes[1].slack.channel</c>); empty when valid.</summary>
    public static IReadOnlyList<string> Validate(IReadOnlyList<RouteDefinition> routes)
    {
        var errors = new List<string>();
        if (routes.Count > MaxRoutes)
        {
            errors.Add($"routes: at most {MaxRoutes} routes are allowed, got {routes.Count}.");
        }
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < routes.Count; i++)
        {
            var r = routes[i];
            var at = $"routes[{i}]";
            if (r is null)
            {
                errors.Add($"{at}: a route must be an object.");
                continue;
            }
            if (string.IsNullOrWhiteSpace(r.Name))
            {
                errors.Add($"{at}.name: a route needs a name.");
            }
            else if (r.Name.Length > 100)
            {
                errors.Add($"{at}.name: at most 100 characters.");
            }
            else if (!names.Add(r.Name))
            {
                errors.Add($"{at}.name: the name '{r.Name}' is used by an earlier route.");
            }
            if (r.IsDefault && i != routes.Count - 1)
            {
                errors.Add($"{at}: a route with no match conditions matches everything and must be the last one; it would shadow the {routes.Count - 1 - i} route(s) after it.");
            }
            if (r.Match is { } m)
            {
                CheckValues(errors, $"{at}.match.priorities", m.Priorities, WireNames.Priorities);
                CheckValues(errors, $"{at}.match.risk_levels", m.RiskLevels, WireNames.RiskLevels);
                CheckPatterns(errors, $"{at}.match.actions", m.Actions);
                CheckPatterns(errors, $"{at}.match.agents", m.Agents);
            }
            CheckChannels(errors, at, r.Slack, r.Teams);
            CheckGrants(errors, at, r);
            CheckQuorum(errors, at, r);
            if (r.RequireRecentSignInMinutes is { } recent && recent is < 1 or > MaxRecentSignInMinutes)
            {
                errors.Add($"{at}.require_recent_sign_in_minutes: must be between 1 and {MaxRecentSignInMinutes} minutes, got {recent}.");
            }
            for (var j = 0; j < r.Approvers.Count; j++)
            {
                if (string.IsNullOrWhiteSpace(r.Approvers[j]) || r.Approvers[j].Length > 254)
                {
                    errors.Add($"{at}.approvers[{j}]: an approver is a Slack user id, an email or a Teams object id (1 to 254 characters).");
                }
            }
            if (!string.IsNullOrEmpty(r.Mention) && r.Mention is not ("here" or "channel"))
            {
                errors.Add($"{at}.mention: must be 'here', 'channel' or empty, got '{r.Mention}'.");
            }
            for (var j = 0; j < r.RemindersMinutes.Count; j++)
            {
                if (r.RemindersMinutes[j] is < 1 or > 10080)
                {
                    errors.Add($"{at}.reminders_minutes[{j}]: must be between 1 and 10080 minutes.");
                }
            }
            var last = 0;
            for (var j = 0; j < r.Escalation.Count; j++)
            {
                var level = r.Escalation[j];
                var lat = $"{at}.escalation[{j}]";
                if (level is null)
                {
                    errors.Add($"{lat}: an escalation level must be an object.");
                    continue;
                }
                if (level.AfterMinutes is < 1 or > 10080)
                {
                    errors.Add($"{lat}.after_minutes: must be between 1 and 10080 minutes.");
                }
                else if (level.AfterMinutes <= last)
                {
                    errors.Add($"{lat}.after_minutes: levels must come in increasing order of after_minutes.");
                }
                last = Math.Max(last, level.AfterMinutes);
                CheckChannels(errors, lat, level.Slack, level.Teams);
            }
        }
        return errors;
    }

    private static void CheckChannels(List<string> errors, string at, ChannelTarget? slack, ChannelTarget? teams)
    {
        if (slack?.Channel is { } s && !SlackChannelId().IsMatch(s))
        {
            errors.Add($"{at}.slack.channel: '{Truncate(s)}' is not a Slack channel id (like C0123ABCD); use the id, not the #name.");
        }
        if (teams?.Channel is { } t && !TeamsChannelId().IsMatch(t))
        {
            errors.Add($"{at}.teams.channel: '{Truncate(t)}' is not a Teams channel id (like 19:abc@thread.tacv2).");
        }
    }

    /// <summary>The longest step-up window a route may set (one day).</summary>
    public const int MaxRecentSignInMinutes = 1440;

    private static void CheckGrants(List<string> errors, string at, RouteDefinition r)
    {
        if (r.Grants is not { } grants)
        {
            return;
        }
        if (grants.MaxMinutes is { } minutes && minutes is < 1 or > Grants.GrantRules.MaxMinutesLimit)
        {
            errors.Add($"{at}.grants.max_minutes: must be between 1 and {Grants.GrantRules.MaxMinutesLimit} minutes, got {minutes}.");
        }
        if (grants.Allowed == true && r.Match is { } m
            && (m.Priorities.Contains("critical", StringComparer.OrdinalIgnoreCase) || m.RiskLevels.Contains("critical", StringComparer.OrdinalIgnoreCase)))
        {
            errors.Add($"{at}.grants.allowed: grants are never allowed for critical requests, and this route matches critical priority or risk.");
        }
    }

    /// <summary>The most approvals a quorum may ask for, and the most groups it may name.</summary>
    public const int MaxQuorumApprovals = 20;

    private static void CheckQuorum(List<string> errors, string at, RouteDefinition r)
    {
        if (r.Quorum is not { } quorum)
        {
            return;
        }
        var qat = $"{at}.quorum";
        if (quorum.Approvals is < 1 or > MaxQuorumApprovals)
        {
            errors.Add($"{qat}.approvals: must be between 1 and {MaxQuorumApprovals}, got {quorum.Approvals}.");
        }
        if (quorum.Groups is null)
        {
            errors.Add($"{qat}.groups: must be a list of lists of approvers (or left out).");
            return;
        }
        if (quorum.Groups.Count > quorum.Approvals)
        {
            errors.Add($"{qat}.groups: {quorum.Groups.Count} groups each need an approval, but approvals is {quorum.Approvals}; approvals must be at least the number of groups.");
        }
        for (var g = 0; g < quorum.Groups.Count; g++)
        {
            var group = quorum.Groups[g];
            if (group is null || group.Count == 0)
            {
                errors.Add($"{qat}.groups[{g}]: a group must list at least one approver (email, Slack user id or Teams object id).");
                continue;
            }
            for (var j = 0; j < group.Count; j++)
            {
                var member = group[j];
                if (string.IsNullOrWhiteSpace(member) || member.Length > 254)
                {
                    errors.Add($"{qat}.groups[{g}][{j}]: an approver is a Slack user id, an email or a Teams object id (1 to 254 characters).");
                }
            }
            if (r.Approvers.Count > 0 && !group.Any(m => r.Approvers.Contains(m, StringComparer.OrdinalIgnoreCase)))
            {
                errors.Add($"{qat}.groups[{g}]: none of its members is one of the route's approvers, so this group could never approve; add one to approvers.");
            }
        }
    }

    private static void CheckValues(List<string> errors, string at, List<string> values, IReadOnlyCollection<string> allowed)
    {
        foreach (var v in values)
        {
            if (v is null || !allowed.Contains(v.ToLowerInvariant()))
            {
                errors.Add($"{at}: '{Truncate(v)}' is not one of {string.Join(", ", allowed)}.");
            }
        }
    }

    private static void CheckPatterns(List<string> errors, string at, List<string> values)
    {
        foreach (var v in values)
        {
            if (string.IsNullOrWhiteSpace(v) || v.Length > 200)
            {
                errors.Add($"{at}: patterns must be 1 to 200 characters.");
            }
        }
    }

    private static string Truncate(string? s) => s is null ? "null" : s.Length <= 60 ? s : s[..60] + "...";

    [GeneratedRegex("^[CGD][A-Z0-9]{2,30}$")]
    private static partial Regex SlackChannelId();

    [GeneratedRegex(@"^(19:[^\s]{1,200}@thread\.(tacv2|skype|v2)|a:[^\s]{1,300})$")]
    private static partial Regex TeamsChannelId();
}
