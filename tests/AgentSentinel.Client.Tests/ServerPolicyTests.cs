using System.Net.Http.Json;
using AgentSentinel.Testing;
using static AgentSentinel.Client.Tests.Server;

namespace AgentSentinel.Client.Tests;

/// <summary>The server's policy through <see cref="ApprovalClient.CheckAsync"/>, and combined with local rules. The
/// tests of this class change the server policy, so they share a server with no other class.</summary>
public sealed class ServerPolicyTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private async Task PutPolicyAsync(object policy)
    {
        using var admin = server.App.Client(AgentSentinelApp.BootstrapAdminKey);
        var response = await admin.PutAsJsonAsync("/api/v1/admin/policy", new { policy }, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static object Strict => new
    {
        approval_required_actions = new[] { "wire_*" },
        approval_cost_threshold_usd = 100.0,
        approval_required_risk_levels = new[] { "critical" },
        default_timeout_seconds = new { critical = 300, high = 900, medium = 1800, low = 7200 },
        min_timeout_seconds = 1,
        max_timeout_seconds = 86400,
        default_approvers = new[] { ServerFixture.ApproverEmail },
    };

    private static object Permissive => new
    {
        default_timeout_seconds = new { critical = 600, high = 1800, medium = 3600, low = 14400 },
        min_timeout_seconds = 1,
        max_timeout_seconds = 604800,
    };

    [Fact]
    public async Task Check_reports_the_server_policy_for_an_action()
    {
        using var client = new ApprovalClient(server.Options());
        await PutPolicyAsync(Permissive);
        var open = await client.CheckAsync("wire_transfer", 150.5m, cancellationToken: Ct);
        Assert.False(open.RequiresApproval);
        Assert.Empty(open.Reasons);
        Assert.Equal(TimeSpan.FromHours(1), open.Timeout);

        await PutPolicyAsync(Strict);
        try
        {
            var wire = await client.CheckAsync("wire_transfer", cancellationToken: Ct);
            Assert.True(wire.RequiresApproval);
            Assert.Contains("wire_*", Assert.Single(wire.Reasons), StringComparison.Ordinal);
            Assert.Equal([ServerFixture.ApproverEmail], wire.Approvers);
            Assert.True(wire.PolicyVersion > 0);
            Assert.True((await client.CheckAsync("buy_ads", 100m, cancellationToken: Ct)).RequiresApproval);
            Assert.False((await client.CheckAsync("buy_ads", 99.99m, cancellationToken: Ct)).RequiresApproval);
            Assert.True((await client.CheckAsync("buy_ads", riskLevel: RiskLevel.Critical, cancellationToken: Ct)).RequiresApproval);
            Assert.Equal(TimeSpan.FromMinutes(5), (await client.CheckAsync("buy_ads", priority: Priority.Critical, cancellationToken: Ct)).Timeout);
        }
        finally
        {
            await PutPolicyAsync(Permissive);
        }
    }

    [Fact]
    public async Task The_policy_engine_combines_local_rules_with_the_server_policy()
    {
        var options = server.Options();
        options.Policy = new ApprovalPolicy
        {
            ApprovalRequiredActions = ["delete_user"],
            DefaultApprovers = ["security@company.com"],
        };
        using var client = new ApprovalClient(options);
        var guard = new ActionGuard(client);
        await PutPolicyAsync(Strict);
        try
        {
            var serverOnly = await guard.Policy.EvaluateAsync(new PolicyQuery("wire_transfer"), Ct);
            Assert.True(serverOnly.RequiresApproval);
            Assert.Contains("wire_*", Assert.Single(serverOnly.Reasons), StringComparison.Ordinal);
            Assert.Equal(["security@company.com", ServerFixture.ApproverEmail], serverOnly.Approvers);
            Assert.Equal(TimeSpan.FromMinutes(30), serverOnly.Timeout);

            var both = await guard.Policy.EvaluateAsync(new PolicyQuery("delete_user") { CostUsd = 500m }, Ct);
            Assert.Equal(2, both.Reasons.Count);
            Assert.Contains("local list", both.Reasons[0], StringComparison.Ordinal);
            Assert.Contains("threshold", both.Reasons[1], StringComparison.Ordinal);

            Assert.False((await guard.Policy.EvaluateAsync(new PolicyQuery("send_email"), Ct)).RequiresApproval);

            // A guarded action the server policy covers is asked about (and, unanswered, does not run).
            var ran = false;
            await Assert.ThrowsAsync<ApprovalExpiredException>(() => guard.GuardAsync(
                "wire_transfer", _ => { ran = true; return Task.CompletedTask; }, new GuardOptions { Timeout = TimeSpan.FromSeconds(1) }, Ct));
            Assert.False(ran);
            Assert.Single(await server.Approver.RequestsOfAsync(options.AgentId!));
        }
        finally
        {
            await PutPolicyAsync(Permissive);
        }
    }

    [Fact]
    public async Task When_the_server_policy_cannot_be_asked_approval_is_required()
    {
        var options = server.Options();
        options.BaseAddress = new Uri($"http://127.0.0.1:{FreePort()}/");
        options.MaxRetries = 0;
        using var client = new ApprovalClient(options);

        var decision = await new PolicyEngine(new ApprovalPolicy(), client).EvaluateAsync(new PolicyQuery("send_email"), Ct);

        Assert.True(decision.RequiresApproval);
        Assert.Contains("could not be checked", Assert.Single(decision.Reasons), StringComparison.Ordinal);
    }
}
