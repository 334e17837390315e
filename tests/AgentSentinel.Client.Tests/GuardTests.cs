using static AgentSentinel.Client.Tests.Server;

namespace AgentSentinel.Client.Tests;

/// <summary>Guarded actions against the real server: the delegate runs only after an approval.</summary>
public sealed class GuardTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static GuardOptions Transfer(TimeSpan? timeout = null) => new()
    {
        CostUsd = 0.10m,
        RequiresHumanApproval = true,
        ApprovalDescription = "Transfer funds between customer accounts",
        ActionInputs = new { from_acct = "ACC-1", to_acct = "ACC-2", amount = 2500 },
        Timeout = timeout ?? TimeSpan.FromMinutes(5),
    };

    [Fact]
    public async Task An_approved_guarded_action_runs_and_returns_its_result()
    {
        var options = server.Options();
        using var client = new ApprovalClient(options);
        var guard = new ActionGuard(client);
        var runs = 0;

        var result = guard.GuardAsync("transfer_funds", ct => Task.FromResult($"receipt-{Interlocked.Increment(ref runs)}"), Transfer(), Ct);
        var id = await server.Approver.PendingIdAsync(options.AgentId!);
        Assert.Equal(0, runs);
        var detail = await server.Approver.DetailAsync(id);
        Assert.Equal("Transfer funds between customer accounts", detail["action_description"]!.GetValue<string>());
        Assert.Equal(0.10m, detail["estimated_cost"]!.GetValue<decimal>());
        Assert.Equal("ACC-1", detail["action_inputs"]!["from_acct"]!.GetValue<string>());

        await server.Approver.DecideAsync(id, "approve");
        Assert.Equal("receipt-1", await result.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task A_rejected_guarded_action_does_not_run_and_throws_with_the_response()
    {
        var options = server.Options();
        using var client = new ApprovalClient(options);
        var guard = new ActionGuard(client);
        var ran = false;

        var result = guard.GuardAsync("transfer_funds", _ => { ran = true; return Task.CompletedTask; }, Transfer(), Ct);
        var id = await server.Approver.PendingIdAsync(options.AgentId!);
        await server.Approver.DecideAsync(id, "reject", new { reason = "Account frozen." });

        var error = await Assert.ThrowsAsync<ApprovalRejectedException>(() => result);
        Assert.False(ran);
        Assert.Equal(ApprovalStatus.Rejected, error.Response.Status);
        Assert.Equal("Account frozen.", error.Response.ApproverNotes);
        Assert.Equal(ServerFixture.ApproverEmail, error.Response.ApproverEmail);
        Assert.Contains("Account frozen.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_expired_guarded_action_does_not_run_and_throws()
    {
        using var client = new ApprovalClient(server.Options());
        var guard = new ActionGuard(client);
        var ran = false;

        var error = await Assert.ThrowsAsync<ApprovalExpiredException>(
            () => guard.GuardAsync("transfer_funds", _ => { ran = true; return Task.FromResult(1); }, Transfer(TimeSpan.FromSeconds(1)), Ct));

        Assert.False(ran);
        Assert.Equal(ApprovalStatus.Expired, error.Response.Status);
    }

    [Fact]
    public async Task A_cancelled_guarded_action_does_not_run_and_throws()
    {
        var options = server.Options();
        using var client = new ApprovalClient(options);
        var guard = new ActionGuard(client);
        var ran = false;

        var result = guard.GuardAsync("transfer_funds", _ => { ran = true; return Task.FromResult(1); }, Transfer(), Ct);
        var id = await server.Approver.PendingIdAsync(options.AgentId!);
        await client.CancelApprovalAsync(id, Ct);

        var error = await Assert.ThrowsAsync<ApprovalCancelledException>(() => result);
        Assert.False(ran);
        Assert.Equal(id, error.Response.ApprovalId);
    }

    [Fact]
    public async Task An_action_no_rule_covers_runs_without_asking()
    {
        var options = server.Options();
        using var client = new ApprovalClient(options);
        var guard = new ActionGuard(client);

        var result = await guard.GuardAsync("send_status_email", _ => Task.FromResult("sent"), new GuardOptions { CostUsd = 0.01m }, Ct);

        Assert.Equal("sent", result);
        Assert.Empty(await server.Approver.RequestsOfAsync(options.AgentId!));
    }

    [Fact]
    public async Task The_local_policy_requires_approval_for_listed_actions_and_costs_at_the_threshold()
    {
        var options = server.Options();
        options.Policy = new ApprovalPolicy
        {
            ApprovalRequiredActions = ["delete_user", "modify_*"],
            ApprovalCostThresholdUsd = 100m,
            ApprovalTimeout = TimeSpan.FromSeconds(1),
        };
        using var client = new ApprovalClient(options);
        var guard = new ActionGuard(client);

        // Each needs approval; nobody answers within the policy's one-second timeout, so none runs.
        await Assert.ThrowsAsync<ApprovalExpiredException>(() => guard.GuardAsync("modify_prices", _ => Task.FromResult(1), null, Ct));
        await Assert.ThrowsAsync<ApprovalExpiredException>(() => guard.GuardAsync("buy_ads", _ => Task.FromResult(1), new GuardOptions { CostUsd = 100m }, Ct));
        Assert.Equal(2, (await server.Approver.RequestsOfAsync(options.AgentId!)).Count);
        Assert.Equal(1, await guard.GuardAsync("buy_ads", _ => Task.FromResult(1), new GuardOptions { CostUsd = 99.99m }, Ct));
        Assert.Equal(2, (await server.Approver.RequestsOfAsync(options.AgentId!)).Count);
    }

    [Fact]
    public async Task A_question_is_answered_by_the_guard_and_the_action_runs_after_approval()
    {
        var options = server.Options();
        using var client = new ApprovalClient(options);
        var guard = new ActionGuard(client);
        string? asked = null;
        var guarded = Transfer() with
        {
            AnswerInfoRequest = (response, _) =>
            {
                asked = response.InfoRequestMessage;
                return Task.FromResult("Invoice INV-2291, due today.");
            },
        };

        var result = guard.GuardAsync("transfer_funds", _ => Task.FromResult("done"), guarded, Ct);
        var id = await server.Approver.PendingIdAsync(options.AgentId!);
        await server.Approver.DecideAsync(id, "request-info", new { question = "Which invoice?" });
        // Back to pending once the guard has answered.
        Assert.Equal(id, await server.Approver.PendingIdAsync(options.AgentId!));
        await server.Approver.DecideAsync(id, "approve");

        Assert.Equal("done", await result.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.Equal("Which invoice?", asked);
        Assert.Equal("Invoice INV-2291, due today.", (await server.Approver.DetailAsync(id))["info_response"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_question_the_guard_cannot_answer_withdraws_the_request_and_throws()
    {
        var options = server.Options();
        using var client = new ApprovalClient(options);
        var guard = new ActionGuard(client);

        var result = guard.GuardAsync("transfer_funds", _ => Task.FromResult("done"), Transfer(), Ct);
        var id = await server.Approver.PendingIdAsync(options.AgentId!);
        await server.Approver.DecideAsync(id, "request-info", new { question = "Which invoice?" });

        var error = await Assert.ThrowsAsync<ApprovalInfoRequestedException>(() => result);
        Assert.Equal("Which invoice?", error.Response.InfoRequestMessage);
        Assert.Equal("cancelled", (await server.Approver.DetailAsync(id))["status"]!.GetValue<string>());
    }
}
