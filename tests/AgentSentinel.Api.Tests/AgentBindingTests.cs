using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteAgentBindingTests() : AgentBindingTests(StorageProvider.Sqlite);

public sealed class PostgresAgentBindingTests() : AgentBindingTests(StorageProvider.Postgres);

/// <summary>The agent's identity comes from its key, not from the request body, and policy floors come before routing:
/// an agent can neither pose as another agent nor pick a softer route by lowering its own priority or risk.</summary>
public abstract class AgentBindingTests(StorageProvider provider) : IAsyncLifetime
{
    private static CancellationToken Ct => Http.Ct;
    private AgentSentinelApp _app = null!;
    private HttpClient _admin = null!;

    public async ValueTask InitializeAsync()
    {
        // A lenient route for low-priority requests before the strict one for transfers: the order an agent would
        // exploit by sending a transfer as "low". The transfer floor comes from the shipped appsettings.json.
        _app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "agentbinding"), settings: new Dictionary<string, string?>
        {
            ["AgentSentinel:Routing:Routes:0:Name"] = "lenient",
            ["AgentSentinel:Routing:Routes:0:Match:Priorities:0"] = "low",
            ["AgentSentinel:Routing:Routes:1:Name"] = "strict-transfers",
            ["AgentSentinel:Routing:Routes:1:Match:Actions:0"] = "transfer_*",
            ["AgentSentinel:Routing:Routes:1:Match:RiskLevels:0"] = "high",
            ["AgentSentinel:Routing:Routes:1:Match:RiskLevels:1"] = "critical",
            ["AgentSentinel:Routing:Routes:1:Approvers:0"] = "cfo@example.com",
            ["AgentSentinel:Routing:Routes:2:Name"] = "billing",
            ["AgentSentinel:Routing:Routes:2:Match:Agents:0"] = "billing-agent",
            ["AgentSentinel:Routing:Routes:3:Name"] = "default",
        });
        _ = _app.Server;
        _admin = _app.Client();
    }

    public async ValueTask DisposeAsync()
    {
        _admin.Dispose();
        await _app.DisposeAsync();
    }

    private async Task<(string Id, HttpClient Client)> CreateAgentKeyAsync(string name, string[]? agentIds)
    {
        var created = await (await _admin.PostJsonAsync("/api/v1/admin/api-keys", new { name, scopes = new[] { Scopes.Agent }, agent_ids = agentIds })).Json();
        return (created.Id(), _app.Client(created.Str("key")));
    }

    [Fact]
    public async Task An_agent_key_cannot_claim_another_agents_id_and_is_told_which_it_may_use()
    {
        var (keyId, billing) = await CreateAgentKeyAsync("billing-prod", ["billing-agent"]);
        var response = await billing.PostJsonAsync("/api/v1/approvals", new { action_name = "read_report", agent_id = "payments-agent", timeout_seconds = 300 });
        await response.AssertProblemAsync(HttpStatusCode.Forbidden, "'billing-agent'");
        Assert.Contains("payments-agent", (await response.Json())["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("agent_id", (await response.Json()).Str("field"));
        // Nothing was stored.
        var page = await _app.Service<IApprovalStore>().ListAsync(new ApprovalQuery { RequesterKeyId = keyId }, DateTimeOffset.UtcNow, Ct);
        Assert.Empty(page.Items);

        // Its own id is accepted and reaches the route for that agent.
        var own = await billing.CreateApprovalAsync(new { action_name = "read_report", agent_id = "billing-agent", timeout_seconds = 300 });
        Assert.Equal("billing-agent", own.Str("agent_id"));
        Assert.Equal("billing", own.Str("route"));
    }

    [Fact]
    public async Task Without_an_agent_id_the_request_takes_the_keys_first_and_a_key_that_names_none_is_its_name()
    {
        var (_, billing) = await CreateAgentKeyAsync("billing-prod", ["billing-agent", "billing-batch"]);
        var defaulted = await billing.CreateApprovalAsync(new { action_name = "read_report", timeout_seconds = 300 });
        Assert.Equal("billing-agent", defaulted.Str("agent_id"));
        Assert.Equal("billing", defaulted.Str("route"));
        var nulled = await billing.CreateApprovalAsync(new { action_name = "read_report", agent_id = (string?)null, timeout_seconds = 300 });
        Assert.Equal("billing-agent", nulled.Str("agent_id"));
        Assert.Equal("billing-batch", (await billing.CreateApprovalAsync(new { action_name = "read_report", agent_id = "billing-batch", timeout_seconds = 300 })).Str("agent_id"));

        // A key created without agent_ids (as every key made before agent ids existed) acts only under its own name.
        var (_, plain) = await CreateAgentKeyAsync("reporting-agent", null);
        Assert.Equal("reporting-agent", (await plain.CreateApprovalAsync(new { action_name = "read_report", timeout_seconds = 300 })).Str("agent_id"));
        await (await plain.PostJsonAsync("/api/v1/approvals", new { action_name = "read_report", agent_id = "billing-agent", timeout_seconds = 300 }))
            .AssertProblemAsync(HttpStatusCode.Forbidden, "'reporting-agent'");
    }

    [Fact]
    public async Task Patterns_allow_a_family_of_ids_and_then_the_request_must_name_one()
    {
        var (_, fleet) = await CreateAgentKeyAsync("fleet", ["billing-*"]);
        Assert.Equal("billing-eu-7", (await fleet.CreateApprovalAsync(new { action_name = "read_report", agent_id = "billing-eu-7", timeout_seconds = 300 })).Str("agent_id"));
        await (await fleet.PostJsonAsync("/api/v1/approvals", new { action_name = "read_report", agent_id = "payroll", timeout_seconds = 300 }))
            .AssertProblemAsync(HttpStatusCode.Forbidden, "'billing-*'");
        await (await fleet.PostJsonAsync("/api/v1/approvals", new { action_name = "read_report", timeout_seconds = 300 }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "agent_id is required");
    }

    [Fact]
    public async Task An_admin_may_use_any_agent_id()
    {
        var created = await _admin.CreateApprovalAsync(new { action_name = "read_report", agent_id = "billing-agent", timeout_seconds = 300 });
        Assert.Equal("billing-agent", created.Str("agent_id"));
        Assert.Equal("bootstrap admin", created.Str("requester_key_name"));
        Assert.Null((await _admin.CreateApprovalAsync(new { action_name = "read_report", timeout_seconds = 300 })).Str("agent_id"));
    }

    [Fact]
    public async Task Keys_list_their_agent_ids_and_bad_ones_are_refused()
    {
        var (id, _) = await CreateAgentKeyAsync("billing-prod", ["billing-agent", "billing-*"]);
        var (plainId, _) = await CreateAgentKeyAsync("reporting-agent", null);
        var keys = (await (await _admin.GetAsync("/api/v1/admin/api-keys", Ct)).Json()).AsArray();
        Assert.Equal(["billing-agent", "billing-*"], keys.Single(k => k!.Str("id") == id)!["agent_ids"]!.AsArray().Select(v => (string?)v));
        Assert.Equal(["reporting-agent"], keys.Single(k => k!.Str("id") == plainId)!["agent_ids"]!.AsArray().Select(v => (string?)v));

        await (await _admin.PostJsonAsync("/api/v1/admin/api-keys", new { name = "alice", scopes = new[] { Scopes.Approver }, email = "alice@example.com", agent_ids = new[] { "x" } }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "agent scope");
        await (await _admin.PostJsonAsync("/api/v1/admin/api-keys", new { name = "bad", scopes = new[] { Scopes.Agent }, agent_ids = new[] { "line\nbreak" } }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "control characters");
        await (await _admin.PostJsonAsync("/api/v1/admin/api-keys", new { name = "bad", scopes = new[] { Scopes.Agent }, agent_ids = new object[] { 7 } }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "list of strings");
    }

    [Fact]
    public async Task The_requesting_keys_name_is_on_the_request_in_every_listing()
    {
        var (_, billing) = await CreateAgentKeyAsync("billing-prod", ["billing-agent"]);
        var created = await billing.CreateApprovalAsync(new { action_name = "read_report", timeout_seconds = 300 });
        Assert.Equal("billing-prod", created.Str("requester_key_name"));
        var detail = await (await _admin.GetAsync($"/api/v1/approvals/{created.Id()}", Ct)).Json();
        Assert.Equal("billing-prod", detail.Str("requester_key_name"));
        Assert.Equal("billing-agent", detail.Str("agent_id"));
        var page = await (await _admin.GetAsync("/api/v1/approvals?agent_id=billing-agent", Ct)).Json();
        Assert.Contains(page["items"]!.AsArray(), i => i!.Str("id") == created.Id() && i!.Str("requester_key_name") == "billing-prod");
    }

    [Fact]
    public async Task A_transfer_sent_as_low_priority_and_risk_is_raised_to_the_floor_and_routed_on_the_raised_values()
    {
        var (_, agent) = await CreateAgentKeyAsync("payments-prod", null);
        var created = await agent.CreateApprovalAsync(new { action_name = "transfer_funds", priority = "low", risk_level = "low", timeout_seconds = 300 });
        Assert.Equal("high", created.Str("priority"));
        Assert.Equal("high", created.Str("risk_level"));
        Assert.Equal("strict-transfers", created.Str("route"));
        Assert.Equal(["cfo@example.com"], created["approvers"]!.AsArray().Select(a => (string?)a));

        var detail = await (await _admin.GetAsync($"/api/v1/approvals/{created.Id()}", Ct)).Json();
        var details = detail["events"]![0]!["details"]!;
        Assert.Equal("created", detail["events"]![0]!.Str("kind"));
        Assert.Equal("strict-transfers", details.Str("route"));
        Assert.Equal("low", details["floor"]!.Str("requested_priority"));
        Assert.Equal("high", details["floor"]!.Str("priority"));
        Assert.Equal("low", details["floor"]!.Str("requested_risk_level"));
        Assert.Equal("high", details["floor"]!.Str("risk_level"));

        // Without any value the floor applies too; above the floor the agent's own value stands, and nothing is recorded.
        var bare = await agent.CreateApprovalAsync(new { action_name = "transfer_funds", timeout_seconds = 300 });
        Assert.Equal(("high", "high"), (bare.Str("priority"), bare.Str("risk_level")));
        var critical = await agent.CreateApprovalAsync(new { action_name = "transfer_funds", priority = "critical", risk_level = "critical", timeout_seconds = 300 });
        Assert.Equal(("critical", "critical"), (critical.Str("priority"), critical.Str("risk_level")));
        var criticalEvents = await (await _admin.GetAsync($"/api/v1/approvals/{critical.Id()}", Ct)).Json();
        Assert.Null(criticalEvents["events"]![0]!["details"]!["floor"]);

        // Other actions are not floored: a low request goes to the lenient route.
        var report = await agent.CreateApprovalAsync(new { action_name = "read_report", priority = "low", timeout_seconds = 300 });
        Assert.Equal(("low", "lenient"), (report.Str("priority"), report.Str("route")));
    }

    [Fact]
    public async Task Floors_are_part_of_the_admin_policy_and_validated_naming_the_path()
    {
        var policy = await (await _admin.GetAsync("/api/v1/admin/policy", Ct)).Json();
        var floors = policy["policy"]!["floors"]!.AsArray();
        Assert.Contains(floors, f => f!["actions"]!.AsArray().Any(a => (string?)a == "transfer_*") && f.Str("priority") == "high" && f.Str("risk_level") == "high");

        var body = JsonNode.Parse(policy["policy"]!.ToJsonString())!.AsObject();
        body["floors"] = new JsonArray(new JsonObject { ["actions"] = new JsonArray("delete_*"), ["priority"] = "urgent", ["risk_level"] = null });
        await (await _admin.PutAsJsonAsync("/api/v1/admin/policy", new { policy = body }, Ct))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "policy.floors[0].priority");

        // An admin can set floors at run time; they apply to the next request.
        body["floors"] = new JsonArray(new JsonObject { ["actions"] = new JsonArray("delete_*"), ["priority"] = "critical", ["risk_level"] = null });
        Assert.Equal(HttpStatusCode.OK, (await _admin.PutAsJsonAsync("/api/v1/admin/policy", new { policy = body }, Ct)).StatusCode);
        var (_, agent) = await CreateAgentKeyAsync("cleanup-agent", null);
        var deletion = await agent.CreateApprovalAsync(new { action_name = "delete_records", priority = "low", timeout_seconds = 300 });
        Assert.Equal("critical", deletion.Str("priority"));
        Assert.Null(deletion.Str("risk_level"));
        // The explicit list replaced the configured one: transfers are no longer floored.
        Assert.Equal("low", (await agent.CreateApprovalAsync(new { action_name = "transfer_funds", priority = "low", timeout_seconds = 300 })).Str("priority"));

        // A stored policy without floors keeps the configured ones.
        body.Remove("floors");
        Assert.Equal(HttpStatusCode.OK, (await _admin.PutAsJsonAsync("/api/v1/admin/policy", new { policy = body }, Ct)).StatusCode);
        Assert.Equal("high", (await agent.CreateApprovalAsync(new { action_name = "transfer_funds", priority = "low", timeout_seconds = 300 })).Str("priority"));
    }
}
