using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

/// <summary>A Python agent that makes exactly the calls of the public agentsentinel-sdk ApprovalClient, against the
/// real server on a loopback port: approved, rejected, expired, info requested and answered, cancelled.</summary>
public sealed class PythonAgentTests
{
    [Theory]
    [InlineData(StorageProvider.Sqlite)]
    [InlineData(StorageProvider.Postgres)]
    public async Task A_python_agent_using_the_sdk_wire_protocol_completes_every_workflow(StorageProvider provider)
    {
        var python = FindPython();
        if (python is null)
        {
            Assert.True(!PostgresServer.IsCi, "python3 is required when CI=true");
            Assert.Skip("python3 is not installed");
        }
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "python"), runJobServer: true);
        var baseUrl = app.StartOnLoopback().ToString();
        var agentKey = await app.CreateKeyAsync("python agent", [Scopes.Agent], agentIds: ["trading-agent", "python agent"]);
        var approverKey = await app.CreateKeyAsync("python approver", [Scopes.Approver], "approver@example.com");

        var script = Path.Combine(Repository.Root, "tests", "python", "sdk_wire_client.py");
        var output = await PythonRun.RunAsync(python, [script, baseUrl, agentKey, approverKey], TimeSpan.FromSeconds(90));
        foreach (var scenario in new[] { "approved: ok", "rejected: ok", "expired: ok", "info requested and answered: ok", "cancelled: ok", "check: ok" })
        {
            Assert.Contains(scenario, output, StringComparison.Ordinal);
        }
    }

    private static string? FindPython() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "python3"))
            .FirstOrDefault(File.Exists);
}
