using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteMcpServerTests() : McpServerTests(StorageProvider.Sqlite);

public sealed class PostgresMcpServerTests() : McpServerTests(StorageProvider.Postgres);

/// <summary>The MCP endpoint over real HTTP on a loopback port, driven by the official C# MCP client and by the official
/// TypeScript SDK client (Node), while an approver decides through the REST API.</summary>
public abstract class McpServerTests(StorageProvider provider) : IAsyncLifetime
{
    private static readonly string[] ToolNames = ["answer_question", "cancel_approval", "check_policy", "get_approval", "request_approval", "wait_for_decision"];

    private AgentSentinelApp _app = null!;
    private Uri _baseUrl = null!;
    private string _agentKey = null!;
    private HttpClient _approver = null!;

    private static CancellationToken Ct => Http.Ct;

    public async ValueTask InitializeAsync()
    {
        _app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "mcp"));
        _baseUrl = _app.StartOnLoopback();
        _agentKey = await _app.CreateKeyAsync("mcp-agent", [Scopes.Agent], agentIds: ["mcp-agent", "billing-agent"]);
        _approver = _app.Client(await _app.CreateKeyAsync("mcp approver", [Scopes.Approver], "approver@example.com"));
    }

    public async ValueTask DisposeAsync()
    {
        _approver.Dispose();
        await _app.DisposeAsync();
    }

    private Task<McpClient> ConnectAsync(string? key = null, string scheme = "ApiKey")
    {
        var headers = new Dictionary<string, string>();
        if ((key ?? _agentKey) is { Length: > 0 } k)
        {
            headers["Authorization"] = $"{scheme} {k}";
        }
        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(_baseUrl, "mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = headers,
        });
        return McpClient.CreateAsync(transport, cancellationToken: Ct);
    }

    private static Task<CallToolResult> CallAsync(McpClient client, string tool, object? arguments = null, IProgress<ProgressNotificationValue>? progress = null)
    {
        var args = arguments is null
            ? new Dictionary<string, object?>()
            : JsonSerializer.SerializeToElement(arguments).EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value);
        return client.CallToolAsync(tool, args, progress, cancellationToken: Ct).AsTask();
    }

    private static string Text(CallToolResult result) => string.Join("\n", result.Content.OfType<TextContentBlock>().Select(c => c.Text));

    private static JsonNode Structured(CallToolResult result)
    {
        Assert.False(result.IsError == true, Text(result));
        Assert.NotNull(result.StructuredContent);
        return JsonNode.Parse(result.StructuredContent.Value.GetRawText())!;
    }

    private static void AssertToolError(CallToolResult result, string contains)
    {
        Assert.True(result.IsError == true, $"expected a tool error, got: {Text(result)}");
        Assert.Contains(contains, Text(result), StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The request an agent just made, found by the approver while the agent's tool call still waits.</summary>
    private async Task<string> FindPendingAsync(string actionName)
    {
        var until = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var page = await (await _approver.GetAsync($"/api/v1/approvals?action_name={actionName}&status=pending", Ct)).Json();
            if (page["items"]!.AsArray().FirstOrDefault() is { } item)
            {
                return item.Id();
            }
            Assert.True(DateTime.UtcNow < until, $"no pending request named {actionName}");
            await Task.Delay(25, Ct);
        }
    }

    private async Task DecideAsync(string id, string action, object body)
    {
        var response = await _approver.PostJsonAsync($"/api/v1/approvals/{id}/{action}", body);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync(Ct));
    }

    private static string Unique(string prefix) => $"{prefix}_{Guid.NewGuid():N}";

    [Fact]
    public async Task Tools_are_listed_with_snake_case_json_schemas_and_output_schemas()
    {
        await using var client = await ConnectAsync();
        var tools = await client.ListToolsAsync(cancellationToken: Ct);
        Assert.Equal(ToolNames, tools.Select(t => t.Name).Order(StringComparer.Ordinal));
        var request = tools.Single(t => t.Name == "request_approval").ProtocolTool;
        var schema = JsonNode.Parse(request.InputSchema.GetRawText())!;
        Assert.Equal("object", schema["type"]!.GetValue<string>());
        Assert.Equal(
            ["action_name", "action_description", "agent_id", "run_id", "task_id", "mission_id", "priority", "risk_level", "estimated_cost",
             "timeout_seconds", "action_inputs", "context", "wait_seconds", "idempotency_key"],
            schema["properties"]!.AsObject().Select(p => p.Key));
        Assert.Equal(["action_name"], schema["required"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(55, schema["properties"]!["wait_seconds"]!["maximum"]!.GetValue<int>());
        Assert.Equal(50, schema["properties"]!["wait_seconds"]!["default"]!.GetValue<int>());
        Assert.Equal(Core.Approvals.WireNames.Priorities, schema["properties"]!["priority"]!["enum"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.NotNull(request.OutputSchema);
        Assert.False(string.IsNullOrWhiteSpace(request.Description));

        var argumentsOf = tools.ToDictionary(t => t.Name, t => JsonNode.Parse(t.ProtocolTool.InputSchema.GetRawText())!["properties"]!.AsObject().Select(p => p.Key).ToList());
        Assert.Equal(["approval_id", "wait_seconds"], argumentsOf["wait_for_decision"]);
        Assert.Equal(["approval_id"], argumentsOf["get_approval"]);
        Assert.Equal(["approval_id", "response"], argumentsOf["answer_question"]);
        Assert.Equal(["approval_id"], argumentsOf["cancel_approval"]);
        Assert.Equal(["action_name", "cost_usd", "agent_id", "run_id", "risk_level", "priority"], argumentsOf["check_policy"]);
        Assert.All(tools, t => Assert.False(JsonNode.Parse(t.ProtocolTool.InputSchema.GetRawText())!["additionalProperties"]!.GetValue<bool>()));
    }

    [Fact]
    public async Task A_decision_made_while_request_approval_waits_is_returned()
    {
        await using var client = await ConnectAsync();
        var action = Unique("mcp_approve");
        var call = CallAsync(client, "request_approval", new
        {
            action_name = action,
            action_description = "Pay invoice 42",
            agent_id = "billing-agent",
            estimated_cost = 120.5,
            risk_level = "medium",
            action_inputs = new { invoice = 42, amount = 120.5 },
            wait_seconds = 30,
        });
        var id = await FindPendingAsync(action);
        Assert.False(call.IsCompleted, "request_approval answered before the decision");
        await DecideAsync(id, "approve", new { notes = "paid it before" });

        var result = await call;
        var approval = Structured(result);
        Assert.Equal(id, approval.Id());
        Assert.Equal("approved", approval.Str("status"));
        Assert.Equal("approver@example.com", approval.Str("decided_by_email"));
        Assert.Equal(42, approval["action_inputs"]!["invoice"]!.GetValue<int>());
        Assert.Contains("Approved by approver@example.com", Text(result), StringComparison.Ordinal);
        Assert.Contains("paid it before", Text(result), StringComparison.Ordinal);

        // The structured content is the REST API's approval object (get_approval: the same as GET /api/v1/approvals/{id}).
        var rest = await (await _app.Client().GetAsync($"/api/v1/approvals/{id}", Ct)).Json();
        var viaMcp = Structured(await CallAsync(client, "get_approval", new { approval_id = id }));
        Assert.True(JsonNode.DeepEquals(rest, viaMcp), $"REST: {rest.ToJsonString()}\nMCP: {viaMcp.ToJsonString()}");
        Assert.Equal("mcp", rest["events"]!.AsArray()[0]!.Str("surface"));
    }

    [Fact]
    public async Task Pending_after_wait_seconds_with_progress_notifications_then_wait_for_decision_returns_the_decision()
    {
        await using var client = await ConnectAsync();
        var progress = new RecordingProgress();
        var stopwatch = Stopwatch.StartNew();
        var result = await CallAsync(client, "request_approval", new { action_name = Unique("mcp_pending"), wait_seconds = 6 }, progress);
        Assert.InRange(stopwatch.Elapsed.TotalSeconds, 5.5, 20);
        var pending = Structured(result);
        Assert.Equal("pending", pending.Str("status"));
        var id = pending.Id();
        Assert.Contains("wait_for_decision", Text(result), StringComparison.Ordinal);
        Assert.Contains(id, Text(result), StringComparison.Ordinal);
        // One at once and one every 5 s, counting the seconds waited out of wait_seconds (the client may hand the
        // last one over just after the result).
        await LoopbackHost.WaitForAsync(() => progress.Values.Count >= 2 ? progress : null, TimeSpan.FromSeconds(5),
            () => $"{progress.Values.Count} progress notifications");
        var values = progress.Values.ToList();
        Assert.All(values, v => Assert.Equal(6f, v.Total));
        Assert.Equal(values.Select(v => v.Progress).Order(), values.Select(v => v.Progress));
        Assert.Contains(values, v => v.Progress >= 5);
        Assert.All(values, v => Assert.Contains("Waiting for a person", v.Message, StringComparison.Ordinal));

        var waiting = CallAsync(client, "wait_for_decision", new { approval_id = id, wait_seconds = 30 });
        await Task.Delay(200, Ct);
        Assert.False(waiting.IsCompleted);
        await DecideAsync(id, "reject", new { reason = "not this quarter" });
        var decided = await waiting;
        Assert.Equal("rejected", Structured(decided).Str("status"));
        Assert.Contains("Do not perform", Text(decided), StringComparison.Ordinal);
        Assert.Contains("not this quarter", Text(decided), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_question_is_returned_answered_and_then_decided()
    {
        await using var client = await ConnectAsync();
        var action = Unique("mcp_question");
        var call = CallAsync(client, "request_approval", new { action_name = action, wait_seconds = 30 });
        var id = await FindPendingAsync(action);
        await DecideAsync(id, "request-info", new { question = "Which account?" });
        var asked = await call;
        Assert.Equal("info_requested", Structured(asked).Str("status"));
        Assert.Contains("Which account?", Text(asked), StringComparison.Ordinal);
        Assert.Contains("answer_question", Text(asked), StringComparison.Ordinal);

        var answered = await CallAsync(client, "answer_question", new { approval_id = id, response = "The savings account." });
        Assert.Equal("pending", Structured(answered).Str("status"));
        Assert.Equal("The savings account.", Structured(answered).Str("info_response"));

        var waiting = CallAsync(client, "wait_for_decision", new { approval_id = id, wait_seconds = 30 });
        await DecideAsync(id, "approve", new { });
        Assert.Equal("approved", Structured(await waiting).Str("status"));

        // Answering again, with nothing asked, is refused with the REST API's sentence.
        AssertToolError(await CallAsync(client, "answer_question", new { approval_id = id, response = "again" }), "already approved");
    }

    [Fact]
    public async Task Cancel_approval_withdraws_the_request()
    {
        await using var client = await ConnectAsync();
        var created = Structured(await CallAsync(client, "request_approval", new { action_name = Unique("mcp_cancel"), wait_seconds = 0 }));
        Assert.Equal("pending", created.Str("status"));
        var cancelled = await CallAsync(client, "cancel_approval", new { approval_id = created.Id() });
        Assert.Equal("cancelled", Structured(cancelled).Str("status"));
        Assert.Contains("Cancelled", Text(cancelled), StringComparison.Ordinal);
        var poll = await (await _approver.GetAsync($"/api/v1/approvals/{created.Id()}/poll", Ct)).Json();
        Assert.Equal("cancelled", poll.Str("status"));
        var events = (await (await _approver.GetAsync($"/api/v1/approvals/{created.Id()}", Ct)).Json())["events"]!.AsArray();
        Assert.All(events, e => Assert.Equal("mcp", e!.Str("surface")));
        AssertToolError(await CallAsync(client, "cancel_approval", new { approval_id = created.Id() }), "cancelled");
    }

    [Fact]
    public async Task A_retry_with_the_same_idempotency_key_returns_the_same_request_stored_once()
    {
        await using var client = await ConnectAsync();
        var action = Unique("mcp_retry");
        var key = Guid.NewGuid().ToString("N");
        var first = Structured(await CallAsync(client, "request_approval", new { action_name = action, idempotency_key = key, wait_seconds = 0, action_inputs = new { a = 1, b = 2 } }));
        // The same arguments in another order, waiting differently: the same request.
        var retry = await CallAsync(client, "request_approval", new { wait_seconds = 1, action_inputs = new { a = 1, b = 2 }, idempotency_key = key, action_name = action });
        Assert.Equal(first.Id(), Structured(retry).Id());
        Assert.Contains("no new request was created", Text(retry), StringComparison.Ordinal);
        var stored = await (await _approver.GetAsync($"/api/v1/approvals?action_name={action}", Ct)).Json();
        Assert.Single(stored["items"]!.AsArray());

        // The same key for different arguments is refused, and still nothing new is stored.
        AssertToolError(await CallAsync(client, "request_approval", new { action_name = action, idempotency_key = key, wait_seconds = 0, action_inputs = new { a = 2 } }),
            "already used for a different request");
        stored = await (await _approver.GetAsync($"/api/v1/approvals?action_name={action}", Ct)).Json();
        Assert.Single(stored["items"]!.AsArray());
    }

    [Fact]
    public async Task Another_agents_request_is_refused()
    {
        await using var owner = await ConnectAsync();
        var id = Structured(await CallAsync(owner, "request_approval", new { action_name = Unique("mcp_owned"), wait_seconds = 0 })).Id();
        await using var stranger = await ConnectAsync(await _app.CreateKeyAsync("other mcp agent", [Scopes.Agent]), "Bearer");
        AssertToolError(await CallAsync(stranger, "get_approval", new { approval_id = id }), "No approval request has the id");
        AssertToolError(await CallAsync(stranger, "wait_for_decision", new { approval_id = id, wait_seconds = 0 }), "No approval request has the id");
        AssertToolError(await CallAsync(stranger, "cancel_approval", new { approval_id = id }), "No approval request has the id");
        AssertToolError(await CallAsync(stranger, "answer_question", new { approval_id = id, response = "hi" }), "No approval request has the id");
        var poll = await (await _approver.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).Json();
        Assert.Equal("pending", poll.Str("status"));
        Assert.Equal("pending", Structured(await CallAsync(owner, "get_approval", new { approval_id = id })).Str("status"));
    }

    [Fact]
    public async Task Bad_arguments_are_tool_errors_with_a_sentence()
    {
        await using var client = await ConnectAsync();
        AssertToolError(await CallAsync(client, "request_approval", new { wait_seconds = 0 }), "'action_name' is required");
        AssertToolError(await CallAsync(client, "request_approval", new { action_name = "x", wait_seconds = 56 }), "'wait_seconds' must be a whole number between 0 and 55");
        AssertToolError(await CallAsync(client, "request_approval", new { action_name = "x", priority = "urgent" }), "'priority' must be one of");
        AssertToolError(await CallAsync(client, "request_approval", new { action_name = "x", action_inputs = "not an object" }), "'action_inputs' must be a JSON object");
        AssertToolError(await CallAsync(client, "request_approval", new { action_name = "x", timeout_seconds = 0 }), "'timeout_seconds' must be a whole number");
        AssertToolError(await CallAsync(client, "request_approval", new { action_name = "x", callback_url = "https://example.com/" }), "'callback_url' is not an argument of request_approval");
        AssertToolError(await CallAsync(client, "request_approval", new { action_name = "x", idempotency_key = "tab\there" }), "printable ASCII");
        AssertToolError(await CallAsync(client, "get_approval", new { approval_id = "not-a-uuid" }), "is not an approval id");
        AssertToolError(await CallAsync(client, "get_approval"), "'approval_id' is required");
        AssertToolError(await CallAsync(client, "wait_for_decision", new { approval_id = Guid.NewGuid() }), "No approval request has the id");
        AssertToolError(await CallAsync(client, "answer_question", new { approval_id = Guid.NewGuid(), response = 5 }), "'response' must be a string");
        AssertToolError(await CallAsync(client, "check_policy", new { action_name = "x", cost_usd = -1 }), "'cost_usd' must be a number between 0");
        // Nothing was created by any of them.
        var stored = await (await _approver.GetAsync("/api/v1/approvals?action_name=x", Ct)).Json();
        Assert.Empty(stored["items"]!.AsArray());
    }

    [Fact]
    public async Task Check_policy_answers_from_the_server_policy()
    {
        await using var client = await ConnectAsync();
        var result = await CallAsync(client, "check_policy", new { action_name = "delete_database", cost_usd = 10, agent_id = "ops", run_id = "r1" });
        var check = Structured(result);
        var rest = await (await _approver.PostAsync("/api/v1/approvals/check?action_name=delete_database&cost_usd=10&agent_id=ops&run_id=r1", null, Ct)).Json();
        Assert.True(JsonNode.DeepEquals(rest, check), $"REST: {rest.ToJsonString()}\nMCP: {check.ToJsonString()}");
        Assert.Contains("delete_database", Text(result), StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_key_or_a_wrong_key_is_401_and_a_key_without_the_agent_scope_403_before_any_mcp_traffic()
    {
        const string initialize = """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}""";
        using var http = new HttpClient { BaseAddress = _baseUrl };
        async Task<HttpResponseMessage> PostAsync(string? authorization)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = new StringContent(initialize, Encoding.UTF8, "application/json") };
            request.Headers.Accept.ParseAdd("application/json, text/event-stream");
            if (authorization is not null)
            {
                request.Headers.Authorization = AuthenticationHeaderValue.Parse(authorization);
            }
            return await http.SendAsync(request, Ct);
        }

        await (await PostAsync(null)).AssertProblemAsync(HttpStatusCode.Unauthorized, "API key is required");
        await (await PostAsync("ApiKey as_wrong_key")).AssertProblemAsync(HttpStatusCode.Unauthorized, "not valid");
        await (await PostAsync("Bearer as_wrong_key")).AssertProblemAsync(HttpStatusCode.Unauthorized, "not valid");
        var approverKey = await _app.CreateKeyAsync("approver only", [Scopes.Approver], "only@example.com");
        await (await PostAsync($"ApiKey {approverKey}")).AssertProblemAsync(HttpStatusCode.Forbidden, "scope");
        Assert.Equal(HttpStatusCode.OK, (await PostAsync($"Bearer {_agentKey}")).StatusCode);
        var adminKey = await _app.CreateKeyAsync("admin", [Scopes.Admin], "admin@example.com");
        Assert.Equal(HttpStatusCode.OK, (await PostAsync($"ApiKey {adminKey}")).StatusCode);

        var refused = await Assert.ThrowsAnyAsync<Exception>(() => ConnectAsync(""));
        Assert.Contains("401", refused.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_official_typescript_sdk_client_completes_every_workflow()
    {
        var root = Repository.Root;
        if (!Directory.Exists(Path.Combine(root, "tests", "mcp", "node_modules", "@modelcontextprotocol", "sdk")))
        {
            Assert.True(!PostgresServer.IsCi, "tests/mcp/node_modules is required when CI=true (npm ci --prefix tests/mcp)");
            Assert.Skip("The TypeScript MCP SDK is not installed: run npm ci --prefix tests/mcp");
        }
        var otherKey = await _app.CreateKeyAsync("other ts agent", [Scopes.Agent]);
        var approverKey = await _app.CreateKeyAsync("ts approver", [Scopes.Approver], "ts-approver@example.com");
        var psi = new ProcessStartInfo("node", [Path.Combine(root, "tests", "mcp", "client.js"), _baseUrl.ToString(), _agentKey, otherKey, approverKey])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct).WaitAsync(TimeSpan.FromSeconds(120), Ct);
        Assert.True(process.ExitCode == 0, await stderr + await stdout);
        var output = JsonNode.Parse(await stdout)!;

        var tools = output["tools"]!.AsArray();
        Assert.Equal(ToolNames, tools.Select(t => t!.Str("name")).Order(StringComparer.Ordinal));
        var request = tools.Single(t => t!.Str("name") == "request_approval")!;
        Assert.Contains("idempotency_key", request["properties"]!.AsArray().Select(p => p!.GetValue<string>()));
        Assert.Equal(["action_name"], request["required"]!.AsArray().Select(p => p!.GetValue<string>()));
        Assert.All(tools, t => Assert.True(t!["has_output_schema"]!.GetValue<bool>()));

        var approved = output["approved"]!;
        Assert.False(approved["is_error"]!.GetValue<bool>(), approved.ToJsonString());
        Assert.Equal("approved", approved["structured"]!.Str("status"));
        Assert.Equal("ts-approver@example.com", approved["structured"]!.Str("decided_by_email"));
        Assert.Contains("fine by me", approved.Str("text"), StringComparison.Ordinal);

        var pending = output["pending"]!;
        Assert.Equal("pending", pending["first"]!["structured"]!.Str("status"));
        Assert.Contains("wait_for_decision", pending["first"]!.Str("text"), StringComparison.Ordinal);
        Assert.True(pending["progress"]!.AsArray().Count >= 2, pending.ToJsonString());
        Assert.Equal(6, pending["progress"]!.AsArray()[0]!["total"]!.GetValue<int>());
        Assert.Equal("approved", pending["then"]!["structured"]!.Str("status"));

        var question = output["question"]!;
        Assert.Equal("info_requested", question["asked"]!["structured"]!.Str("status"));
        Assert.Contains("Which account?", question["asked"]!.Str("text"), StringComparison.Ordinal);
        Assert.Equal("pending", question["answered"]!["structured"]!.Str("status"));
        Assert.Equal("The savings account.", question["answered"]!["structured"]!.Str("info_response"));
        Assert.Equal("approved", question["decided"]!["structured"]!.Str("status"));

        Assert.Equal("pending", output["cancel"]!["created"]!["structured"]!.Str("status"));
        Assert.Equal("cancelled", output["cancel"]!["cancelled"]!["structured"]!.Str("status"));

        var retry = output["retry"]!;
        Assert.Equal(retry["first"]!["structured"]!.Id(), retry["second"]!["structured"]!.Id());
        Assert.Equal(1, retry["stored"]!.GetValue<int>());

        foreach (var refusal in new[] { output["stranger"]!["get"]!, output["stranger"]!["cancel"]! })
        {
            Assert.True(refusal["is_error"]!.GetValue<bool>(), refusal.ToJsonString());
            Assert.Contains("No approval request has the id", refusal.Str("text"), StringComparison.Ordinal);
        }
        Assert.Contains("'action_name' is required", output["bad"]!["missing"]!.Str("text"), StringComparison.Ordinal);
        Assert.True(output["bad"]!["too_long_wait"]!["is_error"]!.GetValue<bool>());
        Assert.Equal(401, output["unauthorized"]!["none"]!["code"]!.GetValue<int>());
        Assert.Equal(401, output["unauthorized"]!["wrong"]!["code"]!.GetValue<int>());
    }

    /// <summary>Records progress notifications as they arrive (Progress&lt;T&gt; would post them later).</summary>
    private sealed class RecordingProgress : IProgress<ProgressNotificationValue>
    {
        public ConcurrentQueue<ProgressNotificationValue> Values { get; } = new();

        public void Report(ProgressNotificationValue value) => Values.Enqueue(value);
    }
}

/// <summary>The MCP endpoint's setting.</summary>
public sealed class McpSettingTests
{
    [Fact]
    public async Task The_mcp_endpoint_is_removed_when_disabled()
    {
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "mcp-off"),
            settings: new Dictionary<string, string?> { ["AgentSentinel:Mcp:Enabled"] = "false" });
        using var agent = app.Client(await app.CreateKeyAsync("agent", [Scopes.Agent]));
        var response = await agent.PostRawAsync("/mcp", """{"jsonrpc":"2.0","id":1,"method":"tools/list"}""");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        // The REST API is unaffected.
        await agent.CreateApprovalAsync();
    }
}
