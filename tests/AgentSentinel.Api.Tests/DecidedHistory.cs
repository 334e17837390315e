using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Api.Tests;

/// <summary>Decided history to read back (simulations, suggestions): the real host on a fake clock that only the test
/// moves, one agent key for the agents <c>bot-*</c>, and approver keys by name (<c>{name}@example.com</c>). Requests are
/// created and decided through the API, as agents and people would; what a test expects of them it works out itself.</summary>
public sealed class DecidedHistory : IAsyncDisposable
{
    private readonly Dictionary<string, HttpClient> _approvers = [];

    private DecidedHistory(FakeTimeProvider time, AgentSentinelApp app)
    {
        Time = time;
        App = app;
    }

    public FakeTimeProvider Time { get; }

    public AgentSentinelApp App { get; }

    /// <summary>A client with the agent key (agent ids <c>bot-*</c>).</summary>
    public HttpClient Agent { get; private set; } = null!;

    /// <summary>Starts the host at <paramref name="start"/> with an agent key named <paramref name="agentKey"/> and an
    /// approver key for each of <paramref name="approvers"/>.</summary>
    public static async Task<DecidedHistory> StartAsync(StorageProvider provider, string database, DateTimeOffset start, string agentKey, params string[] approvers)
    {
        var time = new FakeTimeProvider(start);
        var history = new DecidedHistory(time, new AgentSentinelApp(await TestStorage.CreateAsync(provider, database), time));
        history.Agent = history.App.Client(await history.App.CreateKeyAsync(agentKey, [Scopes.Agent], agentIds: ["bot-*"]));
        foreach (var name in approvers)
        {
            history._approvers[name] = history.App.Client(await history.App.CreateKeyAsync(name, [Scopes.Approver], $"{name}@example.com"));
        }
        return history;
    }

    /// <summary>The client of the approver called <paramref name="name"/>.</summary>
    public HttpClient Approver(string name) => _approvers[name];

    /// <summary>Creates a request as the agent (it must be created) and returns the answer.</summary>
    public Task<JsonNode> CreateAsync(object request) => Agent.CreateApprovalAsync(request);

    /// <summary><paramref name="approver"/> approves (or, with <paramref name="approve"/> false, rejects) request
    /// <paramref name="id"/> with <paramref name="body"/>; the decision must be taken. Returns the answer.</summary>
    public async Task<JsonNode> DecideAsync(string approver, string id, bool approve, object body)
    {
        var response = await _approvers[approver].PostJsonAsync($"/api/v1/approvals/{id}/{(approve ? "approve" : "reject")}", body);
        var json = await response.Json();
        Assert.True(response.StatusCode == HttpStatusCode.OK, json.ToJsonString());
        return json;
    }

    public async ValueTask DisposeAsync()
    {
        Agent.Dispose();
        foreach (var client in _approvers.Values)
        {
            client.Dispose();
        }
        await App.DisposeAsync();
    }
}
