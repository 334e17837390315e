namespace AgentSentinel.Client.Tests;

/// <summary>The local rules on their own.</summary>
public sealed class PolicyEngineTests
{
    [Fact]
    public void Listed_actions_and_patterns_require_approval_case_insensitively()
    {
        var engine = new PolicyEngine(new ApprovalPolicy { ApprovalRequiredActions = ["delete_user", "transfer_*", "modify_?rice"] });

        Assert.True(engine.EvaluateLocal(new PolicyQuery("delete_user")).RequiresApproval);
        Assert.True(engine.EvaluateLocal(new PolicyQuery("DELETE_USER")).RequiresApproval);
        Assert.True(engine.EvaluateLocal(new PolicyQuery("transfer_funds")).RequiresApproval);
        Assert.Contains("transfer_*", engine.EvaluateLocal(new PolicyQuery("transfer_funds")).Reasons[0], StringComparison.Ordinal);
        Assert.True(engine.EvaluateLocal(new PolicyQuery("modify_price")).RequiresApproval);
        Assert.False(engine.EvaluateLocal(new PolicyQuery("modify_prices")).RequiresApproval);
        Assert.False(engine.EvaluateLocal(new PolicyQuery("delete_user_cache")).RequiresApproval);
        Assert.Empty(engine.EvaluateLocal(new PolicyQuery("read_report")).Reasons);
    }

    [Fact]
    public void The_cost_threshold_requires_approval_at_or_above_it()
    {
        var engine = new PolicyEngine();
        engine.Configure(approvalCostThresholdUsd: 100m, approvalTimeout: TimeSpan.FromMinutes(10), approvalDefaultApprovers: ["manager@company.com"]);

        Assert.False(engine.EvaluateLocal(new PolicyQuery("buy_ads") { CostUsd = 99.99m }).RequiresApproval);
        Assert.False(engine.EvaluateLocal(new PolicyQuery("buy_ads")).RequiresApproval);
        var at = engine.EvaluateLocal(new PolicyQuery("buy_ads") { CostUsd = 100m });
        Assert.True(at.RequiresApproval);
        Assert.Contains("100 USD", at.Reasons[0], StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromMinutes(10), at.Timeout);
        Assert.Equal(["manager@company.com"], at.Approvers);
    }

    [Fact]
    public async Task Configure_replaces_the_whole_policy_and_without_a_server_only_local_rules_apply()
    {
        var engine = new PolicyEngine(new ApprovalPolicy { ApprovalRequiredActions = ["delete_user"], ApprovalCostThresholdUsd = 1m });
        engine.Configure(approvalRequiredActions: ["modify_prices"]);

        Assert.False((await engine.EvaluateAsync(new PolicyQuery("delete_user") { CostUsd = 5m }, TestContext.Current.CancellationToken)).RequiresApproval);
        Assert.True((await engine.EvaluateAsync(new PolicyQuery("modify_prices"), TestContext.Current.CancellationToken)).RequiresApproval);
        Assert.Null(engine.Policy.ApprovalCostThresholdUsd);
    }
}
