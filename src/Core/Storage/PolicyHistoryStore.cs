using System.Globalization;
using System.Text.Json;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Grants;
using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>A past request as intake saw it: what the agent asked for (its priority and risk level before any policy
/// floor raised them) and what it was given.</summary>
public sealed record PastRequest(
    Guid Id, string ActionName, string? AgentId, string? RunId, decimal? EstimatedCost, Priority RequestedPriority, RiskLevel? RequestedRisk,
    Priority Priority, RiskLevel? RiskLevel, string? ActionInputs, string RequesterKeyId, DateTimeOffset CreatedAt, ApprovalStatus Status,
    string? RouteName, Guid? GrantId);

/// <summary>Read-only questions about past requests for the policy simulation, on PostgreSQL and SQLite.</summary>
public sealed class PolicyHistoryStore(Database database)
{
    private const string PastRequestsSql = """
        SELECT a.id, a.action_name, a.agent_id, a.run_id, CAST(a.estimated_cost AS TEXT) AS estimated_cost, a.priority, a.risk_level,
               a.action_inputs, a.requester_key_id, a.created_at, a.status, a.route_name, a.grant_id,
               (SELECT e.details FROM approval_events e WHERE e.approval_id = a.id AND e.kind = 'created' ORDER BY e.id LIMIT 1) AS created_details
        FROM approvals a
        WHERE a.created_at >= @from AND a.created_at < @to
        ORDER BY a.created_at DESC, a.id DESC
        LIMIT @limit
        """;

    // The grants intake would have found at the request's creation: those matching it as intake matches them
    // (GrantMatchesProbe), given by then (not with its own approval) and neither ended nor revoked by then. Use and cost limits are not replayed:
    // how much of a grant was left at a past instant is not recorded.
    private const string GrantsAtSql = $"""
        SELECT id FROM grants
        WHERE {GrantStore.GrantMatchesProbe}
          AND created_at <= @now AND expires_at > @now AND (revoked_at IS NULL OR revoked_at > @now) AND source_approval_id <> @requestId
        ORDER BY CASE WHEN inputs_hash IS NULL THEN 1 ELSE 0 END, expires_at, id
        LIMIT 10
        """;

    /// <summary>Requests created in [<paramref name="from"/>, <paramref name="to"/>), newest first, at most <paramref name="limit"/>.</summary>
    public async Task<IReadOnlyList<PastRequest>> ListCreatedAsync(DateTimeOffset from, DateTimeOffset to, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<PastRow>(new CommandDefinition(PastRequestsSql,
            new { from = from.ToUnixMicroseconds(), to = to.ToUnixMicroseconds(), limit }, cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
    }

    /// <summary>Whether any grant was ever given (when none was, no request needs to be matched).</summary>
    public async Task<bool> AnyGrantsAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition("SELECT COUNT(*) FROM (SELECT 1 FROM grants LIMIT 1) g", cancellationToken: ct)) > 0;
    }

    /// <summary>The ids of the grants intake would have matched to request <paramref name="requestId"/> (described by
    /// <paramref name="probe"/>) at its creation, <c>probe.Now</c>.</summary>
    public async Task<IReadOnlyList<Guid>> GrantsMatchingAtAsync(Guid requestId, GrantProbe probe, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var ids = await connection.QueryAsync<string>(new CommandDefinition(GrantsAtSql, new
        {
            agentKeyId = probe.AgentKeyId,
            actionName = probe.ActionName,
            agentId = probe.AgentId,
            routeName = probe.RouteName,
            inputsHash = probe.InputsHash,
            now = probe.Now.ToUnixMicroseconds(),
            bootstrap = ApproverDirectory.BootstrapKeyId,
            requestId = ApprovalSql.IdText(requestId),
        }, cancellationToken: ct));
        return [.. ids.Select(Guid.Parse)];
    }

    private sealed class PastRow
    {
        public string Id { get; set; } = "";
        public string ActionName { get; set; } = "";
        public string? AgentId { get; set; }
        public string? RunId { get; set; }
        public string? EstimatedCost { get; set; }
        public string Priority { get; set; } = "";
        public string? RiskLevel { get; set; }
        public string? ActionInputs { get; set; }
        public string RequesterKeyId { get; set; } = "";
        public long CreatedAt { get; set; }
        public string Status { get; set; } = "";
        public string? RouteName { get; set; }
        public string? GrantId { get; set; }
        public string? CreatedDetails { get; set; }

        public PastRequest ToModel()
        {
            var priority = WireNames.ParsePriority(Priority);
            RiskLevel? risk = RiskLevel is null ? null : WireNames.ParseRisk(RiskLevel);
            var (requestedPriority, requestedRisk) = Requested(priority, risk);
            return new PastRequest(
                Guid.Parse(Id), ActionName, AgentId, RunId,
                EstimatedCost is null ? null : decimal.Parse(EstimatedCost, NumberStyles.Float, CultureInfo.InvariantCulture).Normalize(),
                requestedPriority, requestedRisk, priority, risk, ActionInputs, RequesterKeyId,
                TimeConversions.FromUnixMicroseconds(CreatedAt), WireNames.ParseStatus(Status), RouteName,
                GrantId is null ? null : Guid.Parse(GrantId));
        }

        /// <summary>What the agent asked for: the <c>created</c> event records it when a policy floor raised it.</summary>
        private (Priority, RiskLevel?) Requested(Priority priority, RiskLevel? risk)
        {
            if (CreatedDetails is null)
            {
                return (priority, risk);
            }
            using var details = JsonDocument.Parse(CreatedDetails);
            if (!details.RootElement.TryGetProperty("floor", out var floor) || floor.ValueKind != JsonValueKind.Object)
            {
                return (priority, risk);
            }
            var requestedPriority = floor.TryGetProperty("requested_priority", out var p) && WireNames.TryParsePriority(p.GetString(), out var rp) ? rp : priority;
            var requestedRisk = floor.TryGetProperty("requested_risk_level", out var r) && r.ValueKind == JsonValueKind.String && WireNames.TryParseRisk(r.GetString(), out var rr)
                ? rr
                : floor.TryGetProperty("requested_risk_level", out var none) && none.ValueKind == JsonValueKind.Null ? null : risk;
            return (requestedPriority, requestedRisk);
        }
    }
}
