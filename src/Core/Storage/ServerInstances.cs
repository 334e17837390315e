using System.Collections.Concurrent;
using System.Globalization;
using Dapper;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentSentinel.Core.Storage;

/// <summary>A server instance as its liveness record shows it.</summary>
public sealed record InstanceRecord(string Id, string Host, string? Machine, int Pid, string? PidStart, DateTimeOffset StartedAt, DateTimeOffset HeartbeatAt);

/// <summary>
/// This server process among the instances that share the database: an id of its own, recorded on every chat
/// delivery it claims, and a heartbeat row in <c>server_instances</c>. Another instance's claim is taken over only when
/// that instance is gone: its heartbeat is older than <see cref="DeadAfter"/>, its row was removed when it stopped, or
/// it ran on this machine (same boot and PID namespace) and its process no longer exists (a SIGKILL is seen at once).
/// </summary>
public sealed class ServerInstance
{
    /// <summary>How often the heartbeat row is written.</summary>
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(5);

    /// <summary>An instance whose heartbeat is older than this is gone.</summary>
    public static readonly TimeSpan DeadAfter = TimeSpan.FromSeconds(20);

    /// <summary>Rows of instances gone longer than this are deleted.</summary>
    private static readonly TimeSpan Retention = TimeSpan.FromDays(1);

    // The instances of this process that have not stopped (tests run several in one process).
    private static readonly ConcurrentDictionary<string, bool> RunningHere = new();

    private readonly Database _database;
    private readonly TimeProvider _time;

    public ServerInstance(Database database, TimeProvider time)
    {
        _database = database;
        _time = time;
        Id = Guid.NewGuid().ToString("N");
        Self = new InstanceRecord(Id, Environment.MachineName, ProcessIdentity.Machine, Environment.ProcessId,
            ProcessIdentity.StartOf(Environment.ProcessId), time.GetUtcNow(), time.GetUtcNow());
    }

    public string Id { get; }

    private InstanceRecord Self { get; }

    /// <summary>Writes (or refreshes) this instance's heartbeat, and deletes the rows of instances gone for a day.</summary>
    public async Task BeatAsync(CancellationToken ct)
    {
        RunningHere[Id] = true;
        var now = _time.GetUtcNow();
        await using var connection = await _database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO server_instances (id, host, machine, pid, pid_start, started_at, heartbeat_at)
            VALUES (@Id, @Host, @Machine, @Pid, @PidStart, @startedAt, @now)
            ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at
            """, new { Self.Id, Self.Host, Self.Machine, Self.Pid, Self.PidStart, startedAt = Self.StartedAt.ToUnixMicroseconds(), now = now.ToUnixMicroseconds() }, cancellationToken: ct));
        await connection.ExecuteAsync(new CommandDefinition("DELETE FROM server_instances WHERE heartbeat_at < @before",
            new { before = (now - Retention).ToUnixMicroseconds() }, cancellationToken: ct));
    }

    /// <summary>Removes this instance's row when it stops, so the claims it left are taken over at once.</summary>
    public async Task RetireAsync(CancellationToken ct)
    {
        RunningHere.TryRemove(Id, out _);
        await using var connection = await _database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("DELETE FROM server_instances WHERE id = @Id", new { Id }, cancellationToken: ct));
    }

    public async Task<InstanceRecord?> GetAsync(string id, CancellationToken ct)
    {
        await using var connection = await _database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            "SELECT id, host, machine, pid, pid_start, started_at, heartbeat_at FROM server_instances WHERE id = @id", new { id }, cancellationToken: ct));
        return row is null ? null : new InstanceRecord(row.Id, row.Host, row.Machine, (int)row.Pid, row.PidStart,
            TimeConversions.FromUnixMicroseconds(row.StartedAt), TimeConversions.FromUnixMicroseconds(row.HeartbeatAt));
    }

    /// <summary>True when the instance <paramref name="id"/> is alive: this one, or another whose heartbeat is recent
    /// and whose process, when it ran on this machine, still exists.</summary>
    public async Task<bool> IsAliveAsync(string id, CancellationToken ct)
    {
        if (id == Id)
        {
            return true;
        }
        return await GetAsync(id, ct) is { } other && IsAlive(other, _time.GetUtcNow());
    }

    /// <summary>The liveness rule on one record (see the class summary).</summary>
    public bool IsAlive(InstanceRecord other, DateTimeOffset now)
    {
        if (other.Id == Id)
        {
            return true;
        }
        if (now - other.HeartbeatAt > DeadAfter)
        {
            return false;
        }
        if (other.Machine is null || other.Machine != Self.Machine || other.Host != Self.Host)
        {
            return true; // another machine: only its heartbeat tells
        }
        if (other.Pid == Self.Pid && other.PidStart == Self.PidStart)
        {
            return RunningHere.ContainsKey(other.Id); // another instance in this very process
        }
        return other.PidStart is not null && ProcessIdentity.StartOf(other.Pid) == other.PidStart;
    }

    private sealed class Row
    {
        public string Id { get; set; } = "";
        public string Host { get; set; } = "";
        public string? Machine { get; set; }
        public long Pid { get; set; }
        public string? PidStart { get; set; }
        public long StartedAt { get; set; }
        public long HeartbeatAt { get; set; }
    }
}

/// <summary>Who a process is on Linux: the machine (boot id and PID namespace) and a process's start time, so a pid
/// reused by another process is not mistaken for the one that died. Null elsewhere (then only heartbeats tell).</summary>
public static class ProcessIdentity
{
    public static readonly string? Machine = ReadMachine();

    private static string? ReadMachine()
    {
        try
        {
            var boot = File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim();
            var pidNamespace = new FileInfo("/proc/self/ns/pid").LinkTarget;
            return string.IsNullOrEmpty(boot) || string.IsNullOrEmpty(pidNamespace) ? null : $"{boot}/{pidNamespace}";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>The start time of a running process (clock ticks after boot, field 22 of <c>/proc/pid/stat</c>); null
    /// when no such process runs (a zombie counts as gone) or it cannot be read.</summary>
    public static string? StartOf(int pid)
    {
        if (Machine is null)
        {
            return null;
        }
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            // The command name (field 2) is in parentheses and may hold spaces: the fields after it start after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields[0] == "Z" || fields.Length < 20 ? null : fields[19];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>Keeps this instance's heartbeat: the first beat before the dispatcher and the job server start (register
/// it right after the start-up work), one every <see cref="ServerInstance.HeartbeatInterval"/>, and the row removed
/// when the process stops (after the job server and the dispatcher, which stop first).</summary>
public sealed class InstanceHeartbeat(ServerInstance instance, TimeProvider time, ILogger<InstanceHeartbeat> logger) : BackgroundService
{
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await instance.BeatAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(ServerInstance.HeartbeatInterval, time, stoppingToken);
                await instance.BeatAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // The database is unavailable: the next beat tries again.
                Log.HeartbeatFailed(logger, ex, ServerInstance.DeadAfter);
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await instance.RetireAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.HeartbeatFailed(logger, ex, ServerInstance.DeadAfter);
        }
    }
}
