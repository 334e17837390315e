using AgentSentinel.Core.Approvals;

namespace AgentSentinel.Core.Tests.Unit;

public sealed class TransitionRulesTests
{
    private static readonly DateTimeOffset Created = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Deadline = Created.AddMinutes(10);

    private static ApprovalRequest Request(ApprovalStatus status) => new()
    {
        Id = Guid.CreateVersion7(),
        ActionName = "transfer_funds",
        CreatedAt = Created,
        ExpiresAt = Deadline,
        Status = status,
    };

    public static TheoryData<TransitionKind, ApprovalStatus[]> StartStates => new()
    {
        { TransitionKind.Approve, [ApprovalStatus.Pending, ApprovalStatus.InfoRequested] },
        { TransitionKind.Reject, [ApprovalStatus.Pending, ApprovalStatus.InfoRequested] },
        { TransitionKind.Cancel, [ApprovalStatus.Pending, ApprovalStatus.InfoRequested] },
        { TransitionKind.Expire, [ApprovalStatus.Pending, ApprovalStatus.InfoRequested] },
        { TransitionKind.RequestInfo, [ApprovalStatus.Pending] },
        { TransitionKind.Respond, [ApprovalStatus.InfoRequested] },
    };

    [Theory]
    [MemberData(nameof(StartStates))]
    public void Each_transition_starts_only_from_the_states_of_the_lifecycle(TransitionKind kind, ApprovalStatus[] expected)
    {
        Assert.Equal(expected.Order(), TransitionRules.From(kind).Order());
    }

    [Theory]
    [InlineData(TransitionKind.Approve, ApprovalStatus.Approved)]
    [InlineData(TransitionKind.Reject, ApprovalStatus.Rejected)]
    [InlineData(TransitionKind.RequestInfo, ApprovalStatus.InfoRequested)]
    [InlineData(TransitionKind.Respond, ApprovalStatus.Pending)]
    [InlineData(TransitionKind.Cancel, ApprovalStatus.Cancelled)]
    [InlineData(TransitionKind.Expire, ApprovalStatus.Expired)]
    public void Each_transition_ends_in_its_state(TransitionKind kind, ApprovalStatus expected)
    {
        Assert.Equal(expected, TransitionRules.To(kind));
    }

    [Fact]
    public void No_transition_starts_from_a_terminal_state()
    {
        foreach (var kind in Enum.GetValues<TransitionKind>())
        {
            Assert.All(TransitionRules.From(kind), s => Assert.False(s.IsTerminal(), $"{kind} starts from terminal {s}"));
        }
    }

    [Fact]
    public void No_transition_starts_and_ends_in_the_same_state()
    {
        foreach (var kind in Enum.GetValues<TransitionKind>())
        {
            Assert.DoesNotContain(TransitionRules.To(kind), TransitionRules.From(kind));
        }
    }

    [Theory]
    [InlineData(ApprovalStatus.Approved)]
    [InlineData(ApprovalStatus.Rejected)]
    [InlineData(ApprovalStatus.Expired)]
    [InlineData(ApprovalStatus.Cancelled)]
    public void Terminal_statuses_are_terminal(ApprovalStatus status)
    {
        Assert.True(status.IsTerminal());
        Assert.False(status.IsOpen());
    }

    [Theory]
    [InlineData(ApprovalStatus.Pending)]
    [InlineData(ApprovalStatus.InfoRequested)]
    public void Pending_and_info_requested_are_open(ApprovalStatus status)
    {
        Assert.True(status.IsOpen());
        Assert.False(status.IsTerminal());
    }

    [Fact]
    public void An_unknown_transition_kind_is_refused()
    {
        var unknown = (TransitionKind)99;

        Assert.Throws<ArgumentOutOfRangeException>(() => TransitionRules.From(unknown));
        Assert.Throws<ArgumentOutOfRangeException>(() => TransitionRules.To(unknown));
        Assert.Throws<ArgumentOutOfRangeException>(() => TransitionRules.EventKind(unknown));
    }

    [Theory]
    [InlineData(TransitionKind.Approve, "approved", "notes")]
    [InlineData(TransitionKind.Reject, "rejected", "reason")]
    [InlineData(TransitionKind.RequestInfo, "info_requested", "question")]
    [InlineData(TransitionKind.Respond, "info_provided", "response")]
    [InlineData(TransitionKind.Cancel, "cancelled", "reason")]
    [InlineData(TransitionKind.Expire, "expired", null)]
    public void Each_transition_records_its_event_kind_and_text_field(TransitionKind kind, string eventKind, string? textField)
    {
        Assert.Equal(eventKind, TransitionRules.EventKind(kind));
        Assert.Equal(textField, TransitionRules.TextField(kind));
    }

