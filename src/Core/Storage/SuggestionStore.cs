using System.Data.Common;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Stats;
using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>The figures behind <see cref="Suggestions"/> (see <see cref="SuggestionRules"/> for their definitions), on
/// PostgreSQL and SQLite with the same statements. A trigger appends each people's decision that enters or leaves the
/// set the suggestions count to <c>suggestion_changes</c> (migration 0024), with whether it came within
/// <see cref="SuggestionRules.FastSeconds"/> of the request appearing; folding moves the changes into hourly and daily
/// rollups per (agent, action) and per approver. A window is read as whole UTC days and hours from the rollups and the
/// partial hours at its edges from the requests, so each figure reads about 31 daily rows per key.</summary>
public sealed class SuggestionStore(Database database)
{
    /// <summary>Decisions by people: approvals by a standing grant are not.</summary>
    private const string PeoplesDecisions = """
        status IN ('approved', 'rejected') AND grant_id IS NULL AND COALESCE(decided_via, '') <> 'system'
        """;

    private static readonly long[] Spans = [ApprovalStatsStore.HourUs, ApprovalStatsStore.DayUs];

    // ---- folding --------------------------------------------------------------------------------------------------

    private const string ChangeColumns = "decided_at, agent_id, action_name, approver, status, fast, n";

    /// <summary>The larger of two nullable values, the same on both providers (SQLite's two-argument MAX is null when
    /// either is).</summary>
    private static string Greatest(string a, string b) => $"CASE WHEN {a} IS NULL THEN {b} WHEN {b} IS NULL OR {a} >= {b} THEN {a} ELSE {b} END";

    private static string[] FoldStatements(StorageProvider provider, string source)
    {
        var pg = provider == StorageProvider.Postgres;
        var from = pg ? "moved" : $"({source}) moved";
        var spans = string.Join(" UNION ALL ", Spans.Select(s => $"SELECT CAST({s} AS bigint) AS span"));
        // A removed approval makes the latest approval of its period unknown (-1) until it is read again below.
        string[] upserts =
        [
            $"""
            INSERT INTO suggestion_pair_rollup AS r (span, start, agent_id, action_name, approved, rejected, last_approved_at)
            SELECT span, decided_at - decided_at % span, agent_id, action_name,
                   SUM(CASE WHEN status = 'approved' THEN n ELSE 0 END), SUM(CASE WHEN status = 'rejected' THEN n ELSE 0 END),
                   CASE WHEN MIN(CASE WHEN status = 'approved' THEN n END) < 0 THEN -1
                        ELSE MAX(CASE WHEN status = 'approved' THEN decided_at END) END
            FROM {from} CROSS JOIN ({spans}) spans WHERE true
            GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT (span, start, agent_id, action_name)
            DO UPDATE SET approved = r.approved + excluded.approved, rejected = r.rejected + excluded.rejected,
                last_approved_at = CASE WHEN r.last_approved_at = -1 OR excluded.last_approved_at = -1 THEN -1
                                        ELSE {Greatest("r.last_approved_at", "excluded.last_approved_at")} END
            """,
            $"""
            INSERT INTO suggestion_approver_rollup AS r (span, start, approver, approvals, fast)
            SELECT span, decided_at - decided_at % span, approver, SUM(n), SUM(fast * n)
            FROM {from} CROSS JOIN ({spans}) spans
            WHERE status = 'approved' AND approver IS NOT NULL
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (span, start, approver) DO UPDATE SET approvals = r.approvals + excluded.approvals, fast = r.fast + excluded.fast
            """,
        ];
        const string Unknown = """
            UPDATE suggestion_pair_rollup SET last_approved_at = (
                SELECT MAX(a.decided_at) FROM approvals a
                WHERE a.status = 'approved' AND a.grant_id IS NULL AND COALESCE(a.decided_via, '') <> 'system'
                  AND a.decided_at >= suggestion_pair_rollup.start AND a.decided_at < suggestion_pair_rollup.start + suggestion_pair_rollup.span
                  AND COALESCE(a.agent_id, '') = suggestion_pair_rollup.agent_id AND a.action_name = suggestion_pair_rollup.action_name)
            WHERE last_approved_at = -1
            """;
        if (!pg)
        {
            return [.. upserts, Unknown];
        }
        var ctes = string.Join(",\n", upserts.Select((u, i) => $"u{i} AS (\n{u})"));
        return [$"WITH moved AS ({source}),\n{ctes}\nSELECT COUNT(*) FROM moved", Unknown];
    }

    private static readonly string[] PostgresFoldSql = FoldStatements(StorageProvider.Postgres,
        $"DELETE FROM suggestion_changes WHERE ctid = ANY (ARRAY(SELECT ctid FROM suggestion_changes LIMIT @batch)) RETURNING {ChangeColumns}");

    // SQLite: one writer at a time (BEGIN IMMEDIATE), so the changes read by the inserts are the ones deleted after.
    private static readonly string[] SqliteFoldSql =
        [.. FoldStatements(StorageProvider.Sqlite, $"SELECT {ChangeColumns} FROM suggestion_changes WHERE rowid <= @last"), "DELETE FROM suggestion_changes WHERE rowid <= @last"];

    /// <summary>Changes moved per transaction.</summary>
    public int FoldBatchSize { get; init; } = 50_000;

