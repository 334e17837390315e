using AgentSentinel.Api.Callbacks;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Hangfire;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Api.Tests.Callbacks;

/// <summary>A host with callbacks enabled, a fake clock and no job server: the tests run the callback jobs that the
/// host put in its Hangfire storage themselves, as often as they like, after moving the clock.</summary>
public sealed class CallbackHarness : IAsyncDisposable
{
    public const string SigningSecret = "configured-callback-secret-0123456789abcdef";
    public const int MaxAttempts = 5;

    private CallbackHarness(AgentSentinelApp app, FakeTimeProvider time, FakeCallbackReceiver receiver)
    {
        App = app;
        Time = time;
        Receiver = receiver;
    }

    public AgentSentinelApp App { get; }
    public FakeTimeProvider Time { get; }
    public FakeCallbackReceiver Receiver { get; }
    public HttpClient Admin { get; private set; } = null!;
    public HttpClient Agent { get; private set; } = null!;
    public string AgentKeyId { get; private set; } = null!;
    public HttpClient Approver { get; private set; } = null!;

    /// <summary>The receiver's URL, on 127.0.0.1, which is allow-listed by its IP address.</summary>
    public string CallbackUrl(string path = "hooks/agent") => Receiver.BaseUrl + path;

    public static async Task<CallbackHarness> StartAsync(StorageProvider provider, IEnumerable<string>? allowedHosts = null, string timeout = "00:00:05")
    {
        var receiver = await FakeCallbackReceiver.StartAsync();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var settings = new Dictionary<string, string?>
        {
            ["AgentSentinel:Callbacks:SigningSecret"] = SigningSecret,
            ["AgentSentinel:Callbacks:MaxAttempts"] = MaxAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["AgentSentinel:Callbacks:InitialRetryDelay"] = "00:00:10",
            ["AgentSentinel:Callbacks:MaxRetryDelay"] = "00:01:00",
            ["AgentSentinel:Callbacks:Timeout"] = timeout,
        };
        var i = 0;
        foreach (var host in allowedHosts ?? ["127.0.0.1"])
        {
            settings[$"AgentSentinel:Callbacks:AllowedHosts:{i++}"] = host;
        }
        var app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "callbacks"), time, settings: settings);
        var harness = new CallbackHarness(app, time, receiver) { Admin = app.Client() };
        var agent = await (await harness.Admin.PostJsonAsync("/api/v1/admin/api-keys", new { name = "agent", scopes = new[] { Scopes.Agent } })).Json();
        harness.AgentKeyId = agent.Id();
        harness.Agent = app.Client(agent.Str("key"));
        harness.Approver = app.Client(await app.CreateKeyAsync("approver", [Scopes.Approver], "alice@example.com"));
        return harness;
    }

    public async Task<string> CreateAsync(string? callbackUrl = null, int timeoutSeconds = 600)
    {
        var id = (await Agent.CreateApprovalAsync(new { action_name = "transfer_funds", timeout_seconds = timeoutSeconds, callback_url = callbackUrl ?? CallbackUrl() })).Id();
        await App.EffectsQueuedAsync();
        return id;
    }

    /// <summary>A decision through the API, then its effects queued (the callback job among them).</summary>
    public async Task DecideAsync(string id, string verb, object? body = null)
    {
        var response = await Approver.PostJsonAsync($"/api/v1/approvals/{id}/{verb}", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await App.EffectsQueuedAsync();
    }

    /// <summary>Callback jobs waiting in the job storage, enqueued or scheduled.</summary>
    public IReadOnlyList<(string JobId, long DeliveryId, int Attempt, TimeSpan? Delay)> PendingJobs()
    {
        var storage = App.Service<JobStorage>();
        var monitor = storage.GetMonitoringApi();
        using var connection = storage.GetConnection();
        // Judged by each job's current state: a storage may keep a deleted job's queue entry until a worker fetches it.
        bool InState(string jobId, string state) => connection.GetStateData(jobId)?.Name == state;
        var enqueued = monitor.EnqueuedJobs("default", 0, 1000)
            .Where(j => IsDelivery(j.Value.Job) && InState(j.Key, "Enqueued"))
            .Select(j => (j.Key, (long)j.Value.Job.Args[0], (int)j.Value.Job.Args[1], (TimeSpan?)null));
        var scheduled = monitor.ScheduledJobs(0, 1000)
            .Where(j => IsDelivery(j.Value.Job) && InState(j.Key, "Scheduled"))
            .Select(j => (j.Key, (long)j.Value.Job.Args[0], (int)j.Value.Job.Args[1], (TimeSpan?)(j.Value.EnqueueAt - j.Value.ScheduledAt!.Value)));
        return [.. enqueued.Concat(scheduled).DistinctBy(j => j.Key)];
    }

    /// <summary>Runs every waiting callback job once (each is taken out of the storage first, as a worker would);
    /// returns how many ran.</summary>
    public async Task<int> RunJobsAsync()
    {
        await App.EffectsQueuedAsync();
        var client = App.Service<IBackgroundJobClient>();
        var ran = 0;
        foreach (var (jobId, deliveryId, attempt, _) in PendingJobs())
        {
            if (client.Delete(jobId))
            {
                await App.Service<CallbackJobs>().DeliverAsync(deliveryId, attempt, Http.Ct);
                ran++;
            }
        }
        return ran;
    }

    /// <summary>Removes every waiting callback job, as a restart with the in-memory job storage does.</summary>
    public void LoseJobs()
    {
        var client = App.Service<IBackgroundJobClient>();
        foreach (var (jobId, _, _, _) in PendingJobs())
        {
            client.Delete(jobId);
        }
    }

    private static bool IsDelivery(Hangfire.Common.Job? job) =>
        job is not null && job.Type == typeof(CallbackJobs) && job.Method.Name == nameof(CallbackJobs.DeliverAsync);

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        Agent.Dispose();
        Approver.Dispose();
        await App.DisposeAsync();
        await Receiver.DisposeAsync();
    }
}
