using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteRoutingApiTests() : RoutingApiTests(StorageProvider.Sqlite);

public sealed class PostgresRoutingApiTests() : RoutingApiTests(StorageProvider.Postgres);

/// <summary>Routes from configuration and from the admin API: first match wins, changes apply to the next request,
/// route approvers are enforced, and every change is recorded.</summary>
public abstract class RoutingApiTests(StorageProvider provider) : IAsyncLifetime
{
    private AgentSentinelApp _app = null!;
    private static CancellationToken Ct => Http.Ct;

    public async ValueTask InitializeAsync()
    {
        // A route seeded from configuration, in the environment-variable shape of ASP.NET configuration.
        _app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "routing"), settings: new Dictionary<string, string?>
        {
            ["AgentSentinel:Routing:Routes:0:Name"] = "configured-default",
            ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = "C0APPROVALS",
        });
        _ = _app.Server;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    private static object Routes => new
    {
        routes = new object[]
        {
            new
            {
                name = "payments-critical",
                match = new { priorities = new[] { "critical" }, actions = new[] { "transfer_*" } },
                slack = new { channel = "C0PAYCRIT" },
                teams = new { channel = "19:abc@thread.tacv2" },
                approvers = new[] { "alice@example.com", "U0ALICE" },
                mention = "here",
                reminders_minutes = new[] { 5 },
                escalation = new[] { new { after_minutes = 10, slack = new { channel = "C0SECOPS" }, mention = new[] { "U0CISO" } } },
            },
            new { name = "data-agents", match = new { agents = new[] { "data-*" } }, slack = new { channel = "C0DATA" } },
            new { name = "default", slack = new { channel = "C0APPROVALS" } },
        },
    };

    [Fact]
    public async Task Configured_routes_apply_until_an_admin_stores_new_ones()
    {
        using var admin = _app.Client();
        var configured = await (await admin.GetAsync("/api/v1/admin/routes", Ct)).Json();
        Assert.Equal("configuration", configured.Str("source"));
        Assert.Equal("configured-default", configured["routes"]![0]!.Str("name"));
        Assert.Equal("configured-default", (await admin.CreateApprovalAsync(new { action_name = "anything" })).Str("route"));

        var put = await admin.PutAsJsonAsync("/api/v1/admin/routes", Routes, Ct);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal("\"1\"", put.Headers.ETag!.Tag);

        Assert.Equal("payments-critical", (await admin.CreateApprovalAsync(new { action_name = "transfer_funds", priority = "critical" })).Str("route"));
        Assert.Equal("default", (await admin.CreateApprovalAsync(new { action_name = "transfer_funds", priority = "high" })).Str("route"));
        Assert.Equal("data-agents", (await admin.CreateApprovalAsync(new { action_name = "delete_rows", agent_id = "data-cleaner" })).Str("route"));
        Assert.Equal("default", (await admin.CreateApprovalAsync(new { action_name = "delete_rows" })).Str("route"));

        var stored = await (await admin.GetAsync("/api/v1/admin/routes", Ct)).Json();
        Assert.Equal("database", stored.Str("source"));
        Assert.Equal(10, stored["routes"]![0]!["escalation"]![0]!["after_minutes"]!.GetValue<int>());
        // What GET returns can be sent back as it is.
        Assert.False(stored["routes"]![0]!.AsObject().ContainsKey("is_default"));
        var roundTrip = await admin.PutAsJsonAsync("/api/v1/admin/routes", new { routes = stored["routes"] }, Ct);
        Assert.Equal(HttpStatusCode.OK, roundTrip.StatusCode);
    }

    [Fact]
    public async Task Route_approvers_are_the_only_ones_who_may_decide()
    {
        using var admin = _app.Client();
        await admin.PutAsJsonAsync("/api/v1/admin/routes", Routes, Ct);
        using var agent = _app.Client(await _app.CreateKeyAsync("agent", [Scopes.Agent]));
        using var alice = _app.Client(await _app.CreateKeyAsync("alice", [Scopes.Approver], "Alice@Example.com"));
        using var mallory = _app.Client(await _app.CreateKeyAsync("mallory", [Scopes.Approver], "mallory@example.com"));
        var created = await agent.CreateApprovalAsync(new { action_name = "transfer_funds", priority = "critical" });
        Assert.Equal(["alice@example.com", "U0ALICE"], created["approvers"]!.AsArray().Select(a => a!.GetValue<string>()));

        await (await mallory.PostJsonAsync($"/api/v1/approvals/{created.Id()}/approve", null)).AssertProblemAsync(HttpStatusCode.Forbidden, "not one of the approvers");
        Assert.Equal("pending", (await (await agent.GetAsync($"/api/v1/approvals/{created.Id()}/poll", Ct)).Json()).Str("status"));
        var approved = await alice.PostJsonAsync($"/api/v1/approvals/{created.Id()}/approve", null);
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);

        // Requests on routes without approvers may be decided by any approver.
        var open = await agent.CreateApprovalAsync(new { action_name = "read_report" });
        Assert.Equal(HttpStatusCode.OK, (await mallory.PostJsonAsync($"/api/v1/approvals/{open.Id()}/approve", null)).StatusCode);
    }

    [Fact]
    public async Task Invalid_routes_are_refused_with_every_problem_named()
    {
        using var admin = _app.Client();
        var body = new
        {
            routes = new object[]
            {
                new { name = "catch-all", slack = new { channel = "C0ALL" } },
                new { name = "bad", match = new { priorities = new[] { "urgent" } }, slack = new { channel = "#general" }, mention = "everyone" },
                new { name = "bad", teams = new { channel = "general" }, escalation = new[] { new { after_minutes = 10 }, new { after_minutes = 5 } } },
            },
        };
        var response = await admin.PutAsJsonAsync("/api/v1/admin/routes", body, Ct);
        var problem = await response.Json();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var errors = problem["errors"]!.AsArray().Select(e => e!.GetValue<string>()).ToList();
        Assert.Contains(errors, e => e.StartsWith("routes[0]:", StringComparison.Ordinal) && e.Contains("shadow", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("routes[1].match.priorities", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("routes[1].slack.channel", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("routes[1].mention", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("routes[2].name", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("routes[2].teams.channel", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("routes[2].escalation[1].after_minutes", StringComparison.Ordinal));
        Assert.Equal("configuration", (await (await admin.GetAsync("/api/v1/admin/routes", Ct)).Json()).Str("source"));
    }

    [Fact]
    public async Task A_stale_if_match_loses_and_every_change_is_recorded_with_its_author()
    {
        using var admin = _app.Client();
        var other = _app.Client(await _app.CreateKeyAsync("second admin", [Scopes.Admin], "ops@example.com"));
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsJsonAsync("/api/v1/admin/routes", Routes, Ct)).StatusCode);

        var stale = new HttpRequestMessage(HttpMethod.Put, "/api/v1/admin/routes") { Content = JsonContent.Create(new { routes = Array.Empty<object>() }) };
        stale.Headers.IfMatch.Add(new EntityTagHeaderValue("\"0\""));
        await (await other.SendAsync(stale, Ct)).AssertProblemAsync(HttpStatusCode.PreconditionFailed);

        var current = new HttpRequestMessage(HttpMethod.Put, "/api/v1/admin/routes") { Content = JsonContent.Create(new { routes = Array.Empty<object>() }) };
        current.Headers.IfMatch.Add(new EntityTagHeaderValue("\"1\""));
        Assert.Equal(HttpStatusCode.OK, (await other.SendAsync(current, Ct)).StatusCode);

        var history = (await (await admin.GetAsync("/api/v1/admin/routes/history", Ct)).Json()).AsArray();
        Assert.Equal(2, history.Count);
        Assert.Equal("ops@example.com", history[0]!.Str("actor"));
        Assert.Equal("root@example.com", history[1]!.Str("actor"));
        Assert.Equal("payments-critical", history[0]!["before"]![0]!.Str("name"));
        Assert.Empty(history[0]!["after"]!.AsArray());
        // No routes at all: requests are created without one.
        Assert.Null((await admin.CreateApprovalAsync(new { action_name = "x" }))["route"]);
        other.Dispose();
    }

    [Fact]
    public async Task Route_documents_use_snake_case_and_refuse_unknown_fields()
    {
        using var admin = _app.Client();
        var response = await admin.PutAsync("/api/v1/admin/routes",
            new StringContent("""{"routes": [{"name": "x", "RemindersMinutes": [5]}]}""", Encoding.UTF8, "application/json"), Ct);
        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "RemindersMinutes");
    }
}
