using System.Text.Json;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Routing;

namespace AgentSentinel.Core.Grants;

/// <summary>What a grant matches besides the agent: the action name alone, or the action name and the exact inputs.</summary>
public enum GrantMatch
{
    Action,
    ActionAndInputs,
}

/// <summary>
/// A scoped standing grant: a person who approved one request also approved the matching requests of the same agent
/// (the same requesting API key and agent id) until <see cref="ExpiresAt"/>, at most <see cref="MaxUses"/> times, up to
/// a total estimated cost of <see cref="MaxTotalCost"/>. It stops at the first limit reached, or when revoked.
/// </summary>
public sealed record Grant
{
    public required Guid Id { get; init; }
    public string? CreatedByEmail { get; init; }
    public required string CreatedByKeyId { get; init; }
    /// <summary>The API key of the agent whose requests the grant approves.</summary>
    public required string AgentKeyId { get; init; }
    public string? AgentId { get; init; }
    public required string ActionName { get; init; }
    /// <summary>The hash of the canonical JSON of the inputs (<see cref="GrantInputs.Hash"/>), or null when any inputs match.</summary>
    public string? InputsHash { get; init; }
    public required DateTimeOffset ExpiresAt { get; init; }
    public int? MaxUses { get; init; }
    public int Uses { get; init; }
    public decimal? MaxTotalCost { get; init; }
    public decimal CostUsed { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }
    public string? RevokedBy { get; init; }
    public string? RouteName { get; init; }
    public required Guid SourceApprovalId { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }

    public GrantMatch Match => InputsHash is null ? GrantMatch.Action : GrantMatch.ActionAndInputs;

    /// <summary>Who gave the grant, as the trail and the chat messages name them.</summary>
    public string GrantedBy => CreatedByEmail ?? CreatedByKeyId;

    /// <summary><c>active</c>, <c>revoked</c>, <c>expired</c>, <c>used_up</c> (its use limit) or <c>spent</c> (its cost limit).</summary>
    public string StateAt(DateTimeOffset now) =>
        RevokedAt is not null ? "revoked"
        : now >= ExpiresAt ? "expired"
        : MaxUses is { } max && Uses >= max ? "used_up"
        : MaxTotalCost is { } cost && CostUsed >= cost ? "spent"
        : "active";
}

/// <summary>A grant offered with an approval: its length, its limits and what it matches.</summary>
public sealed record GrantOffer(int Minutes, int? MaxUses, decimal? MaxTotalCost, GrantMatch Match);

/// <summary>A grant to create in the same transaction as the approval of its source request.</summary>
public sealed record GrantCreation(Guid Id, GrantOffer Offer, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt)
{
    /// <summary>The grant, once the source request is approved: its agent, action, inputs and route.</summary>
    public Grant For(ApprovalRequest approved, Actor granter) => new()
    {
        Id = Id,
        CreatedByEmail = granter.Email,
        CreatedByKeyId = granter.KeyId ?? granter.AuditName,
        AgentKeyId = approved.RequesterKeyId ?? "",
        AgentId = approved.AgentId,
        ActionName = approved.ActionName,
        InputsHash = Offer.Match == GrantMatch.ActionAndInputs ? GrantInputs.Hash(approved.ActionInputs) : null,
        ExpiresAt = ExpiresAt,
        MaxUses = Offer.MaxUses,
        MaxTotalCost = Offer.MaxTotalCost?.Normalize(),
        RouteName = approved.RouteName,
        SourceApprovalId = approved.Id,
        CreatedAt = CreatedAt,
    };
}

/// <summary>What a new request offers to the grants: who asks, for what, with which inputs and cost, on which route.</summary>
public sealed record GrantProbe(string AgentKeyId, string? AgentId, string ActionName, string InputsHash, string? RouteName, decimal? Cost, DateTimeOffset Now);

/// <summary>The hash a grant for the same inputs compares: the one a receipt carries (<see cref="Receipts.ActionInputsHash"/>),
/// SHA-256 (lowercase hex) of the RFC 8785 canonical JSON of <c>action_inputs</c>. Requests without inputs hash the JSON
/// literal <c>null</c>.</summary>
public static class GrantInputs
{
    public static string Hash(string? actionInputs) => Receipts.ActionInputsHash.Of(actionInputs);
}

/// <summary>Where grants are allowed, and how long they may last.</summary>
public static class GrantRules
{
    /// <summary>The longest grant a route allows when it does not say.</summary>
    public const int DefaultMaxMinutes = 60;

    /// <summary>The longest grant any route may allow (one week).</summary>
    public const int MaxMinutesLimit = 10080;

    /// <summary>Who approved a request a grant approved at intake: the person who gave the grant.</summary>
    public static Actor Granter(ApprovalRequest request) =>
        new(request.DecidedByEmail ?? request.DecidedByKeyId ?? "grant", Surface.System, request.DecidedByEmail, null, request.DecidedByKeyId);

