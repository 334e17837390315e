using System.Globalization;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Policy;

namespace AgentSentinel.Core.Tests.Unit;

public sealed class PolicyEvaluatorTests
{
    private static PolicyCheck Check(string action = "read_report", decimal? cost = null, RiskLevel? risk = null, Priority? priority = null, string? agentId = null) =>
        new(action, cost, agentId, null, risk, priority);

    [Fact]
    public void An_empty_policy_requires_no_approval()
    {
        var decision = PolicyEvaluator.Evaluate(new PolicyOptions(), Check("transfer_funds", 1_000_000m, RiskLevel.Critical, Priority.Critical));

        Assert.False(decision.RequiresApproval);
        Assert.Empty(decision.Reasons);
    }

    [Fact]
    public void A_listed_action_requires_approval_and_says_so()
    {
        var policy = new PolicyOptions { ApprovalRequiredActions = ["delete_user", "transfer_*"] };

        var decision = PolicyEvaluator.Evaluate(policy, Check("delete_user"));

        Assert.True(decision.RequiresApproval);
        Assert.Equal("action 'delete_user' is on the list of actions that require approval", Assert.Single(decision.Reasons));
    }

    [Fact]
    public void An_action_matching_a_listed_glob_requires_approval_and_names_the_pattern()
    {
        var policy = new PolicyOptions { ApprovalRequiredActions = ["delete_user", "transfer_*"] };

        var decision = PolicyEvaluator.Evaluate(policy, Check("transfer_funds"));

        Assert.True(decision.RequiresApproval);
        Assert.Equal("action 'transfer_funds' matches 'transfer_*', which requires approval", Assert.Single(decision.Reasons));
    }

    [Fact]
    public void An_action_listed_in_another_case_still_requires_approval()
    {
        var policy = new PolicyOptions { ApprovalRequiredActions = ["Delete_User"] };

        Assert.True(PolicyEvaluator.Evaluate(policy, Check("delete_user")).RequiresApproval);
    }

    [Theory]
    [InlineData("delete_users")]
    [InlineData("undelete_user")]
    [InlineData("refund_transfer")]
    public void An_action_not_on_the_list_requires_no_approval(string action)
    {
        var policy = new PolicyOptions { ApprovalRequiredActions = ["delete_user", "transfer_*"] };

        var decision = PolicyEvaluator.Evaluate(policy, Check(action));

        Assert.False(decision.RequiresApproval);
        Assert.Empty(decision.Reasons);
    }

