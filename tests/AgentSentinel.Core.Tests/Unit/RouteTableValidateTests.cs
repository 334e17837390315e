using AgentSentinel.Core.Routing;

namespace AgentSentinel.Core.Tests.Unit;

public sealed class RouteTableValidateTests
{
    /// <summary>The example from the design (section 6).</summary>
    private static List<RouteDefinition> FullExample() =>
    [
        new RouteDefinition
        {
            Name = "payments-critical",
            Match = new RouteMatch { Priorities = ["critical"], RiskLevels = [], Actions = ["transfer_*"], Agents = [] },
            Slack = new ChannelTarget { Channel = "C0PAYCRIT" },
            Teams = new ChannelTarget { Channel = "19:abc@thread.tacv2" },
            Approvers = ["U0ALICE", "bob@example.com"],
            Mention = "here",
            RemindersMinutes = [5],
            Escalation = [new EscalationLevel { AfterMinutes = 10, Slack = new ChannelTarget { Channel = "C0SECOPS" }, Mention = ["U0CISO"] }],
        },
        new RouteDefinition { Name = "default", Slack = new ChannelTarget { Channel = "C0APPROVALS" } },
    ];

    private static RouteDefinition Named(string name, RouteMatch? match = null) => new() { Name = name, Match = match };

    private static RouteMatch SomeMatch() => new() { Actions = ["transfer_*"] };

    /// <summary>Validates one non-default route followed by a default route, so only the first route's problems show.</summary>
    private static IReadOnlyList<string> ValidateFirst(RouteDefinition route) => RouteTable.Validate([route, Named("default")]);

    private static string SingleErrorStartingWith(IReadOnlyList<string> errors, string path)
    {
        var error = Assert.Single(errors);
        Assert.StartsWith(path + ":", error, StringComparison.Ordinal);
        return error;
    }

    [Fact]
    public void A_valid_full_example_produces_no_errors()
    {
        Assert.Empty(RouteTable.Validate(FullExample()));
    }

    [Fact]
    public void An_empty_route_list_is_valid()
    {
        Assert.Empty(RouteTable.Validate([]));
    }

    [Fact]
    public void A_table_with_no_default_route_is_valid()
    {
        Assert.Empty(RouteTable.Validate([Named("payments", SomeMatch())]));
    }

