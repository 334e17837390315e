using AgentSentinel.Core.Stats;
using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>The figures behind <see cref="Suggestions"/> (see <see cref="SuggestionRules"/> for their definitions), on
/// PostgreSQL and SQLite with the same statements. Read-only.</summary>
public sealed class SuggestionStore(Database database)
{
    /// <summary>Decisions by people in the window: approvals by a standing grant are not.</summary>
    private const string PeoplesDecisions = """
        status IN ('approved', 'rejected') AND decided_at >= @from AND decided_at < @to AND grant_id IS NULL AND COALESCE(decided_via, '') <> 'system'
        """;

    private const string ExemptionsSql = $"""
        SELECT agent_id, action_name,
               SUM(CASE WHEN status = 'approved' THEN 1 ELSE 0 END) AS approved,
               MAX(CASE WHEN status = 'approved' THEN decided_at END) AS last_approved_at
        FROM approvals
        WHERE {PeoplesDecisions}
        GROUP BY agent_id, action_name
        HAVING SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END) = 0 AND SUM(CASE WHEN status = 'approved' THEN 1 ELSE 0 END) >= @min
        ORDER BY approved DESC, action_name, agent_id
        LIMIT @limit
        """;

    // When the request appeared to the approver: its first post on the surface the approval came from, else its creation.
    private const string FastApprovalsSql = $"""
        SELECT approver, COUNT(*) AS approvals, SUM(CASE WHEN decided_at - appeared_at < @fast THEN 1 ELSE 0 END) AS fast
        FROM (
            SELECT COALESCE(LOWER(a.decided_by_email), a.decided_by_key_id) AS approver, a.decided_at,
                   COALESCE((SELECT MIN(m.posted_at) FROM chat_messages m
                             WHERE m.approval_id = a.id AND m.surface = a.decided_via AND m.posted_at IS NOT NULL), a.created_at) AS appeared_at
            FROM approvals a
            WHERE a.status = 'approved' AND a.decided_at >= @from AND a.decided_at < @to AND a.grant_id IS NULL AND COALESCE(a.decided_via, '') <> 'system'
              AND COALESCE(a.decided_by_email, a.decided_by_key_id) IS NOT NULL
        ) d
        GROUP BY approver
        """;

    public async Task<IReadOnlyList<ExemptionSuggestion>> ExemptionsAsync(DateTimeOffset from, DateTimeOffset to, int minApprovals, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<(string? AgentId, string ActionName, long Approved, long LastApprovedAt)>(new CommandDefinition(ExemptionsSql,
            new { from = from.ToUnixMicroseconds(), to = to.ToUnixMicroseconds(), min = minApprovals, limit }, cancellationToken: ct));
        return [.. rows.Select(r => new ExemptionSuggestion(r.AgentId, r.ActionName, r.Approved, TimeConversions.FromUnixMicroseconds(r.LastApprovedAt)))];
    }

    public async Task<IReadOnlyList<(string Approver, long Approvals, long Fast)>> FastApprovalsAsync(DateTimeOffset from, DateTimeOffset to, TimeSpan fast, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<(string Approver, long Approvals, long Fast)>(new CommandDefinition(FastApprovalsSql,
            new { from = from.ToUnixMicroseconds(), to = to.ToUnixMicroseconds(), fast = (long)(fast.Ticks / 10) }, cancellationToken: ct));
        return [.. rows];
    }
}
