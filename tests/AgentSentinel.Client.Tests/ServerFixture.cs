global using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Client.Tests;

/// <summary>One real server (SQLite, job server on) on a loopback port per test class, an agent key, and an approver.
/// Each test uses its own agent id, so the approver can find the test's own requests.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const string ApproverEmail = "approver@example.com";

    public AgentSentinelApp App { get; private set; } = null!;
    public Uri BaseAddress { get; private set; } = null!;
    public string AgentKey { get; private set; } = null!;
    public HttpClient Approver { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        App = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "client"), runJobServer: true);
        BaseAddress = App.StartOnLoopback();
        // Each test acts as agents of its own (NewAgentId), all under this key.
        AgentKey = await App.CreateKeyAsync("client agent", [Scopes.Agent], agentIds: ["agent-*"]);
        Approver = App.Client(await App.CreateKeyAsync("client approver", [Scopes.Approver], ApproverEmail));
    }

    public async ValueTask DisposeAsync()
    {
        Approver.Dispose();
        await App.DisposeAsync();
    }

    /// <summary>Options for a client of this server with an agent id of its own.</summary>
    public ApprovalClientOptions Options(string? agentId = null) => new()
    {
        BaseAddress = BaseAddress,
        ApiKey = AgentKey,
        AgentId = agentId ?? NewAgentId(),
        RetryBaseDelay = TimeSpan.FromMilliseconds(50),
        RetryMaxDelay = TimeSpan.FromMilliseconds(500),
    };

    public static string NewAgentId() => "agent-" + Guid.NewGuid().ToString("N")[..12];
}

public static class Server
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Waits until the agent's request is pending on the server (as an approver sees it) and returns its id.</summary>
    public static async Task<string> PendingIdAsync(this HttpClient approver, string agentId)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var page = JsonNode.Parse(await approver.GetStringAsync($"/api/v1/approvals?agent_id={agentId}&status=pending", Ct))!;
            var items = page["items"]!.AsArray();
            if (items.Count > 0)
            {
                Assert.Single(items);
                return items[0]!["id"]!.GetValue<string>();
            }
            Assert.True(DateTime.UtcNow < until, $"no pending request of {agentId} appeared");
            await Task.Delay(20, Ct);
        }
    }

    /// <summary>An approver's decision: <c>approve</c>, <c>reject</c> or <c>request-info</c>.</summary>
    public static async Task DecideAsync(this HttpClient approver, string id, string verb, object? body = null)
    {
        var response = await approver.PostAsJsonAsync($"/api/v1/approvals/{id}/{verb}", body ?? new { }, Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{verb}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
    }

    /// <summary>The full approval object with its events, as the server stores it.</summary>
    public static async Task<JsonNode> DetailAsync(this HttpClient client, string id) =>
        JsonNode.Parse(await client.GetStringAsync($"/api/v1/approvals/{id}", Ct))!;

    /// <summary>Every request of the agent, whatever its status.</summary>
    public static async Task<JsonArray> RequestsOfAsync(this HttpClient client, string agentId) =>
        JsonNode.Parse(await client.GetStringAsync($"/api/v1/approvals?agent_id={agentId}", Ct))!["items"]!.AsArray();

    /// <summary>A loopback port that nothing listens on (it was free a moment ago).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
