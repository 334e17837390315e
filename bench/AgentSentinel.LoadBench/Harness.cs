using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using AgentSentinel.Testing;
using Npgsql;

namespace AgentSentinel.LoadBench;

/// <summary>The real Api executable as a child process on a loopback port, against a given PostgreSQL database.</summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    public const string AdminKey = "as_bench_bootstrap_admin_key_0123456789";

    private readonly Dictionary<string, string> _environment;
    private Process? _process;

    public ServerProcess(string connectionString, IDictionary<string, string>? settings = null, int port = 0)
    {
        Port = port == 0 ? FreePort() : port;
        _environment = new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{Port}",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["AgentSentinel__Storage__Provider"] = "Postgres",
            ["AgentSentinel__Storage__ConnectionString"] = connectionString,
            ["AgentSentinel__Auth__BootstrapAdminKey"] = AdminKey,
            ["AgentSentinel__Auth__BootstrapAdminEmail"] = "bench-admin@example.com",
            ["AgentSentinel__Auth__InitialAdminKeyFile"] = Path.Combine(Path.GetTempPath(), $"agentsentinel-bench-{Guid.NewGuid():N}.key"),
            ["AgentSentinel__Policy__MinTimeoutSeconds"] = "1",
            // The scenarios measure the server, not the per-key limits: one key creates thousands and holds every wait.
            ["AgentSentinel__Limits__Enabled"] = "false",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string>())
        {
            _environment[k] = v;
        }
    }

    public int Port { get; }

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    public int Pid => _process?.Id ?? 0;

    public bool HasExited => _process?.HasExited ?? true;

    /// <summary>The server to run: the Release build of this repository, or the one named by AGENTSENTINEL_API_DLL (to
    /// compare two builds with the same bench).</summary>
    public static string ApiDll => Environment.GetEnvironmentVariable("AGENTSENTINEL_API_DLL") is { Length: > 0 } dll
        ? dll
        : Path.Combine(Repository.Root, "src", "Api", "bin", "Release", "net10.0", "AgentSentinel.Api.dll");

    /// <summary>Starts the server and waits until it is ready: 60 s, or <paramref name="readyWithin"/> (pending
    /// migrations over a large database take longer).</summary>
    public async Task StartAsync(TimeSpan? readyWithin = null)
    {
        var limit = readyWithin ?? TimeSpan.FromSeconds(60);
        if (!File.Exists(ApiDll))
        {
            throw new InvalidOperationException($"Build the solution in Release first: {ApiDll} is missing.");
        }
        var psi = new ProcessStartInfo("dotnet", $"\"{ApiDll}\"")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(ApiDll)!,
        };
        foreach (var (k, v) in _environment)
        {
            psi.Environment[k] = v;
        }
        _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start the server");
        _process.OutputDataReceived += (_, e) => Echo(e.Data);
        _process.ErrorDataReceived += (_, e) => Echo(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var probe = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        var until = Stopwatch.StartNew();
        while (until.Elapsed < limit)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the server exited with {_process.ExitCode} while starting");
            }
            try
            {
                if ((await probe.GetAsync("health/ready")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            await Task.Delay(100);
        }
        throw new InvalidOperationException($"the server did not become ready in {limit.TotalSeconds} s");
    }

    private static void Echo(string? line)
    {
        // The server logs warnings and errors only; show them, they are part of the result.
        if (!string.IsNullOrWhiteSpace(line))
        {
            Console.Error.WriteLine($"  [server] {line}");
        }
    }

    /// <summary>SIGTERM, and waits for the server's graceful shutdown (its locks released, its jobs stopped).</summary>
    public async Task StopAsync()
    {
        if (_process is { HasExited: false } p)
        {
            using var term = Process.Start("kill", $"-TERM {p.Id}");
            await term.WaitForExitAsync();
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
    }

    /// <summary>SIGKILL: no shutdown hooks run.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill();
            p.WaitForExit();
        }
    }

    /// <summary>Resident set size of the server process in MiB (from /proc).</summary>
    public double RssMiB()
    {
        var line = File.ReadLines($"/proc/{Pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024d;
    }

    public HttpClient Client(string key = AdminKey, int connections = 1024)
    {
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = connections, PooledConnectionLifetime = TimeSpan.FromMinutes(10) };
        var client = new HttpClient(handler) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("ApiKey", key);
        return client;
    }

    /// <summary>Creates a key; agent keys may claim the agent id the scenarios send (billing-agent).</summary>
    public async Task<string> CreateKeyAsync(string name, string[] scopes, string? email = null)
    {
        using var admin = Client();
        // The agent ids the scenarios use: the typical body's, and each scenario's own (fan-agent-N, kill-agent, ...).
        var agentIds = scopes.Contains("agent") ? new[] { "billing-agent", "expiry-agent", "kill-agent", "twin-agent", "fan-agent-*" } : null;
        var response = await admin.PostAsJsonAsync("api/v1/admin/api-keys", new { name, scopes, email, agent_ids = agentIds });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["key"]!.GetValue<string>();
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { } p)
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
                await p.WaitForExitAsync();
            }
            p.Dispose();
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}


