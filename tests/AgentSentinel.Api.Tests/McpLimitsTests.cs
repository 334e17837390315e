using System.Text.Json;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Notifications;
using AgentSentinel.Testing;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace AgentSentinel.Api.Tests;

/// <summary>The MCP tools spend the same per-key budget as the REST API: creates from one token bucket and waits from
/// one pool of permits, whichever surface the key uses, so switching to MCP gains a key nothing.</summary>
public sealed class McpLimitsTests : IAsyncLifetime
{
    private AgentSentinelApp _app = null!;
    private Uri _baseUrl = null!;

    private static CancellationToken Ct => Http.Ct;

    public async ValueTask InitializeAsync()
    {
        _app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "mcp-limits"), settings: new Dictionary<string, string?>
        {
            ["AgentSentinel:Limits:Intake:TokenLimit"] = "3",
            ["AgentSentinel:Limits:Intake:TokensPerPeriod"] = "1",
            ["AgentSentinel:Limits:Intake:ReplenishmentPeriod"] = "01:00:00",
            ["AgentSentinel:Limits:MaxConcurrentWaitsPerKey"] = "1",
        });
        _baseUrl = _app.StartOnLoopback();
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    private async Task<(string Key, HttpClient Api, McpClient Mcp)> AgentAsync()
    {
        var name = $"agent-{Guid.NewGuid():N}";
        var key = await _app.CreateKeyAsync(name, [Scopes.Agent], agentIds: [name]);
        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(_baseUrl, "mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"ApiKey {key}" },
        });
        return (key, _app.Client(key), await McpClient.CreateAsync(transport, cancellationToken: Ct));
    }

    private static Task<CallToolResult> CallAsync(McpClient client, string tool, object arguments) =>
        client.CallToolAsync(tool,
            JsonSerializer.SerializeToElement(arguments).EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value),
            cancellationToken: Ct).AsTask();

    private static string Text(CallToolResult result) => string.Join("\n", result.Content.OfType<TextContentBlock>().Select(c => c.Text));

    [Fact]
    public async Task Creates_through_mcp_and_rest_share_one_bucket_per_key()
    {
        var (_, rest, mcp) = await AgentAsync();
        await using var _ = mcp;
        using var __ = rest;
        await rest.CreateApprovalAsync();
        await rest.CreateApprovalAsync();
        var third = await CallAsync(mcp, "request_approval", new { action_name = "transfer_funds", wait_seconds = 0 });
        Assert.False(third.IsError == true, Text(third));

        // The bucket of 3 is empty whichever way the key asks next.
        var refusedMcp = await CallAsync(mcp, "request_approval", new { action_name = "transfer_funds", wait_seconds = 0 });
        Assert.True(refusedMcp.IsError == true, Text(refusedMcp));
        Assert.Contains("creates requests faster than allowed", Text(refusedMcp), StringComparison.Ordinal);
        var refusedRest = await rest.PostJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", timeout_seconds = 300 });
        await refusedRest.AssertProblemAsync(HttpStatusCode.TooManyRequests, "creates requests faster");
        var stored = await (await rest.GetAsync("/api/v1/approvals", Ct)).Json();
        Assert.Equal(3, stored["items"]!.AsArray().Count);

        // Another key is unaffected.
        var (_, otherRest, otherMcp) = await AgentAsync();
        await using var ___ = otherMcp;
        using var ____ = otherRest;
        var other = await CallAsync(otherMcp, "request_approval", new { action_name = "transfer_funds", wait_seconds = 0 });
        Assert.False(other.IsError == true, Text(other));
    }

    [Fact]
    public async Task A_wait_held_through_rest_leaves_mcp_no_permit_and_mcp_says_so_without_waiting()
    {
        var (_, rest, mcp) = await AgentAsync();
        await using var _ = mcp;
        using var __ = rest;
        var id = (await rest.CreateApprovalAsync()).Id();
        var hub = _app.Service<ApprovalChangeHub>();
        var held = rest.GetAsync($"/api/v1/approvals/{id}/wait?timeout_seconds=30", Ct);
        for (var i = 0; i < 200 && hub.WatchedCount < 1; i++)
        {
            await Task.Delay(50, Ct);
        }
        Assert.Equal(1, hub.WatchedCount);

        var waited = await CallAsync(mcp, "wait_for_decision", new { approval_id = id, wait_seconds = 30 });
        Assert.True(waited.IsError == true, Text(waited));
        Assert.Contains("wait calls open", Text(waited), StringComparison.Ordinal);

        // request_approval still makes the request (it spends a create), answers pending at once and says why.
        var started = DateTime.UtcNow;
        var created = await CallAsync(mcp, "request_approval", new { action_name = "rotate_keys", wait_seconds = 30 });
        Assert.False(created.IsError == true, Text(created));
        Assert.Contains("did not wait", Text(created), StringComparison.Ordinal);
        Assert.Equal("pending", created.StructuredContent!.Value.GetProperty("status").GetString());
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20), "the call waited although no permit was free");

        // Once the REST wait ends, MCP may wait again.
        using (var cancel = await rest.PostJsonAsync($"/api/v1/approvals/{id}/cancel", new { }))
        {
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        }
        (await held).Dispose();
        var after = await CallAsync(mcp, "wait_for_decision", new { approval_id = id, wait_seconds = 1 });
        Assert.False(after.IsError == true, Text(after));
        Assert.Equal("cancelled", after.StructuredContent!.Value.GetProperty("status").GetString());
    }
}
