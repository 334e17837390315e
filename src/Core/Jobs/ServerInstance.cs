using System.Collections.Concurrent;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Core.Jobs;

/// <summary>
/// This server process as the other processes on the database see it: an id made at start, recorded in
/// <c>server_instances</c> and renewed every <see cref="JobsOptions.InstanceHeartbeat"/> (<see cref="ServerInstanceHeartbeat"/>).
/// Work a process claims (a chat delivery) records its id, so another process can tell a claim whose holder is still
/// running from one left by a process that stopped: an instance not heard from for <see cref="DeadAfter"/>, or whose
/// row is gone (it stopped cleanly), has stopped. Inside the process, <see cref="TryRun"/> keeps two jobs from working
/// on the same piece of work at once, so a claim of this process that no job here is working on was left by an
/// attempt that ended without recording how.
/// </summary>
public sealed class ServerInstance(IServerInstanceStore store, IOptions<AgentSentinelOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, byte> _running = new(StringComparer.Ordinal);

    public string Id { get; } = Guid.CreateVersion7().ToString("N");

    /// <summary>The host and process id, for people reading the table.</summary>
    public string Name { get; } = $"{Environment.MachineName}:{Environment.ProcessId}";

    public DateTimeOffset StartedAt { get; } = time.GetUtcNow();

    public TimeSpan Heartbeat => options.Value.Jobs.InstanceHeartbeat;

    /// <summary>How long an instance may go unheard before it counts as stopped: five heartbeats.</summary>
    public TimeSpan DeadAfter => Heartbeat * 5;

    /// <summary>Records that this process is alive now.</summary>
    public Task BeatAsync(CancellationToken ct) => store.BeatAsync(Id, Name, StartedAt, time.GetUtcNow(), ct);

    /// <summary>Until when the instance <paramref name="id"/> counts as running if it is not heard from again (this
    /// process: for ever); null when it has stopped.</summary>
    public async Task<DateTimeOffset?> RunningUntilAsync(string id, CancellationToken ct)
    {
        if (id == Id)
        {
            return DateTimeOffset.MaxValue;
        }
        var until = await store.LastSeenAsync(id, ct) + DeadAfter;
        return until > time.GetUtcNow() ? until : null;
    }

    /// <summary>Marks <paramref name="work"/> as being done by a job of this process until the result is disposed;
    /// null when another job of this process is doing it right now.</summary>
    public IDisposable? TryRun(string work) => _running.TryAdd(work, 0) ? new Running(_running, work) : null;

    private sealed class Running(ConcurrentDictionary<string, byte> running, string work) : IDisposable
    {
        public void Dispose() => running.TryRemove(work, out _);
    }
}

/// <summary>Renews this process's row in <c>server_instances</c> every heartbeat, removes the rows of instances not
/// heard from for a day, and removes its own row when the process stops cleanly (after the job server has stopped:
/// it is registered before it, and hosted services stop in reverse order). The first beat is recorded at start-up,
/// before any job runs (<c>StartupTasks</c>).</summary>
public sealed class ServerInstanceHeartbeat(ServerInstance instance, IServerInstanceStore store, TimeProvider time, ILogger<ServerInstanceHeartbeat> logger) : BackgroundService
{
    private static readonly TimeSpan Retention = TimeSpan.FromDays(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var pruned = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(instance.Heartbeat, time, stoppingToken);
                await instance.BeatAsync(stoppingToken);
                var now = time.GetUtcNow();
                if (now - pruned > TimeSpan.FromHours(1))
                {
                    await store.PruneAsync(now - Retention, stoppingToken);
                    pruned = now;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Log.HeartbeatFailed(logger, e, instance.Id, instance.Heartbeat);
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await store.RemoveAsync(instance.Id, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The row then ages out: the instance counts as stopped once it is not heard from for a few heartbeats.
            Log.HeartbeatFailed(logger, e, instance.Id, instance.DeadAfter);
        }
    }
}