    [Fact]
    public void Only_the_first_matching_list_entry_gives_a_reason()
    {
        var policy = new PolicyOptions { ApprovalRequiredActions = ["transfer_*", "*_funds", "transfer_funds"] };

        var reason = Assert.Single(PolicyEvaluator.Evaluate(policy, Check("transfer_funds")).Reasons);

        Assert.Contains("'transfer_*'", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cost_equal_to_the_threshold_requires_approval()
    {
        var policy = new PolicyOptions { ApprovalCostThresholdUsd = 100m };

        var decision = PolicyEvaluator.Evaluate(policy, Check(cost: 100m));

        Assert.True(decision.RequiresApproval);
        Assert.Equal("estimated cost 100 USD is at or above the threshold of 100 USD", Assert.Single(decision.Reasons));
    }

    [Fact]
    public void A_cost_above_the_threshold_requires_approval()
    {
        var policy = new PolicyOptions { ApprovalCostThresholdUsd = 100m };

        Assert.True(PolicyEvaluator.Evaluate(policy, Check(cost: 100.01m)).RequiresApproval);
    }

    [Fact]
    public void A_cost_below_the_threshold_requires_no_approval()
    {
        var policy = new PolicyOptions { ApprovalCostThresholdUsd = 100m };

        var decision = PolicyEvaluator.Evaluate(policy, Check(cost: 99.99m));

        Assert.False(decision.RequiresApproval);
        Assert.Empty(decision.Reasons);
    }

    [Fact]
    public void A_zero_threshold_requires_approval_for_any_stated_cost_including_zero()
    {
        var policy = new PolicyOptions { ApprovalCostThresholdUsd = 0m };

        Assert.True(PolicyEvaluator.Evaluate(policy, Check(cost: 0m)).RequiresApproval);
    }

    [Fact]
    public void A_request_with_no_cost_is_not_caught_by_the_threshold()
    {
        var policy = new PolicyOptions { ApprovalCostThresholdUsd = 0m };

        Assert.False(PolicyEvaluator.Evaluate(policy, Check(cost: null)).RequiresApproval);
    }

    [Fact]
    public void Without_a_threshold_no_cost_requires_approval()
    {
        Assert.False(PolicyEvaluator.Evaluate(new PolicyOptions { ApprovalCostThresholdUsd = null }, Check(cost: 1_000_000_000m)).RequiresApproval);
    }

    [Fact]
    public void The_cost_reason_is_written_in_invariant_culture()
    {
        var policy = new PolicyOptions { ApprovalCostThresholdUsd = 99.5m };
        var commaCulture = (CultureInfo)CultureInfo.InvariantCulture.Clone();
        commaCulture.NumberFormat.NumberDecimalSeparator = ",";
        var previous = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = commaCulture;
        try
        {
            var reason = Assert.Single(PolicyEvaluator.Evaluate(policy, Check(cost: 1234.56m)).Reasons);

            Assert.Equal("estimated cost 1234.56 USD is at or above the threshold of 99.5 USD", reason);
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
    }

    [Theory]
    [InlineData(RiskLevel.Critical, true)]
    [InlineData(RiskLevel.High, true)]
    [InlineData(RiskLevel.Medium, false)]
    [InlineData(RiskLevel.Low, false)]
    [InlineData(RiskLevel.Minimal, false)]
    public void Listed_risk_levels_require_approval(RiskLevel risk, bool expected)
    {
        var policy = new PolicyOptions { ApprovalRequiredRiskLevels = ["critical", "high"] };

        var decision = PolicyEvaluator.Evaluate(policy, Check(risk: risk));

        Assert.Equal(expected, decision.RequiresApproval);
        if (expected)
        {
            Assert.Equal($"risk level '{risk.ToWire()}' requires approval", Assert.Single(decision.Reasons));
        }
        else
        {
            Assert.Empty(decision.Reasons);
        }
    }

    [Fact]
    public void Risk_levels_in_the_policy_are_compared_ignoring_case()
    {
        var policy = new PolicyOptions { ApprovalRequiredRiskLevels = ["HIGH"] };

        Assert.True(PolicyEvaluator.Evaluate(policy, Check(risk: RiskLevel.High)).RequiresApproval);
    }

    [Fact]
    public void A_request_without_a_risk_level_is_not_caught_by_the_risk_rule()
    {
        var policy = new PolicyOptions { ApprovalRequiredRiskLevels = ["critical", "high", "medium", "low", "minimal"] };

        Assert.False(PolicyEvaluator.Evaluate(policy, Check(risk: null)).RequiresApproval);
    }

    [Fact]
    public void Every_rule_that_applies_gives_its_own_reason_in_order()
    {
        var policy = new PolicyOptions
        {
            ApprovalRequiredActions = ["transfer_*"],
            ApprovalCostThresholdUsd = 50m,
            ApprovalRequiredRiskLevels = ["high"],
        };

        var decision = PolicyEvaluator.Evaluate(policy, Check("transfer_funds", 75m, RiskLevel.High));

        Assert.True(decision.RequiresApproval);
        Assert.Equal(3, decision.Reasons.Count);
        Assert.StartsWith("action 'transfer_funds'", decision.Reasons[0], StringComparison.Ordinal);
        Assert.StartsWith("estimated cost 75 USD", decision.Reasons[1], StringComparison.Ordinal);
        Assert.StartsWith("risk level 'high'", decision.Reasons[2], StringComparison.Ordinal);
    }

    [Fact]
    public void The_decision_carries_the_default_approvers()
    {
        var policy = new PolicyOptions { DefaultApprovers = ["U0ALICE", "bob@example.com"] };

        Assert.Equal(["U0ALICE", "bob@example.com"], PolicyEvaluator.Evaluate(policy, Check()).Approvers);
    }

    [Theory]
    [InlineData(Priority.Critical, 600)]
    [InlineData(Priority.High, 1800)]
    [InlineData(Priority.Medium, 3600)]
    [InlineData(Priority.Low, 14400)]
    public void The_default_timeout_depends_on_the_priority(Priority priority, int expected)
    {
        var policy = new PolicyOptions();

        Assert.Equal(expected, PolicyEvaluator.DefaultTimeout(policy, priority));
        Assert.Equal(expected, PolicyEvaluator.Evaluate(policy, Check(priority: priority)).TimeoutSeconds);
    }

    [Fact]
    public void A_check_without_a_priority_gets_the_medium_timeout()
    {
        var policy = new PolicyOptions { DefaultTimeoutSeconds = new PriorityTimeouts { Critical = 11, High = 22, Medium = 33, Low = 44 } };

        Assert.Equal(33, PolicyEvaluator.Evaluate(policy, Check(priority: null)).TimeoutSeconds);
    }

    [Fact]
    public void The_default_timeout_is_raised_to_the_minimum()
    {
        var policy = new PolicyOptions { MinTimeoutSeconds = 60, DefaultTimeoutSeconds = new PriorityTimeouts { Critical = 10 } };

        Assert.Equal(60, PolicyEvaluator.DefaultTimeout(policy, Priority.Critical));
    }

    [Fact]
    public void The_default_timeout_is_lowered_to_the_maximum()
    {
        var policy = new PolicyOptions { MaxTimeoutSeconds = 7200, DefaultTimeoutSeconds = new PriorityTimeouts { Low = 86400 } };

        Assert.Equal(7200, PolicyEvaluator.DefaultTimeout(policy, Priority.Low));
        Assert.Equal(7200, PolicyEvaluator.Evaluate(policy, Check(priority: Priority.Low)).TimeoutSeconds);
    }

    [Fact]
    public void The_default_policy_is_valid()
    {
        Assert.Empty(PolicyEvaluator.Validate(new PolicyOptions()));
    }

    [Fact]
    public void A_full_policy_is_valid()
    {
        var policy = new PolicyOptions
        {
            ApprovalRequiredActions = ["transfer_*", "delete_user"],
            ApprovalCostThresholdUsd = 0m,
            ApprovalRequiredRiskLevels = ["critical", "HIGH"],
            DefaultApprovers = ["U0ALICE", "bob@example.com"],
            MinTimeoutSeconds = 1,
            MaxTimeoutSeconds = 365 * 24 * 3600,
        };

        Assert.Empty(PolicyEvaluator.Validate(policy));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void A_minimum_timeout_below_one_second_is_refused(int min)
    {
        var policy = new PolicyOptions { MinTimeoutSeconds = min };

        var error = Assert.Single(PolicyEvaluator.Validate(policy));
        Assert.StartsWith("policy.min_timeout_seconds:", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_maximum_below_the_minimum_is_refused()
    {
        var policy = new PolicyOptions
        {
            MinTimeoutSeconds = 100,
            MaxTimeoutSeconds = 50,
            DefaultTimeoutSeconds = new PriorityTimeouts { Critical = 100, High = 100, Medium = 100, Low = 100 },
        };

        Assert.Contains(PolicyEvaluator.Validate(policy), e => e.StartsWith("policy.max_timeout_seconds: must not be less", StringComparison.Ordinal));
    }

    [Fact]
    public void A_maximum_above_one_year_is_refused()
    {
        Assert.Empty(PolicyEvaluator.Validate(new PolicyOptions { MaxTimeoutSeconds = 31_536_000 }));

        var error = Assert.Single(PolicyEvaluator.Validate(new PolicyOptions { MaxTimeoutSeconds = 31_536_001 }));
        Assert.StartsWith("policy.max_timeout_seconds:", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_default_timeout_outside_min_and_max_is_refused_naming_the_priority()
    {
        var policy = new PolicyOptions
        {
            MinTimeoutSeconds = 60,
            MaxTimeoutSeconds = 3600,
            DefaultTimeoutSeconds = new PriorityTimeouts { Critical = 59, High = 60, Medium = 3600, Low = 3601 },
        };

        var errors = PolicyEvaluator.Validate(policy);

        Assert.Equal(2, errors.Count);
        Assert.StartsWith("policy.default_timeout_seconds.critical: 59 is outside", errors[0], StringComparison.Ordinal);
        Assert.StartsWith("policy.default_timeout_seconds.low: 3601 is outside", errors[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_default_timeouts_are_refused()
    {
        var policy = new PolicyOptions { DefaultTimeoutSeconds = null! };

        Assert.Equal("policy.default_timeout_seconds: required.", Assert.Single(PolicyEvaluator.Validate(policy)));
    }

    [Fact]
    public void A_negative_cost_threshold_is_refused()
    {
        var error = Assert.Single(PolicyEvaluator.Validate(new PolicyOptions { ApprovalCostThresholdUsd = -0.01m }));

        Assert.StartsWith("policy.approval_cost_threshold_usd:", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Blank_or_overlong_action_patterns_are_refused()
    {
        var policy = new PolicyOptions { ApprovalRequiredActions = ["ok", "", new string('a', 200), new string('a', 201)] };

        var errors = PolicyEvaluator.Validate(policy);

        Assert.Equal(2, errors.Count);
        Assert.All(errors, e => Assert.StartsWith("policy.approval_required_actions:", e, StringComparison.Ordinal));
    }

    [Fact]
    public void Unknown_risk_levels_are_refused_by_name()
    {
        var error = Assert.Single(PolicyEvaluator.Validate(new PolicyOptions { ApprovalRequiredRiskLevels = ["high", "severe"] }));

        Assert.StartsWith("policy.approval_required_risk_levels: 'severe'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Blank_or_overlong_default_approvers_are_refused()
    {
        Assert.Empty(PolicyEvaluator.Validate(new PolicyOptions { DefaultApprovers = [new string('a', 254)] }));

        var blank = Assert.Single(PolicyEvaluator.Validate(new PolicyOptions { DefaultApprovers = ["U0ALICE", " "] }));
        var overlong = Assert.Single(PolicyEvaluator.Validate(new PolicyOptions { DefaultApprovers = [new string('a', 255)] }));
        Assert.StartsWith("policy.default_approvers:", blank, StringComparison.Ordinal);
        Assert.StartsWith("policy.default_approvers:", overlong, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(" high")]
    [InlineData("high ")]
    public void A_risk_level_the_validator_accepts_is_one_the_evaluator_applies(string configured)
    {
        // Either the policy is refused, or it does what it says: a policy that passes validation but silently never
        // asks for approval on high-risk actions would defeat its purpose.
        var policy = new PolicyOptions { ApprovalRequiredRiskLevels = [configured] };

        var refused = PolicyEvaluator.Validate(policy).Count > 0;
        var applied = PolicyEvaluator.Evaluate(policy, Check(risk: RiskLevel.High)).RequiresApproval;

        Assert.True(refused || applied, $"'{configured}' passes validation but does not make high-risk actions require approval.");
    }
}
