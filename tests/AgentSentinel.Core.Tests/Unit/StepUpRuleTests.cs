using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Routing;

namespace AgentSentinel.Core.Tests.Unit;

/// <summary>The step-up part of the decision rule: a route's <c>RequireRecentSignInMinutes</c>.</summary>
public sealed class StepUpRuleTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 10, 0, 0, TimeSpan.Zero);
    private static readonly ApproverIdentity Alice = new("oidc_alice", "Alice", "alice@example.com", IsAdmin: false);

    private static ApprovalRequest Request(int? minutes) => new()
    {
        Id = Guid.CreateVersion7(),
        ActionName = "wire_transfer",
        CreatedAt = Now.AddMinutes(-1),
        ExpiresAt = Now.AddHours(1),
        Status = ApprovalStatus.Pending,
        RoutePlan = new RouteDefinition { Name = "payments", RequireRecentSignInMinutes = minutes },
    };

    private static Decider Console(DateTimeOffset? signedInAt) => Decider.Known(Alice, Surface.Console) with { SignedInAt = signedInAt };

    [Fact]
    public void A_console_sign_in_within_the_window_may_decide()
    {
        Assert.Null(DecisionRule.Refusal(Request(15), Console(Now.AddMinutes(-15)), Now));
    }

    [Fact]
    public void A_console_sign_in_older_than_the_window_must_sign_in_again()
    {
        Assert.Equal(TransitionOutcome.RecentSignInRequired, DecisionRule.Refusal(Request(15), Console(Now.AddMinutes(-15).AddSeconds(-1)), Now));
    }

    [Fact]
    public void A_console_session_without_a_provider_sign_in_time_is_refused()
    {
        Assert.Equal(TransitionOutcome.RecentSignInRequired, DecisionRule.Refusal(Request(15), Console(null), Now));
    }

    [Theory]
    [InlineData(Surface.Slack)]
    [InlineData(Surface.Teams)]
    [InlineData(Surface.Api)]
    [InlineData(Surface.Mcp)]
    public void Other_surfaces_never_decide_a_step_up_request_even_with_a_sign_in_time(Surface surface)
    {
        var decider = Decider.Known(Alice, surface) with { SignedInAt = Now };
        Assert.Equal(TransitionOutcome.RecentSignInRequired, DecisionRule.Refusal(Request(15), decider, Now));
        // Listings still show the request to the person: they may decide it in the console.
        Assert.True(DecisionRule.MayDecide(Request(15), decider));
    }

    [Fact]
    public void Without_a_clock_every_step_up_decision_is_refused_and_other_routes_are_unaffected()
    {
        Assert.Equal(TransitionOutcome.RecentSignInRequired, DecisionRule.Refusal(Request(15), Console(Now)));
        Assert.Null(DecisionRule.Refusal(Request(null), Decider.Known(Alice, Surface.Slack)));
    }

    [Fact]
    public void Who_may_decide_is_checked_before_the_step_up()
    {
        var request = Request(15) with { Approvers = ["bob@example.com"] };
        Assert.Equal(TransitionOutcome.NotAnApprover, DecisionRule.Refusal(request, Console(null), Now));
    }

    [Fact]
    public void The_chat_refusal_links_to_the_request_in_the_console()
    {
        var request = Request(15);
        var text = DecisionTexts.For(TransitionOutcome.RecentSignInRequired, request, TransitionKind.Approve, "Slack", publicBaseUrl: "https://approvals.example.com/");
        Assert.Equal($"This request needs a recent sign-in through your company's identity provider (within 15 minutes), so it cannot be decided from Slack; nothing was changed. Decide it in the web console: https://approvals.example.com/approvals/{request.Id}", text);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1441)]
    public void A_route_step_up_outside_one_minute_to_one_day_is_refused(int minutes)
    {
        var errors = RouteTable.Validate([new RouteDefinition { Name = "p", Match = new RouteMatch { Actions = ["x"] }, RequireRecentSignInMinutes = minutes }, new RouteDefinition { Name = "default" }]);
        Assert.Contains(errors, e => e.StartsWith("routes[0].require_recent_sign_in_minutes:", StringComparison.Ordinal));
    }
}
