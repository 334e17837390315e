using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Jobs;

namespace AgentSentinel.Api.Hosting;

/// <summary>
/// Catches up on what a stopped server left undone, once <see cref="StartupTasks"/> has migrated the database, while
/// the server already serves: requests that became overdue while it was down are expired, the next open deadline gets
/// its deadline job (the embedded job storage does not survive a restart), and each chat surface
/// queues the posts a stop left unposted, and the recurring jobs whose lock a killed process left behind are registered
/// (<see cref="PendingRecurringJobs"/>). None of it blocks start-up: expiry is enforced in SQL on every read whatever
/// the jobs do, and the chat posts are idempotent deliveries. A failure (the database is unavailable, say) is logged
/// and the whole recovery tried again with a growing delay until it succeeds or the server stops.
/// </summary>
public sealed class StartupRecovery(
    ExpiryRecovery expiry,
    PendingRecurringJobs recurringJobs,
    IEnumerable<IStartupRecovery> surfaces,
    TimeProvider time,
    ILogger<StartupRecovery> logger) : BackgroundService
{
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromMinutes(1);

    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the recovery has run to the end.</summary>
    public Task Completed => _done.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await expiry.RecoverAsync(stoppingToken);
                foreach (var surface in surfaces)
                {
                    await surface.RecoverAsync(stoppingToken);
                }
                recurringJobs.RegisterPending();
                _done.TrySetResult();
                return;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                ApiLog.StartupRecoveryFailed(logger, ex, time.GetUtcNow() + delay);
            }
            try
            {
                await Task.Delay(delay, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
        }
        _done.TrySetCanceled(stoppingToken);
    }
}
