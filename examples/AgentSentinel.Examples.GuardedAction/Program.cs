using System.Globalization;
using AgentSentinel.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

// A billing agent whose sensitive actions are guarded: they run only after a person approved them.
//
//   AGENTSENTINEL_API_KEY=as_... dotnet run --project examples/AgentSentinel.Examples.GuardedAction
//
// AGENTSENTINEL_URL is the server (default http://localhost:5000/). Decide the transfer with an approver key while the
// agent waits; the repository README shows the commands.
var baseAddress = new Uri(Environment.GetEnvironmentVariable("AGENTSENTINEL_URL") is { Length: > 0 } url ? url : "http://localhost:5000/");
var apiKey = Environment.GetEnvironmentVariable("AGENTSENTINEL_API_KEY");
if (string.IsNullOrWhiteSpace(apiKey))
{
    Console.Error.WriteLine("Set AGENTSENTINEL_API_KEY to an API key with the agent scope (as_...).");
    return 2;
}

var services = new ServiceCollection();
services.AddLogging(logging => logging
    .AddSimpleConsole(o => o.SingleLine = true)
    .SetMinimumLevel(LogLevel.Information)
    .AddFilter("System.Net.Http.HttpClient", LogLevel.Warning));
services.AddAgentSentinelClient(o =>
{
    o.BaseAddress = baseAddress;
    o.ApiKey = apiKey;
    o.AgentId = "billing-agent";
    o.RunId = $"run-{DateTime.UtcNow:yyyyMMdd-HHmmss}";
    // Like PolicyEngine.configure(...) in the Python SDK; the server's own policy is asked as well.
    o.Policy = new ApprovalPolicy
    {
        ApprovalRequiredActions = ["delete_user", "modify_prices", "transfer_funds"],
        ApprovalCostThresholdUsd = 100m,
        ApprovalTimeout = TimeSpan.FromMinutes(10),
    };
});
await using var provider = services.BuildServiceProvider();
var guard = provider.GetRequiredService<ActionGuard>();
var bank = new Bank();

// No rule covers a balance check: it runs at once.
var balance = await guard.GuardAsync("check_balance", ct => bank.BalanceAsync("ACC-1", ct), new GuardOptions { CostUsd = 0.001m });
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Balance of ACC-1: {balance:N2} USD"));

// A transfer always needs a person: the delegate runs only after the approval.
Console.WriteLine("Asking for approval to transfer 2,500 USD from ACC-1 to ACC-2 (decide it with an approver key)...");
try
{
    var receipt = await guard.GuardAsync(
        "transfer_funds",
        ct => bank.TransferAsync("ACC-1", "ACC-2", 2500m, ct),
        new GuardOptions
        {
            CostUsd = 0.10m,
            RequiresHumanApproval = true,
            ApprovalDescription = "Transfer 2,500 USD from ACC-1 to ACC-2 (invoice INV-2291)",
            ActionInputs = new { from_acct = "ACC-1", to_acct = "ACC-2", amount = 2500 },
            Priority = Priority.High,
            RiskLevel = RiskLevel.High,
            // An approver's question is answered from what the agent knows, and the guard keeps waiting.
            AnswerInfoRequest = (question, _) => Task.FromResult($"About '{question.InfoRequestMessage}': it pays invoice INV-2291, due today."),
        });
    Console.WriteLine($"Transferred: {receipt}");
    return 0;
}
catch (ApprovalRejectedException ex)
{
    Console.WriteLine($"Rejected by {ex.Response.ApproverEmail} (\"{ex.Response.ApproverNotes}\"). Nothing was transferred.");
    return 1;
}
catch (ApprovalExpiredException)
{
    Console.WriteLine("Nobody decided in time. Nothing was transferred.");
    return 1;
}
catch (ApprovalCancelledException)
{
    Console.WriteLine("The request was cancelled. Nothing was transferred.");
    return 1;
}
catch (AgentSentinelException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 3;
}

/// <summary>Stands in for a real payment system.</summary>
internal sealed class Bank
{
    private readonly Dictionary<string, decimal> _balances = new() { ["ACC-1"] = 10_000m, ["ACC-2"] = 500m };

    public Task<decimal> BalanceAsync(string account, CancellationToken cancellationToken) => Task.FromResult(_balances[account]);

    public Task<string> TransferAsync(string from, string to, decimal amount, CancellationToken cancellationToken)
    {
        _balances[from] -= amount;
        _balances[to] += amount;
        return Task.FromResult(string.Create(CultureInfo.InvariantCulture, $"TX-{Guid.NewGuid():N} ({amount:N2} USD, {from} -> {to})"));
    }
}