    [Fact]
    public void A_default_route_that_is_not_last_is_refused()
    {
        var errors = RouteTable.Validate([Named("default"), Named("payments", SomeMatch()), Named("ops", new RouteMatch { Agents = ["ops-*"] })]);

        var error = SingleErrorStartingWith(errors, "routes[0]");
        Assert.Contains("must be the last one", error, StringComparison.Ordinal);
        Assert.Contains("2 route(s)", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_route_whose_match_object_is_empty_counts_as_a_default_and_must_be_last()
    {
        var errors = RouteTable.Validate([Named("catch-all", new RouteMatch()), Named("payments", SomeMatch())]);

        SingleErrorStartingWith(errors, "routes[0]");
    }

    [Fact]
    public void Two_default_routes_are_refused()
    {
        var errors = RouteTable.Validate([Named("default-1"), Named("default-2")]);

        var error = SingleErrorStartingWith(errors, "routes[0]");
        Assert.Contains("must be the last one", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Duplicate_names_are_refused_on_the_later_route()
    {
        var errors = RouteTable.Validate([Named("payments", SomeMatch()), Named("ops", SomeMatch()), Named("payments")]);

        var error = SingleErrorStartingWith(errors, "routes[2].name");
        Assert.Contains("'payments'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Names_that_differ_only_in_case_are_duplicates()
    {
        var errors = RouteTable.Validate([Named("Payments", SomeMatch()), Named("payments")]);

        SingleErrorStartingWith(errors, "routes[1].name");
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void A_route_without_a_name_is_refused(string name)
    {
        SingleErrorStartingWith(ValidateFirst(Named(name, SomeMatch())), "routes[0].name");
    }

    [Fact]
    public void A_name_longer_than_100_characters_is_refused()
    {
        Assert.Empty(ValidateFirst(Named(new string('n', 100), SomeMatch())));
        SingleErrorStartingWith(ValidateFirst(Named(new string('n', 101), SomeMatch())), "routes[0].name");
    }

    [Fact]
    public void A_missing_route_is_refused()
    {
        var errors = RouteTable.Validate([null!, Named("default")]);

        Assert.Equal("routes[0]: a route must be an object.", Assert.Single(errors));
    }

    [Fact]
    public void More_than_200_routes_are_refused()
    {
        var routes = Enumerable.Range(0, RouteTable.MaxRoutes + 1).Select(i => Named($"r{i}", new RouteMatch { Agents = [$"a{i}"] })).ToList();

        Assert.Equal(200, RouteTable.MaxRoutes);
        Assert.Empty(RouteTable.Validate([.. routes.Take(200)]));
        var error = Assert.Single(RouteTable.Validate(routes));
        Assert.StartsWith("routes:", error, StringComparison.Ordinal);
        Assert.Contains("201", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("C0123ABCD")]
    [InlineData("G0123")]
    [InlineData("D0AB")]
    [InlineData("C12")]
    public void Slack_channel_ids_are_accepted(string channel)
    {
        Assert.Empty(ValidateFirst(new RouteDefinition { Name = "r", Match = SomeMatch(), Slack = new ChannelTarget { Channel = channel } }));
    }

    [Theory]
    [InlineData("#payments")]
    [InlineData("payments")]
    [InlineData("c0123abcd")]
    [InlineData("U0123ABCD")]
    [InlineData("C1")]
    [InlineData("C0123 ABCD")]
    [InlineData("")]
    public void A_bad_slack_channel_is_refused_naming_its_path(string channel)
    {
        List<RouteDefinition> routes =
        [
            new RouteDefinition { Name = "ok", Match = SomeMatch(), Slack = new ChannelTarget { Channel = "C0OK" } },
            new RouteDefinition { Name = "bad", Match = new RouteMatch { Agents = ["x"] }, Slack = new ChannelTarget { Channel = channel } },
            Named("default"),
        ];

        var error = SingleErrorStartingWith(RouteTable.Validate(routes), "routes[1].slack.channel");
        Assert.Contains($"'{channel}'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_long_bad_channel_is_quoted_truncated()
    {
        var channel = "#" + new string('x', 300);

        var error = SingleErrorStartingWith(ValidateFirst(new RouteDefinition { Name = "r", Match = SomeMatch(), Slack = new ChannelTarget { Channel = channel } }), "routes[0].slack.channel");

        Assert.DoesNotContain(channel, error, StringComparison.Ordinal);
        Assert.Contains("...", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("19:abc@thread.tacv2")]
    [InlineData("19:0123456789abcdef@thread.skype")]
    [InlineData("19:meeting_x@thread.v2")]
    [InlineData("a:1AbCdEf")]
    public void Teams_channel_ids_are_accepted(string channel)
    {
        Assert.Empty(ValidateFirst(new RouteDefinition { Name = "r", Match = SomeMatch(), Teams = new ChannelTarget { Channel = channel } }));
    }

    [Theory]
    [InlineData("General")]
    [InlineData("19:abc")]
    [InlineData("19:abc@thread.tacv3")]
    [InlineData("19:a b@thread.tacv2")]
    [InlineData("C0123ABCD")]
    public void A_bad_teams_channel_is_refused_naming_its_path(string channel)
    {
        var error = SingleErrorStartingWith(
            ValidateFirst(new RouteDefinition { Name = "r", Match = SomeMatch(), Teams = new ChannelTarget { Channel = channel } }),
            "routes[0].teams.channel");
        Assert.Contains($"'{channel}'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_route_without_channels_is_not_refused()
    {
        // The web console needs no chat workspace.
        Assert.Empty(ValidateFirst(new RouteDefinition { Name = "r", Match = SomeMatch(), Slack = new ChannelTarget(), Teams = null }));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("here")]
    [InlineData("channel")]
    public void Mention_may_be_here_channel_or_empty(string? mention)
    {
        Assert.Empty(ValidateFirst(new RouteDefinition { Name = "r", Match = SomeMatch(), Mention = mention }));
    }

    [Theory]
    [InlineData("everyone")]
    [InlineData("@here")]
    [InlineData("U0ALICE")]
    public void A_bad_mention_is_refused_naming_its_path(string mention)
    {
        var error = SingleErrorStartingWith(ValidateFirst(new RouteDefinition { Name = "r", Match = SomeMatch(), Mention = mention }), "routes[0].mention");
        Assert.Contains($"'{mention}'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Approvers_must_be_1_to_254_characters()
    {
        var route = new RouteDefinition { Name = "r", Match = SomeMatch(), Approvers = ["U0ALICE", " ", new string('a', 254), new string('a', 255)] };

        var errors = ValidateFirst(route);

        Assert.Equal(2, errors.Count);
        Assert.StartsWith("routes[0].approvers[1]:", errors[0], StringComparison.Ordinal);
        Assert.StartsWith("routes[0].approvers[3]:", errors[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Reminder_bounds_are_1_to_10080_minutes()
    {
        var route = new RouteDefinition { Name = "r", Match = SomeMatch(), RemindersMinutes = [1, 0, 10080, 10081, -5] };

        var errors = ValidateFirst(route);

        Assert.Equal(3, errors.Count);
        Assert.StartsWith("routes[0].reminders_minutes[1]:", errors[0], StringComparison.Ordinal);
        Assert.StartsWith("routes[0].reminders_minutes[3]:", errors[1], StringComparison.Ordinal);
        Assert.StartsWith("routes[0].reminders_minutes[4]:", errors[2], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(10081)]
    public void An_escalation_delay_out_of_bounds_is_refused(int afterMinutes)
    {
        var route = new RouteDefinition { Name = "r", Match = SomeMatch(), Escalation = [new EscalationLevel { AfterMinutes = afterMinutes }] };

        var error = SingleErrorStartingWith(ValidateFirst(route), "routes[0].escalation[0].after_minutes");
        Assert.Contains("between 1 and 10080", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Escalation_delays_at_the_bounds_are_accepted()
    {
        var route = new RouteDefinition
        {
            Name = "r",
            Match = SomeMatch(),
            Escalation = [new EscalationLevel { AfterMinutes = 1 }, new EscalationLevel { AfterMinutes = 10080 }],
        };

        Assert.Empty(ValidateFirst(route));
    }

    [Theory]
    [InlineData(10, 10)]
    [InlineData(10, 5)]
    public void Escalation_levels_must_come_in_increasing_order(int first, int second)
    {
        var route = new RouteDefinition
        {
            Name = "r",
            Match = SomeMatch(),
            Escalation = [new EscalationLevel { AfterMinutes = first }, new EscalationLevel { AfterMinutes = second }],
        };

        var error = SingleErrorStartingWith(ValidateFirst(route), "routes[0].escalation[1].after_minutes");
        Assert.Contains("increasing order", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Each_escalation_level_is_compared_with_the_latest_before_it()
    {
        var route = new RouteDefinition
        {
            Name = "r",
            Match = SomeMatch(),
            Escalation = [new EscalationLevel { AfterMinutes = 10 }, new EscalationLevel { AfterMinutes = 30 }, new EscalationLevel { AfterMinutes = 20 }, new EscalationLevel { AfterMinutes = 40 }],
        };

        SingleErrorStartingWith(ValidateFirst(route), "routes[0].escalation[2].after_minutes");
    }

    [Fact]
    public void A_bad_escalation_channel_is_refused_naming_its_path()
    {
        var route = new RouteDefinition
        {
            Name = "r",
            Match = SomeMatch(),
            Escalation =
            [
                new EscalationLevel { AfterMinutes = 5, Slack = new ChannelTarget { Channel = "C0SECOPS" } },
                new EscalationLevel { AfterMinutes = 10, Slack = new ChannelTarget { Channel = "#secops" }, Teams = new ChannelTarget { Channel = "secops" } },
            ],
        };

        var errors = ValidateFirst(route);

        Assert.Equal(2, errors.Count);
        Assert.StartsWith("routes[0].escalation[1].slack.channel:", errors[0], StringComparison.Ordinal);
        Assert.StartsWith("routes[0].escalation[1].teams.channel:", errors[1], StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_escalation_level_is_refused_naming_its_path()
    {
        var route = new RouteDefinition { Name = "r", Match = SomeMatch(), Escalation = [null!] };

        Assert.Equal("routes[0].escalation[0]: an escalation level must be an object.", Assert.Single(ValidateFirst(route)));
    }

    [Fact]
    public void Unknown_priorities_and_risk_levels_are_refused_naming_their_paths()
    {
        var route = Named("r", new RouteMatch { Priorities = ["critical", "urgent"], RiskLevels = ["severe"] });

        var errors = ValidateFirst(route);

        Assert.Equal(2, errors.Count);
        Assert.StartsWith("routes[0].match.priorities:", errors[0], StringComparison.Ordinal);
        Assert.Contains("'urgent'", errors[0], StringComparison.Ordinal);
        Assert.StartsWith("routes[0].match.risk_levels:", errors[1], StringComparison.Ordinal);
        Assert.Contains("'severe'", errors[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Priorities_and_risk_levels_are_accepted_in_any_case()
    {
        Assert.Empty(ValidateFirst(Named("r", new RouteMatch { Priorities = ["CRITICAL", "High"], RiskLevels = ["Minimal"] })));
    }

    [Fact]
    public void Blank_or_overlong_action_and_agent_patterns_are_refused_naming_their_paths()
    {
        var route = Named("r", new RouteMatch { Actions = ["transfer_*", " "], Agents = [new string('a', 201)] });

        var errors = ValidateFirst(route);

        Assert.Equal(2, errors.Count);
        Assert.StartsWith("routes[0].match.actions:", errors[0], StringComparison.Ordinal);
        Assert.StartsWith("routes[0].match.agents:", errors[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Every_problem_is_reported_and_every_message_names_a_field_path()
    {
        List<RouteDefinition> routes =
        [
            new RouteDefinition { Name = "", Slack = new ChannelTarget { Channel = "#x" } },
            new RouteDefinition
            {
                Name = "b",
                Match = new RouteMatch { Priorities = ["urgent"] },
                Teams = new ChannelTarget { Channel = "nope" },
                Mention = "all",
                RemindersMinutes = [0],
                Escalation = [new EscalationLevel { AfterMinutes = 0 }],
            },
            new RouteDefinition { Name = "b" },
        ];

        var errors = RouteTable.Validate(routes);

        string[] expectedPaths =
        [
            "routes[0].name:",
            "routes[0]:",
            "routes[0].slack.channel:",
            "routes[1].match.priorities:",
            "routes[1].teams.channel:",
            "routes[1].mention:",
            "routes[1].reminders_minutes[0]:",
            "routes[1].escalation[0].after_minutes:",
            "routes[2].name:",
        ];
        Assert.Equal(expectedPaths.Length, errors.Count);
        for (var i = 0; i < expectedPaths.Length; i++)
        {
            Assert.StartsWith(expectedPaths[i], errors[i], StringComparison.Ordinal);
        }
    }
}
