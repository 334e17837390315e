using AgentSentinel.Core.Approvals;

namespace AgentSentinel.Core.Tests.Unit;

public sealed class WireNamesTests
{
    [Theory]
    [InlineData(ApprovalStatus.Pending, "pending")]
    [InlineData(ApprovalStatus.InfoRequested, "info_requested")]
    [InlineData(ApprovalStatus.Approved, "approved")]
    [InlineData(ApprovalStatus.Rejected, "rejected")]
    [InlineData(ApprovalStatus.Expired, "expired")]
    [InlineData(ApprovalStatus.Cancelled, "cancelled")]
    public void Statuses_are_lowercase_snake_case_and_round_trip(ApprovalStatus status, string wire)
    {
        Assert.Equal(wire, status.ToWire());
        Assert.Equal(status, WireNames.ParseStatus(wire));
    }

    [Fact]
    public void Unknown_names_do_not_parse()
    {
        Assert.False(WireNames.TryParseStatus("done", out _));
        Assert.False(WireNames.TryParsePriority("urgent", out _));
        Assert.False(WireNames.TryParseRisk(null, out _));
    }

    [Fact]
    public void Priority_and_risk_parse_case_insensitively()
    {
        Assert.True(WireNames.TryParsePriority("CRITICAL", out var p));
        Assert.Equal(Priority.Critical, p);
        Assert.True(WireNames.TryParseRisk(" Minimal ", out var r));
        Assert.Equal(RiskLevel.Minimal, r);
    }
}