    /// <summary>Why no grant may be given for, or approve, <paramref name="request"/> on <paramref name="route"/>; null when
    /// one may. Critical priority or risk: never. A route that says <c>Allowed</c> decides; otherwise grants are allowed
    /// for low, medium and minimal risk only.</summary>
    public static string? Refusal(RouteDefinition? route, ApprovalRequest request) =>
        Refusal(route, request.Priority, request.RiskLevel, request.RoutePlan?.Quorum is not null);

    /// <summary>As <see cref="Refusal(RouteDefinition?, ApprovalRequest)"/>, for a request of this priority and risk level;
    /// <paramref name="plannedQuorum"/> when the route the request was given needs a quorum.</summary>
    public static string? Refusal(RouteDefinition? route, Priority priority, RiskLevel? risk, bool plannedQuorum = false)
    {
        if (priority == Priority.Critical || risk == RiskLevel.Critical)
        {
            return "Grants are never allowed for critical requests (critical priority or critical risk).";
        }
        var name = RouteLabel(route);
        if (route?.Quorum is not null || plannedQuorum)
        {
            return $"Grants are not allowed on {name}: it needs approvals from several people (a quorum), and a grant is given by one.";
        }
        if (route?.Grants?.Allowed is { } allowed)
        {
            return allowed ? null : $"Grants are not allowed on {name}.";
        }
        return risk is RiskLevel.Low or RiskLevel.Medium or RiskLevel.Minimal
            ? null
            : $"Grants are allowed by default for low and medium risk only (this request's risk is {risk?.ToWire() ?? "not given"}); {name} does not allow them for it.";
    }

    public static int MaxMinutes(RouteDefinition? route) => route?.Grants?.MaxMinutes ?? DefaultMaxMinutes;

    /// <summary>How a route is named in the sentences about grants.</summary>
    public static string RouteLabel(RouteDefinition? route) => route is null ? "the server's default" : $"route '{route.Name}'";

    /// <summary>The one rule for a grant offered with the approval of <paramref name="request"/>, on every surface: the
    /// route allows grants for it, the length is within the route's maximum, a use limit is at least 1 and a cost limit
    /// is not negative. Null when the offer may be given.</summary>
    public static GrantRefusal? Check(RouteDefinition? route, ApprovalRequest request, GrantOffer offer)
    {
        if (Refusal(route, request) is { } refusal)
        {
            return new GrantRefusal(GrantField.Minutes, refusal);
        }
        var maxMinutes = MaxMinutes(route);
        if (offer.Minutes < 1 || offer.Minutes > maxMinutes)
        {
            return new GrantRefusal(GrantField.Minutes, GrantTexts.MinutesOutOfRange(maxMinutes, RouteLabel(route), offer.Minutes));
        }
        if (offer.MaxUses is < 1)
        {
            return new GrantRefusal(GrantField.MaxUses, GrantTexts.MaxUsesInvalid);
        }
        if (offer.MaxTotalCost is < 0)
        {
            return new GrantRefusal(GrantField.MaxTotalCost, GrantTexts.MaxTotalCostInvalid);
        }
        return null;
    }

    /// <summary>The request approved by <paramref name="grant"/> at <paramref name="now"/>, and the event that says so.</summary>
    public static (ApprovalRequest Approved, ApprovalEvent Event) Approve(ApprovalRequest request, Grant grant, DateTimeOffset now)
    {
        var notes = $"Approved by grant {grant.Id} given by {grant.GrantedBy}.";
        var approved = request with
        {
            Status = ApprovalStatus.Approved,
            DecidedAt = now,
            DecidedByEmail = grant.CreatedByEmail,
            DecidedByKeyId = grant.CreatedByKeyId,
            DecidedVia = Surface.System,
            DecisionNotes = notes,
            GrantId = grant.Id,
            FollowUpAt = null,
            Version = request.Version + 1,
            UpdatedAt = now,
        };
        var approvedEvent = new ApprovalEvent
        {
            ApprovalId = request.Id,
            Kind = EventKinds.Approved,
            At = now,
            Actor = grant.GrantedBy,
            ActorKeyId = grant.CreatedByKeyId,
            Surface = Surface.System,
            Details = JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["notes"] = notes,
                ["grant_id"] = grant.Id.ToString(),
                ["granted_by"] = grant.GrantedBy,
                ["grant_uses"] = grant.Uses,
                ["grant_cost_used"] = grant.CostUsed,
            }),
        };
        return (approved, approvedEvent);
    }

    /// <summary>Cost in millionths, as the store keeps it (a fraction of a millionth counts as a whole one).</summary>
    public static long? Micros(decimal? cost) => cost is { } c ? (long)decimal.Ceiling(c * 1_000_000m) : null;

    public static decimal FromMicros(long micros) => (micros / 1_000_000m).Normalize();
}

/// <summary>Event kinds of the grant's life, recorded in the trail of the request it was given with.</summary>
public static class GrantEventKinds
{
    public const string Created = "grant_created";
    public const string Revoked = "grant_revoked";
}
