using AgentSentinel.Core.Grants;

namespace AgentSentinel.Api.Contracts;

/// <summary>A standing grant as the API shows it. <c>state</c> is <c>active</c>, <c>revoked</c>, <c>expired</c>,
/// <c>used_up</c> (its use limit) or <c>spent</c> (its cost limit).</summary>
public sealed record GrantDto
{
    public required string Id { get; init; }
    public required string State { get; init; }
    public string? CreatedByEmail { get; init; }
    public required string CreatedByKeyId { get; init; }
    public required string AgentKeyId { get; init; }
    public string? AgentId { get; init; }
    public required string ActionName { get; init; }
    /// <summary><c>action</c> or <c>action_and_inputs</c>.</summary>
    public required string Match { get; init; }
    public string? InputsHash { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset ExpiresAt { get; init; }
    public int? MaxUses { get; init; }
    public int Uses { get; init; }
    public decimal? MaxTotalCost { get; init; }
    public decimal CostUsed { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }
    public string? RevokedBy { get; init; }
    public string? Route { get; init; }
    public required string SourceApprovalId { get; init; }

    public static GrantDto From(Grant g, DateTimeOffset now) => new()
    {
        Id = g.Id.ToString(),
        State = g.StateAt(now),
        CreatedByEmail = g.CreatedByEmail,
        CreatedByKeyId = g.CreatedByKeyId,
        AgentKeyId = g.AgentKeyId,
        AgentId = g.AgentId,
        ActionName = g.ActionName,
        Match = MatchName(g.Match),
        InputsHash = g.InputsHash,
        CreatedAt = g.CreatedAt,
        ExpiresAt = g.ExpiresAt,
        MaxUses = g.MaxUses,
        Uses = g.Uses,
        MaxTotalCost = g.MaxTotalCost,
        CostUsed = g.CostUsed,
        RevokedAt = g.RevokedAt,
        RevokedBy = g.RevokedBy,
        Route = g.RouteName,
        SourceApprovalId = g.SourceApprovalId.ToString(),
    };

    public static string MatchName(GrantMatch match) => GrantForm.MatchName(match);
}

public sealed record GrantListDto(IReadOnlyList<GrantDto> Items);

/// <summary>Whether approving a request may also give a grant: <c>max_minutes</c> when it may, <c>reason</c> when not.</summary>
public sealed record GrantAllowanceDto(bool Allowed, int? MaxMinutes, string? Reason);

/// <summary>The optional <c>grant</c> of an approve body.</summary>
public sealed class GrantOfferBody
{
    public int? Minutes { get; set; }
    public int? MaxUses { get; set; }
    public decimal? MaxTotalCost { get; set; }
    public string? Match { get; set; }
}
