using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Storage;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace AgentSentinel.Testing;

/// <summary>The real host (the whole HTTP pipeline, real database) in memory, configured for one test class.</summary>
public sealed class AgentSentinelApp : WebApplicationFactory<Program>
{
    public const string BootstrapAdminKey = "as_test_bootstrap_admin_key_0123456789";

    private readonly Dictionary<string, string?> _settings;
    private readonly TimeProvider? _time;
    private readonly Action<IServiceCollection>? _services;

    /// <param name="services">Extra service registrations after the host's own: an in-memory trace exporter, or a
    /// decorator that injects a fault into a real service.</param>
    public AgentSentinelApp(TestStorage storage, TimeProvider? time = null, bool runJobServer = false, IDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? services = null)
    {
        Storage = storage;
        _time = time;
        _services = services;
        _settings = new Dictionary<string, string?>
        {
            ["AgentSentinel:Storage:Provider"] = storage.Provider.ToString(),
            ["AgentSentinel:Storage:ConnectionString"] = storage.ConnectionString,
            ["AgentSentinel:Auth:BootstrapAdminKey"] = BootstrapAdminKey,
            ["AgentSentinel:Auth:BootstrapAdminEmail"] = "root@example.com",
            ["AgentSentinel:Auth:InitialAdminKeyFile"] = Path.Combine(TestPaths.NewTempDirectory(), "admin.key"),
            ["AgentSentinel:Policy:MinTimeoutSeconds"] = "1",
            ["AgentSentinel:Jobs:RunServer"] = runJobServer ? "true" : "false",
            ["AgentSentinel:Jobs:WorkerCount"] = "4",
        };
        if (settings is not null)
        {
            foreach (var (k, v) in settings)
            {
                _settings[k] = v;
            }
        }
    }

    public TestStorage Storage { get; }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }
        builder.UseEnvironment("Testing");
        builder.ConfigureLogging(l => l.SetMinimumLevel(LogLevel.Warning));
        if (_time is not null)
        {
            builder.ConfigureServices(s => s.Replace(ServiceDescriptor.Singleton(_time)));
        }
        if (_services is not null)
        {
            builder.ConfigureServices(_services);
        }
    }

    /// <summary>Starts the host on a real loopback port (for clients outside this process) and returns its address.</summary>
    public Uri StartOnLoopback() => StartOnLoopback(0);

    /// <summary>Starts the host on the given loopback port (0: any free port), e.g. the port of a host that was just
    /// stopped, to restart a server under its clients. Returns its address.</summary>
    public Uri StartOnLoopback(int port)
    {
        UseKestrel(k => k.Listen(System.Net.IPAddress.Loopback, port));
        StartServer();
        var address = Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First();
        ClientOptions.BaseAddress = new Uri(address);
        return ClientOptions.BaseAddress;
    }

    public T Service<T>() where T : notnull => Services.GetRequiredService<T>();

    /// <summary>Two server instances on one new database, started, the second listening for the first's changes.</summary>
    public static async Task<(AgentSentinelApp First, AgentSentinelApp Second)> TwoInstancesAsync(Core.Configuration.StorageProvider provider, string name, CancellationToken ct)
    {
        var storage = await TestStorage.CreateAsync(provider, name);
        var first = new AgentSentinelApp(storage);
        _ = first.Server;
        var second = new AgentSentinelApp(storage);
        _ = second.Server;
        if (provider == Core.Configuration.StorageProvider.Postgres)
        {
            await second.Service<Core.Notifications.PostgresChangeListener>().Listening.WaitAsync(TimeSpan.FromSeconds(10), ct);
        }
        return (first, second);
    }

    /// <summary>Waits until this host's job storage has no job enqueued or running (scheduled jobs may wait), so what a
    /// test does next does not race a job that is still finishing.</summary>
    public async Task JobsIdleAsync(TimeSpan? timeout = null)
    {
        var monitor = Service<Hangfire.JobStorage>().GetMonitoringApi();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (monitor.ProcessingCount() > 0 || monitor.Queues().Any(q => q.Length > 0))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Jobs are still enqueued or running.");
            }
            await Task.Delay(20);
        }
    }

    /// <summary>Waits until the outbox dispatcher has turned the effects of every committed change into jobs (chat
    /// deliveries, callbacks, expiry and follow-up scheduling): effects are carried out after the commit, not in it.</summary>
    public async Task EffectsQueuedAsync(TimeSpan? timeout = null)
    {
        var outbox = Service<IOutboxStore>();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        // What the start-up recovery queues (expiries missed while stopped, unposted chat messages) counts too.
        await Service<AgentSentinel.Api.Hosting.StartupRecovery>().Completed.WaitAsync(deadline - DateTime.UtcNow);
        while (await outbox.CountUnhandledAsync(CancellationToken.None) > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("The outbox still has entries that were not handled.");
            }
            Service<OutboxSignal>().Wake();
            await Task.Delay(20);
        }
    }

    /// <summary>A client that authenticates with the given key (the bootstrap admin key by default).</summary>
    public HttpClient Client(string? key = BootstrapAdminKey, string scheme = "ApiKey")
    {
        var client = CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, BaseAddress = ClientOptions.BaseAddress });
        client.Timeout = TimeSpan.FromSeconds(60);
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(scheme, key);
        }
        return client;
    }

    /// <summary>Creates an API key through the admin API and returns the key itself. An agent key's agent ids are
    /// <paramref name="agentIds"/>, or its name when none are given.</summary>
    public async Task<string> CreateKeyAsync(string name, string[] scopes, string? email = null, string[]? agentIds = null) =>
        (await CreateKeyWithIdAsync(name, scopes, email, agentIds)).Key;

    /// <summary>Creates an API key through the admin API and returns its id and the key.</summary>
    public async Task<(string Id, string Key)> CreateKeyWithIdAsync(string name, string[] scopes, string? email = null, string[]? agentIds = null)
    {
        using var admin = Client();
        var response = await admin.PostAsJsonAsync("/api/v1/admin/api-keys", new { name, scopes, email, agent_ids = agentIds });
        response.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (doc.RootElement.GetProperty("id").GetString()!, doc.RootElement.GetProperty("key").GetString()!);
    }

    /// <summary>Revokes an API key through the admin API.</summary>
    public async Task RevokeKeyAsync(string id)
    {
        using var admin = Client();
        (await admin.DeleteAsync($"/api/v1/admin/api-keys/{Uri.EscapeDataString(id)}")).EnsureSuccessStatusCode();
    }
}