/// <summary>The PostgreSQL of this run (started by the test fixture's code on a loopback port), a database per scenario.</summary>
internal static class Pg
{
    public static async Task<(PostgresServer Server, string ConnectionString)> NewDatabaseAsync(string name)
    {
        var server = await PostgresServer.GetAsync();
        var cs = await server.CreateDatabaseAsync(name);
        return (server, cs);
    }

    public static async Task<T> ScalarAsync<T>(string connectionString, string sql)
    {
        await using var c = new NpgsqlConnection(connectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c) { CommandTimeout = 600 };
        return (T)Convert.ChangeType((await cmd.ExecuteScalarAsync())!, typeof(T), CultureInfo.InvariantCulture);
    }

    /// <summary>The first column of every row the query returns.</summary>
    public static async Task<List<T>> ColumnAsync<T>(string connectionString, string sql)
    {
        var values = new List<T>();
        await using var c = new NpgsqlConnection(connectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c) { CommandTimeout = 600 };
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            values.Add(reader.GetFieldValue<T>(0));
        }
        return values;
    }

    /// <summary>Runs <paramref name="sql"/>; <paramref name="timeoutSeconds"/> 0 waits as long as it takes.</summary>
    public static async Task ExecAsync(string connectionString, string sql, int timeoutSeconds = 1200)
    {
        await using var c = new NpgsqlConnection(connectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c) { CommandTimeout = timeoutSeconds };
        await cmd.ExecuteNonQueryAsync();
    }

    public static string BinDir { get; } = Directory.Exists("/usr/lib/postgresql")
        ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "pgbench"))).OrderDescending(StringComparer.Ordinal).First()
        : "";
}

/// <summary>Where the CPU goes: seconds used by the server process and by PostgreSQL (the postmaster and its children),
/// read from /proc, so a run shows which side is the limit.</summary>
internal static class Cpu
{
    private static readonly double TicksPerSecond = 100d;

    private static double ProcessSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private static int ParentOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return -1;
        }
    }

    public static double ServerSeconds(ServerProcess server) => ProcessSeconds(server.Pid);

    /// <summary>CPU seconds of the PostgreSQL cluster behind <paramref name="cs"/>: its postmaster and live children.</summary>
    public static async Task<double> PostgresSecondsAsync(string cs)
    {
        var checkpointer = await Pg.ScalarAsync<int>(cs, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'");
        var postmaster = ParentOf(checkpointer);
        var total = ProcessSeconds(postmaster);
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid) && ParentOf(pid) == postmaster)
            {
                total += ProcessSeconds(pid);
            }
        }
        return total;
    }

    public static Task<long> CommitsAsync(string cs) =>
        Pg.ScalarAsync<long>(cs, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()");
}

internal static class Report
{
    private static readonly Stopwatch Clock = Stopwatch.StartNew();

    /// <summary>Milliseconds on one monotonic clock shared by every task of this process.</summary>
    public static double NowMs => Clock.Elapsed.TotalMilliseconds;

    public static void Line(string text) => Console.WriteLine(text);

    public static void Load(string label) =>
        Console.WriteLine($"load before {label}: {File.ReadAllText("/proc/loadavg").Trim()}");

    public static double Quantile(IEnumerable<double> source, double q)
    {
        var values = source.Order().ToList();
        return values.Count == 0 ? double.NaN : values[Math.Min(values.Count - 1, Math.Max(0, (int)Math.Ceiling(q * values.Count) - 1))];
    }

    public static string Percentiles(IEnumerable<double> source)
    {
        var values = source.Order().ToList();
        double P(double q) => values.Count == 0 ? double.NaN : values[Math.Min(values.Count - 1, Math.Max(0, (int)Math.Ceiling(q * values.Count) - 1))];
        return string.Create(CultureInfo.InvariantCulture,
            $"n={values.Count} p50={P(0.50):F1} p99={P(0.99):F1} max={(values.Count == 0 ? double.NaN : values[^1]):F1}");
    }

    public static string F(double v, string format = "F1") => v.ToString(format, CultureInfo.InvariantCulture);
}
