using System.Globalization;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using AgentSentinel.Bot.Delivery;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Api.Tests;

/// <summary>Telemetry tests read the process-wide meter and activity listeners, so no other host runs beside them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TelemetryCollection
{
    public const string Name = "Telemetry";
}

/// <summary>The Prometheus scrape endpoint after a scripted day of traffic: each product metric with its values.</summary>
[Collection(TelemetryCollection.Name)]
public sealed partial class MetricsTests
{
    private static CancellationToken Ct => Http.Ct;

    [Fact]
    public async Task Metrics_is_not_served_unless_enabled()
    {
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "nometrics"));
        using var client = app.Client(null);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/metrics", Ct)).StatusCode);
    }

    [Fact]
    public async Task Metrics_limited_to_a_port_is_not_served_on_another()
    {
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "metricsport"), settings: new Dictionary<string, string?>
        {
            ["AgentSentinel:Metrics:Prometheus"] = "true",
            ["AgentSentinel:Metrics:Port"] = "9464",
        });
        using var client = app.Client(null);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/metrics", Ct)).StatusCode);
    }

    [Theory]
    [InlineData(StorageProvider.Sqlite)]
    [InlineData(StorageProvider.Postgres)]
    public async Task A_scripted_day_of_traffic_shows_in_every_product_metric(StorageProvider provider)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var started = time.GetUtcNow();
        await using var slack = await FakeSlackServer.StartAsync();
        var settings = new Dictionary<string, string?>(slack.HostSettings())
        {
            ["AgentSentinel:Metrics:Prometheus"] = "true",
            // The chat posts are made by the test's own calls below, at set moments: the outbox dispatcher leaves them
            // to delivery jobs (which this host does not run) instead of posting, and reading a request, on its own.
            ["AgentSentinel:Jobs:ChatFromDispatcher"] = "false",
            ["AgentSentinel:Callbacks:AllowedHosts:0"] = "hooks.example.com",
            ["AgentSentinel:Callbacks:SigningSecret"] = "metrics-test-callback-signing-secret-0123456789",
            ["AgentSentinel:Routing:Routes:0:Name"] = "payments",
            ["AgentSentinel:Routing:Routes:0:Match:Actions:0"] = "transfer_*",
            ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = "C0PAY",
            ["AgentSentinel:Routing:Routes:1:Name"] = "default",
            ["AgentSentinel:Routing:Routes:1:Slack:Channel"] = "C0GEN",
        };
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "metrics"), time, settings: settings);
        using var agent = app.Client(await app.CreateKeyAsync("metrics-agent", [Scopes.Agent]));
        using var approver = app.Client(await app.CreateKeyAsync("metrics-approver", [Scopes.Approver], "ann@example.com"));
        using var scraper = app.Client(null);

        // 09:00 four requests arrive: two payments (one critical with a callback), a low one, and a short one.
        var a = (await agent.CreateApprovalAsync(new { action_name = "transfer_funds", priority = "high", risk_level = "high", timeout_seconds = 3600 })).Id();
        var b = (await agent.CreateApprovalAsync(new { action_name = "delete_records", priority = "low", timeout_seconds = 3600 })).Id();
        var c = (await agent.CreateApprovalAsync(new { action_name = "transfer_wire", priority = "critical", risk_level = "critical", timeout_seconds = 3600, callback_url = "https://hooks.example.com/cb" })).Id();
        var d = (await agent.CreateApprovalAsync(new { action_name = "ping_service", timeout_seconds = 60 })).Id();

        var m = await ScrapeAsync(scraper);
        Assert.Equal(1, m.Value("agentsentinel_requests_created_total", ("priority", "high"), ("risk", "high"), ("route", "payments")));
        Assert.Equal(1, m.Value("agentsentinel_requests_created_total", ("priority", "critical"), ("risk", "critical"), ("route", "payments")));
        Assert.Equal(1, m.Value("agentsentinel_requests_created_total", ("priority", "low"), ("risk", "none"), ("route", "default")));
        Assert.Equal(1, m.Value("agentsentinel_requests_created_total", ("priority", "medium"), ("risk", "none"), ("route", "default")));
        Assert.Equal(4, m.Value("agentsentinel_requests_pending"));
        Assert.Equal(0, m.Value("agentsentinel_requests_oldest_pending_age_seconds"));
        Assert.Null(m.Value("agentsentinel_decisions_total"));

        // The chat posts run (by hand: this host runs no job server); Slack refuses the critical one's channel.
        await PostAsync(app, a, "C0PAY");
        time.Advance(TimeSpan.FromSeconds(1));
        await PostAsync(app, b, "C0GEN");
        time.Advance(TimeSpan.FromSeconds(1));
        await PostAsync(app, d, "C0GEN");
        slack.AnswerNext("chat.postMessage", "channel_not_found");
        await PostAsync(app, c, "C0PAY");

        // 09:00:10 a question on the critical one; 09:01:30 the high one is approved in the console.
        time.Advance(TimeSpan.FromSeconds(8));
        Assert.Equal(HttpStatusCode.OK, (await approver.PostJsonAsync($"/api/v1/approvals/{c}/request-info", new { question = "Which account?" })).StatusCode);
        time.Advance(TimeSpan.FromSeconds(80));
        using (var console = await ConsoleSessionAsync(app, await app.CreateKeyAsync("metrics-bob", [Scopes.Approver], "bob@example.com")))
        {
            using var approve = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/approvals/{a}/approve") { Content = JsonContent.Create(new { notes = "ok" }) };
            approve.Headers.Add("X-CSRF-Token", console.Csrf);
            Assert.Equal(HttpStatusCode.OK, (await console.Client.SendAsync(approve, Ct)).StatusCode);
        }

        // 09:03:20 the short one has expired; the low one is rejected over the API.
        time.Advance(TimeSpan.FromSeconds(110));
        Assert.Equal(1, await app.Service<ApprovalService>().ExpireDueAsync(100, Ct));
        Assert.Equal(HttpStatusCode.OK, (await approver.PostJsonAsync($"/api/v1/approvals/{b}/reject", new { reason = "not today" })).StatusCode);
        var e = (await agent.CreateApprovalAsync(new { action_name = "transfer_funds", priority = "high", risk_level = "high", timeout_seconds = 3600 })).Id();

        // The callback's delivery row is made by the outbox dispatcher after the decision's commit.
        m = await ScrapeUntilAsync(scraper, x => x.Value("agentsentinel_callbacks", ("state", "pending")) == 1);
        Assert.Equal(2, m.Value("agentsentinel_requests_created_total", ("priority", "high"), ("risk", "high"), ("route", "payments")));
        Assert.Equal(1, m.Value("agentsentinel_decisions_total", ("outcome", "approved"), ("surface", "console")));
        Assert.Equal(1, m.Value("agentsentinel_decisions_total", ("outcome", "rejected"), ("surface", "api")));
        Assert.Equal(1, m.Value("agentsentinel_decisions_total", ("outcome", "info_requested"), ("surface", "api")));
        Assert.Equal(3, m.Value("agentsentinel_decisions_total"));
        Assert.Equal(1, m.Value("agentsentinel_decision_duration_seconds_count", ("outcome", "approved")));
        Assert.Equal(90, m.Value("agentsentinel_decision_duration_seconds_sum", ("outcome", "approved")));
        Assert.Equal(0, m.Value("agentsentinel_decision_duration_seconds_bucket", ("outcome", "approved"), ("le", "60")));
        Assert.Equal(1, m.Value("agentsentinel_decision_duration_seconds_bucket", ("outcome", "approved"), ("le", "120")));
        Assert.Equal(200, m.Value("agentsentinel_decision_duration_seconds_sum", ("outcome", "rejected")));
        Assert.Equal(1, m.Value("agentsentinel_decision_duration_seconds_bucket", ("outcome", "rejected"), ("le", "300")));
        Assert.Equal(0, m.Value("agentsentinel_decision_duration_seconds_bucket", ("outcome", "rejected"), ("le", "120")));
        Assert.Null(m.Value("agentsentinel_decision_duration_seconds_count", ("outcome", "info_requested")));
        Assert.Equal(1, m.Value("agentsentinel_requests_expired_total"));
        Assert.Equal(2, m.Value("agentsentinel_requests_pending")); // the question and the new one
        Assert.Equal(200, m.Value("agentsentinel_requests_oldest_pending_age_seconds"));
        Assert.Equal(3, m.Value("agentsentinel_chat_deliveries", ("surface", "slack"), ("state", "posted")));
        Assert.Equal(1, m.Value("agentsentinel_chat_deliveries", ("surface", "slack"), ("state", "failed")));
        Assert.Equal(1, m.Value("agentsentinel_callbacks", ("state", "pending")));
        // The jobs queued since the start wait (this host runs none); the clock moved 200 s since.
        var lag = m.Value("agentsentinel_jobs_queue_lag_seconds", ("queue", "default"))!.Value;
        var elapsed = (DateTimeOffset.UtcNow - started).TotalSeconds;
        Assert.InRange(lag, 200 - elapsed - 1, 200 + 1);
        Assert.Equal(0, m.Value("agentsentinel_jobs_queue_lag_seconds", ("queue", "critical")));
        Assert.Equal(0, m.Value("agentsentinel_wait_open") ?? 0);

        // An agent waits on the new request and a person watches the console: both are counted while open.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var wait = agent.GetAsync($"/api/v1/approvals/{e}/wait?timeout_seconds=25", stop.Token);
        using var watcher = await ConsoleSessionAsync(app, await app.CreateKeyAsync("metrics-carl", [Scopes.Approver], "carl@example.com"));
        using var stream = await watcher.Client.GetAsync("/console/api/events", HttpCompletionOption.ResponseHeadersRead, stop.Token);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        m = await ScrapeUntilAsync(scraper, x => x.Value("agentsentinel_wait_open") == 1 && x.Value("agentsentinel_sse_open") == 1);
        Assert.Equal(1, m.Value("agentsentinel_wait_open"));
        Assert.Equal(1, m.Value("agentsentinel_sse_open"));
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
        stream.Dispose();
        m = await ScrapeUntilAsync(scraper, x => x.Value("agentsentinel_wait_open") == 0 && x.Value("agentsentinel_sse_open") == 0);
        Assert.Equal(0, m.Value("agentsentinel_wait_open"));
        Assert.Equal(0, m.Value("agentsentinel_sse_open"));
    }

    private static async Task PostAsync(AgentSentinelApp app, string id, string channel)
    {
        using var scope = app.Services.CreateScope();
        var jobs = scope.ServiceProvider.GetRequiredService<ChatDeliveryJobs>();
        await jobs.PostAsync(Surface.Slack, Guid.Parse(id), channel, DeliveryKeys.Root, Ct);
    }

    private sealed record Console(HttpClient Client, string Csrf) : IDisposable
    {
        public void Dispose() => Client.Dispose();
    }

    private static async Task<Console> ConsoleSessionAsync(AgentSentinelApp app, string key)
    {
        var client = app.Client(null);
        var response = await client.PostAsJsonAsync("/console/api/session", new { api_key = key }, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var cookie = response.Headers.GetValues("Set-Cookie").Select(v => v.Split(';')[0]).Single(v => v.StartsWith("agentsentinel_session=", StringComparison.Ordinal));
        client.DefaultRequestHeaders.Add("Cookie", cookie);
        return new Console(client, (await response.Json()).Str("csrf_token")!);
    }

    private static async Task<Scrape> ScrapeAsync(HttpClient client)
    {
        var response = await client.GetAsync("/metrics", Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return Scrape.Parse(text);
    }

    /// <summary>Scrapes until the condition holds (a connection opening or closing is seen by the server a moment
    /// after the client acts), at most 10 s.</summary>
    private static async Task<Scrape> ScrapeUntilAsync(HttpClient client, Func<Scrape, bool> condition)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(10);
        while (true)
        {
            var scrape = await ScrapeAsync(client);
            if (condition(scrape) || DateTimeOffset.UtcNow > deadline)
            {
                return scrape;
            }
            await Task.Delay(50, Ct);
        }
    }

    /// <summary>The samples of one scrape in the Prometheus text format.</summary>
    private sealed partial record Scrape(IReadOnlyList<(string Name, Dictionary<string, string> Labels, double Value)> Samples)
    {
        public static Scrape Parse(string text) => new([.. text.Split('\n')
            .Where(l => l.Length > 0 && l[0] != '#')
            .Select(l => SampleLine().Match(l))
            .Where(x => x.Success)
            .Select(x => (x.Groups["name"].Value,
                LabelPair().Matches(x.Groups["labels"].Value).ToDictionary(p => p.Groups[1].Value, p => p.Groups[2].Value),
                double.Parse(x.Groups["value"].Value, CultureInfo.InvariantCulture)))]);

        /// <summary>The sum of the samples of the metric whose labels include all of <paramref name="labels"/>; null when there are none.</summary>
        public double? Value(string name, params (string Key, string Value)[] labels)
        {
            var matching = Samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).ToList();
            return matching.Count == 0 ? null : matching.Sum(s => s.Value);
        }

        [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+\d+)?$")]
        private static partial Regex SampleLine();

        [GeneratedRegex(@"(\w+)=""((?:[^""\\]|\\.)*)""")]
        private static partial Regex LabelPair();
    }
}
