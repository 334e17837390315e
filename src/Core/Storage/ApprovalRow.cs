using System.Globalization;
using System.Text.Json;
using AgentSentinel.Core.Approvals;

namespace AgentSentinel.Core.Storage;

/// <summary>An approval as stored: ids as text, instants as microseconds since the epoch, lists as JSON. The outbox
/// keeps a copy of the request in this shape too.</summary>
internal sealed class ApprovalRow
{
    public string Id { get; set; } = "";
    public string ActionName { get; set; } = "";
    public string? ActionDescription { get; set; }
    public string? AgentId { get; set; }
    public string? RunId { get; set; }
    public string? TaskId { get; set; }
    public string? MissionId { get; set; }
    public object? EstimatedCost { get; set; }
    /// <summary>The typed value written on insert (the read side gets the provider's own type).</summary>
    public decimal? EstimatedCostValue { get; set; }
    public string? RiskLevel { get; set; }
    public string Priority { get; set; } = "";
    public string? ActionInputs { get; set; }
    public string? Context { get; set; }
    public string? CallbackUrl { get; set; }
    public long CreatedAt { get; set; }
    public long ExpiresAt { get; set; }
    public string Status { get; set; } = "";
    public long? DecidedAt { get; set; }
    public string? DecidedByEmail { get; set; }
    public string? DecidedByUserId { get; set; }
    public string? DecidedByKeyId { get; set; }
    public string? DecidedVia { get; set; }
    public string? DecisionNotes { get; set; }
    public string? InfoRequestMessage { get; set; }
    public string? InfoResponse { get; set; }
    public string RequesterKeyId { get; set; } = "";
    public string? RequesterEmail { get; set; }
    public string? IdempotencyKey { get; set; }
    public string? RequestHash { get; set; }
    public string? RouteName { get; set; }
    public string? Approvers { get; set; }
    public long Version { get; set; }
    public long UpdatedAt { get; set; }
    public long RemindersSent { get; set; }
    public long EscalationLevel { get; set; }
    public long? FollowUpAt { get; set; }
    public string? RequesterKeyName { get; set; }
    public string? RoutePlan { get; set; }
    public string? GrantId { get; set; }
    public string? Receipt { get; set; }
    public string? DecidedOnBehalfOf { get; set; }
    public string? Votes { get; set; }
    public string? ReassignedTo { get; set; }

    public static ApprovalRow From(ApprovalRequest r, string? requestHash) => new()
    {
        Id = ApprovalSql.IdText(r.Id),
        ActionName = r.ActionName,
        ActionDescription = r.ActionDescription,
        AgentId = r.AgentId,
        RunId = r.RunId,
        TaskId = r.TaskId,
        MissionId = r.MissionId,
        EstimatedCostValue = r.EstimatedCost,
        RiskLevel = r.RiskLevel?.ToWire(),
        Priority = r.Priority.ToWire(),
        ActionInputs = r.ActionInputs,
        Context = r.Context,
        CallbackUrl = r.CallbackUrl,
        CreatedAt = r.CreatedAt.ToUnixMicroseconds(),
        ExpiresAt = r.ExpiresAt.ToUnixMicroseconds(),
        Status = r.Status.ToWire(),
        DecidedAt = r.DecidedAt?.ToUnixMicroseconds(),
        DecidedByEmail = r.DecidedByEmail,
        DecidedByUserId = r.DecidedByUserId,
        DecidedByKeyId = r.DecidedByKeyId,
        DecidedVia = r.DecidedVia?.ToWire(),
        DecisionNotes = r.DecisionNotes,
        InfoRequestMessage = r.InfoRequestMessage,
        InfoResponse = r.InfoResponse,
        RequesterKeyId = r.RequesterKeyId ?? "",
        RequesterEmail = r.RequesterEmail,
        IdempotencyKey = r.IdempotencyKey,
        RequestHash = requestHash,
        RouteName = r.RouteName,
        Approvers = r.Approvers.Count == 0 ? null : JsonSerializer.Serialize(r.Approvers),
        Version = r.Version,
        UpdatedAt = r.UpdatedAt.ToUnixMicroseconds(),
        RemindersSent = r.RemindersSent,
        EscalationLevel = r.EscalationLevel,
        FollowUpAt = r.FollowUpAt?.ToUnixMicroseconds(),
        RequesterKeyName = r.RequesterKeyName,
        RoutePlan = r.RoutePlan is null ? null : JsonSerializer.Serialize(r.RoutePlan, Configuration.SettingsJson.Options),
        GrantId = r.GrantId is { } grantId ? ApprovalSql.IdText(grantId) : null,
        Receipt = r.Receipt,
        DecidedOnBehalfOf = r.DecidedOnBehalfOf,
        Votes = VoteJson.Write(r.Votes),
        ReassignedTo = r.ReassignedTo is null ? null : JsonSerializer.Serialize(r.ReassignedTo, Configuration.SettingsJson.Options),
    };

