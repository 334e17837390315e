using static AgentSentinel.Client.Tests.Server;

namespace AgentSentinel.Client.Tests;

/// <summary>Statistics through the client, on a server whose only requests are this class's.</summary>
public sealed class StatsTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Stats_count_the_requests_by_outcome_priority_and_risk()
    {
        var options = server.Options();
        using var client = new ApprovalClient(options);
        var from = DateTimeOffset.UtcNow.AddMinutes(-1);
        var approved = await client.CreateApprovalAsync(new ApprovalRequest { ActionName = "a", Priority = Priority.Critical, RiskLevel = RiskLevel.High }, Ct);
        var rejected = await client.CreateApprovalAsync(new ApprovalRequest { ActionName = "b", Priority = Priority.Low }, Ct);
        var cancelled = await client.CreateApprovalAsync(new ApprovalRequest { ActionName = "c" }, Ct);
        await client.CreateApprovalAsync(new ApprovalRequest { ActionName = "d" }, Ct);
        await server.Approver.DecideAsync(approved.ApprovalId, "approve");
        await server.Approver.DecideAsync(rejected.ApprovalId, "reject", new { reason = "no" });
        await client.CancelApprovalAsync(cancelled.ApprovalId, Ct);

        var stats = await client.GetStatsAsync(from, DateTimeOffset.UtcNow.AddMinutes(1), Ct);

        Assert.Equal(4, stats.Total);
        Assert.Equal(1, stats.PendingTotal);
        Assert.Equal((1, 1, 0, 1), (stats.Approved, stats.Rejected, stats.Expired, stats.Cancelled));
        Assert.Equal(1, stats.Counts[ApprovalStatus.Pending]);
        Assert.Equal(1, stats.Counts[ApprovalStatus.Approved]);
        Assert.Equal(0.3333, stats.ApprovalRate, 4); // of the three closed requests
        Assert.NotNull(stats.AverageDecisionTime);
        Assert.NotNull(stats.MedianDecisionTime);
        Assert.Equal(1, stats.ByPriority["critical"]);
        Assert.Equal(2, stats.ByPriority["medium"]);
        Assert.Equal(1, stats.ByRiskLevel["high"]);
        Assert.Equal(3, stats.ByRiskLevel["unspecified"]);
        Assert.InRange(stats.From, from.AddSeconds(-1), from.AddSeconds(1));

        var empty = await client.GetStatsAsync(from.AddDays(-10), from.AddDays(-9), Ct);
        Assert.Equal(0, empty.Total);
        Assert.Equal(1, empty.PendingTotal);
    }
}
