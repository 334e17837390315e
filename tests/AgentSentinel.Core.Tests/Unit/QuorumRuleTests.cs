using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Grants;
using AgentSentinel.Core.Routing;

namespace AgentSentinel.Core.Tests.Unit;

/// <summary>A route's quorum: its validation, how votes are counted and shown, who a vote counts for, and the grants
/// it rules out.</summary>
public sealed class QuorumRuleTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 10, 0, 0, TimeSpan.Zero);

    private static RouteDefinition Route(QuorumRule quorum, params string[] approvers) => new()
    {
        Name = "payments",
        Match = new RouteMatch { Actions = ["transfer_*"] },
        Approvers = [.. approvers],
        Quorum = quorum,
    };

    private static IReadOnlyList<string> Validate(RouteDefinition route) => RouteTable.Validate([route, new RouteDefinition { Name = "default" }]);

    private static QuorumVote Vote(string email, string? userId = null, VoteChoice choice = VoteChoice.Approve, string? notes = null) =>
        new(email, choice, email.Split('@')[0], email, userId, "key_" + email, Surface.Api, Now, notes);

    [Fact]
    public void A_quorum_with_groups_inside_the_approver_list_is_valid()
    {
        var quorum = new QuorumRule { Approvals = 2, Groups = [["alice@example.com", "U0ALICE"], ["bob@example.com"]] };
        Assert.Empty(Validate(Route(quorum, "alice@example.com", "U0ALICE", "bob@example.com")));
        // A member known only by a chat id is fine when the group's email is listed: the person is matched by email.
        Assert.Empty(Validate(Route(quorum, "alice@example.com", "bob@example.com")));
        Assert.Empty(Validate(Route(quorum)));
    }

    [Theory]
    [InlineData(0, "routes[0].quorum.approvals: must be between 1 and 20, got 0.")]
    [InlineData(21, "routes[0].quorum.approvals: must be between 1 and 20, got 21.")]
    public void Approvals_out_of_range_are_named(int approvals, string error)
    {
        Assert.Equal(error, Assert.Single(Validate(Route(new QuorumRule { Approvals = approvals }))));
    }

    [Fact]
    public void More_groups_than_approvals_empty_groups_and_members_off_the_list_are_named()
    {
        var errors = Validate(Route(new QuorumRule { Approvals = 1, Groups = [["alice@example.com"], [], ["mallory@example.com"]] }, "alice@example.com"));
        Assert.Contains(errors, e => e.StartsWith("routes[0].quorum.groups: 3 groups each need an approval, but approvals is 1", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("routes[0].quorum.groups[1]: a group must list at least one approver", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("routes[0].quorum.groups[2]: none of its members is one of the route's approvers", StringComparison.Ordinal));
        Assert.Equal(3, errors.Count);
    }

    [Fact]
    public void A_group_counts_a_vote_by_email_or_by_the_chat_id_it_was_cast_with()
    {
        var rule = new QuorumRule { Approvals = 2, Groups = [["bob@example.com", "U0SECLEAD"]] };
        Assert.False(QuorumTally.Of(rule, [Vote("alice@example.com"), Vote("carol@example.com")]).Reached);
        Assert.True(QuorumTally.Of(rule, [Vote("alice@example.com"), Vote("BOB@example.com")]).Reached);
        Assert.True(QuorumTally.Of(rule, [Vote("alice@example.com"), Vote("robert@example.com", "U0SECLEAD")]).Reached);
        // A rejection is never an approval.
        Assert.False(QuorumTally.Of(rule, [Vote("alice@example.com"), Vote("bob@example.com", choice: VoteChoice.Reject)]).Reached);
    }

    [Fact]
    public void The_summary_names_who_approved_and_who_is_awaited()
    {
        var rule = new QuorumRule { Approvals = 3, Groups = [["bob@example.com", "U0SECLEAD"]] };
        Assert.Equal("0 of 3 approvals · waiting for one of bob@example.com, U0SECLEAD and 2 more approvals", QuorumTally.Of(rule, []).Summary);
        Assert.Equal("1 of 3 approvals: alice ✓ · waiting for one of bob@example.com, U0SECLEAD and 1 more approval",
            QuorumTally.Of(rule, [Vote("alice@example.com")]).Summary);
        Assert.Equal("3 of 3 approvals: alice ✓, bob ✓, carol ✓",
            QuorumTally.Of(rule, [Vote("alice@example.com"), Vote("bob@example.com"), Vote("carol@example.com")]).Summary);
    }

    [Fact]
    public void Notes_are_joined_one_line_per_approver_in_voting_order()
    {
        Assert.Equal("alice@example.com: fine\ncarol@example.com: ok",
            QuorumTally.JoinedNotes([Vote("alice@example.com", notes: "fine"), Vote("bob@example.com"), Vote("carol@example.com", notes: "ok")]));
        Assert.Null(QuorumTally.JoinedNotes([Vote("alice@example.com")]));
    }

    [Fact]
    public void A_vote_counts_for_the_person_by_email_whatever_the_surface_or_key()
    {
        var api = Decider.Known(new ApproverIdentity("key_1", "alice", "Alice@Example.com", false), Surface.Api);
        var slack = Decider.Known(new ApproverIdentity("key_2", "alice laptop", "alice@example.com", false), Surface.Slack, "Alice", "U0ALICE");
        Assert.Equal(DecisionRule.Voter(api), DecisionRule.Voter(slack));
        var noEmail = Decider.Known(new ApproverIdentity("key_admin", "bootstrap", null, true), Surface.Api);
        Assert.Equal("key:key_admin", DecisionRule.Voter(noEmail));
    }

    [Fact]
    public void Grants_are_refused_on_a_quorum_route_and_for_requests_made_on_one()
    {
        var quorumRoute = Route(new QuorumRule { Approvals = 2 });
        var request = new ApprovalRequest
        {
            Id = Guid.CreateVersion7(),
            ActionName = "transfer_funds",
            CreatedAt = Now,
            ExpiresAt = Now.AddHours(1),
            Status = ApprovalStatus.Pending,
            RiskLevel = RiskLevel.Low,
        };
        Assert.Null(GrantRules.Refusal(new RouteDefinition { Name = "payments" }, request));
        Assert.Contains("quorum", GrantRules.Refusal(quorumRoute, request), StringComparison.Ordinal);
        // A request made on a quorum route keeps that rule even if the route table changed since.
        Assert.Contains("quorum", GrantRules.Refusal(null, request with { RoutePlan = quorumRoute }), StringComparison.Ordinal);
        Assert.NotNull(GrantRules.Check(quorumRoute, request, new GrantOffer(30, null, null, GrantMatch.Action)));
    }
}
