using AgentSentinel.Bot.Slack;
using AgentSentinel.Bot.Teams;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Delegation;

namespace AgentSentinel.Bot.Tests;

/// <summary>How Slack and Teams name a person who is away, built directly: matched by email (any case) or by the Slack id
/// the delegation was set from, named once however many ways a route lists them, escaped, and left out of a decided
/// request's message.</summary>
public sealed class AwayTextTests
{
    private static readonly DateTimeOffset Until = new(2026, 12, 25, 0, 0, 0, TimeSpan.Zero);

    private static readonly AwayNotice Alice = new("alice@example.com", "U0ALICE", "bob@example.com", "U0BOB", Until);

    /// <summary>Set through the API: no Slack ids are known.</summary>
    private static readonly AwayNotice Carol = new("carol@example.com", null, "dan@example.com", null, Until);

    private static ApprovalRequest Request(ApprovalStatus status, params string[] approvers) => new()
    {
        Id = Guid.CreateVersion7(),
        ActionName = "transfer_funds",
        CreatedAt = Until.AddDays(-3),
        ExpiresAt = Until.AddDays(-2),
        Status = status,
        Approvers = approvers,
        DecidedAt = status == ApprovalStatus.Approved ? Until.AddDays(-3).AddMinutes(5) : null,
        DecidedByEmail = status == ApprovalStatus.Approved ? "bob@example.com" : null,
    };

    [Fact]
    public void A_person_named_by_slack_id_and_by_email_is_named_once_with_the_delegate_mentioned()
    {
        var note = SlackMessages.AwayNote(["U0ALICE", "ALICE@example.com", "erin@example.com"], [Alice]);
        Assert.Equal($":palm_tree: <@U0ALICE> (away until {SlackText.Date(Until)}; <@U0BOB> decides for them)", note);
    }

    [Fact]
    public void Without_slack_ids_the_people_are_named_by_email_and_escaped()
    {
        Assert.Equal($"carol@example.com (away until {SlackText.Date(Until)}; dan@example.com decides for them)", SlackMessages.Person("carol@example.com", [Carol]));
        // Someone not away is named as before, and a Slack id that is not the delegation's is not matched.
        Assert.Equal("<@U0CAROL>", SlackMessages.Person("U0CAROL", [Carol]));
        Assert.Equal("a&lt;b@example.com", SlackMessages.Person("a<b@example.com", [Carol]));
        Assert.Equal("", SlackMessages.AwayNote(["erin@example.com"], [Alice, Carol]));
        Assert.Equal($"{TeamsText.Escape("carol@example.com")} (away until 2026-12-25 00:00 UTC; {TeamsText.Escape("dan@example.com")} decides for them)",
            TeamsCards.Person("carol@example.com", [Carol]));
    }

    [Fact]
    public void An_open_request_names_the_delegate_and_a_decided_one_does_not()
    {
        var open = SlackMessages.RequestMessage(Request(ApprovalStatus.Pending, "U0ALICE"), "C0PAY", null, null, away: [Alice]);
        Assert.Contains(open.Blocks!, b => b.BlockId == "away");
        Assert.Contains("<@U0BOB> decides for them", open.Text, StringComparison.Ordinal);
        var decided = SlackMessages.RequestMessage(Request(ApprovalStatus.Approved, "U0ALICE"), "C0PAY", null, null, away: [Alice]);
        Assert.DoesNotContain(decided.Blocks!, b => b.BlockId == "away");
        Assert.DoesNotContain("decides for them", decided.Text, StringComparison.Ordinal);

        var card = TeamsCards.RequestCard(Request(ApprovalStatus.Pending, "alice@example.com"), null, [], away: [Alice]);
        Assert.Contains(card.Body, e => e.Id == "away");
        var decidedCard = TeamsCards.RequestCard(Request(ApprovalStatus.Approved, "alice@example.com"), null, [], away: [Alice]);
        Assert.DoesNotContain(decidedCard.Body, e => e.Id == "away");
    }
}