    public ApprovalRequest ToModel() => new()
    {
        Id = Guid.Parse(Id),
        ActionName = ActionName,
        ActionDescription = ActionDescription,
        AgentId = AgentId,
        RunId = RunId,
        TaskId = TaskId,
        MissionId = MissionId,
        EstimatedCost = EstimatedCost switch
        {
            // A row built from a model (an outbox entry's copy of the request) carries the typed value instead.
            null or DBNull => EstimatedCostValue?.Normalize(),
            decimal d => d.Normalize(),
            string s => decimal.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture).Normalize(),
            var other => Convert.ToDecimal(other, CultureInfo.InvariantCulture).Normalize(),
        },
        RiskLevel = RiskLevel is null ? null : WireNames.ParseRisk(RiskLevel),
        Priority = WireNames.ParsePriority(Priority),
        ActionInputs = ActionInputs,
        Context = Context,
        CallbackUrl = CallbackUrl,
        CreatedAt = TimeConversions.FromUnixMicroseconds(CreatedAt),
        ExpiresAt = TimeConversions.FromUnixMicroseconds(ExpiresAt),
        Status = WireNames.ParseStatus(Status),
        DecidedAt = TimeConversions.FromUnixMicroseconds(DecidedAt),
        DecidedByEmail = DecidedByEmail,
        DecidedByUserId = DecidedByUserId,
        DecidedByKeyId = DecidedByKeyId,
        DecidedVia = DecidedVia is null ? null : WireNames.ParseSurface(DecidedVia),
        DecisionNotes = DecisionNotes,
        InfoRequestMessage = InfoRequestMessage,
        InfoResponse = InfoResponse,
        RequesterKeyId = RequesterKeyId,
        RequesterEmail = RequesterEmail,
        IdempotencyKey = IdempotencyKey,
        RouteName = RouteName,
        Approvers = Approvers is null ? [] : JsonSerializer.Deserialize<string[]>(Approvers) ?? [],
        Version = (int)Version,
        UpdatedAt = TimeConversions.FromUnixMicroseconds(UpdatedAt),
        RemindersSent = (int)RemindersSent,
        EscalationLevel = (int)EscalationLevel,
        FollowUpAt = TimeConversions.FromUnixMicroseconds(FollowUpAt),
        RequesterKeyName = RequesterKeyName,
        RoutePlan = RoutePlan is null ? null : JsonSerializer.Deserialize<Routing.RouteDefinition>(RoutePlan, Configuration.SettingsJson.Options),
        GrantId = GrantId is null ? null : Guid.Parse(GrantId),
        Receipt = Receipt,
        DecidedOnBehalfOf = DecidedOnBehalfOf,
        Votes = VoteJson.Read(Votes),
        ReassignedTo = ReassignedTo is null ? null : JsonSerializer.Deserialize<Approvals.Reassignment>(ReassignedTo, Configuration.SettingsJson.Options),
    };
}
