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
        await FoldAsync(connection, 0, 0, 0, 0, ct);
    }

    /// <summary>Folds unless another folder is folding (PostgreSQL): false, at once, when it is; the minute job folds
    /// this way (see <see cref="ApprovalStatsStore.TryFoldAsync"/>).</summary>
    public async Task<bool> TryFoldAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return (await FoldAsync(connection, 0, 0, 0, 0, ct, wait: false)).Position != ApprovalStatsStore.Busy;
    }

    /// <summary>Folds; returns the fold position (migration 0033) the rollups hold at least, and whether a people's
    /// decision lies in [<paramref name="leftFrom"/>, <paramref name="leftTo"/>) or [<paramref name="enteredFrom"/>,
    /// <paramref name="enteredTo"/>), all read in one snapshot once nothing is left to fold.</summary>
    private async Task<(long Position, bool Moved)> FoldAsync(DbConnection connection, long leftFrom, long leftTo, long enteredFrom, long enteredTo, CancellationToken ct,
        bool wait = true)
    {
        var backlog = false;
        var p = new { leftFrom, leftTo, enteredFrom, enteredTo };
        (long Pending, long Position, long Moved) state;
        // Read again after a fold, so the position is the one after it; a batch that was not full ends the loop
        // (changes committed since wait for the next read, so steady writes cannot hold it).
        var done = false;
        while ((state = await connection.QuerySingleAsync<(long, long, long)>(new CommandDefinition(FoldStateSql, p, cancellationToken: ct))).Pending != 0 && !done)
        {
            var moved = await FoldBatchAsync(connection, wait, ct);
            if (moved is null)
            {
                return (ApprovalStatsStore.Busy, true);
            }
            var full = moved >= FoldBatchSize;
            backlog |= full;
            done = !full;
        }
        if (backlog)
        {
            await ApprovalStatsStore.ReclaimAsync(database, connection, "suggestion_changes", ct);
        }
        // Changes committed during the fold are not in the rollups yet: as if a decision had moved.
        return (state.Position, state.Moved != 0 || state.Pending != 0);
    }

    private static readonly string FoldStateSql = $"""
        SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM suggestion_changes) THEN 1 ELSE 0 END AS bigint),
               (SELECT position FROM stats_fold_positions WHERE name = 'suggestions'),
               CAST(CASE WHEN EXISTS (SELECT 1 FROM approvals WHERE decided_at >= @leftFrom AND decided_at < @leftTo AND {PeoplesDecisions})
                      OR EXISTS (SELECT 1 FROM approvals WHERE decided_at >= @enteredFrom AND decided_at < @enteredTo AND {PeoplesDecisions})
                    THEN 1 ELSE 0 END AS bigint)
        """;

    private async Task<long?> FoldBatchAsync(DbConnection connection, bool wait, CancellationToken ct)
    {
        var p = new { batch = FoldBatchSize };
        // One folder at a time (a lock of its own: the statistics folder does not wait for this one).
        await using var tx = await ApprovalStatsStore.BeginFolderAsync(database, connection, 7413290461, wait, ct);
        if (tx is null)
        {
            return null;
        }
        long moved;
        if (database.Provider == StorageProvider.Postgres)
        {
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
        if (moved > 0)
        {
            await ApprovalStatsStore.AdvanceAsync(connection, tx, "suggestions", ct);
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

    /// <summary>What a read answered, at a fold position, for a window and the exemptions' settings.</summary>
    private sealed record Answer(long Position, long From, long To, int MinApprovals, int Limit,
        IReadOnlyList<ExemptionSuggestion> Exemptions, IReadOnlyList<(string Approver, long Approvals, long Fast)> FastApprovals);

    private volatile Answer? _last;

    /// <summary>The exemptions (pairs with at least <paramref name="minApprovals"/> approvals and no rejection, at most
    /// <paramref name="limit"/>) and each approver's approvals and fast approvals (see <see cref="FastApprovalsAsync"/>)
    /// in [<paramref name="from"/>, <paramref name="to"/>), in one round trip. The answers are functions of the
    /// people's decisions in the window: the last answer is given again while no fold has moved a decision since
    /// (the fold position) and no decision lies between its window's ends and this one's (two index probes).</summary>
    public async Task<(IReadOnlyList<ExemptionSuggestion> Exemptions, IReadOnlyList<(string Approver, long Approvals, long Fast)> FastApprovals)> ReadAsync(
        DateTimeOffset from, DateTimeOffset to, int minApprovals, int limit, CancellationToken ct)
    {
        var (f, t) = (from.ToUnixMicroseconds(), to.ToUnixMicroseconds());
        var last = _last;
        await using var connection = await database.OpenAsync(ct);
        var (position, moved) = last is null
            ? await FoldAsync(connection, 0, 0, 0, 0, ct)
            : await FoldAsync(connection, Math.Min(last.From, f), Math.Max(last.From, f), Math.Min(last.To, t), Math.Max(last.To, t), ct);
        if (last is not null && !moved && last.Position == position && last.MinApprovals == minApprovals && last.Limit == limit)
        {
            return (last.Exemptions, last.FastApprovals);
        }
        var p = Parameters(from, to, new { min = minApprovals, limit, fast = SuggestionRules.FastSeconds * 1_000_000L });
        await using var batch = await connection.QueryMultipleAsync(new CommandDefinition(ExemptionsSql + ";\n" + FastApprovalsSql, p, cancellationToken: ct));
        var exemptions = (await batch.ReadAsync<(string? AgentId, string ActionName, long Approved, long LastApprovedAt)>())
            .Select(r => new ExemptionSuggestion(r.AgentId, r.ActionName, r.Approved, TimeConversions.FromUnixMicroseconds(r.LastApprovedAt))).ToList();
        var fast = (await batch.ReadAsync<(string Approver, long Approvals, long Fast)>()).ToList();
        _last = new Answer(position, f, t, minApprovals, limit, exemptions, fast);
        return (exemptions, fast);
    }

    public async Task<IReadOnlyList<ExemptionSuggestion>> ExemptionsAsync(DateTimeOffset from, DateTimeOffset to, int minApprovals, int limit, CancellationToken ct) =>
        (await ReadAsync(from, to, minApprovals, limit, ct)).Exemptions;

    /// <summary>Each approver's approvals in the window and how many came less than
    /// <see cref="SuggestionRules.FastSeconds"/> after the request appeared (the rollups hold that threshold).</summary>
    public async Task<IReadOnlyList<(string Approver, long Approvals, long Fast)>> FastApprovalsAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct) =>
        (await ReadAsync(from, to, SuggestionRules.MinApprovals, SuggestionRules.ListSize, ct)).FastApprovals;
}
