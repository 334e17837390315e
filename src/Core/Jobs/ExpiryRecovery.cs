using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Storage;
using Microsoft.Extensions.Logging;

namespace AgentSentinel.Core.Jobs;

/// <summary>At start-up: expires what became overdue while the server was down and, when the job storage does
/// not survive a restart (the embedded default), schedules expiry again for every open request.</summary>
public sealed class ExpiryRecovery(ApprovalService service, IApprovalStore store, IExpiryScheduler scheduler, ILogger<ExpiryRecovery> logger)
{
    public async Task RecoverAsync(bool rescheduleOpen, CancellationToken ct)
    {
        await service.ExpireDueAsync(ExpiryJobs.SweepBatchSize, ct);
        if (!rescheduleOpen)
        {
            return;
        }
        var count = 0;
        Guid? after = null;
        while (true)
        {
            var open = await store.ListOpenAsync(after, 1000, ct);
            foreach (var (id, expiresAt) in open)
            {
                scheduler.ScheduleExpiry(id, expiresAt);
            }
            count += open.Count;
            if (open.Count < 1000)
            {
                break;
            }
            after = open[^1].Id;
        }
        if (count > 0)
        {
            Log.ExpiriesRescheduled(logger, count);
        }
    }
}
