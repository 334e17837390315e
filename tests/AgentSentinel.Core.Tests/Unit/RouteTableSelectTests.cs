using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Routing;

namespace AgentSentinel.Core.Tests.Unit;

public sealed class RouteTableSelectTests
{
    private static RouteDefinition Route(string name, RouteMatch? match = null) =>
        new() { Name = name, Match = match, Slack = new ChannelTarget { Channel = "C0" + name.ToUpperInvariant().Replace("-", "", StringComparison.Ordinal) } };

    private static RouteDefinition Default() => Route("default");

    [Fact]
    public void First_matching_route_wins()
    {
        List<RouteDefinition> routes =
        [
            Route("payments", new RouteMatch { Actions = ["transfer_*"] }),
            Route("critical", new RouteMatch { Priorities = ["critical"] }),
            Default(),
        ];

        var selected = RouteTable.Select(routes, "transfer_funds", "agent-1", Priority.Critical, RiskLevel.High);

        Assert.Same(routes[0], selected);
    }

    [Fact]
    public void Order_decides_when_two_routes_both_match()
    {
        List<RouteDefinition> routes =
        [
            Route("critical", new RouteMatch { Priorities = ["critical"] }),
            Route("payments", new RouteMatch { Actions = ["transfer_*"] }),
            Default(),
        ];

        var selected = RouteTable.Select(routes, "transfer_funds", "agent-1", Priority.Critical, RiskLevel.High);

        Assert.Same(routes[0], selected);
    }

    [Fact]
    public void A_later_route_is_chosen_when_the_earlier_ones_do_not_match()
    {
        List<RouteDefinition> routes =
        [
            Route("payments", new RouteMatch { Actions = ["transfer_*"] }),
            Route("critical", new RouteMatch { Priorities = ["critical"] }),
            Default(),
        ];

        var selected = RouteTable.Select(routes, "delete_user", "agent-1", Priority.Critical, null);

        Assert.Same(routes[1], selected);
    }

    [Fact]
    public void The_default_route_takes_what_no_other_route_matches()
    {
        List<RouteDefinition> routes =
        [
            Route("payments", new RouteMatch { Actions = ["transfer_*"] }),
            Default(),
        ];

        var selected = RouteTable.Select(routes, "delete_user", null, Priority.Low, null);

        Assert.Same(routes[1], selected);
    }

    [Fact]
    public void An_empty_match_object_is_a_default_route()
    {
        var route = Route("catch-all", new RouteMatch());

        Assert.True(route.IsDefault);
        Assert.Same(route, RouteTable.Select([route], "anything", null, Priority.Medium, null));
    }

    [Fact]
    public void A_route_with_a_condition_is_not_a_default_route()
    {
        Assert.False(Route("x", new RouteMatch { Agents = ["a"] }).IsDefault);
        Assert.True(Route("y").IsDefault);
    }

    [Fact]
    public void No_route_is_selected_when_nothing_matches_and_there_is_no_default()
    {
        List<RouteDefinition> routes = [Route("payments", new RouteMatch { Actions = ["transfer_*"] })];

        Assert.Null(RouteTable.Select(routes, "delete_user", null, Priority.Medium, null));
    }

    [Fact]
    public void No_route_is_selected_from_an_empty_table()
    {
        Assert.Null(RouteTable.Select([], "delete_user", null, Priority.Medium, null));
    }

    [Theory]
    [InlineData(Priority.Critical, true)]
    [InlineData(Priority.High, true)]
    [InlineData(Priority.Medium, false)]
    [InlineData(Priority.Low, false)]
    public void A_priority_condition_matches_any_listed_priority(Priority priority, bool expected)
    {
        var route = Route("urgent", new RouteMatch { Priorities = ["critical", "high"] });

        Assert.Equal(expected, RouteTable.Matches(route, "x", null, priority, null));
    }

