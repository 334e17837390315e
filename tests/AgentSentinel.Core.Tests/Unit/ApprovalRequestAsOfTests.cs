using AgentSentinel.Core.Approvals;

namespace AgentSentinel.Core.Tests.Unit;

public sealed class ApprovalRequestAsOfTests
{
    private static readonly DateTimeOffset Created = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Deadline = Created.AddSeconds(600);

    private static ApprovalRequest Request(ApprovalStatus status, DateTimeOffset? decidedAt = null, string? decidedBy = null) => new()
    {
        Id = Guid.CreateVersion7(),
        ActionName = "transfer_funds",
        AgentId = "billing-1",
        Priority = Priority.Critical,
        RiskLevel = RiskLevel.High,
        CreatedAt = Created,
        ExpiresAt = Deadline,
        Status = status,
        DecidedAt = decidedAt,
        DecidedByEmail = decidedBy,
        InfoRequestMessage = status == ApprovalStatus.InfoRequested ? "why?" : null,
        Version = 3,
    };

    [Theory]
    [InlineData(ApprovalStatus.Pending)]
    [InlineData(ApprovalStatus.InfoRequested)]
    public void An_open_request_past_its_deadline_reads_expired_decided_at_the_deadline(ApprovalStatus status)
    {
        var stored = Request(status);

        var seen = stored.AsOf(Deadline.AddMinutes(3));

        Assert.Equal(ApprovalStatus.Expired, seen.Status);
        Assert.Equal(Deadline, seen.DecidedAt);
        Assert.True(seen.IsTerminal);
    }

    [Fact]
    public void Exactly_at_the_deadline_counts_as_expired()
    {
        var seen = Request(ApprovalStatus.Pending).AsOf(Deadline);

        Assert.Equal(ApprovalStatus.Expired, seen.Status);
        Assert.Equal(Deadline, seen.DecidedAt);
    }

    [Fact]
    public void One_tick_before_the_deadline_is_still_open()
    {
        var stored = Request(ApprovalStatus.Pending);

        var seen = stored.AsOf(Deadline.AddTicks(-1));

        Assert.Equal(ApprovalStatus.Pending, seen.Status);
        Assert.Null(seen.DecidedAt);
        Assert.Same(stored, seen);
    }

    [Fact]
    public void The_deadline_is_compared_as_an_instant_whatever_the_offset()
    {
        var justAfterInParis = Deadline.ToOffset(TimeSpan.FromHours(1)).AddTicks(1);
        var justBeforeInNewYork = Deadline.ToOffset(TimeSpan.FromHours(-5)).AddTicks(-1);

        Assert.Equal(ApprovalStatus.Expired, Request(ApprovalStatus.Pending).AsOf(justAfterInParis).Status);
        Assert.Equal(ApprovalStatus.Pending, Request(ApprovalStatus.Pending).AsOf(justBeforeInNewYork).Status);
    }

    [Fact]
    public void Reading_as_expired_changes_nothing_else_and_leaves_the_stored_request_alone()
    {
        var stored = Request(ApprovalStatus.InfoRequested);

        var seen = stored.AsOf(Deadline.AddDays(1));

        Assert.Equal(ApprovalStatus.InfoRequested, stored.Status);
        Assert.Null(stored.DecidedAt);
        Assert.Equal(stored with { Status = ApprovalStatus.Expired, DecidedAt = Deadline }, seen);
        Assert.Null(seen.DecidedByEmail);
        Assert.Equal("why?", seen.InfoRequestMessage);
        Assert.Equal(3, seen.Version);
    }

    [Theory]
    [InlineData(ApprovalStatus.Approved)]
    [InlineData(ApprovalStatus.Rejected)]
    [InlineData(ApprovalStatus.Cancelled)]
    [InlineData(ApprovalStatus.Expired)]
    public void A_terminal_request_never_changes(ApprovalStatus status)
    {
        var decidedAt = Created.AddSeconds(30);
        var stored = Request(status, decidedAt, "alice@example.com");

        foreach (var now in new[] { Created, Deadline.AddTicks(-1), Deadline, Deadline.AddYears(1) })
        {
            var seen = stored.AsOf(now);

            Assert.Same(stored, seen);
            Assert.Equal(status, seen.Status);
            Assert.Equal(decidedAt, seen.DecidedAt);
            Assert.Equal("alice@example.com", seen.DecidedByEmail);
        }
    }

    [Fact]
    public void The_timeout_is_the_whole_seconds_between_creation_and_deadline()
    {
        Assert.Equal(600, Request(ApprovalStatus.Pending).TimeoutSeconds);
    }
}
