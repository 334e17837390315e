using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using System.Diagnostics;
using Hangfire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Core.Jobs;

/// <summary>
/// Expiry without a Hangfire job per request. One deadline job works through the open-deadline index: it expires what
/// is due, then waits in its process for the next deadline when that is near, or schedules itself (a Hangfire delayed
/// job, started <see cref="Lead"/> before it so the job server's polling does not make it late) and ends. Every new
/// request offers its deadline here (from the outbox, see <see cref="DeadlineScheduling"/>): a nearer deadline wakes
/// the waiting job early or schedules a new one; a later one costs nothing. The minute sweep remains the safety net.
/// Expiring twice or late is harmless: each expiry is the store's conditional transition.
/// </summary>
public sealed class DeadlineClock(IBackgroundJobClient jobs, TimeProvider time, IOptions<AgentSentinelOptions> options) : IExpiryScheduler
{
    /// <summary>A deadline nearer than this is waited for in the running job rather than handed to a delayed job.</summary>
    public static readonly TimeSpan Horizon = TimeSpan.FromSeconds(10);

    /// <summary>How long one run of the job goes on before it hands over to a fresh one (a worker is not held forever).</summary>
    public static readonly TimeSpan MaxRun = TimeSpan.FromSeconds(60);

    /// <summary>How soon after a failed pass the next deadline job is due. Hangfire's own retry of the failed job comes
    /// 15 s or more later (and the minute sweep up to a minute later): too late for the deadlines due meanwhile.</summary>
    public static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(2);

    private readonly Lock _lock = new();
    private bool _running;
    private DateTimeOffset? _waitingFor;
    private DateTimeOffset? _offeredWhileWorking;
    private TaskCompletionSource _nearer = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private DateTimeOffset? _scheduledFor;

    /// <summary>How long before a deadline its delayed job is due: the job server's polling interval and a margin.</summary>
    public TimeSpan Lead => options.Value.Jobs.SchedulePollingInterval + TimeSpan.FromMilliseconds(500);

    /// <summary>The deadline the delayed job this process last scheduled is for (null when none).</summary>
    public DateTimeOffset? ScheduledFor
    {
        get
        {
            lock (_lock)
            {
                return _scheduledFor;
            }
        }
    }

    public void ScheduleExpiry(Guid id, DateTimeOffset deadline) => Offer(deadline);

