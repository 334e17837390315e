using System.Text.Json;
using System.Text.Json.Serialization;

namespace AgentSentinel.Client.Internal;

/// <summary>The body of <c>POST /api/v1/approvals</c>; unset fields are left out.</summary>
internal sealed record CreateApprovalWire(
    string ActionName,
    string? ActionDescription,
    string? AgentId,
    string? RunId,
    string? TaskId,
    string? MissionId,
    decimal? EstimatedCost,
    string? RiskLevel,
    string? Priority,
    int? TimeoutSeconds,
    JsonElement? ActionInputs,
    JsonElement? Context,
    string? CallbackUrl);

/// <summary>The fields of the server's approval object (and of its smaller poll object) that the client reads.</summary>
internal sealed record ApprovalWire
{
    public string? Id { get; init; }
    public string? Status { get; init; }
    public string? ActionName { get; init; }
    public DateTimeOffset? CreatedAt { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public DateTimeOffset? DecidedAt { get; init; }
    public string? DecidedByEmail { get; init; }
    public string? DecidedVia { get; init; }
    public string? DecisionNotes { get; init; }
    public string? InfoRequestMessage { get; init; }
    public string? InfoResponse { get; init; }
    public string? Receipt { get; init; }
}

internal sealed record RespondWire(string Response);

internal sealed record CheckWire
{
    public bool RequiresApproval { get; init; }
    public IReadOnlyList<string>? Reasons { get; init; }
    public int TimeoutSeconds { get; init; }
    public IReadOnlyList<string>? Approvers { get; init; }
    public long PolicyVersion { get; init; }
}

internal sealed record StatsWire
{
    public DateTimeOffset From { get; init; }
    public DateTimeOffset To { get; init; }
    public long PendingTotal { get; init; }
    public long Total { get; init; }
    public Dictionary<string, long>? Counts { get; init; }
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
    public Dictionary<string, long>? ByPriority { get; init; }
    public Dictionary<string, long>? ByRiskLevel { get; init; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CreateApprovalWire))]
[JsonSerializable(typeof(ApprovalWire))]
[JsonSerializable(typeof(RespondWire))]
[JsonSerializable(typeof(CheckWire))]
[JsonSerializable(typeof(StatsWire))]
internal sealed partial class ClientJson : JsonSerializerContext;