    [Theory]
    [InlineData(TransitionKind.Approve)]
    [InlineData(TransitionKind.Reject)]
    [InlineData(TransitionKind.Cancel)]
    [InlineData(TransitionKind.RequestInfo)]
    [InlineData(TransitionKind.Respond)]
    public void A_decision_on_an_open_request_after_its_deadline_is_explained_as_past_deadline(TransitionKind kind)
    {
        Assert.Equal(TransitionOutcome.PastDeadline, TransitionRules.Explain(kind, Request(ApprovalStatus.Pending), Deadline.AddSeconds(1)));
        Assert.Equal(TransitionOutcome.PastDeadline, TransitionRules.Explain(kind, Request(ApprovalStatus.InfoRequested), Deadline.AddSeconds(1)));
    }

    [Fact]
    public void A_decision_exactly_at_the_deadline_is_past_deadline()
    {
        Assert.Equal(TransitionOutcome.PastDeadline, TransitionRules.Explain(TransitionKind.Approve, Request(ApprovalStatus.Pending), Deadline));
        Assert.Equal(TransitionOutcome.WrongState, TransitionRules.Explain(TransitionKind.Approve, Request(ApprovalStatus.Pending), Deadline.AddTicks(-1)));
    }

    [Theory]
    [InlineData(TransitionKind.Approve, ApprovalStatus.Approved)]
    [InlineData(TransitionKind.Approve, ApprovalStatus.Rejected)]
    [InlineData(TransitionKind.Reject, ApprovalStatus.Cancelled)]
    [InlineData(TransitionKind.Cancel, ApprovalStatus.Expired)]
    [InlineData(TransitionKind.Respond, ApprovalStatus.Approved)]
    public void A_transition_on_a_terminal_request_is_wrong_state_before_and_after_the_deadline(TransitionKind kind, ApprovalStatus status)
    {
        Assert.Equal(TransitionOutcome.WrongState, TransitionRules.Explain(kind, Request(status), Deadline.AddMinutes(-5)));
        Assert.Equal(TransitionOutcome.WrongState, TransitionRules.Explain(kind, Request(status), Deadline.AddMinutes(5)));
    }

    [Fact]
    public void A_transition_from_the_wrong_open_state_before_the_deadline_is_wrong_state()
    {
        Assert.Equal(TransitionOutcome.WrongState, TransitionRules.Explain(TransitionKind.Respond, Request(ApprovalStatus.Pending), Deadline.AddMinutes(-1)));
        Assert.Equal(TransitionOutcome.WrongState, TransitionRules.Explain(TransitionKind.RequestInfo, Request(ApprovalStatus.InfoRequested), Deadline.AddMinutes(-1)));
    }

    [Theory]
    [InlineData(ApprovalStatus.Pending)]
    [InlineData(ApprovalStatus.InfoRequested)]
    public void An_expiry_before_the_deadline_is_not_yet_due(ApprovalStatus status)
    {
        Assert.Equal(TransitionOutcome.NotYetDue, TransitionRules.Explain(TransitionKind.Expire, Request(status), Deadline.AddTicks(-1)));
    }

    [Fact]
    public void An_expiry_at_or_after_the_deadline_is_due()
    {
        Assert.NotEqual(TransitionOutcome.NotYetDue, TransitionRules.Explain(TransitionKind.Expire, Request(ApprovalStatus.Pending), Deadline));
        Assert.NotEqual(TransitionOutcome.NotYetDue, TransitionRules.Explain(TransitionKind.Expire, Request(ApprovalStatus.Pending), Deadline.AddHours(1)));
    }

    [Theory]
    [InlineData(ApprovalStatus.Approved)]
    [InlineData(ApprovalStatus.Expired)]
    [InlineData(ApprovalStatus.Cancelled)]
    public void An_expiry_of_a_terminal_request_is_wrong_state(ApprovalStatus status)
    {
        Assert.Equal(TransitionOutcome.WrongState, TransitionRules.Explain(TransitionKind.Expire, Request(status), Deadline.AddMinutes(-1)));
        Assert.Equal(TransitionOutcome.WrongState, TransitionRules.Explain(TransitionKind.Expire, Request(status), Deadline.AddMinutes(1)));
    }

    [Fact]
    public void The_audit_name_prefers_email_then_user_id_then_display_name()
    {
        Assert.Equal("a@example.com", new Actor("Alice", Surface.Slack, "a@example.com", "U0A").AuditName);
        Assert.Equal("U0A", new Actor("Alice", Surface.Slack, null, "U0A").AuditName);
        Assert.Equal("Alice", new Actor("Alice", Surface.Slack).AuditName);
        Assert.Equal("system", Actor.System.AuditName);
    }
}
