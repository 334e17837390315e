using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Storage;
using Hangfire;
using Microsoft.Extensions.Logging;

namespace AgentSentinel.Core.Jobs;

/// <summary>Hangfire queues. Workers take jobs from <see cref="Deadlines"/> before <see cref="Default"/> (the name sorts
/// first too, as some storages order queues by name), so a backlog of chat deliveries never delays an expiry.</summary>
public static class JobQueues
{
    public const string Deadlines = "critical";
    public const string Default = "default";

    public static readonly string[] All = [Deadlines, Default];
}

/// <summary>The sweep that catches anything a lost or late deadline job missed, and the expiry job of one request
/// (scheduled per request by earlier versions; kept so that such jobs still stored run). Both only ask the store for
/// the conditional expire transition, so running them twice or late is harmless.</summary>
public sealed class ExpiryJobs(ApprovalService service, IApprovalStore store, DeadlineClock clock, ILogger<ExpiryJobs> logger)
{
    public const string SweepJobId = "expiry-sweep";
    public const int SweepBatchSize = 500;

    [AutomaticRetry(Attempts = 10)]
    [Queue(JobQueues.Deadlines)]
    public async Task ExpireAsync(Guid approvalId, CancellationToken ct)
    {
        var result = await service.ExpireAsync(approvalId, ct);
        if (result is { Outcome: TransitionOutcome.NotYetDue, Request: { } request })
        {
            // Delayed jobs may start up to about a second early; the deadline job comes at the deadline.
            Log.ExpiryEarly(logger, approvalId, request.ExpiresAt - service.Now);
            clock.Offer(request.ExpiresAt);
        }
    }

    [AutomaticRetry(Attempts = 3)]
    [DisableConcurrentExecution(timeoutInSeconds: 60)]
    [Queue(JobQueues.Deadlines)]
    public async Task<int> SweepAsync(CancellationToken ct)
    {
        var expired = await service.ExpireDueAsync(SweepBatchSize, ct);
        // The safety net of the deadline job too: whatever happened to it, the next deadline has one coming.
        if (await store.NextDeadlineAsync(ct) is { } next)
        {
            clock.Offer(next);
        }
        return expired;
    }
}

/// <summary>Reminders and escalation: a job at each request's next follow-up, and a sweep for anything missed.</summary>
public sealed class FollowUpJobs(ApprovalService service, IFollowUpScheduler scheduler)
{
    public const string SweepJobId = "follow-up-sweep";

    [AutomaticRetry(Attempts = 5)]
    public async Task RunAsync(Guid approvalId, CancellationToken ct)
    {
        if (await service.FollowUpAsync(approvalId, ct) is { } next)
        {
            scheduler.ScheduleFollowUp(approvalId, next);
        }
    }

    [AutomaticRetry(Attempts = 3)]
    [DisableConcurrentExecution(timeoutInSeconds: 60)]
    public Task<int> SweepAsync(CancellationToken ct) => service.FollowUpDueAsync(ExpiryJobs.SweepBatchSize, ct);
}

/// <summary>Schedules follow-ups as Hangfire delayed jobs. The delay is measured on the injected clock.</summary>
public sealed class HangfireFollowUpScheduler(IBackgroundJobClient jobs, TimeProvider time) : IFollowUpScheduler
{
    public void ScheduleFollowUp(Guid id, DateTimeOffset at)
    {
        var delay = at - time.GetUtcNow();
        jobs.Schedule<FollowUpJobs>(j => j.RunAsync(id, CancellationToken.None), delay < MinimumDelay ? MinimumDelay : delay);
    }

    private static readonly TimeSpan MinimumDelay = TimeSpan.FromMilliseconds(200);
}
