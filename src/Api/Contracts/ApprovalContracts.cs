using System.Text.Json;
using AgentSentinel.Core.Approvals;

namespace AgentSentinel.Api.Contracts;

/// <summary>The approval object of the agent API. Every field is always present (null when unset), and
/// <c>status</c> is never null.</summary>
public record ApprovalDto
{
    public required string Id { get; init; }
    /// <summary>The same as <c>id</c>, for clients that read <c>approval_id</c>.</summary>
    public required string ApprovalId { get; init; }
    public required string Status { get; init; }
    public required string ActionName { get; init; }
    public string? ActionDescription { get; init; }
    public string? AgentId { get; init; }
    /// <summary>The name of the API key that made the request (when it was made): the agent id is a claim, the key is
    /// who made it.</summary>
    public string? RequesterKeyName { get; init; }
    public string? RunId { get; init; }
    public string? TaskId { get; init; }
    public string? MissionId { get; init; }
    public decimal? EstimatedCost { get; init; }
    public string? RiskLevel { get; init; }
    public required string Priority { get; init; }
    public JsonElement? ActionInputs { get; init; }
    public JsonElement? Context { get; init; }
    public string? CallbackUrl { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset ExpiresAt { get; init; }
    public int TimeoutSeconds { get; init; }
    public DateTimeOffset? DecidedAt { get; init; }
    public string? DecidedByEmail { get; init; }
    public string? DecidedByUserId { get; init; }
    /// <summary>The API key of the approver identity that decided (for chat decisions, the key matched by email).</summary>
    public string? DecidedByKeyId { get; init; }
    public string? DecidedVia { get; init; }
    /// <summary>When a delegate decided: the email of the person they stood in for.</summary>
    public string? DecidedOnBehalfOf { get; init; }
    /// <summary>Where an approver last handed the request while it was open: <c>person_email</c> or a channel, <c>by</c>, <c>at</c>, <c>note</c>.</summary>
    public Reassignment? ReassignedTo { get; init; }
    public string? DecisionNotes { get; init; }
    public string? InfoRequestMessage { get; init; }
    public string? InfoResponse { get; init; }
    public string? Route { get; init; }
    public IReadOnlyList<string> Approvers { get; init; } = [];
    public int Version { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    /// <summary>The standing grant that approved this request at intake, when one did.</summary>
    public string? GrantId { get; init; }
    /// <summary>In the answer to an approval that gave a standing grant: that grant.</summary>
    public GrantDto? Grant { get; init; }
    /// <summary>The signed receipt (compact JWS, ES256) once the request is final; null while it is open.</summary>
    public string? Receipt { get; init; }
    /// <summary>On a quorum route: how many approvals it needs and has, and who it waits for; null elsewhere.</summary>
    public QuorumDto? Quorum { get; init; }
    /// <summary>On a quorum route: every vote so far (who, how, when, notes, surface), oldest first; empty elsewhere.</summary>
    public IReadOnlyList<VoteDto> Votes { get; init; } = [];

    public static ApprovalDto From(ApprovalRequest r) => new()
    {
        Id = r.Id.ToString(),
        ApprovalId = r.Id.ToString(),
        Status = r.Status.ToWire(),
        ActionName = r.ActionName,
        ActionDescription = r.ActionDescription,
        AgentId = r.AgentId,
        RequesterKeyName = r.RequesterKeyName,
        RunId = r.RunId,
        TaskId = r.TaskId,
        MissionId = r.MissionId,
        EstimatedCost = r.EstimatedCost,
        RiskLevel = r.RiskLevel?.ToWire(),
        Priority = r.Priority.ToWire(),
        ActionInputs = ParseJson(r.ActionInputs),
        Context = ParseJson(r.Context),
        CallbackUrl = r.CallbackUrl,
        CreatedAt = r.CreatedAt,
        ExpiresAt = r.ExpiresAt,
        TimeoutSeconds = r.TimeoutSeconds,
        DecidedAt = r.DecidedAt,
        DecidedByEmail = r.DecidedByEmail,
        DecidedByUserId = r.DecidedByUserId,
        DecidedByKeyId = r.DecidedByKeyId,
        DecidedVia = r.DecidedVia?.ToWire(),
        DecidedOnBehalfOf = r.DecidedOnBehalfOf,
        ReassignedTo = r.ReassignedTo,
        DecisionNotes = r.DecisionNotes,
        InfoRequestMessage = r.InfoRequestMessage,
        InfoResponse = r.InfoResponse,
        Route = r.RouteName,
        Approvers = r.Approvers,
        Version = r.Version,
        UpdatedAt = r.UpdatedAt,
        GrantId = r.GrantId?.ToString(),
        Receipt = r.Receipt,
        Quorum = QuorumTally.Of(r) is { } progress ? QuorumDto.From(progress) : null,
        Votes = [.. r.Votes.Select(VoteDto.From)],
    };

    internal static JsonElement? ParseJson(string? text)
    {
        if (text is null)
        {
            return null;
        }
        using var doc = JsonDocument.Parse(text);
        return doc.RootElement.Clone();
    }
}

/// <summary>The small object agents poll: what they need to act on a decision.</summary>
public sealed record PollDto
{
    public required string Id { get; init; }
    public required string ApprovalId { get; init; }
    public required string Status { get; init; }
    public required string ActionName { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset ExpiresAt { get; init; }
    public DateTimeOffset? DecidedAt { get; init; }
    public string? DecidedByEmail { get; init; }
    public string? DecidedByUserId { get; init; }
    public string? DecidedVia { get; init; }
    public string? DecisionNotes { get; init; }
    public string? InfoRequestMessage { get; init; }
    public string? InfoResponse { get; init; }
    public int Version { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    /// <summary>The signed receipt once the request is final; null while it is open.</summary>
    public string? Receipt { get; init; }

    public static PollDto From(ApprovalRequest r) => new()
    {
        Id = r.Id.ToString(),
        ApprovalId = r.Id.ToString(),
        Status = r.Status.ToWire(),
        ActionName = r.ActionName,
        CreatedAt = r.CreatedAt,
        ExpiresAt = r.ExpiresAt,
        DecidedAt = r.DecidedAt,
        DecidedByEmail = r.DecidedByEmail,
        DecidedByUserId = r.DecidedByUserId,
        DecidedVia = r.DecidedVia?.ToWire(),
        DecisionNotes = r.DecisionNotes,
        InfoRequestMessage = r.InfoRequestMessage,
        InfoResponse = r.InfoResponse,
        Version = r.Version,
        UpdatedAt = r.UpdatedAt,
        Receipt = r.Receipt,
    };
}

/// <summary>One event of the trail; <c>actor_key_id</c> is the API key the actor acted with (for a chat user, the key
/// of the matched approver identity).</summary>
public sealed record EventDto(long Id, string Kind, DateTimeOffset At, string? Actor, string? ActorKeyId, string Surface, JsonElement? Details)
{
    public static EventDto From(ApprovalEvent e) => new(e.Id, e.Kind, e.At, e.Actor, e.ActorKeyId, e.Surface.ToWire(), ApprovalDto.ParseJson(e.Details));
}

/// <summary>A quorum's progress: <c>approvals</c> of <c>required</c>, the groups still without an approval, and the
/// line every surface shows ("1 of 2 approvals: alice ✓ · waiting for ...").</summary>
public sealed record QuorumDto(int Required, int Approvals, bool Reached, IReadOnlyList<IReadOnlyList<string>> WaitingForGroups, string Summary)
{
    public static QuorumDto From(QuorumProgress p) => new(p.Required, p.Approvals.Count, p.Reached, p.MissingGroups, p.Summary);
}

/// <summary>One vote on a quorum request: who (<c>email</c>, the chat <c>user_id</c>, the <c>key_id</c> of the approver
/// identity), how (<c>approve</c> or <c>reject</c>), when, with which notes, from which surface, and for whom when a
/// delegate cast it (<c>on_behalf_of</c>, the email of the person it counts for).</summary>
public sealed record VoteDto(string Name, string? Email, string? UserId, string? KeyId, string Choice, DateTimeOffset At, string? Notes, string Surface, string? OnBehalfOf)
{
    public static VoteDto From(QuorumVote v) => new(v.Name, v.Email, v.UserId, v.KeyId,
        v.Choice == VoteChoice.Reject ? "reject" : "approve", v.At, v.Notes, v.Surface.ToWire(), v.OnBehalfOf);
}

/// <summary>The approval object with its audit trail, oldest event first.</summary>
public sealed record ApprovalDetailDto : ApprovalDto
{
    /// <summary>Every field of <paramref name="approval"/>, so the detail never drops one the object has.</summary>
    [System.Diagnostics.CodeAnalysis.SetsRequiredMembers]
    public ApprovalDetailDto(ApprovalDto approval, IReadOnlyList<EventDto> events) : base(approval)
    {
        Events = events;
    }

    public required IReadOnlyList<EventDto> Events { get; init; }
}

public sealed record ApprovalPageDto(IReadOnlyList<ApprovalDto> Items, string? NextCursor);

public sealed record CheckDto(
    bool RequiresApproval,
    IReadOnlyList<string> Reasons,
    int TimeoutSeconds,
    IReadOnlyList<string> Approvers,
    string ActionName,
    decimal? CostUsd,
    string? AgentId,
    string? RunId,
    long PolicyVersion);

public sealed record StatsDto
{
    public required DateTimeOffset From { get; init; }
    public required DateTimeOffset To { get; init; }
    public long PendingTotal { get; init; }
    public long Total { get; init; }
    public required IReadOnlyDictionary<string, long> Counts { get; init; }
    public long Approved { get; init; }
    public long Rejected { get; init; }
    public long Expired { get; init; }
    public long Cancelled { get; init; }
    public double ApprovalRate { get; init; }
    public double RejectionRate { get; init; }
    public double ExpiryRate { get; init; }
    public double CancellationRate { get; init; }
    public double? AverageDecisionSeconds { get; init; }
    public double? MedianDecisionSeconds { get; init; }
    public required IReadOnlyDictionary<string, long> ByPriority { get; init; }
    public required IReadOnlyDictionary<string, long> ByRiskLevel { get; init; }
}
