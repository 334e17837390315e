using System.Buffers.Text;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

/// <summary>The README's Python snippet (PyJWT), run as written against a live server: it accepts a real receipt with
/// the approved arguments, and refuses an altered receipt, other arguments and a receipt that is not an approval.</summary>
public sealed partial class ReceiptPythonTests
{
    private const string Driver = """

        import sys
        receipt, approval_id, inputs, tampered, rejected, rejected_id = sys.argv[1:7]
        inputs = json.loads(inputs)
        claims = verify_receipt(receipt, approval_id, inputs)
        print("verified:", claims["decision"], claims["action_inputs_sha256"], claims["grant"])
        try:
            verify_receipt(tampered, approval_id, inputs)
            print("tampered: accepted")
        except jwt.InvalidSignatureError:
            print("tampered: refused")
        try:
            verify_receipt(receipt, approval_id, {**inputs, "amount": 250000})
            print("changed arguments: accepted")
        except PermissionError as e:
            print("changed arguments: refused", e)
        try:
            verify_receipt(rejected, rejected_id, inputs)
            print("rejection: accepted")
        except PermissionError as e:
            print("rejection: refused", e)
        """;

    [GeneratedRegex(@"### Verifying a receipt in Python.*?```python\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex Snippet();

    [Fact]
    public async Task The_readme_python_snippet_verifies_a_real_receipt_and_refuses_forgeries()
    {
        var python = FindPythonWithPyJwt();
        if (python is null)
        {
            Assert.True(!PostgresServer.IsCi, "a python3 with PyJWT and cryptography (Debian: python3-jwt) is required when CI=true");
            Assert.Skip("no python3 with PyJWT and cryptography is installed");
        }
        var readme = await File.ReadAllTextAsync(Path.Combine(Repository.Root, "README.md"), Http.Ct);
        var snippet = Snippet().Match(readme);
        Assert.True(snippet.Success, "README.md has no Python snippet under 'Verifying a receipt in Python'");

        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "receiptpython"));
        var baseUrl = app.StartOnLoopback().ToString().TrimEnd('/');
        using var agent = app.Client(await app.CreateKeyAsync("py-bot", [Scopes.Agent], agentIds: ["py-*"]));
        using var approver = app.Client(await app.CreateKeyAsync("alice", [Scopes.Approver], "alice@example.com"));
        var inputs = new { to = "ACC-2", amount = 2500, memo = "Café <rent>" };
        var approved = await agent.CreateApprovalAsync(new { action_name = "pay_invoice", agent_id = "py-1", timeout_seconds = 600, action_inputs = inputs });
        var receipt = (await (await approver.PostJsonAsync($"/api/v1/approvals/{approved.Id()}/approve", new { })).Json()).Str("receipt")!;
        var other = await agent.CreateApprovalAsync(new { action_name = "pay_invoice", agent_id = "py-1", timeout_seconds = 600, action_inputs = inputs });
        var rejected = (await (await approver.PostJsonAsync($"/api/v1/approvals/{other.Id()}/reject", new { reason = "no" })).Json()).Str("receipt")!;
        var parts = receipt.Split('.');
        var payload = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[1])).Replace("alice@example.com", "mallory@example.com", StringComparison.Ordinal);
        var tampered = $"{parts[0]}.{Base64Url.EncodeToString(Encoding.UTF8.GetBytes(payload))}.{parts[2]}";

        var code = snippet.Groups["code"].Value;
        Assert.Contains("BASE = \"https://sentinel.example.com\"", code, StringComparison.Ordinal);
        var script = Path.Combine(TestPaths.NewTempDirectory(), "verify_receipt.py");
        await File.WriteAllTextAsync(script, code.Replace("https://sentinel.example.com", baseUrl, StringComparison.Ordinal) + Driver, Http.Ct);

        var output = await PythonRun.RunAsync(python, [script, receipt, approved.Id(), JsonSerializer.Serialize(inputs), tampered, rejected, other.Id()], TimeSpan.FromSeconds(60));
        var hash = System.Text.Json.Nodes.JsonNode.Parse(Base64Url.DecodeFromChars(parts[1]))!.Str("action_inputs_sha256");
        Assert.Contains($"verified: approved {hash} None", output, StringComparison.Ordinal);
        Assert.Contains("tampered: refused", output, StringComparison.Ordinal);
        Assert.Contains("changed arguments: refused the arguments differ", output, StringComparison.Ordinal);
        Assert.Contains("rejection: refused", output, StringComparison.Ordinal);
        Assert.Contains("is not approved: rejected", output, StringComparison.Ordinal);
    }

    /// <summary>The first python3 that can import PyJWT with its cryptography backend (Debian's own python3 has it
    /// from the python3-jwt package even where another python3 comes first on the PATH).</summary>
    private static string? FindPythonWithPyJwt()
    {
        var candidates = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "python3")).Append("/usr/bin/python3").Where(File.Exists).Distinct();
        foreach (var candidate in candidates)
        {
            using var check = Process.Start(new ProcessStartInfo(candidate, ["-c", "import jwt, cryptography; jwt.PyJWKClient"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            check.WaitForExit(TimeSpan.FromSeconds(20));
            if (check.HasExited && check.ExitCode == 0)
            {
                return candidate;
            }
        }
        return null;
    }
}
