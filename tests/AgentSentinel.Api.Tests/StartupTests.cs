using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using AgentSentinel.Api.Hosting;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.Tests;

/// <summary>What a new operator meets: the first admin key, and settings that are wrong.</summary>
public sealed class StartupTests
{
    private static CancellationToken Ct => Http.Ct;

    [Fact]
    public async Task The_thread_pool_starts_with_a_thread_for_every_dispatcher_lane_and_job_worker()
    {
        // Hangfire's client blocks a pool thread per job it queues; without these the pool grows a thread every half
        // second while intake starves. Numbers above whatever this test process has already.
        ThreadPool.GetMinThreads(out var before, out _);
        var jobs = new JobsOptions { WorkerCount = before + 40, OutboxParallelism = 24 };
        var storage = await TestStorage.CreateAsync(StorageProvider.Sqlite, "pool");
        await using var app = new AgentSentinelApp(storage, settings: new Dictionary<string, string?>
        {
            ["AgentSentinel:Jobs:WorkerCount"] = jobs.WorkerCount.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["AgentSentinel:Jobs:OutboxParallelism"] = "24",
        });
        _ = app.Server;

        ThreadPool.GetMinThreads(out var after, out _);
        Assert.True(after >= ThreadPoolSizing.MinimumWorkerThreads(jobs), $"minimum worker threads {after}, wanted {ThreadPoolSizing.MinimumWorkerThreads(jobs)}");
        Assert.Equal(before + 40 + 24 + 4 * Environment.ProcessorCount, ThreadPoolSizing.MinimumWorkerThreads(jobs));
    }

    [Fact]
    public async Task A_fresh_install_writes_a_working_admin_key_to_a_private_file_once()
    {
        var keyFile = Path.Combine(TestPaths.NewTempDirectory(), "admin.key");
        var storage = await TestStorage.CreateAsync(StorageProvider.Sqlite, "fresh");
        var settings = new Dictionary<string, string?>
        {
            ["AgentSentinel:Auth:BootstrapAdminKey"] = "",
            ["AgentSentinel:Auth:InitialAdminKeyFile"] = keyFile,
        };
        await using (var app = new AgentSentinelApp(storage, settings: settings))
        {
            _ = app.Server;
            Assert.True(File.Exists(keyFile));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
            }
            var key = (await File.ReadAllTextAsync(keyFile, Ct)).Trim();
            Assert.StartsWith("as_", key, StringComparison.Ordinal);
            using var admin = app.Client(key);
            var keys = await (await admin.GetAsync("/api/v1/admin/api-keys", Ct)).Json();
            Assert.Equal("initial admin", Assert.Single(keys.AsArray())!.Str("name"));
            using var bootstrap = app.Client(AgentSentinelApp.BootstrapAdminKey);
            await (await bootstrap.GetAsync("/api/v1/admin/api-keys", Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized);
        }
        var firstKey = await File.ReadAllTextAsync(keyFile, Ct);
        await using (var again = new AgentSentinelApp(storage, settings: settings))
        {
            _ = again.Server;
            Assert.Equal(firstKey, await File.ReadAllTextAsync(keyFile, Ct));
        }
    }

    [Fact]
    public async Task An_existing_file_at_the_key_path_stops_start_up_naming_the_setting_and_is_left_alone()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var keyFile = Path.Combine(TestPaths.NewTempDirectory(), "admin.key");
        await File.WriteAllTextAsync(keyFile, "as_an_old_key_from_another_database\n", Ct);
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var storage = await TestStorage.CreateAsync(StorageProvider.Sqlite, "keyfile");

        var error = await StartFreshAsync(storage, keyFile);
        Assert.Contains("AgentSentinel:Auth:InitialAdminKeyFile", error.Message, StringComparison.Ordinal);
        Assert.Equal("as_an_old_key_from_another_database\n", await File.ReadAllTextAsync(keyFile, Ct));

        // Nothing was stored: once the file is moved away, the next start writes the first key.
        File.Delete(keyFile);
        await using var app = new AgentSentinelApp(storage, settings: FreshSettings(keyFile));
        _ = app.Server;
        Assert.StartsWith("as_", await File.ReadAllTextAsync(keyFile, Ct), StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
    }

    [Fact]
    public async Task A_symbolic_link_at_the_key_path_is_never_followed()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var dir = TestPaths.NewTempDirectory();
        var elsewhere = Path.Combine(dir, "elsewhere.txt");
        var keyFile = Path.Combine(dir, "admin.key");
        File.CreateSymbolicLink(keyFile, elsewhere);

        var error = await StartFreshAsync(await TestStorage.CreateAsync(StorageProvider.Sqlite, "keylink"), keyFile);
        Assert.Contains("AgentSentinel:Auth:InitialAdminKeyFile", error.Message, StringComparison.Ordinal);
        Assert.Contains("symbolic link", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(elsewhere));

