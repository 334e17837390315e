using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Client;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

// How soon RequestApprovalAsync returns after a person decides: the .NET client waiting on the server's long poll,
// with the server in this process on a loopback port, reached over real HTTP.
// Usage: dotnet run -c Release --project bench/AgentSentinel.Client.Bench -- [requests=200] [sqlite|postgres|both]
var count = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200;
var which = args.Length > 1 ? args[1] : "sqlite";
var providers = which switch
{
    "postgres" => new[] { StorageProvider.Postgres },
    "both" => [StorageProvider.Sqlite, StorageProvider.Postgres],
    _ => [StorageProvider.Sqlite],
};
Repository.UseApiContentRoot();
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");

foreach (var provider in providers)
{
    await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "client-bench"), runJobServer: true);
    var baseAddress = app.StartOnLoopback();
    const string agentId = "bench-agent";
    using var client = new ApprovalClient(new ApprovalClientOptions
    {
        BaseAddress = baseAddress,
        ApiKey = await app.CreateKeyAsync("bench agent", [Scopes.Agent], agentIds: [agentId]),
        AgentId = agentId,
    });
    using var approver = app.Client(await app.CreateKeyAsync("bench approver", [Scopes.Approver], "bench@example.com"));

    var afterResponse = new List<double>();
    var fromSend = new List<double>();
    for (var i = 0; i < count + 10; i++)
    {
        var returned = client.RequestApprovalAsync(new ApprovalRequest { ActionName = "bench", Timeout = TimeSpan.FromMinutes(10) })
            .ContinueWith(t => (Response: t.Result, At: Stopwatch.GetTimestamp()), TaskContinuationOptions.ExecuteSynchronously);
        var id = await PendingIdAsync(approver, agentId);
        await Task.Delay(10); // let the client's long poll reach the server
        var sentAt = Stopwatch.GetTimestamp();
        var decision = await approver.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { });
        var respondedAt = Stopwatch.GetTimestamp();
        decision.EnsureSuccessStatusCode();
        var (response, returnedAt) = await returned;
        if (response.Status != ApprovalStatus.Approved || response.ApprovalId != id)
        {
            throw new InvalidOperationException($"RequestApprovalAsync returned {response.Status} for {response.ApprovalId}");
        }
        if (i >= 10) // the first few warm up the JIT and the connection pools
        {
            fromSend.Add(Stopwatch.GetElapsedTime(sentAt, returnedAt).TotalMilliseconds);
            afterResponse.Add(Math.Max(0, Stopwatch.GetElapsedTime(respondedAt, returnedAt).TotalMilliseconds));
        }
    }
    Report($"{provider}: RequestApprovalAsync returns after the decision's response (ms)", afterResponse);
    Report($"{provider}: from sending the decision to RequestApprovalAsync returning (ms)", fromSend);
}

static async Task<string> PendingIdAsync(HttpClient approver, string agentId)
{
    var until = Stopwatch.StartNew();
    while (true)
    {
        var page = JsonNode.Parse(await approver.GetStringAsync($"/api/v1/approvals?agent_id={agentId}&status=pending&limit=1"))!;
        if (page["items"]!.AsArray() is [{ } item, ..])
        {
            return item["id"]!.GetValue<string>();
        }
        if (until.Elapsed > TimeSpan.FromSeconds(10))
        {
            throw new TimeoutException("The request did not appear.");
        }
        await Task.Delay(1);
    }
}

static void Report(string title, List<double> values)
{
    values.Sort();
    double P(double q) => values.Count == 0 ? double.NaN : values[Math.Min(values.Count - 1, (int)Math.Ceiling(q * values.Count) - 1)];
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{title}: n={values.Count} p50={P(0.50):F1} p99={P(0.99):F1} max={(values.Count == 0 ? double.NaN : values[^1]):F1}"));
}
