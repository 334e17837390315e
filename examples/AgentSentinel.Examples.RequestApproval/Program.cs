using AgentSentinel.Client;

// A trading agent that asks a person before it trades, and acts on every possible answer.
//
//   AGENTSENTINEL_API_KEY=as_... dotnet run --project examples/AgentSentinel.Examples.RequestApproval
//
// AGENTSENTINEL_URL is the server (default http://localhost:5000/). Decide the request with an approver key while the
// agent waits; the repository README shows the commands.
var baseAddress = new Uri(Environment.GetEnvironmentVariable("AGENTSENTINEL_URL") is { Length: > 0 } url ? url : "http://localhost:5000/");
var apiKey = Environment.GetEnvironmentVariable("AGENTSENTINEL_API_KEY");
if (string.IsNullOrWhiteSpace(apiKey))
{
    Console.Error.WriteLine("Set AGENTSENTINEL_API_KEY to an API key with the agent scope (as_...).");
    return 2;
}

using var client = new ApprovalClient(new ApprovalClientOptions
{
    BaseAddress = baseAddress,
    ApiKey = apiKey,
    AgentId = "trading-agent",
    RunId = $"run-{DateTime.UtcNow:yyyyMMdd-HHmmss}",
});
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // Ctrl+C stops waiting; the client withdraws the request so nobody approves a trade that will not happen.
    e.Cancel = true;
    stop.Cancel();
};

Console.WriteLine($"Asking {baseAddress} for approval to buy 100 AAPL (waiting up to 10 minutes; Ctrl+C withdraws)...");
try
{
    var response = await client.RequestApprovalAsync(
        actionName: "execute_trade",
        description: "Execute trade: Buy 100 shares AAPL",
        estimatedCostUsd: 15000m,
        priority: Priority.High,
        riskLevel: RiskLevel.High,
        timeout: TimeSpan.FromMinutes(10),
        actionInputs: new { symbol = "AAPL", quantity = 100, side = "BUY" },
        cancellationToken: stop.Token);

    while (true)
    {
        switch (response.Status)
        {
            case ApprovalStatus.Approved:
                Console.WriteLine($"Approved by: {response.ApproverEmail}");
                Console.WriteLine($"Notes: {response.ApproverNotes}");
                Console.WriteLine("Executing the trade: bought 100 AAPL.");
                return 0;
            case ApprovalStatus.Rejected:
                Console.WriteLine($"Rejected by: {response.ApproverEmail}");
                Console.WriteLine($"Reason: {response.ApproverNotes}");
                return 1;
            case ApprovalStatus.Expired:
                Console.WriteLine("Approval timed out: no decision within the timeout window. Not trading.");
                return 1;
            case ApprovalStatus.Cancelled:
                Console.WriteLine("The request was cancelled. Not trading.");
                return 1;
            case ApprovalStatus.InfoRequested:
                Console.WriteLine($"The approver asks: {response.InfoRequestMessage}");
                Console.Write("Your answer (Enter for the standard one): ");
                var answer = Console.ReadLine();
                await client.RespondToInfoRequestAsync(
                    response.ApprovalId,
                    string.IsNullOrWhiteSpace(answer) ? "Additional context: this trade is part of the rebalancing strategy." : answer,
                    stop.Token);
                Console.WriteLine("Answer sent; waiting for the decision...");
                response = await client.WaitForDecisionAsync(response.ApprovalId, stop.Token);
                break;
            default:
                response = await client.WaitForDecisionAsync(response.ApprovalId, stop.Token);
                break;
        }
    }
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    Console.WriteLine("Stopped waiting; the request was withdrawn.");
    return 130;
}
catch (AgentSentinelException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 3;
}
