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

/// <summary>Reminders and escalation: the job of a slot of follow-ups (see <see cref="HangfireFollowUpScheduler"/>), the
/// job of one request's follow-up (scheduled per request by earlier versions; kept so that such jobs still stored run),
/// and a sweep for anything missed. Each follow-up is recorded once whoever runs it.</summary>
public sealed class FollowUpJobs(ApprovalService service, IFollowUpScheduler scheduler)
{
    public const string SweepJobId = "follow-up-sweep";

    /// <summary>Batches one run of <see cref="RunDueAsync"/> goes through at most; the sweep takes what is left.</summary>
    public const int MaxBatchesPerRun = 10;

    [AutomaticRetry(Attempts = 5)]
    public async Task RunAsync(Guid approvalId, CancellationToken ct)
    {
        if (await service.FollowUpAsync(approvalId, ct) is { } next)
        {
            scheduler.ScheduleFollowUp(approvalId, next);
        }
    }

    /// <summary>Every follow-up due now, through the follow-up index; each request's next one is offered to the scheduler.</summary>
    [AutomaticRetry(Attempts = 5)]
    public async Task RunDueAsync(CancellationToken ct)
    {
        for (var batch = 0; batch < MaxBatchesPerRun; batch++)
        {
            if (await service.FollowUpDueAsync(ExpiryJobs.SweepBatchSize, scheduler.ScheduleFollowUp, ct) < ExpiryJobs.SweepBatchSize)
            {
                return;
            }
        }
    }

    [AutomaticRetry(Attempts = 3)]
    [DisableConcurrentExecution(timeoutInSeconds: 60)]
    public Task<int> SweepAsync(CancellationToken ct) => service.FollowUpDueAsync(ExpiryJobs.SweepBatchSize, scheduler.ScheduleFollowUp, ct);
}

/// <summary>Schedules follow-ups without a Hangfire job per request. Follow-ups fall into slots of <see cref="Slot"/>;
/// the first follow-up of a slot schedules one delayed job (<see cref="FollowUpJobs.RunDueAsync"/>) for
/// <see cref="Lead"/> after the slot ends, which runs every follow-up due by then; the others cost nothing. So a follow-up
/// is never early and at most a slot and the lead late (plus the job server's polling); the minute sweep remains the
/// safety net. The delay is measured on the injected clock.</summary>
public sealed class HangfireFollowUpScheduler(IBackgroundJobClient jobs, TimeProvider time) : IFollowUpScheduler
{
    public static readonly TimeSpan Slot = TimeSpan.FromSeconds(5);

    /// <summary>Delayed jobs may start up to about a second early: the slot's job is due this long after the slot ends.</summary>
    public static readonly TimeSpan Lead = TimeSpan.FromSeconds(1);

    /// <summary>Slots this process has scheduled a job for (more than this, and those that are over are forgotten).</summary>
    private const int PruneAbove = 256;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, byte> _scheduled = new();

    public void ScheduleFollowUp(Guid id, DateTimeOffset at)
    {
        var now = time.GetUtcNow();
        // A follow-up due already falls in the slot of now; a slot ends after everything in it is due.
        var due = at > now ? at : now;
        var slotEnd = (due.UtcTicks / Slot.Ticks + 1) * Slot.Ticks;
        if (!_scheduled.TryAdd(slotEnd, 0))
        {
            return;
        }
        if (_scheduled.Count > PruneAbove)
        {
            foreach (var over in _scheduled.Keys.Where(k => k < now.UtcTicks))
            {
                _scheduled.TryRemove(over, out _);
            }
        }
        try
        {
            jobs.Schedule<FollowUpJobs>(j => j.RunDueAsync(CancellationToken.None), new DateTimeOffset(slotEnd, TimeSpan.Zero) + Lead - now);
        }
        catch (Exception)
        {
            // Not scheduled: the next follow-up of this slot tries again.
            _scheduled.TryRemove(slotEnd, out _);
            throw;
        }
    }
}
