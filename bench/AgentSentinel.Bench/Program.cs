using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;

// Decision-to-agent latency of the long poll, and expiry lateness with the real job server, on each provider.
// The server runs in this process on a loopback port and is reached over real HTTP.
// Usage: dotnet run -c Release --project bench/AgentSentinel.Bench -- [requests=200] [sqlite|postgres|both]
var count = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200;
var which = args.Length > 1 ? args[1] : "both";
var providers = which switch
{
    "sqlite" => new[] { StorageProvider.Sqlite },
    "postgres" => [StorageProvider.Postgres],
    _ => [StorageProvider.Sqlite, StorageProvider.Postgres],
};
Repository.UseApiContentRoot();
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");
foreach (var provider in providers)
{
    await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "bench"), runJobServer: true);
    app.StartOnLoopback();
    using var agent = app.Client(await app.CreateKeyAsync("bench agent", [Scopes.Agent]));
    using var approver = app.Client(await app.CreateKeyAsync("bench approver", [Scopes.Approver], "bench@example.com"));

    // 1. Long poll: time from the decision's HTTP response to the waiting agent's response.
    var latencies = new List<double>();
    var roundTrips = new List<double>();
    for (var i = 0; i < count; i++)
    {
        var created = await (await agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = "bench", timeout_seconds = 600 })).Content.ReadFromJsonAsync<JsonObject>();
        var id = created!["id"]!.GetValue<string>();
        var waiting = agent.GetAsync($"/api/v1/approvals/{id}/wait?timeout_seconds=30");
        await Task.Delay(10);
        var sent = Stopwatch.StartNew();
        var decision = await approver.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { });
        decision.EnsureSuccessStatusCode();
        var clock = Stopwatch.StartNew();
        var answer = await waiting;
        latencies.Add(clock.Elapsed.TotalMilliseconds);
        roundTrips.Add(sent.Elapsed.TotalMilliseconds);
        var status = (await answer.Content.ReadFromJsonAsync<JsonObject>())!["status"]!.GetValue<string>();
        if (status != "approved")
        {
            throw new InvalidOperationException($"wait returned {status}");
        }
    }
    Report($"{provider}: wait returns after the decision's response (ms)", latencies);
    Report($"{provider}: from sending the decision to the waiting agent's answer (ms)", roundTrips);

    // 2. Expiry: deadlines spread over 1..5 s; lateness of the recorded expiry.
    var store = app.Service<IApprovalStore>();
    var ids = new List<Guid>();
    for (var i = 0; i < count; i++)
    {
        var created = await (await agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = "expire", timeout_seconds = 1 + (i % 5) })).Content.ReadFromJsonAsync<JsonObject>();
        ids.Add(Guid.Parse(created!["id"]!.GetValue<string>()));
    }
    var wall = Stopwatch.StartNew();
    List<ApprovalRequest> rows;
    do
    {
        await Task.Delay(250);
        rows = [.. await Task.WhenAll(ids.Select(async id => (await store.GetAsync(id, CancellationToken.None))!))];
    }
    while (rows.Any(r => r.Status != ApprovalStatus.Expired) && wall.Elapsed < TimeSpan.FromSeconds(60));
    var notExpired = rows.Count(r => r.Status != ApprovalStatus.Expired);
    Report($"{provider}: expiry recorded after the deadline (ms), {notExpired} not expired after 60 s",
        [.. rows.Where(r => r.Status == ApprovalStatus.Expired).Select(r => (r.UpdatedAt - r.ExpiresAt).TotalMilliseconds)]);
}

static void Report(string title, List<double> values)
{
    values.Sort();
    double P(double q) => values.Count == 0 ? double.NaN : values[Math.Min(values.Count - 1, (int)Math.Ceiling(q * values.Count) - 1)];
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{title}: n={values.Count} p50={P(0.50):F1} p99={P(0.99):F1} max={(values.Count == 0 ? double.NaN : values[^1]):F1}"));
}