    [Fact]
    public void Priorities_in_a_route_are_compared_ignoring_case()
    {
        var route = Route("urgent", new RouteMatch { Priorities = ["CRITICAL"] });

        Assert.True(RouteTable.Matches(route, "x", null, Priority.Critical, null));
        Assert.False(RouteTable.Matches(route, "x", null, Priority.High, null));
    }

    [Theory]
    [InlineData(RiskLevel.Critical, true)]
    [InlineData(RiskLevel.High, true)]
    [InlineData(RiskLevel.Medium, false)]
    [InlineData(RiskLevel.Minimal, false)]
    public void A_risk_condition_matches_any_listed_risk_level(RiskLevel risk, bool expected)
    {
        var route = Route("risky", new RouteMatch { RiskLevels = ["critical", "High"] });

        Assert.Equal(expected, RouteTable.Matches(route, "x", null, Priority.Medium, risk));
    }

    [Fact]
    public void A_route_needing_a_risk_level_does_not_match_a_request_without_one()
    {
        List<RouteDefinition> routes =
        [
            Route("risky", new RouteMatch { RiskLevels = ["critical", "high", "medium", "low", "minimal"] }),
            Default(),
        ];

        Assert.False(RouteTable.Matches(routes[0], "x", null, Priority.Critical, null));
        Assert.Same(routes[1], RouteTable.Select(routes, "x", null, Priority.Critical, null));
    }

    [Theory]
    [InlineData("transfer_funds", true)]
    [InlineData("TRANSFER_FUNDS", true)]
    [InlineData("delete_user", true)]
    [InlineData("refund_transfer", false)]
    [InlineData("delete_users", false)]
    public void An_action_condition_matches_names_and_globs(string action, bool expected)
    {
        var route = Route("sensitive", new RouteMatch { Actions = ["transfer_*", "delete_user"] });

        Assert.Equal(expected, RouteTable.Matches(route, action, null, Priority.Medium, null));
    }

    [Theory]
    [InlineData("billing-eu", true)]
    [InlineData("billing-1", true)]
    [InlineData("ops-bot", true)]
    [InlineData("billing", false)]
    [InlineData("ops-bot-2", false)]
    [InlineData(null, false)]
    public void An_agent_condition_matches_ids_and_globs_and_never_a_missing_agent(string? agentId, bool expected)
    {
        var route = Route("billing", new RouteMatch { Agents = ["billing-*", "ops-bot"] });

        Assert.Equal(expected, RouteTable.Matches(route, "x", agentId, Priority.Medium, null));
    }

    [Fact]
    public void Every_condition_of_a_route_must_hold()
    {
        var route = Route("payments-critical", new RouteMatch
        {
            Priorities = ["critical"],
            RiskLevels = ["high"],
            Actions = ["transfer_*"],
            Agents = ["billing-*"],
        });

        Assert.True(RouteTable.Matches(route, "transfer_funds", "billing-1", Priority.Critical, RiskLevel.High));
        Assert.False(RouteTable.Matches(route, "transfer_funds", "billing-1", Priority.High, RiskLevel.High));
        Assert.False(RouteTable.Matches(route, "transfer_funds", "billing-1", Priority.Critical, RiskLevel.Low));
        Assert.False(RouteTable.Matches(route, "delete_user", "billing-1", Priority.Critical, RiskLevel.High));
        Assert.False(RouteTable.Matches(route, "transfer_funds", "ops-1", Priority.Critical, RiskLevel.High));
        Assert.False(RouteTable.Matches(route, "transfer_funds", null, Priority.Critical, RiskLevel.High));
    }

    [Fact]
    public void Empty_condition_lists_do_not_restrict_a_route()
    {
        var route = Route("payments", new RouteMatch { Priorities = [], RiskLevels = [], Actions = ["transfer_*"], Agents = [] });

        Assert.True(RouteTable.Matches(route, "transfer_funds", null, Priority.Low, null));
    }
}
