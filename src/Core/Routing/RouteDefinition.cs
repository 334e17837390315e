using System.Text.Json.Serialization;

namespace AgentSentinel.Core.Routing;

public sealed class RoutingOptions
{
    public List<RouteDefinition> Routes { get; set; } = [];
}

/// <summary>Where requests that match go, who may decide them, and how they are chased.</summary>
public sealed class RouteDefinition
{
    public string Name { get; set; } = "";
    /// <summary>Conditions; every non-empty list must match. No conditions at all makes the default route.</summary>
    public RouteMatch? Match { get; set; }
    public ChannelTarget? Slack { get; set; }
    public ChannelTarget? Teams { get; set; }
    /// <summary>Slack user ids, emails or Teams AAD object ids; empty means anyone who can see the request.</summary>
    public List<string> Approvers { get; set; } = [];
    /// <summary><c>here</c> or <c>channel</c>: a loud mention in Slack; empty for none.</summary>
    public string? Mention { get; set; }
    public List<int> RemindersMinutes { get; set; } = [];
    public List<EscalationLevel> Escalation { get; set; } = [];
    /// <summary>Whether approvers may give standing grants for this route's requests, and for how long; null for the
    /// default (low and medium risk only, at most 60 minutes). Never for critical requests.</summary>
    public RouteGrants? Grants { get; set; }
    /// <summary>Step-up: a decision on this route's requests needs a console sign-in through the company identity
    /// provider no older than this many minutes (its <c>auth_time</c>); chat and API-key decisions are refused.</summary>
    public int? RequireRecentSignInMinutes { get; set; }
    /// <summary>M-of-N approval: the request is approved only once this many different people approved it (and one
    /// from each group, when groups are named); any allowed approver's rejection rejects it at once. Null: the first
    /// approval decides.</summary>
    public QuorumRule? Quorum { get; set; }

    [JsonIgnore]
    public bool IsDefault => Match is null || Match.IsEmpty;
}

/// <summary>How many approvals a quorum route needs, and from whom.</summary>
public sealed class QuorumRule
{
    /// <summary>The number of different people who must approve (at least 1).</summary>
    public int Approvals { get; set; }
    /// <summary>Optional: lists of people (emails, Slack user ids, Teams object ids); at least one approval must come
    /// from each list. A person is in a list when their email or the chat id they voted with is on it.</summary>
    public List<List<string>> Groups { get; set; } = [];
}

public sealed class RouteMatch
{
    public List<string> Priorities { get; set; } = [];
    public List<string> RiskLevels { get; set; } = [];
    /// <summary>Action names or globs (<c>*</c>, <c>?</c>).</summary>
    public List<string> Actions { get; set; } = [];
    /// <summary>Agent ids or globs.</summary>
    public List<string> Agents { get; set; } = [];

    [JsonIgnore]
    public bool IsEmpty => Priorities.Count == 0 && RiskLevels.Count == 0 && Actions.Count == 0 && Agents.Count == 0;
}

public sealed class RouteGrants
{
    /// <summary>True: grants for any request of the route that is not critical; false: none; null: the default (low and
    /// medium risk only).</summary>
    public bool? Allowed { get; set; }
    /// <summary>The longest grant, in minutes (1 to 10080); null for 60.</summary>
    public int? MaxMinutes { get; set; }
}

public sealed class ChannelTarget
{
    public string? Channel { get; set; }
}

public sealed class EscalationLevel
{
    public int AfterMinutes { get; set; }
    public ChannelTarget? Slack { get; set; }
    public ChannelTarget? Teams { get; set; }
    /// <summary>People to mention (Slack user ids, emails), or <c>here</c> / <c>channel</c>.</summary>
    public List<string> Mention { get; set; } = [];
}
