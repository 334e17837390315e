using System.Collections.Concurrent;
using Hangfire.Storage;

namespace AgentSentinel.Api.Hosting;

/// <summary>
/// Recurring-job registrations that start-up could not make because the job's lock in the job storage was held: a
/// process killed (SIGKILL) while it held it leaves the lock behind, and PostgreSQL job storage frees such a lock only
/// after its <c>DistributedLockTimeout</c> (1 minute). Start-up goes on instead of failing: the job stays as the
/// previous process registered it, and <see cref="StartupRecovery"/> makes the registration again until it goes through.
/// </summary>
public sealed class PendingRecurringJobs(ILogger<PendingRecurringJobs> logger)
{
    private readonly ConcurrentQueue<(string Id, Action Register)> _pending = new();

    public int Count => _pending.Count;

    /// <summary>Makes the registration, or keeps it for later when the job's lock is held.</summary>
    public void Register(string jobId, Action register)
    {
        try
        {
            register();
        }
        catch (Exception e) when (IsLockTimeout(e))
        {
            ApiLog.RecurringJobLocked(logger, jobId);
            _pending.Enqueue((jobId, register));
        }
    }

    /// <summary>Makes the registrations kept for later, in order; throws when a lock is still held (the rest stay).</summary>
    public void RegisterPending()
    {
        while (_pending.TryPeek(out var next))
        {
            next.Register();
            _pending.TryDequeue(out _);
        }
    }

    // Hangfire.PostgreSql throws its own exception type on a lock timeout; other storages throw Hangfire's.
    private static bool IsLockTimeout(Exception e) =>
        e is DistributedLockTimeoutException || e.GetType().FullName == "Hangfire.PostgreSql.PostgreSqlDistributedLockException";
}
