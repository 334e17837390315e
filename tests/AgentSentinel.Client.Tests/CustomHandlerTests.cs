using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using static AgentSentinel.Client.Tests.Server;

namespace AgentSentinel.Client.Tests;

/// <summary>An <see cref="IApprovalHandler"/> of the team's own replaces the server round trip.</summary>
public sealed class CustomHandlerTests
{
    /// <summary>A team's own approval UI, reduced to a queue of decisions and a record of what it was asked.</summary>
    private sealed class OwnUi : IApprovalHandler
    {
        public ConcurrentQueue<ApprovalRequest> Asked { get; } = new();
        public ApprovalStatus Decision { get; set; } = ApprovalStatus.Approved;

        public async Task<ApprovalResponse> RequestApprovalAsync(ApprovalRequest request, CancellationToken cancellationToken)
        {
            Asked.Enqueue(request);
            await Task.Yield();
            return new ApprovalResponse
            {
                ApprovalId = request.IdempotencyKey!,
                Status = Decision,
                ActionName = request.ActionName,
                ApproverEmail = "lead@example.com",
                ApproverNotes = Decision == ApprovalStatus.Approved ? "fine" : "not today",
                DecidedAt = DateTimeOffset.UtcNow,
            };
        }
    }

    [Fact]
    public async Task A_custom_handler_decides_guarded_actions_without_any_server()
    {
        var ui = new OwnUi();
        var policy = new PolicyEngine();
        policy.Configure(
            approvalRequiredActions: ["transfer_funds"],
            approvalCostThresholdUsd: 100m,
            approvalTimeout: TimeSpan.FromMinutes(10),
            approvalDefaultApprovers: ["security@company.com", "manager@company.com"]);
        var guard = new ActionGuard(ui, policy);

        var result = await guard.GuardAsync("transfer_funds", _ => Task.FromResult(42),
            new GuardOptions { ApprovalDescription = "Move money", CostUsd = 5m, ActionInputs = new { amount = 5 } }, Ct);

        Assert.Equal(42, result);
        var asked = Assert.Single(ui.Asked);
        Assert.Equal("transfer_funds", asked.ActionName);
        Assert.Equal("Move money", asked.Description);
        Assert.Equal(5m, asked.EstimatedCostUsd);
        Assert.Equal(TimeSpan.FromMinutes(10), asked.Timeout);
        Assert.Equal(["security@company.com", "manager@company.com"], asked.Approvers);
        Assert.False(string.IsNullOrEmpty(asked.IdempotencyKey));

        ui.Decision = ApprovalStatus.Rejected;
        var ran = false;
        var error = await Assert.ThrowsAsync<ApprovalRejectedException>(
            () => guard.GuardAsync("send_email", _ => { ran = true; return Task.CompletedTask; }, new GuardOptions { CostUsd = 250m }, Ct));
        Assert.False(ran);
        Assert.Equal("not today", error.Response.ApproverNotes);
        Assert.Equal(2, ui.Asked.Count);

        // Below the threshold and not listed: the handler is not asked.
        Assert.Equal("ok", await guard.GuardAsync("send_email", _ => Task.FromResult("ok"), new GuardOptions { CostUsd = 99m }, Ct));
        Assert.Equal(2, ui.Asked.Count);
    }

    [Fact]
    public async Task A_custom_handler_registered_with_dependency_injection_replaces_the_server()
    {
        var services = new ServiceCollection();
        services.AddSingleton<OwnUi>();
        services.AddAgentSentinelClient(o => o.Policy = new ApprovalPolicy { UseServerPolicy = false })
            .UseApprovalHandler<OwnUi>();
        await using var provider = services.BuildServiceProvider();

        var guard = provider.GetRequiredService<ActionGuard>();
        var result = await guard.GuardAsync("transfer_funds", _ => Task.FromResult("done"), new GuardOptions { RequiresHumanApproval = true }, Ct);

        Assert.Equal("done", result);
        Assert.IsType<OwnUi>(provider.GetRequiredService<IApprovalHandler>());
    }
}
