using System.Globalization;
using AgentSentinel.Core.Stats;
using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>Counts and decision times over a window of creation times.</summary>
public sealed class ApprovalStatsStore(Database database)
{
    private const string StatsWindow = "created_at >= @from AND created_at < @to";

    // One pass over the window: counts per (priority, risk level), summed into totals and both breakdowns in code.
    private const string StatsGroupsSql = $"""
        SELECT
            priority AS priority,
            COALESCE(risk_level, 'unspecified') AS risk_level,
            COUNT(*) AS total,
            COALESCE(SUM(CASE WHEN status = 'pending' AND expires_at > @now THEN 1 ELSE 0 END), 0) AS pending,
            COALESCE(SUM(CASE WHEN status = 'info_requested' AND expires_at > @now THEN 1 ELSE 0 END), 0) AS info_requested,
            COALESCE(SUM(CASE WHEN status = 'approved' THEN 1 ELSE 0 END), 0) AS approved,
            COALESCE(SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END), 0) AS rejected,
            COALESCE(SUM(CASE WHEN {ApprovalSql.ReadsExpired} THEN 1 ELSE 0 END), 0) AS expired,
            COALESCE(SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END), 0) AS cancelled,
            SUM(CASE WHEN status IN ('approved', 'rejected') THEN (decided_at - created_at) * 1.0 END) AS decision_us
        FROM approval_facts WHERE {StatsWindow}
        GROUP BY priority, COALESCE(risk_level, 'unspecified')
        """;

    // Exact median without window functions: the middle one or two decision times, averaged.
    private const string StatsMedianSql = $"""
        SELECT decided_at - created_at FROM approval_facts
        WHERE {StatsWindow} AND status IN ('approved', 'rejected')
        ORDER BY decided_at - created_at
        LIMIT @take OFFSET @skip
        """;

    private const string PendingTotalSql = $"SELECT COUNT(*) FROM approvals WHERE {ApprovalSql.IsOpen}";

    public async Task<ApprovalStats> GetStatsAsync(DateTimeOffset from, DateTimeOffset to, DateTimeOffset now, CancellationToken ct)
    {
        var p = new { from = from.ToUnixMicroseconds(), to = to.ToUnixMicroseconds(), now = now.ToUnixMicroseconds() };
        await using var connection = await database.OpenAsync(ct);
        var groups = (await connection.QueryAsync<StatsRow>(new CommandDefinition(StatsGroupsSql, p, cancellationToken: ct))).ToList();
        var pendingTotal = await connection.ExecuteScalarAsync<long>(new CommandDefinition(PendingTotalSql, p, cancellationToken: ct));
        var totals = new StatsRow
        {
            Total = groups.Sum(g => g.Total),
            Pending = groups.Sum(g => g.Pending),
            InfoRequested = groups.Sum(g => g.InfoRequested),
            Approved = groups.Sum(g => g.Approved),
            Rejected = groups.Sum(g => g.Rejected),
            Expired = groups.Sum(g => g.Expired),
            Cancelled = groups.Sum(g => g.Cancelled),
        };
        var decisionUs = groups.Sum(g => g.DecisionUs is { } d ? Convert.ToDouble(d, CultureInfo.InvariantCulture) : 0d);
        IReadOnlyDictionary<string, long> byPriority = groups.GroupBy(g => g.Priority).ToDictionary(g => g.Key, g => g.Sum(x => x.Total));
        IReadOnlyDictionary<string, long> byRisk = groups.GroupBy(g => g.RiskLevel).ToDictionary(g => g.Key, g => g.Sum(x => x.Total));

        double? median = null;
        var decided = totals.Approved + totals.Rejected;
        if (decided > 0)
        {
            var middle = await connection.QueryAsync<long>(new CommandDefinition(StatsMedianSql,
                new { p.from, p.to, take = decided % 2 == 0 ? 2 : 1, skip = (decided - 1) / 2 }, cancellationToken: ct));
            median = middle.Average() / 1_000_000d;
        }

        return new ApprovalStats
        {
            From = from,
            To = to,
            PendingTotal = pendingTotal,
            Total = totals.Total,
            Pending = totals.Pending,
            InfoRequested = totals.InfoRequested,
            Approved = totals.Approved,
            Rejected = totals.Rejected,
            Expired = totals.Expired,
            Cancelled = totals.Cancelled,
            AverageDecisionSeconds = totals.Approved + totals.Rejected > 0 ? Math.Round(decisionUs / (totals.Approved + totals.Rejected) / 1_000_000d, 3) : null,
            MedianDecisionSeconds = median is { } m ? Math.Round(m, 3) : null,
            ByPriority = byPriority,
            ByRiskLevel = byRisk,
        };
    }

    private sealed class StatsRow
    {
        public string Priority { get; set; } = "";
        public string RiskLevel { get; set; } = "";
        public long Total { get; set; }
        public long Pending { get; set; }
        public long InfoRequested { get; set; }
        public long Approved { get; set; }
        public long Rejected { get; set; }
        public long Expired { get; set; }
        public long Cancelled { get; set; }
        public object? DecisionUs { get; set; }
    }
}