        // A link to an existing file does not get it overwritten either.
        await File.WriteAllTextAsync(elsewhere, "precious", Ct);
        await StartFreshAsync(await TestStorage.CreateAsync(StorageProvider.Sqlite, "keylink2"), keyFile);
        Assert.Equal("precious", await File.ReadAllTextAsync(elsewhere, Ct));
    }

    [Fact]
    public async Task A_new_sqlite_database_and_its_wal_files_are_readable_by_this_user_only()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var storage = await TestStorage.CreateAsync(StorageProvider.Sqlite, "private");
        var file = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(storage.ConnectionString).DataSource;
        Assert.False(File.Exists(file));
        await using var app = new AgentSentinelApp(storage);
        using var admin = app.Client();
        await admin.CreateApprovalAsync();
        foreach (var path in new[] { file, file + "-wal", file + "-shm" })
        {
            Assert.True(File.Exists(path), path);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
    }

    private static Dictionary<string, string?> FreshSettings(string keyFile) => new()
    {
        ["AgentSentinel:Auth:BootstrapAdminKey"] = "",
        ["AgentSentinel:Auth:InitialAdminKeyFile"] = keyFile,
    };

    private static Task<OptionsValidationException> StartFreshAsync(TestStorage storage, string keyFile) =>
        StartupFailure.ValidationErrorAsync(storage, FreshSettings(keyFile), Ct);

    [Theory]
    [InlineData("AgentSentinel:Storage:Provider", "Postgres", "AgentSentinel:Storage:ConnectionString")]
    [InlineData("AgentSentinel:Auth:BootstrapAdminKey", "short", "AgentSentinel:Auth:BootstrapAdminKey")]
    [InlineData("AgentSentinel:PublicBaseUrl", "not a url", "AgentSentinel:PublicBaseUrl")]
    [InlineData("AgentSentinel:Policy:MinTimeoutSeconds", "0", "min_timeout_seconds")]
    [InlineData("AgentSentinel:Policy:Floors:0:Priority", "urgent", "policy.floors[0].priority")]
    [InlineData("AgentSentinel:Routing:Routes:0:Slack:Channel", "#general", "routes[0].slack.channel")]
    [InlineData("AgentSentinel:Routing:Routes:0:Quorum:Approvals", "0", "routes[0].quorum.approvals")]
    [InlineData("AgentSentinel:Callbacks:SigningSecret", "too-short", "AgentSentinel:Callbacks:SigningSecret")]
    [InlineData("AgentSentinel:Callbacks:AllowedHosts:0", "https://hooks.example.com/", "AgentSentinel:Callbacks:AllowedHosts:0")]
    [InlineData("AgentSentinel:Callbacks:AllowedHosts:0", "169.254.169.254", "AgentSentinel:Callbacks:AllowedHosts:0")]
    [InlineData("AgentSentinel:Callbacks:MaxAttempts", "0", "AgentSentinel:Callbacks:MaxAttempts")]
    [InlineData("AgentSentinel:Digest:TimeZone", "Mars/Olympus_Mons", "AgentSentinel:Digest:TimeZone")]
    [InlineData("AgentSentinel:Digest:Cron", "every monday", "AgentSentinel:Digest:Cron")]
    [InlineData("AgentSentinel:Digest:Cron", "61 9 * * 1", "AgentSentinel:Digest:Cron")]
    [InlineData("AgentSentinel:Digest:Slack:Channel", "#managers", "AgentSentinel:Digest:Slack:Channel")]
    [InlineData("AgentSentinel:Console:SessionIdleTimeout", "00:00:10", "AgentSentinel:Console:SessionIdleTimeout")]
    [InlineData("AgentSentinel:Console:SessionLifetime", "00:30:00", "AgentSentinel:Console:SessionLifetime")]
    [InlineData("AgentSentinel:Teams:AppId", "00000000-1111-2222-3333-444444444444", "AgentSentinel:Teams:AllowedTenants")]
    [InlineData("AgentSentinel:Console:EventsSessionCheck", "00:05:00", "AgentSentinel:Console:EventsSessionCheck")]
    [InlineData("AgentSentinel:Limits:Intake:TokenLimit", "0", "AgentSentinel:Limits:Intake:TokenLimit")]
    [InlineData("AgentSentinel:Limits:Intake:ReplenishmentPeriod", "00:00:00", "AgentSentinel:Limits:Intake:ReplenishmentPeriod")]
    [InlineData("AgentSentinel:Limits:MaxConcurrentWaitsPerKey", "0", "AgentSentinel:Limits:MaxConcurrentWaitsPerKey")]
    [InlineData("AgentSentinel:Limits:MaxEventStreamsPerSession", "0", "AgentSentinel:Limits:MaxEventStreamsPerSession")]
    [InlineData("AgentSentinel:Limits:SignIn:FailureWeight", "1000", "AgentSentinel:Limits:SignIn:FailureWeight")]
    [InlineData("AgentSentinel:Limits:AgentStatsMaxDays", "0", "AgentSentinel:Limits:AgentStatsMaxDays")]
    [InlineData("AgentSentinel:Proxy:KnownProxies:0", "proxy.internal", "AgentSentinel:Proxy:KnownProxies")]
    [InlineData("AgentSentinel:Proxy:KnownNetworks:0", "10.0.0.0/33", "AgentSentinel:Proxy:KnownNetworks")]
    [InlineData("AgentSentinel:Retention:DecidedDays", "0", "AgentSentinel:Retention:DecidedDays")]
    [InlineData("AgentSentinel:Retention:DecidedDays", "30", "AgentSentinel:Retention:SigningKeyFile")]
    public async Task A_wrong_setting_stops_start_up_with_a_message_naming_it(string key, string value, string named)
    {
        var storage = await TestStorage.CreateAsync(StorageProvider.Sqlite, "badconfig");
        var settings = new Dictionary<string, string?> { [key] = value };
        if (key == "AgentSentinel:Storage:Provider")
        {
            settings["AgentSentinel:Storage:ConnectionString"] = "";
        }
        var validation = await StartupFailure.ValidationErrorAsync(storage, settings, Ct);
        Assert.Contains(named, validation.Message, StringComparison.Ordinal);
    }
}
