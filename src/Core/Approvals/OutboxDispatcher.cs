using System.Collections.Concurrent;
using System.Diagnostics;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Notifications;
using AgentSentinel.Core.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Core.Approvals;

/// <summary>Wakes the outbox dispatcher of this process: a change committed here that the change hub does not carry
/// (a reminder or an escalation level).</summary>
public sealed class OutboxSignal
{
    private readonly SemaphoreSlim _wake = new(0, 1);

    public void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already awake.
        }
    }

    /// <summary>Returns at the next <see cref="Wake"/>, or after <paramref name="interval"/> on the injected clock.</summary>
    public async Task WaitAsync(TimeSpan interval, TimeProvider time, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var woken = _wake.WaitAsync(stop.Token);
        var elapsed = Task.Delay(interval, time, stop.Token);
        await Task.WhenAny(woken, elapsed);
        await stop.CancelAsync();
        ct.ThrowIfCancellationRequested();
    }
}

/// <summary>
/// Carries out the effects of committed changes. Every creation, transition and follow-up writes an outbox entry in
/// its own transaction (<see cref="IOutboxStore"/>); this service claims the entries, tells every
/// <see cref="IApprovalObserver"/> (which turn them into Hangfire jobs: chat posts, redraws, thread replies, escalation
/// posts, callbacks, expiry and follow-up scheduling) and marks them handled. It wakes on every change of the change hub
/// (on PostgreSQL that includes the other instances' changes, through LISTEN/NOTIFY), on <see cref="OutboxSignal"/>,
/// and at least every <see cref="JobsOptions.OutboxSweepInterval"/>, and at start-up; an entry whose effects fail is
/// tried again later with a growing delay. An entry is handled at least once: observers and the jobs they queue are
/// idempotent (chat deliveries are claimed per request, surface and delivery key; a callback exists once per version).
/// </summary>
public sealed class OutboxDispatcher(
    IOutboxStore store,
    ApprovalChangeHub hub,
    OutboxSignal signal,
    IEnumerable<IApprovalObserver> observers,
    IOptions<AgentSentinelOptions> options,
    TimeProvider time,
    ILogger<OutboxDispatcher> logger) : BackgroundService
{
    public const int BatchSize = 100;

    /// <summary>How long a claim keeps other dispatchers off an entry; a process that dies holding one delays it this long.</summary>
    public static readonly TimeSpan ClaimTime = TimeSpan.FromSeconds(15);

    /// <summary>How long handled entries are kept.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromDays(1);

    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan PurgeInterval = TimeSpan.FromMinutes(10);

    private readonly IApprovalObserver[] _observers = [.. observers];

    /// <summary>The delay before an entry whose effects failed <paramref name="attempts"/> times is tried again:
    /// 1 s, 2 s, 4 s, ... up to 5 minutes.</summary>
    public static TimeSpan RetryDelay(int attempts) =>
        TimeSpan.FromSeconds(Math.Min(Math.Pow(2, Math.Max(0, attempts - 1)), MaxRetryDelay.TotalSeconds));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var feed = hub.SubscribeAll();
        var pump = PumpAsync(feed, stoppingToken);
        var interval = options.Value.Jobs.OutboxSweepInterval;
        var nextPurge = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await DispatchDueAsync(stoppingToken);
                var now = time.GetUtcNow();
                if (now >= nextPurge)
                {
                    await store.PurgeHandledAsync(now - Retention, 1000, stoppingToken);
                    nextPurge = now + PurgeInterval;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // The database is unavailable, say: the entries stay and the next wake-up or sweep takes them.
                Log.OutboxDispatchFailed(logger, ex);
            }
            try
            {
                await signal.WaitAsync(interval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        await pump;
    }

    /// <summary>Every change in the hub wakes the dispatcher.</summary>
    private async Task PumpAsync(ApprovalChangeHub.Feed feed, CancellationToken ct)
    {
        try
        {
            while (true)
            {
                await feed.ReadAsync(ct);
                signal.Wake();
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>Claims and handles entries until none is due; returns how many were handled. The entries of a batch are
    /// handled <see cref="JobsOptions.OutboxParallelism"/> requests at a time (each effect is a job storage write, so a
    /// backlog drains at the storage's pace, not one commit after another); the entries of one request are handled in
    /// the order they were committed.</summary>
    public async Task<int> DispatchDueAsync(CancellationToken ct)
    {
        var total = 0;
        var parallelism = new ParallelOptions { MaxDegreeOfParallelism = options.Value.Jobs.OutboxParallelism, CancellationToken = ct };
        while (true)
        {
            var now = time.GetUtcNow().TruncateToMicroseconds();
            var started = Stopwatch.GetTimestamp();
            var batch = await store.ClaimAsync(now, now + ClaimTime, BatchSize, ct);
            var claimed = Stopwatch.GetTimestamp();
            var handled = new ConcurrentQueue<long>();
            try
            {
                await Parallel.ForEachAsync(batch.GroupBy(e => e.Request.Id), parallelism, async (entries, token) =>
                {
                    foreach (var entry in entries)
                    {
                        if (await TryHandleAsync(entry, token))
                        {
                            handled.Enqueue(entry.Id);
                        }
                    }
                });
            }
            finally
            {
                // Entries left unmarked by a stop (or a crash) are claimed again when their claim runs out.
                var handledAt = Stopwatch.GetTimestamp();
                await store.MarkHandledAsync([.. handled], time.GetUtcNow().TruncateToMicroseconds(), CancellationToken.None);
                if (batch.Count > 0 && logger.IsEnabled(LogLevel.Debug))
                {
                    Log.OutboxBatch(logger, batch.Count, Stopwatch.GetElapsedTime(started, claimed).TotalMilliseconds,
                        Stopwatch.GetElapsedTime(claimed, handledAt).TotalMilliseconds, Stopwatch.GetElapsedTime(handledAt).TotalMilliseconds);
                }
            }
            total += handled.Count;
            if (batch.Count < BatchSize)
            {
                return total;
            }
        }
    }

    /// <summary>Handles one entry; an entry whose effects fail is put back with its next due time.</summary>
    private async Task<bool> TryHandleAsync(OutboxEntry entry, CancellationToken ct)
    {
        try
        {
            await HandleAsync(entry, ct);
            return true;
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            var due = time.GetUtcNow().TruncateToMicroseconds() + RetryDelay(entry.Attempts);
            Log.OutboxEntryFailed(logger, ex, entry.Id, entry.Request.Id, entry.Kind.ToString(), entry.Attempts, due);
            await store.RetryLaterAsync(entry.Id, due, $"{ex.GetType().Name}: {ex.Message}", CancellationToken.None);
            return false;
        }
    }

    /// <summary>Tells every observer about one entry, in a span that continues the trace of the call that made the
    /// change, so the jobs queued here join that trace.</summary>
    private async Task HandleAsync(OutboxEntry entry, CancellationToken ct)
    {
        var parent = entry.TraceParent is { } traceParent && ActivityContext.TryParse(traceParent, null, out var context) ? context : default;
        using var activity = Telemetry.ProductTraces.Source.StartActivity($"outbox {entry.Kind}", ActivityKind.Internal, parent);
        foreach (var observer in _observers)
        {
            var task = entry.Kind switch
            {
                OutboxKind.Created => observer.OnCreatedAsync(entry.Request, ct),
                OutboxKind.Changed => observer.OnChangedAsync(entry.Request,
                    entry.Transition ?? throw new InvalidDataException($"Outbox entry {entry.Id} names no transition."), entry.Actor ?? Actor.System, ct),
                OutboxKind.FollowUp => observer.OnFollowUpAsync(entry.Request,
                    entry.FollowUp ?? throw new InvalidDataException($"Outbox entry {entry.Id} names no follow-up."), ct),
                _ => throw new InvalidDataException($"Outbox entry {entry.Id} has an unknown kind."),
            };
            await task;
        }
    }
}

/// <summary>The scheduling effects of a new request: its expiry at the deadline and its first reminder or escalation.</summary>
public sealed class DeadlineScheduling(IExpiryScheduler expiry, IFollowUpScheduler followUps) : IApprovalObserver
{
    public Task OnCreatedAsync(ApprovalRequest request, CancellationToken ct)
    {
        if (!request.IsTerminal)
        {
            expiry.ScheduleExpiry(request.Id, request.ExpiresAt);
            if (request.FollowUpAt is { } next)
            {
                followUps.ScheduleFollowUp(request.Id, next);
            }
        }
        return Task.CompletedTask;
    }

    public Task OnChangedAsync(ApprovalRequest request, TransitionKind transition, Actor actor, CancellationToken ct) => Task.CompletedTask;
}
