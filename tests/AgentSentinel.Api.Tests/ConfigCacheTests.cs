using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteConfigCacheTests() : ConfigCacheTests(StorageProvider.Sqlite);

public sealed class PostgresConfigCacheTests() : ConfigCacheTests(StorageProvider.Postgres);

/// <summary>API keys, routes and policy are cached in each server instance, yet every change applies to the next
/// request on every instance: two instances on one database, each with warm caches, one changing, the other asked next.</summary>
public abstract class ConfigCacheTests(StorageProvider provider)
{
    private static CancellationToken Ct => Http.Ct;

    private Task<(AgentSentinelApp First, AgentSentinelApp Second)> TwoInstancesAsync(string name) =>
        AgentSentinelApp.TwoInstancesAsync(provider, name, Ct);

    [Fact]
    public async Task A_key_revoked_on_one_instance_is_refused_at_the_next_request_on_both()
    {
        var (first, second) = await TwoInstancesAsync("cacherevoke");
        await using var a = first;
        await using var b = second;
        var (keyId, key) = await first.CreateKeyWithIdAsync("agent", [Scopes.Agent]);
        using var onFirst = first.Client(key);
        using var onSecond = second.Client(key);
        // Both instances have used the key, so both hold it.
        await onFirst.CreateApprovalAsync(new { action_name = "warm" });
        await onSecond.CreateApprovalAsync(new { action_name = "warm" });
        await onSecond.CreateApprovalAsync(new { action_name = "warm" });

        await first.RevokeKeyAsync(keyId);

        await (await onSecond.PostJsonAsync("/api/v1/approvals", new { action_name = "after" })).AssertProblemAsync(HttpStatusCode.Unauthorized, "revoked");
        await (await onFirst.PostJsonAsync("/api/v1/approvals", new { action_name = "after" })).AssertProblemAsync(HttpStatusCode.Unauthorized, "revoked");
    }

    [Fact]
    public async Task A_create_racing_a_revocation_whose_notice_has_not_arrived_is_refused_and_stores_nothing()
    {
        var (first, second) = await TwoInstancesAsync("cacherace");
        await using var a = first;
        await using var b = second;
        var (keyId, key) = await first.CreateKeyWithIdAsync("agent", [Scopes.Agent]);
        using var onSecond = second.Client(key);
        await onSecond.CreateApprovalAsync(new { action_name = "warm" });
        await onSecond.CreateApprovalAsync(new { action_name = "warm" });

        // The revocation commits, but its notification has not reached the second instance (it is made here without
        // one): the second still holds the key at the version it last read.
        await using (var connection = await first.Service<Database>().OpenAsync(Ct))
        {
            await Dapper.SqlMapper.ExecuteAsync(connection, "UPDATE api_keys SET revoked_at = created_at WHERE id = @id", new { id = keyId });
            await Dapper.SqlMapper.ExecuteAsync(connection, "UPDATE config_version SET version = version + 1 WHERE id = 1");
        }

        await (await onSecond.PostJsonAsync("/api/v1/approvals", new { action_name = "after" })).AssertProblemAsync(HttpStatusCode.Unauthorized, "revoked");
        await using var check = await first.Service<Database>().OpenAsync(Ct);
        Assert.Equal(0L, await Dapper.SqlMapper.ExecuteScalarAsync<long>(check, "SELECT count(*) FROM approvals WHERE action_name = 'after'"));
        Assert.Equal(2L, await Dapper.SqlMapper.ExecuteScalarAsync<long>(check, "SELECT count(*) FROM approvals WHERE action_name = 'warm'"));
    }

    [Fact]
    public async Task A_key_created_on_one_instance_works_at_once_on_the_other()
    {
        var (first, second) = await TwoInstancesAsync("cachenewkey");
        await using var a = first;
        await using var b = second;
        using var admin = second.Client();
        await admin.CreateApprovalAsync(new { action_name = "warm" });
        var key = await first.CreateKeyAsync("newcomer", [Scopes.Agent]);
        using var newcomer = second.Client(key);
        Assert.Equal("newcomer", (await newcomer.CreateApprovalAsync(new { action_name = "first" })).Str("agent_id"));
    }

