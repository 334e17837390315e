using AgentSentinel.Core.Storage;
using Hangfire;

namespace AgentSentinel.Core.Jobs;

/// <summary>Folds the statistics and suggestion changes into their rollups every minute, so the change rows stay few when nobody reads
/// the statistics (every reader folds first as well).</summary>
public sealed class StatsJobs(ApprovalStatsStore rollups, SuggestionStore suggestions)
{
    public const string FoldJobId = "stats-fold";

    [AutomaticRetry(Attempts = 3)]
    [DisableConcurrentExecution(timeoutInSeconds: 60)]
    public async Task FoldAsync(CancellationToken ct)
    {
        await rollups.FoldAsync(ct);
        await suggestions.FoldAsync(ct);
    }
}