    /// <summary>Makes sure a deadline job runs in time for <paramref name="deadline"/>.</summary>
    public void Offer(DateTimeOffset deadline)
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            if (_running)
            {
                if (_waitingFor is { } waiting)
                {
                    if (deadline < waiting)
                    {
                        _waitingFor = deadline;
                        _nearer.TrySetResult();
                    }
                }
                else if (_offeredWhileWorking is not { } offered || deadline < offered)
                {
                    _offeredWhileWorking = deadline;
                }
                return;
            }
            // A job for this deadline or an earlier one is still to come (or started a moment ago and runs on).
            if (_scheduledFor is { } scheduled && scheduled <= deadline && scheduled + Lead + Horizon > now)
            {
                return;
            }
            _scheduledFor = deadline;
        }
        var start = deadline - Lead - now;
        if (start <= TimeSpan.Zero)
        {
            jobs.Enqueue<DeadlineJobs>(j => j.RunAsync(CancellationToken.None));
        }
        else
        {
            jobs.Schedule<DeadlineJobs>(j => j.RunAsync(CancellationToken.None), start);
        }
    }

    /// <summary>False when a deadline job already runs in this process; otherwise the job runs, and
    /// <paramref name="scheduledFor"/> is the deadline the clock had scheduled a job for (null when none).</summary>
    internal bool TryStart(out DateTimeOffset? scheduledFor)
    {
        lock (_lock)
        {
            scheduledFor = _scheduledFor;
            if (_running)
            {
                return false;
            }
            _running = true;
            _waitingFor = null;
            _offeredWhileWorking = null;
            _scheduledFor = null;
            return true;
        }
    }

    /// <summary>Waits until <paramref name="next"/> or until a nearer deadline is offered, whichever comes first.</summary>
    internal async Task WaitAsync(DateTimeOffset next, CancellationToken ct)
    {
        Task nearer;
        DateTimeOffset target;
        lock (_lock)
        {
            target = _offeredWhileWorking is { } offered && offered < next ? offered : next;
            _offeredWhileWorking = null;
            _waitingFor = target;
            _nearer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            nearer = _nearer.Task;
        }
        var delay = target - time.GetUtcNow();
        if (delay > TimeSpan.Zero)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            await Task.WhenAny(Task.Delay(delay, time, stop.Token), nearer);
            await stop.CancelAsync();
        }
        lock (_lock)
        {
            _waitingFor = null;
        }
        ct.ThrowIfCancellationRequested();
    }

    /// <summary>The running job failed: a new one is due <see cref="RetryAfterFailure"/> from now (or at the next deadline,
    /// if later), whatever Hangfire does with the failed one. Returns when the new one is due.</summary>
    internal DateTimeOffset StopAfterFailure(DateTimeOffset? next)
    {
        var retryAt = time.GetUtcNow() + RetryAfterFailure;
        if (next is { } n && n > retryAt)
        {
            retryAt = n;
        }
        Stop(retryAt);
        return retryAt;
    }

    /// <summary>The running job ends; the next deadline (if any) gets a job of its own.</summary>
    internal void Stop(DateTimeOffset? next)
    {
        DateTimeOffset? offered;
        lock (_lock)
        {
            _running = false;
            _waitingFor = null;
            offered = _offeredWhileWorking;
            _offeredWhileWorking = null;
        }
        if (next is { } n)
        {
            Offer(n);
        }
        if (offered is { } o)
        {
            Offer(o);
        }
    }
}

/// <summary>The deadline job (see <see cref="DeadlineClock"/>).</summary>
public sealed class DeadlineJobs(ApprovalService service, IApprovalStore store, DeadlineClock clock, TimeProvider time, ILogger<DeadlineJobs> logger)
{
    [AutomaticRetry(Attempts = 10)]
    [Queue(JobQueues.Deadlines)]
    public async Task RunAsync(CancellationToken ct)
    {
        if (!clock.TryStart(out var scheduledFor))
        {
            // This process works through the deadlines already.
            return;
        }
        if (scheduledFor is { } due)
        {
            Log.DeadlineJobStarted(logger, time.GetUtcNow() - due, due);
        }
        DateTimeOffset? next = scheduledFor;
        var stopped = false;
        try
        {
            var stopAt = time.GetUtcNow() + DeadlineClock.MaxRun;
            while (true)
            {
                next = await PassAsync(next, ct);
                var now = time.GetUtcNow();
                if (next is not { } deadline || deadline - now > DeadlineClock.Horizon || now >= stopAt)
                {
                    return;
                }
                await clock.WaitAsync(deadline, ct);
            }
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            stopped = true;
            Log.DeadlinePassFailed(logger, ex, clock.StopAfterFailure(next));
            throw;
        }
        finally
        {
            if (!stopped)
            {
                clock.Stop(next);
            }
        }
    }

    /// <summary>Expires every request that is due and returns the next open deadline.</summary>
    public Task<DateTimeOffset?> PassAsync(CancellationToken ct) => PassAsync(null, ct);

    /// <summary>A pass after waiting for <paramref name="waitedFor"/> (the earliest deadline known before it), which
    /// the debug log compares with the time the pass starts.</summary>
    private async Task<DateTimeOffset?> PassAsync(DateTimeOffset? waitedFor, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var late = waitedFor is { } w ? time.GetUtcNow() - w : TimeSpan.Zero;
        var expired = await service.ExpireDueBatchesAsync(ExpiryJobs.SweepBatchSize, ct);
        if (expired > 0)
        {
            Log.DeadlinePass(logger, expired, Stopwatch.GetElapsedTime(started).TotalMilliseconds, late);
        }
        return await store.NextDeadlineAsync(ct);
    }
}
