using AgentSentinel.Core.Storage;
using Hangfire;

namespace AgentSentinel.Core.Jobs;

/// <summary>Folds the statistics changes into the rollups every minute, so the change rows stay few when nobody reads
/// the statistics (every reader folds first as well).</summary>
public sealed class StatsJobs(ApprovalStatsStore rollups)
{
    public const string FoldJobId = "stats-fold";

    [AutomaticRetry(Attempts = 3)]
    [DisableConcurrentExecution(timeoutInSeconds: 60)]
    public Task FoldAsync(CancellationToken ct) => rollups.FoldAsync(ct);
}
