using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Storage;

namespace AgentSentinel.Core.Jobs;

/// <summary>At start-up: expires what became overdue while the server was down and makes sure the next deadline has
/// a deadline job coming (the embedded job storage does not survive a restart; a persistent one may have lost nothing,
/// and then the offer costs nothing).</summary>
public sealed class ExpiryRecovery(ApprovalService service, IApprovalStore store, DeadlineClock clock)
{
    public async Task RecoverAsync(CancellationToken ct)
    {
        await service.ExpireDueAsync(ExpiryJobs.SweepBatchSize, ct);
        if (await store.NextDeadlineAsync(ct) is { } next)
        {
            clock.Offer(next);
        }
    }
}
