using AgentSentinel.Core.Storage;
using Hangfire;

namespace AgentSentinel.Core.Jobs;

/// <summary>Folds the statistics and suggestion changes into their rollups every minute, so the change rows stay few when nobody reads
/// the statistics (every reader folds first as well). A fold already at work elsewhere is left to finish: the job does
/// not wait for it, so a long fold never ties up the job workers that expiry and follow-ups need.</summary>
public sealed class StatsJobs(ApprovalStatsStore rollups, SuggestionStore suggestions)
{
    public const string FoldJobId = "stats-fold";

    [AutomaticRetry(Attempts = 3)]
    [DisableConcurrentExecution(timeoutInSeconds: 60)]
    public async Task FoldAsync(CancellationToken ct)
    {
        await rollups.TryFoldAsync(ct);
        await suggestions.TryFoldAsync(ct);
    }
}
