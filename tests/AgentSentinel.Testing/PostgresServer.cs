using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using Xunit;

namespace AgentSentinel.Testing;

/// <summary>
/// A real PostgreSQL server for the test run: <c>initdb</c> into a temporary folder, started with <c>pg_ctl</c> on a
/// free loopback port (as the <c>postgres</c> system user when the tests run as root), stopped and removed at the
/// end. When PostgreSQL is not installed the tests that need it are skipped on a developer machine and fail when
/// <c>CI=true</c>.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private static readonly SemaphoreSlim StartLock = new(1, 1);
    private static PostgresServer? _shared;
    private static string? _unavailable;

    private readonly string _root;
    private readonly string _binDir;
    private readonly bool _asPostgresUser;
    private int _databaseCounter;
    private bool _keep;

    private PostgresServer(string root, string binDir, int port, bool asPostgresUser)
    {
        _root = root;
        _binDir = binDir;
        Port = port;
        _asPostgresUser = asPostgresUser;
    }

    public int Port { get; }

    public string AdminConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Pooling=false;Timeout=10";

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The server of this test process, started on first use; skips the calling test when PostgreSQL is
    /// not installed (fails under CI).</summary>
    public static async Task<PostgresServer> GetAsync()
    {
        await StartLock.WaitAsync();
        try
        {
            if (_shared is not null)
            {
                return _shared;
            }
            if (_unavailable is null)
            {
                try
                {
                    _shared = await StartAsync();
                    AppDomain.CurrentDomain.ProcessExit += (_, _) => _shared?.Stop();
                    return _shared;
                }
                catch (PostgresMissingException ex)
                {
                    _unavailable = ex.Message;
                }
            }
        }
        finally
        {
            StartLock.Release();
        }
        if (IsCi)
        {
            throw new InvalidOperationException($"PostgreSQL is required when CI=true: {_unavailable}");
        }
        Assert.Skip($"PostgreSQL is not available: {_unavailable}");
        throw new UnreachableException();
    }

    /// <summary>Stops the server of this test process, if one was started, and removes its files: at the end of the test
    /// run, by <see cref="TestRunCleanup"/>.</summary>
    public static void StopShared() => Interlocked.Exchange(ref _shared, null)?.Stop();

    /// <summary>A server of its own (not shared with other tests), for tests that stop and start it; skips like
    /// <see cref="GetAsync"/> when PostgreSQL is not installed. Dispose it to stop it and remove its files.</summary>
    public static async Task<PostgresServer> StartDedicatedAsync()
    {
        try
        {
            return await StartAsync();
        }
        catch (PostgresMissingException ex)
        {
            if (IsCi)
            {
                throw new InvalidOperationException($"PostgreSQL is required when CI=true: {ex.Message}");
            }
            Assert.Skip($"PostgreSQL is not available: {ex.Message}");
            throw new UnreachableException();
        }
    }

    /// <summary>A server whose files stay in <paramref name="root"/> when it stops (a benchmark's populated cluster, to
    /// measure again with a later build): created there on first use, started on the files already there after that.</summary>
    public static async Task<PostgresServer> StartKeptAsync(string root)
    {
        var server = await StartAsync(Path.GetFullPath(root));
        server._keep = true;
        return server;
    }

    /// <summary>The connection string of database <paramref name="name"/> on this server.</summary>
    public string ConnectionString(string name) =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Database={name};Maximum Pool Size=60;Connection Idle Lifetime=5;Connection Pruning Interval=1";

    /// <summary>A new, empty database for one test class.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix)
    {
        var full = $"{prefix.ToLowerInvariant()}_{Interlocked.Increment(ref _databaseCounter)}_{Guid.NewGuid():N}";
        var name = full[..Math.Min(60, full.Length)];
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await cmd.ExecuteNonQueryAsync();
        // A test's pools (the store's and the job storage's) outlive its host; idle connections close after a few seconds
        // so the classes of a long run do not add up to the server's connection limit.
        return ConnectionString(name);
    }

    /// <summary>Stops the server (a crash-like immediate stop when <paramref name="immediate"/>) and starts it again on the same port.</summary>
    public async Task RestartAsync(TimeSpan downtime, bool immediate = true)
    {
        Run("pg_ctl", $"-D \"{DataDir}\" -m {(immediate ? "immediate" : "fast")} -w stop");
        await Task.Delay(downtime);
        StartServer();
    }

    public void StopServer(bool immediate = true) => Run("pg_ctl", $"-D \"{DataDir}\" -m {(immediate ? "immediate" : "fast")} -w stop");

    /// <summary>True when <c>AGENTSENTINEL_PG_DURABLE=1</c>: the server runs with PostgreSQL's durable defaults
    /// (<c>fsync</c>, <c>synchronous_commit</c>, <c>full_page_writes</c> on), as benchmarks of a real deployment need.
    /// Tests leave it unset and trade durability for speed.</summary>
    public static bool Durable => Environment.GetEnvironmentVariable("AGENTSENTINEL_PG_DURABLE") == "1";

    private static string DurabilitySettings => Durable
        ? "-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
        : "-c fsync=off -c synchronous_commit=off -c full_page_writes=off";

    public void StartServer() =>
        Run("pg_ctl", $"-D \"{DataDir}\" -l \"{Path.Combine(_root, "server.log")}\" -w -t 60 -o \"-p {Port} -k {_root} -c listen_addresses=127.0.0.1 {DurabilitySettings} -c max_connections=1000 -c shared_buffers=128MB\" start");

    private string DataDir => Path.Combine(_root, "data");

    private static async Task<PostgresServer> StartAsync(string? keptRoot = null)
    {
        var binDir = FindBinDir() ?? throw new PostgresMissingException("initdb was not found on PATH or under /usr/lib/postgresql/*/bin");
        var asPostgresUser = Environment.UserName == "root";
        if (asPostgresUser && !File.Exists("/usr/sbin/runuser") && !File.Exists("/sbin/runuser"))
        {
            throw new PostgresMissingException("running as root needs runuser to start PostgreSQL as the postgres user");
        }
        var root = keptRoot ?? Path.Combine(Path.GetTempPath(), $"agentsentinel-pg-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..12]}");
        Directory.CreateDirectory(root);
        if (asPostgresUser)
        {
            RunRaw("chown", $"postgres \"{root}\"");
        }
        var server = new PostgresServer(root, binDir, FreePort(), asPostgresUser);
        if (!Directory.Exists(server.DataDir))
        {
            server.Run("initdb", $"-D \"{server.DataDir}\" -U postgres --auth=trust -E UTF8 --no-sync --no-instructions");
        }
        server.StartServer();
        // Wait until it accepts connections.
        for (var i = 0; ; i++)
        {
            try
            {
                await using var c = new NpgsqlConnection(server.AdminConnectionString);
                await c.OpenAsync();
                break;
            }
            catch (NpgsqlException) when (i < 50)
            {
                await Task.Delay(200);
            }
        }
        return server;
    }

    private static string? FindBinDir()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl")))
            {
                return dir;
            }
        }
        if (Directory.Exists("/usr/lib/postgresql"))
        {
            return Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "initdb")))
                .OrderByDescending(d => d, StringComparer.Ordinal)
                .FirstOrDefault();
        }
        return null;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private void Run(string tool, string arguments)
    {
        var exe = Path.Combine(_binDir, tool);
        if (_asPostgresUser)
        {
            RunRaw("runuser", $"-u postgres -- \"{exe}\" {arguments}");
        }
        else
        {
            RunRaw(exe, arguments);
        }
    }

    private static void RunRaw(string file, string arguments)
    {
        var psi = new ProcessStartInfo(file, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{file} {arguments} did not finish in 120 s");
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {arguments} exited with {process.ExitCode}: {stdout.Result} {stderr.Result}");
        }
    }

    private void Stop()
    {
        try
        {
            // Kept files are left by a clean shutdown (a checkpoint), so the next start needs no recovery.
            StopServer(immediate: !_keep);
        }
        catch (InvalidOperationException)
        {
            // Already stopped.
        }
        if (_keep)
        {
            return;
        }
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    public ValueTask DisposeAsync()
    {
        Stop();
        return ValueTask.CompletedTask;
    }

    private sealed class PostgresMissingException(string message) : Exception(message);
}