    /// <summary>Moves the decisions committed so far into the rollups; every reader folds first, and the statistics
    /// job folds every minute.</summary>
    public async Task FoldAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await FoldAsync(connection, ct);
    }

    private async Task FoldAsync(DbConnection connection, CancellationToken ct)
    {
        var backlog = false;
        while (await connection.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT EXISTS (SELECT 1 FROM suggestion_changes)", cancellationToken: ct))
            && await FoldBatchAsync(connection, ct) >= FoldBatchSize)
        {
            backlog = true;
        }
        if (backlog)
        {
            await ApprovalStatsStore.ReclaimAsync(database, connection, "suggestion_changes", ct);
        }
    }

    private async Task<long> FoldBatchAsync(DbConnection connection, CancellationToken ct)
    {
        var p = new { batch = FoldBatchSize };
        await using var tx = await database.BeginWriteAsync(connection, ct);
        long moved;
        if (database.Provider == StorageProvider.Postgres)
        {
            // One folder at a time (a lock of its own: the statistics folder does not wait for this one).
            await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(7413290461)", transaction: tx, commandTimeout: 0, cancellationToken: ct));
            moved = await connection.ExecuteScalarAsync<long>(new CommandDefinition(PostgresFoldSql[0], p, tx, cancellationToken: ct));
            await connection.ExecuteAsync(new CommandDefinition(PostgresFoldSql[1], transaction: tx, cancellationToken: ct));
        }
        else
        {
            var last = await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
                "SELECT MAX(rowid) FROM (SELECT rowid FROM suggestion_changes ORDER BY rowid LIMIT @batch)", p, tx, cancellationToken: ct));
            moved = 0;
            foreach (var sql in SqliteFoldSql)
            {
                moved = await connection.ExecuteAsync(new CommandDefinition(sql, new { last = last ?? 0 }, tx, cancellationToken: ct));
            }
        }
        await tx.CommitAsync(ct);
        return moved;
    }

    // ---- reading --------------------------------------------------------------------------------------------------

    private static readonly string ExemptionsSql = $"""
        SELECT NULLIF(agent_id, '') AS agent_id, action_name, CAST(SUM(approved) AS bigint) AS approved, CAST(MAX(last_approved_at) AS bigint) AS last_approved_at
        FROM (
            SELECT agent_id, action_name, approved, rejected, last_approved_at FROM suggestion_pair_rollup WHERE {ApprovalStatsStore.RollupPart}
            UNION ALL
            SELECT COALESCE(agent_id, ''), action_name, CASE WHEN status = 'approved' THEN 1 ELSE 0 END, CASE WHEN status = 'rejected' THEN 1 ELSE 0 END,
                   CASE WHEN status = 'approved' THEN decided_at END
            FROM ({ApprovalStatsStore.EdgeRows("agent_id, action_name, status, decided_at", "approvals", "decided_at", PeoplesDecisions)}) e
        ) d
        GROUP BY d.agent_id, d.action_name
        HAVING SUM(rejected) = 0 AND SUM(approved) >= @min
        ORDER BY 3 DESC, 2, 1
        LIMIT @limit
        """;

    // When the request appeared to the approver (appeared_at, kept by triggers): its first post on the surface the
    // approval came from, else its creation.
    private static readonly string FastApprovalsSql = $"""
        SELECT approver, CAST(SUM(approvals) AS bigint) AS approvals, CAST(SUM(fast) AS bigint) AS fast
        FROM (
            SELECT approver, approvals, fast FROM suggestion_approver_rollup WHERE {ApprovalStatsStore.RollupPart}
            UNION ALL
            SELECT COALESCE(LOWER(decided_by_email), decided_by_key_id), 1, CASE WHEN decided_at - appeared_at < @fast THEN 1 ELSE 0 END
            FROM ({ApprovalStatsStore.EdgeRows("decided_by_email, decided_by_key_id, decided_at, appeared_at", "approvals", "decided_at",
                $"status = 'approved' AND {PeoplesDecisions} AND COALESCE(decided_by_email, decided_by_key_id) IS NOT NULL")}) e
        ) d
        GROUP BY approver
        HAVING SUM(approvals) > 0
        """;

    private static DynamicParameters Parameters(DateTimeOffset from, DateTimeOffset to, object extra)
    {
        var w = ApprovalStatsStore.Window.Of(from.ToUnixMicroseconds(), to.ToUnixMicroseconds(), finest: ApprovalStatsStore.HourUs);
        var p = new DynamicParameters(w.Parameters(0));
        p.AddDynamicParams(extra);
        return p;
    }

    public async Task<IReadOnlyList<ExemptionSuggestion>> ExemptionsAsync(DateTimeOffset from, DateTimeOffset to, int minApprovals, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await FoldAsync(connection, ct);
        var rows = await connection.QueryAsync<(string? AgentId, string ActionName, long Approved, long LastApprovedAt)>(new CommandDefinition(ExemptionsSql,
            Parameters(from, to, new { min = minApprovals, limit }), cancellationToken: ct));
        return [.. rows.Select(r => new ExemptionSuggestion(r.AgentId, r.ActionName, r.Approved, TimeConversions.FromUnixMicroseconds(r.LastApprovedAt)))];
    }

    /// <summary>Each approver's approvals in the window and how many came less than
    /// <see cref="SuggestionRules.FastSeconds"/> after the request appeared (the rollups hold that threshold).</summary>
    public async Task<IReadOnlyList<(string Approver, long Approvals, long Fast)>> FastApprovalsAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await FoldAsync(connection, ct);
        var rows = await connection.QueryAsync<(string Approver, long Approvals, long Fast)>(new CommandDefinition(FastApprovalsSql,
            Parameters(from, to, new { fast = SuggestionRules.FastSeconds * 1_000_000L }), cancellationToken: ct));
        return [.. rows];
    }
}
