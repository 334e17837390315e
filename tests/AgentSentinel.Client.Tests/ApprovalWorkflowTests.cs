using System.Diagnostics;
using System.Text.Json.Nodes;
using static AgentSentinel.Client.Tests.Server;

namespace AgentSentinel.Client.Tests;

/// <summary>The client against the real server for every outcome a request can have.</summary>
public sealed class ApprovalWorkflowTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static ApprovalRequest Trade(TimeSpan? timeout = null) => new()
    {
        ActionName = "execute_trade",
        Description = "Execute trade: Buy 100 shares AAPL",
        RunId = "run-789",
        EstimatedCostUsd = 15000m,
        Priority = Priority.High,
        RiskLevel = RiskLevel.High,
        Timeout = timeout ?? TimeSpan.FromMinutes(10),
        ActionInputs = new { Symbol = "AAPL", Quantity = 100, Side = "BUY" },
    };

    [Fact]
    public async Task An_approved_request_returns_approved_with_the_approver_and_notes()
    {
        var options = server.Options();
        using var client = new ApprovalClient(options);
        var waiting = client.RequestApprovalAsync(Trade(), Ct);
        var id = await server.Approver.PendingIdAsync(options.AgentId!);
        Assert.False(waiting.IsCompleted);

        await server.Approver.DecideAsync(id, "approve", new { notes = "Within limits." });
        var response = await waiting.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Assert.Equal(ApprovalStatus.Approved, response.Status);
        Assert.True(response.IsApproved);
        Assert.Equal(id, response.ApprovalId);
        Assert.Equal("execute_trade", response.ActionName);
        Assert.Equal(ServerFixture.ApproverEmail, response.ApproverEmail);
        Assert.Equal("Within limits.", response.ApproverNotes);
        Assert.NotNull(response.DecidedAt);
        Assert.InRange(response.DecidedAt.Value, DateTimeOffset.UtcNow.AddSeconds(-10), DateTimeOffset.UtcNow.AddSeconds(1));
    }

    [Fact]
    public async Task The_request_reaches_the_server_with_every_field_in_snake_case()
    {
        var options = server.Options();
        using var client = new ApprovalClient(options);
        var waiting = client.RequestApprovalAsync(Trade() with { TaskId = "task-1", Context = new { AgentIntent = "rebalance" } }, Ct);
        var id = await server.Approver.PendingIdAsync(options.AgentId!);
        var detail = await server.Approver.DetailAsync(id);
        await client.CancelApprovalAsync(id, Ct);
        await waiting;

        Assert.Equal("Execute trade: Buy 100 shares AAPL", detail["action_description"]!.GetValue<string>());
        Assert.Equal(options.AgentId, detail["agent_id"]!.GetValue<string>());
        Assert.Equal("run-789", detail["run_id"]!.GetValue<string>());
        Assert.Equal("task-1", detail["task_id"]!.GetValue<string>());
        Assert.Equal(15000m, detail["estimated_cost"]!.GetValue<decimal>());
        Assert.Equal("high", detail["priority"]!.GetValue<string>());
        Assert.Equal("high", detail["risk_level"]!.GetValue<string>());
        Assert.Equal(600, detail["timeout_seconds"]!.GetValue<int>());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"symbol":"AAPL","quantity":100,"side":"BUY"}"""), detail["action_inputs"]));
        Assert.Equal("rebalance", detail["context"]!["agent_intent"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_rejected_request_returns_rejected_with_the_reason()
    {
        var options = server.Options();
        using var client = new ApprovalClient(options);
        var waiting = client.RequestApprovalAsync(Trade(), Ct);
        var id = await server.Approver.PendingIdAsync(options.AgentId!);

        await server.Approver.DecideAsync(id, "reject", new { reason = "Over the daily limit." });
        var response = await waiting.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Assert.Equal(ApprovalStatus.Rejected, response.Status);
        Assert.False(response.IsApproved);
        Assert.True(response.IsFinal);
        Assert.Equal(ServerFixture.ApproverEmail, response.ApproverEmail);
        Assert.Equal("Over the daily limit.", response.ApproverNotes);
    }

    [Fact]
    public async Task A_request_nobody_decides_returns_expired_at_its_deadline()
    {
        using var client = new ApprovalClient(server.Options());
        var clock = Stopwatch.StartNew();
        var response = await client.RequestApprovalAsync(Trade(TimeSpan.FromSeconds(1)), Ct);

        Assert.Equal(ApprovalStatus.Expired, response.Status);
        Assert.Equal(response.ExpiresAt, response.DecidedAt);
        Assert.Equal(TimeSpan.FromSeconds(1), response.ExpiresAt - response.CreatedAt);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(8));
        Assert.Null(response.ApproverEmail);
    }

    [Fact]
    public async Task An_info_request_is_returned_to_the_agent_and_after_its_answer_the_decision_arrives()
    {
        var options = server.Options();
        using var client = new ApprovalClient(options);
        var waiting = client.RequestApprovalAsync(Trade(), Ct);
        var id = await server.Approver.PendingIdAsync(options.AgentId!);

        await server.Approver.DecideAsync(id, "request-info", new { question = "Why buy now?" });
        var asked = await waiting.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(ApprovalStatus.InfoRequested, asked.Status);
        Assert.Equal("Why buy now?", asked.InfoRequestMessage);
        Assert.Equal(id, asked.ApprovalId);
        Assert.False(asked.IsFinal);

        var answered = await client.RespondToInfoRequestAsync(id, "Part of the quarterly rebalancing.", Ct);
        Assert.Equal(ApprovalStatus.Pending, answered.Status);
        var decision = client.WaitForDecisionAsync(id, Ct);
        await Task.Delay(200, Ct);
        Assert.False(decision.IsCompleted);

        await server.Approver.DecideAsync(id, "approve", new { notes = "Thanks, go ahead." });
        var final = await decision.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(ApprovalStatus.Approved, final.Status);
        Assert.Equal("Part of the quarterly rebalancing.", final.InfoResponse);
        Assert.Equal("Thanks, go ahead.", final.ApproverNotes);

        var error = await Assert.ThrowsAsync<ApprovalApiException>(() => client.RespondToInfoRequestAsync(id, "Too late.", Ct));
        Assert.Equal(HttpStatusCode.Conflict, error.StatusCode);
    }

    [Fact]
    public async Task A_request_cancelled_while_the_agent_waits_returns_cancelled_and_cannot_be_cancelled_twice()
    {
        var options = server.Options();
        using var client = new ApprovalClient(options);
        var waiting = client.RequestApprovalAsync(Trade(), Ct);
        var id = await server.Approver.PendingIdAsync(options.AgentId!);

        var cancelled = await client.CancelApprovalAsync(id, Ct);
        var response = await waiting.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Assert.Equal(ApprovalStatus.Cancelled, cancelled.Status);
        Assert.Equal(ApprovalStatus.Cancelled, response.Status);
        Assert.NotNull(response.DecidedAt);
        var again = await Assert.ThrowsAsync<ApprovalApiException>(() => client.CancelApprovalAsync(id, Ct));
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal(ApprovalStatus.Cancelled, again.CurrentStatus);
    }

    [Fact]
    public async Task Cancelling_the_token_stops_waiting_at_once_and_withdraws_the_request()
    {
        var options = server.Options();
        using var client = new ApprovalClient(options);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var waiting = client.RequestApprovalAsync(Trade(), cts.Token);
        var id = await server.Approver.PendingIdAsync(options.AgentId!);

        var clock = Stopwatch.StartNew();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed}");

        var detail = await server.Approver.DetailAsync(id);
        Assert.Equal("cancelled", detail["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task The_blocking_call_returns_the_decision()
    {
        var options = server.Options();
        using var client = new ApprovalClient(options);
        var waiting = Task.Run(() => client.RequestApproval(
            actionName: "delete_customer_data",
            description: "Delete all data for customer #12345",
            runId: "run-456",
            priority: Priority.Critical,
            estimatedCostUsd: 0m,
            timeout: TimeSpan.FromMinutes(5),
            actionInputs: new { customer_id = 12345 },
            cancellationToken: Ct), Ct);
        var id = await server.Approver.PendingIdAsync(options.AgentId!);
        await server.Approver.DecideAsync(id, "reject", new { reason = "Legal hold." });

        var response = await waiting.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(ApprovalStatus.Rejected, response.Status);
        Assert.Equal("Legal hold.", response.ApproverNotes);
        Assert.Equal("critical", (await server.Approver.DetailAsync(id))["priority"]!.GetValue<string>());
    }

    [Fact]
    public async Task The_same_idempotency_key_returns_the_original_request()
    {
        var options = server.Options();
        using var client = new ApprovalClient(options);
        var request = Trade() with { IdempotencyKey = "run-789-trade-1" + options.AgentId };

        var first = await client.CreateApprovalAsync(request, Ct);
        var second = await client.CreateApprovalAsync(request, Ct);

        Assert.Equal(ApprovalStatus.Pending, first.Status);
        Assert.Equal(first.ApprovalId, second.ApprovalId);
        Assert.Single(await server.Approver.RequestsOfAsync(options.AgentId!));
    }

    [Fact]
    public async Task A_create_whose_answer_is_lost_is_retried_without_making_a_second_request()
    {
        var options = server.Options();
        using var handler = new LoseFirstCreateAnswer(new SocketsHttpHandler());
        using var http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        using var client = new ApprovalClient(http, options);

        var created = await client.CreateApprovalAsync(Trade(), Ct);

        Assert.Equal(2, handler.Creates);
        Assert.Equal(ApprovalStatus.Pending, created.Status);
        var requests = await server.Approver.RequestsOfAsync(options.AgentId!);
        Assert.Equal(created.ApprovalId, Assert.Single(requests)!["id"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_refusal_by_the_server_throws_with_its_explanation()
    {
        using var client = new ApprovalClient(server.Options());
        var unknown = await Assert.ThrowsAsync<ApprovalApiException>(() => client.WaitForDecisionAsync(Guid.NewGuid().ToString(), Ct));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        var options = server.Options();
        options.ApiKey = "as_not_a_real_key_000000000000000000000";
        using var stranger = new ApprovalClient(options);
        var unauthorized = await Assert.ThrowsAsync<ApprovalApiException>(() => stranger.RequestApprovalAsync(Trade(), Ct));
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
    }

    /// <summary>Lets the first create reach the server, then drops its answer as a broken connection would.</summary>
    private sealed class LoseFirstCreateAnswer(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        private int _creates;

        public int Creates => _creates;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (request.Method == HttpMethod.Post && request.RequestUri!.AbsolutePath == "/api/v1/approvals"
                && Interlocked.Increment(ref _creates) == 1)
            {
                response.Dispose();
                throw new HttpRequestException("The connection was reset after the request was sent.");
            }
            return response;
        }
    }
}
