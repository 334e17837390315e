using Microsoft.Extensions.Logging;

namespace AgentSentinel.Core.Audit;

/// <summary>The audit chain's jobs: sealing new events every minute, and retention on its cron.</summary>
public sealed class AuditJobs(AuditStore audit, RetentionService retention, ILogger<AuditJobs> logger)
{
    public const string SealJobId = "audit-seal";

    public async Task SealAsync(CancellationToken ct)
    {
        var count = await audit.SealAsync(ct);
        if (count > 0)
        {
            Log.AuditSealed(logger, count);
        }
    }

    public Task RetainAsync(CancellationToken ct) => retention.RunAsync(ct);
}