    [Fact]
    public async Task Routes_stored_on_one_instance_route_the_next_request_on_the_other()
    {
        var (first, second) = await TwoInstancesAsync("cacheroutes");
        await using var a = first;
        await using var b = second;
        using var adminFirst = first.Client();
        using var adminSecond = second.Client();
        Assert.NotEqual("ops", (await adminSecond.CreateApprovalAsync(new { action_name = "deploy" })).Str("route"));

        var put = await adminFirst.PutAsJsonAsync("/api/v1/admin/routes", new { routes = new object[] { new { name = "ops", slack = new { channel = "C0OPS" } } } }, Ct);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal("ops", (await adminSecond.CreateApprovalAsync(new { action_name = "deploy" })).Str("route"));

        put = await adminSecond.PutAsJsonAsync("/api/v1/admin/routes", new { routes = new object[] { new { name = "ops-2", slack = new { channel = "C0OPS" } } } }, Ct);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal("ops-2", (await adminFirst.CreateApprovalAsync(new { action_name = "deploy" })).Str("route"));
        Assert.Equal("ops-2", (await adminSecond.CreateApprovalAsync(new { action_name = "deploy" })).Str("route"));
    }

    [Fact]
    public async Task A_policy_stored_on_one_instance_applies_to_the_next_request_on_the_other()
    {
        var (first, second) = await TwoInstancesAsync("cachepolicy");
        await using var a = first;
        await using var b = second;
        using var adminFirst = first.Client();
        using var agent = second.Client(await first.CreateKeyAsync("cleanup-agent", [Scopes.Agent]));
        Assert.Equal("low", (await agent.CreateApprovalAsync(new { action_name = "delete_records", priority = "low" })).Str("priority"));

        var policy = await (await adminFirst.GetAsync("/api/v1/admin/policy", Ct)).Json();
        var body = JsonNode.Parse(policy["policy"]!.ToJsonString())!.AsObject();
        body["floors"] = new JsonArray(new JsonObject { ["actions"] = new JsonArray("delete_*"), ["priority"] = "critical", ["risk_level"] = null });
        Assert.Equal(HttpStatusCode.OK, (await adminFirst.PutAsJsonAsync("/api/v1/admin/policy", new { policy = body }, Ct)).StatusCode);

        Assert.Equal("critical", (await agent.CreateApprovalAsync(new { action_name = "delete_records", priority = "low" })).Str("priority"));
    }

    [Fact]
    public async Task A_policy_relaxed_on_one_instance_lets_a_create_it_refused_through_at_the_next_request_on_the_other()
    {
        var (first, second) = await TwoInstancesAsync("cacherelax");
        await using var a = first;
        await using var b = second;
        using var adminFirst = first.Client();
        using var agent = second.Client(await first.CreateKeyAsync("long-agent", [Scopes.Agent]));
        await agent.CreateApprovalAsync(new { action_name = "warm" });
        var policy = await (await adminFirst.GetAsync("/api/v1/admin/policy", Ct)).Json();
        var body = JsonNode.Parse(policy["policy"]!.ToJsonString())!.AsObject();
        var max = body["max_timeout_seconds"]!.GetValue<int>();
        var longer = max + 3600;
        // Refused by the policy the second instance holds.
        await (await agent.PostJsonAsync("/api/v1/approvals", new { action_name = "long", timeout_seconds = longer }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "timeout_seconds");

        body["max_timeout_seconds"] = longer;
        Assert.Equal(HttpStatusCode.OK, (await adminFirst.PutAsJsonAsync("/api/v1/admin/policy", new { policy = body }, Ct)).StatusCode);

        // The next create on the other instance is checked against the new policy, even where its copy (SQLite: no
        // notification) was the old one that refused it.
        var created = await agent.CreateApprovalAsync(new { action_name = "long", timeout_seconds = longer });
        var window = DateTimeOffset.Parse(created.Str("expires_at")!, System.Globalization.CultureInfo.InvariantCulture)
            - DateTimeOffset.Parse(created.Str("created_at")!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(longer, (int)Math.Round(window.TotalSeconds));
    }
}
