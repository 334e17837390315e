using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using AgentSentinel.Core.Auth;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteApprovalsApiTests(SqliteAppFixture fixture) : ApprovalsApiTests(fixture), IClassFixture<SqliteAppFixture>;

public sealed class PostgresApprovalsApiTests(PostgresAppFixture fixture) : ApprovalsApiTests(fixture), IClassFixture<PostgresAppFixture>;

/// <summary>The agent and approver API through the real HTTP pipeline, on each provider.</summary>
public abstract partial class ApprovalsApiTests(AppFixture fixture)
{
    private AgentSentinelApp App => fixture.App;
    private static CancellationToken Ct => Http.Ct;

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")]
    private static partial Regex WireTimestamp();

    private async Task<HttpClient> AgentAsync(string name = "agent")
    {
        var key = await App.CreateKeyAsync(name, [Scopes.Agent], agentIds: [name, "trading-agent"]);
        return App.Client(key);
    }

    private async Task<HttpClient> ApproverAsync(string email)
    {
        var key = await App.CreateKeyAsync($"approver {email}", [Scopes.Approver], email);
        return App.Client(key);
    }

    /// <summary>The body exactly as the Python SDK sends it: every key present, nulls where unset.</summary>
    private static object SdkBody(string action = "execute_trade", int timeout = 600) => new Dictionary<string, object?>
    {
        ["action_name"] = action,
        ["action_description"] = "Execute trade: Buy 100 shares AAPL",
        ["agent_id"] = "trading-agent",
        ["run_id"] = "run-789",
        ["task_id"] = null,
        ["mission_id"] = null,
        ["estimated_cost"] = 15000.0,
        ["risk_level"] = "medium",
        ["priority"] = "medium",
        ["timeout_seconds"] = timeout,
        ["action_inputs"] = new { symbol = "AAPL", quantity = 100, side = "BUY" },
        ["context"] = null,
        ["callback_url"] = null,
    };

    [Fact]
    public async Task Create_answers_201_with_location_and_the_sdk_wire_format()
    {
        using var agent = await AgentAsync();
        var response = await agent.PostAsJsonAsync("/api/v1/approvals", SdkBody(), Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var json = await response.Json();
        var id = json.Id();
        Assert.True(Guid.TryParse(id, out _));
        Assert.Equal($"/api/v1/approvals/{id}", response.Headers.Location!.OriginalString);
        Assert.Equal("pending", json.Str("status"));
        Assert.Equal(id, json.Str("approval_id"));
        Assert.Matches(WireTimestamp(), json.Str("created_at"));
        Assert.Matches(WireTimestamp(), json.Str("expires_at"));
        var created = DateTimeOffset.Parse(json.Str("created_at")!, System.Globalization.CultureInfo.InvariantCulture);
        var expires = DateTimeOffset.Parse(json.Str("expires_at")!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(TimeSpan.FromSeconds(600), expires - created);
        Assert.Equal("AAPL", json["action_inputs"]!["symbol"]!.GetValue<string>());
        Assert.Equal(15000.0m, json["estimated_cost"]!.GetValue<decimal>());
        // Every field the SDK reads is present, null or not.
        foreach (var field in new[] { "decided_at", "decided_by_email", "decision_notes", "info_request_message" })
        {
            Assert.True(json.AsObject().ContainsKey(field), field);
        }
    }

    [Fact]
    public async Task Both_ApiKey_and_Bearer_schemes_authenticate_and_bad_keys_get_401_problems()
    {
        var key = await App.CreateKeyAsync("schemes", [Scopes.Agent]);
        using var apiKey = App.Client(key, "ApiKey");
        using var bearer = App.Client(key, "Bearer");
        var created = await apiKey.CreateApprovalAsync();
        var poll = await bearer.GetAsync($"/api/v1/approvals/{created.Id()}/poll", Ct);
        Assert.Equal(HttpStatusCode.OK, poll.StatusCode);

        using var none = App.Client(null);
        await (await none.GetAsync($"/api/v1/approvals/{created.Id()}/poll", Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized);
        using var wrong = App.Client("as_not_a_real_key");
        var unauthorized = await wrong.PostJsonAsync("/api/v1/approvals", new { action_name = "x" });
        await unauthorized.AssertProblemAsync(HttpStatusCode.Unauthorized, "not valid");
        using var basic = App.Client(key, "Basic");
        await (await basic.GetAsync("/api/v1/approvals", Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized, "ApiKey");
    }

    [Fact]
    public async Task An_approval_is_seen_by_polling_with_the_approvers_email_and_notes()
    {
        using var agent = await AgentAsync();
        using var approver = await ApproverAsync("alice@example.com");
        var id = (await agent.CreateApprovalAsync(SdkBody())).Id();

        var approve = await approver.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = "Rebalancing is fine" });
        Assert.Equal(HttpStatusCode.OK, approve.StatusCode);
        var poll = await (await agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).Json();
        Assert.Equal("approved", poll.Str("status"));
        Assert.Equal("alice@example.com", poll.Str("decided_by_email"));
        Assert.Equal("Rebalancing is fine", poll.Str("decision_notes"));
        Assert.Matches(WireTimestamp(), poll.Str("decided_at"));
        Assert.Equal("api", poll.Str("decided_via"));
    }

    [Fact]
    public async Task A_rejection_needs_a_reason_and_is_reported_as_decision_notes()
    {
        using var agent = await AgentAsync();
        using var approver = await ApproverAsync("bob@example.com");
        var id = (await agent.CreateApprovalAsync()).Id();

        await (await approver.PostJsonAsync($"/api/v1/approvals/{id}/reject", null)).AssertProblemAsync(HttpStatusCode.BadRequest, "required");
        await (await approver.PostJsonAsync($"/api/v1/approvals/{id}/reject", new { reason = "   " })).AssertProblemAsync(HttpStatusCode.BadRequest, "empty");
        Assert.Equal("pending", (await (await agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).Json()).Str("status"));

        var reject = await (await approver.PostJsonAsync($"/api/v1/approvals/{id}/reject", new { reason = "Too risky" })).Json();
        Assert.Equal("rejected", reject.Str("status"));
        Assert.Equal("Too risky", reject.Str("decision_notes"));
        Assert.Equal("bob@example.com", reject.Str("decided_by_email"));
    }

    [Fact]
    public async Task A_second_decision_gets_409_naming_who_decided()
    {
        using var agent = await AgentAsync();
        using var alice = await ApproverAsync("alice2@example.com");
        using var bob = await ApproverAsync("bob2@example.com");
        var id = (await agent.CreateApprovalAsync()).Id();
        Assert.Equal(HttpStatusCode.OK, (await alice.PostJsonAsync($"/api/v1/approvals/{id}/approve", null)).StatusCode);
        var second = await bob.PostJsonAsync($"/api/v1/approvals/{id}/reject", new { reason = "no" });
        var text = await second.Content.ReadAsStringAsync(Ct);
        await second.AssertProblemAsync(HttpStatusCode.Conflict, "alice2@example.com");
        var problem = JsonNode.Parse(text)!;
        Assert.Equal("approved", problem.Str("current_status"));
        Assert.Equal("alice2@example.com", problem.Str("decided_by_email"));
    }

    [Fact]
    public async Task Concurrent_decisions_through_the_api_produce_exactly_one_winner()
    {
        using var agent = await AgentAsync();
        var approvers = new List<HttpClient>();
        for (var i = 0; i < 8; i++)
        {
            approvers.Add(await ApproverAsync($"racer{i}@example.com"));
        }
        var id = (await agent.CreateApprovalAsync()).Id();
        var responses = await Task.WhenAll(approvers.Select((c, i) => i % 2 == 0
            ? c.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = $"n{i}" })
            : c.PostJsonAsync($"/api/v1/approvals/{id}/reject", new { reason = $"r{i}" })));
        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        Assert.All(responses.Where(r => r.StatusCode != HttpStatusCode.OK), r => Assert.Equal(HttpStatusCode.Conflict, r.StatusCode));
        var detail = await (await agent.GetAsync($"/api/v1/approvals/{id}", Ct)).Json();
        Assert.Single(detail["events"]!.AsArray(), e => e!.Str("kind") is "approved" or "rejected");
        approvers.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task Agent_keys_cannot_decide_and_approver_keys_cannot_create()
    {
        using var agent = await AgentAsync();
        using var approver = await ApproverAsync("carol@example.com");
        var id = (await agent.CreateApprovalAsync()).Id();
        await (await agent.PostJsonAsync($"/api/v1/approvals/{id}/approve", null)).AssertProblemAsync(HttpStatusCode.Forbidden);
        await (await approver.PostJsonAsync("/api/v1/approvals", new { action_name = "x" })).AssertProblemAsync(HttpStatusCode.Forbidden);
        await (await agent.GetAsync("/api/v1/admin/api-keys", Ct)).AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task The_requester_cannot_decide_its_own_request_even_with_every_scope()
    {
        var key = await App.CreateKeyAsync("all scopes", [Scopes.Agent, Scopes.Approver], "self@example.com");
        using var both = App.Client(key);
        var id = (await both.CreateApprovalAsync()).Id();
        await (await both.PostJsonAsync($"/api/v1/approvals/{id}/approve", null)).AssertProblemAsync(HttpStatusCode.Forbidden, "cannot decide");
    }

    [Fact]
    public async Task The_same_person_cannot_decide_through_another_key()
    {
        var agentKey = await App.CreateKeyAsync("pat's agent", [Scopes.Agent], "pat@example.com");
        var approverKey = await App.CreateKeyAsync("pat approving", [Scopes.Approver], "Pat@Example.com");
        using var agent = App.Client(agentKey);
        using var approver = App.Client(approverKey);
        var id = (await agent.CreateApprovalAsync()).Id();
        await (await approver.PostJsonAsync($"/api/v1/approvals/{id}/approve", null)).AssertProblemAsync(HttpStatusCode.Forbidden, "cannot decide");
        Assert.Equal("pending", (await (await agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).Json()).Str("status"));
    }

    [Fact]
    public async Task Only_the_requesting_agent_or_an_admin_may_cancel_or_answer()
    {
        using var owner = await AgentAsync("owner");
        var both = await App.CreateKeyAsync("agent and approver", [Scopes.Agent, Scopes.Approver], "both@example.com");
        using var other = App.Client(both);
        using var approver = await ApproverAsync("ivy@example.com");
        var id = (await owner.CreateApprovalAsync()).Id();
        // May read it (it approves things), but not act as its agent.
        Assert.Equal(HttpStatusCode.OK, (await other.GetAsync($"/api/v1/approvals/{id}", Ct)).StatusCode);
        await (await other.PostJsonAsync($"/api/v1/approvals/{id}/cancel", null)).AssertProblemAsync(HttpStatusCode.Forbidden, "Only the agent");
        await approver.PostJsonAsync($"/api/v1/approvals/{id}/request-info", new { question = "Why?" });
        await (await other.PostJsonAsync($"/api/v1/approvals/{id}/respond", new { response = "not mine" })).AssertProblemAsync(HttpStatusCode.Forbidden);
        using var admin = App.Client();
        Assert.Equal(HttpStatusCode.OK, (await admin.PostJsonAsync($"/api/v1/approvals/{id}/cancel", null)).StatusCode);
    }

    [Fact]
    public async Task Wait_answers_at_once_while_the_agent_owes_an_answer()
    {
        using var agent = await AgentAsync();
        using var approver = await ApproverAsync("judy@example.com");
        var id = (await agent.CreateApprovalAsync()).Id();
        await approver.PostJsonAsync($"/api/v1/approvals/{id}/request-info", new { question = "Which account?" });
        var clock = Stopwatch.StartNew();
        var result = await (await agent.GetAsync($"/api/v1/approvals/{id}/wait?timeout_seconds=20", Ct)).Json();
        Assert.Equal("info_requested", result.Str("status"));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task Amounts_read_the_same_on_every_provider_and_every_call()
    {
        using var agent = await AgentAsync();
        var created = await agent.CreateApprovalAsync(new { action_name = "pay", estimated_cost = 2500.0 });
        var detail = await (await agent.GetAsync($"/api/v1/approvals/{created.Id()}", Ct)).Json();
        Assert.Equal("2500", created["estimated_cost"]!.ToJsonString());
        Assert.Equal("2500", detail["estimated_cost"]!.ToJsonString());
        var cents = await agent.CreateApprovalAsync(new { action_name = "pay", estimated_cost = 0.10 });
        Assert.Equal("0.1", (await (await agent.GetAsync($"/api/v1/approvals/{cents.Id()}", Ct)).Json())["estimated_cost"]!.ToJsonString());
    }

    [Fact]
    public async Task Agents_see_only_their_own_requests()
    {
        using var first = await AgentAsync("first");
        using var second = await AgentAsync("second");
        var id = (await first.CreateApprovalAsync(new { action_name = "mine_only" })).Id();
        await (await second.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await second.GetAsync($"/api/v1/approvals/{id}", Ct)).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await second.PostJsonAsync($"/api/v1/approvals/{id}/cancel", null)).AssertProblemAsync(HttpStatusCode.NotFound);
        var list = await (await second.GetAsync("/api/v1/approvals?action_name=mine_only", Ct)).Json();
        Assert.Empty(list["items"]!.AsArray());
        var own = await (await first.GetAsync("/api/v1/approvals?action_name=mine_only", Ct)).Json();
        Assert.Single(own["items"]!.AsArray());
        using var admin = App.Client();
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync($"/api/v1/approvals/{id}", Ct)).StatusCode);
    }

    [Fact]
    public async Task Cancel_takes_an_empty_body_and_a_second_cancel_is_409()
    {
        using var agent = await AgentAsync();
        var id = (await agent.CreateApprovalAsync()).Id();
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/approvals/{id}/cancel") { Content = new StringContent("", null, "application/json") };
        var cancel = await agent.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.Equal("cancelled", (await cancel.Json()).Str("status"));
        await (await agent.PostJsonAsync($"/api/v1/approvals/{id}/cancel", null)).AssertProblemAsync(HttpStatusCode.Conflict, "cancelled");
    }

    [Fact]
    public async Task Request_info_then_respond_brings_the_request_back_to_pending()
    {
        using var agent = await AgentAsync();
        using var approver = await ApproverAsync("dana@example.com");
        var id = (await agent.CreateApprovalAsync()).Id();
        await (await approver.PostJsonAsync($"/api/v1/approvals/{id}/request-info", new { })).AssertProblemAsync(HttpStatusCode.BadRequest, "question");
        var asked = await (await approver.PostJsonAsync($"/api/v1/approvals/{id}/request-info", new { question = "Which account?" })).Json();
        Assert.Equal("info_requested", asked.Str("status"));
        var poll = await (await agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).Json();
        Assert.Equal("info_requested", poll.Str("status"));
        Assert.Equal("Which account?", poll.Str("info_request_message"));

        await (await agent.PostJsonAsync($"/api/v1/approvals/{id}/respond", new { })).AssertProblemAsync(HttpStatusCode.BadRequest, "response");
        var answered = await (await agent.PostJsonAsync($"/api/v1/approvals/{id}/respond", new { response = "Savings 123" })).Json();
        Assert.Equal("pending", answered.Str("status"));
        Assert.Equal("Savings 123", answered.Str("info_response"));
        await (await agent.PostJsonAsync($"/api/v1/approvals/{id}/respond", new { response = "again" })).AssertProblemAsync(HttpStatusCode.Conflict);

        var detail = await (await agent.GetAsync($"/api/v1/approvals/{id}", Ct)).Json();
        Assert.Equal(["created", "info_requested", "info_provided"], detail["events"]!.AsArray().Select(e => e!.Str("kind")));
        Assert.Equal("dana@example.com", detail["events"]![1]!.Str("actor"));
    }

    [Fact]
    public async Task Wait_returns_within_milliseconds_of_a_decision()
    {
        using var agent = await AgentAsync();
        using var approver = await ApproverAsync("erin@example.com");
        var id = (await agent.CreateApprovalAsync()).Id();
        var waiting = agent.GetAsync($"/api/v1/approvals/{id}/wait?timeout_seconds=20", Ct);
        await Task.Delay(300, Ct);
        Assert.False(waiting.IsCompleted);
        var clock = Stopwatch.StartNew();
        var decision = await approver.PostJsonAsync($"/api/v1/approvals/{id}/approve", null);
        Assert.Equal(HttpStatusCode.OK, decision.StatusCode);
        var decidedAt = clock.Elapsed;
        var result = await waiting;
        var latency = clock.Elapsed - decidedAt;
        Assert.Equal("approved", (await result.Json()).Str("status"));
        Assert.True(latency < TimeSpan.FromSeconds(1), $"wait returned {latency.TotalMilliseconds} ms after the decision");
    }

    [Fact]
    public async Task Wait_returns_the_current_state_at_its_timeout_and_at_once_when_final()
    {
        using var agent = await AgentAsync();
        var id = (await agent.CreateApprovalAsync()).Id();
        var clock = Stopwatch.StartNew();
        var pending = await (await agent.GetAsync($"/api/v1/approvals/{id}/wait?timeout_seconds=1", Ct)).Json();
        Assert.Equal("pending", pending.Str("status"));
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(5));

        await agent.PostJsonAsync($"/api/v1/approvals/{id}/cancel", null);
        clock.Restart();
        var final = await (await agent.GetAsync($"/api/v1/approvals/{id}/wait?timeout_seconds=20", Ct)).Json();
        Assert.Equal("cancelled", final.Str("status"));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2));

        await (await agent.GetAsync($"/api/v1/approvals/{id}/wait?timeout_seconds=31", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest, "timeout_seconds");
        await (await agent.GetAsync($"/api/v1/approvals/{id}/wait?timeout_seconds=abc", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Wait_wakes_when_an_approver_asks_for_information()
    {
        using var agent = await AgentAsync();
        using var approver = await ApproverAsync("frank@example.com");
        var id = (await agent.CreateApprovalAsync()).Id();
        var waiting = agent.GetAsync($"/api/v1/approvals/{id}/wait?timeout_seconds=20", Ct);
        await Task.Delay(200, Ct);
        await approver.PostJsonAsync($"/api/v1/approvals/{id}/request-info", new { question = "Why?" });
        var result = await (await waiting.WaitAsync(TimeSpan.FromSeconds(5), Ct)).Json();
        Assert.Equal("info_requested", result.Str("status"));
        Assert.Equal("Why?", result.Str("info_request_message"));
    }

    [Fact]
    public async Task Idempotency_key_replays_return_the_original_and_reuse_with_another_body_is_422()
    {
        using var agent = await AgentAsync();
        async Task<HttpResponseMessage> Post(object body, string key)
        {
            var message = new HttpRequestMessage(HttpMethod.Post, "/api/v1/approvals") { Content = JsonContent.Create(body) };
            message.Headers.Add("Idempotency-Key", key);
            return await agent.SendAsync(message, Ct);
        }
        var body = new { action_name = "pay_invoice", estimated_cost = 10 };
        var first = await Post(body, "invoice-42");
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var replay = await Post(body, "invoice-42");
        Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        Assert.Equal((await first.Json()).Id(), (await replay.Json()).Id());
        await (await Post(new { action_name = "pay_invoice", estimated_cost = 11 }, "invoice-42")).AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "already used");
        await (await Post(body, new string('k', 201))).AssertProblemAsync(HttpStatusCode.BadRequest, "Idempotency-Key");
        var list = await (await agent.GetAsync("/api/v1/approvals?action_name=pay_invoice", Ct)).Json();
        Assert.Single(list["items"]!.AsArray());
    }

    [Fact]
    public async Task Check_evaluates_the_server_policy_from_the_query_string()
    {
        using var admin = App.Client();
        var put = await admin.PutAsJsonAsync("/api/v1/admin/policy", new
        {
            policy = new
            {
                approval_required_actions = new[] { "delete_user", "transfer_*" },
                approval_cost_threshold_usd = 100.0,
                approval_required_risk_levels = new[] { "critical" },
                default_timeout_seconds = new { critical = 300, high = 900, medium = 1800, low = 7200 },
                min_timeout_seconds = 1,
                max_timeout_seconds = 86400,
                default_approvers = new[] { "security@example.com" },
            },
        }, Ct);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        using var agent = await AgentAsync();

        async Task<JsonNode> Check(string query)
        {
            var response = await agent.PostAsync($"/api/v1/approvals/check?{query}", null, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return await response.Json();
        }
        Assert.True((await Check("action_name=delete_user&cost_usd=0.0")) ["requires_approval"]!.GetValue<bool>());
        var glob = await Check("action_name=transfer_funds&agent_id=a&run_id=r");
        Assert.True(glob["requires_approval"]!.GetValue<bool>());
        Assert.Contains("transfer_*", glob["reasons"]![0]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("a", glob.Str("agent_id"));
        // No priority given, but the shipped transfer_* floor raises it to high: the high default deadline.
        Assert.Equal(900, glob["timeout_seconds"]!.GetValue<int>());
        Assert.True((await Check("action_name=send_email&cost_usd=100"))["requires_approval"]!.GetValue<bool>());
        var cheap = await Check("action_name=send_email&cost_usd=99.99&priority=critical");
        Assert.False(cheap["requires_approval"]!.GetValue<bool>());
        Assert.Empty(cheap["reasons"]!.AsArray());
        Assert.Equal(300, cheap["timeout_seconds"]!.GetValue<int>());
        Assert.Equal("security@example.com", cheap["approvers"]![0]!.GetValue<string>());
        Assert.True((await Check("action_name=x&risk_level=critical"))["requires_approval"]!.GetValue<bool>());

        await (await agent.PostAsync("/api/v1/approvals/check?cost_usd=1", null, Ct)).AssertProblemAsync(HttpStatusCode.BadRequest, "action_name");
        await (await agent.PostAsync("/api/v1/approvals/check?action_name=x&cost_usd=1,5", null, Ct)).AssertProblemAsync(HttpStatusCode.BadRequest, "cost_usd");

        // Create applies the policy's default timeout for the priority when none is given.
        var created = await agent.CreateApprovalAsync(new { action_name = "x", priority = "high" });
        var span = DateTimeOffset.Parse(created.Str("expires_at")!, System.Globalization.CultureInfo.InvariantCulture)
            - DateTimeOffset.Parse(created.Str("created_at")!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(TimeSpan.FromSeconds(900), span);
        Assert.Equal(["security@example.com"], created["approvers"]!.AsArray().Select(a => a!.GetValue<string>()));
        await (await agent.PostJsonAsync("/api/v1/approvals", new { action_name = "x", timeout_seconds = 86401 })).AssertProblemAsync(HttpStatusCode.BadRequest, "timeout_seconds");

        // Put the permissive default back for the other tests of this class.
        await admin.PutAsJsonAsync("/api/v1/admin/policy", new
        {
            policy = new { default_timeout_seconds = new { critical = 600, high = 1800, medium = 3600, low = 14400 }, min_timeout_seconds = 1, max_timeout_seconds = 604800 },
        }, Ct);
    }

    [Fact]
    public async Task Stats_report_counts_rates_and_decision_times_for_the_window()
    {
        // A database of its own: the window must hold exactly these requests.
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(fixture.Provider, "stats"));
        using var agent = app.Client(await app.CreateKeyAsync("stats agent", [Scopes.Agent]));
        using var approver = app.Client(await app.CreateKeyAsync("stats approver", [Scopes.Approver], "stats@example.com"));
        var from = DateTimeOffset.UtcNow.AddSeconds(-1);
        var a = (await agent.CreateApprovalAsync(new { action_name = "s", priority = "critical", risk_level = "high" })).Id();
        var b = (await agent.CreateApprovalAsync(new { action_name = "s", priority = "low" })).Id();
        await agent.CreateApprovalAsync(new { action_name = "s" });
        await approver.PostJsonAsync($"/api/v1/approvals/{a}/approve", null);
        await approver.PostJsonAsync($"/api/v1/approvals/{b}/reject", new { reason = "no" });
        var to = DateTimeOffset.UtcNow.AddSeconds(1);
        var stats = await (await agent.GetAsync($"/api/v1/approvals/stats?from={Uri.EscapeDataString(from.ToString("O"))}&to={Uri.EscapeDataString(to.ToString("O"))}", Ct)).Json();
        Assert.Equal(3, stats["total"]!.GetValue<long>());
        Assert.Equal(1, stats["approved"]!.GetValue<long>());
        Assert.Equal(1, stats["rejected"]!.GetValue<long>());
        Assert.Equal(1, stats["counts"]!["pending"]!.GetValue<long>());
        Assert.Equal(0.5, stats["approval_rate"]!.GetValue<double>());
        Assert.Equal(1, stats["by_priority"]!["critical"]!.GetValue<long>());
        Assert.Equal(1, stats["by_priority"]!["medium"]!.GetValue<long>());
        Assert.Equal(1, stats["by_risk_level"]!["high"]!.GetValue<long>());
        Assert.Equal(2, stats["by_risk_level"]!["unspecified"]!.GetValue<long>());
        Assert.NotNull(stats["median_decision_seconds"]);
        Assert.True(stats["pending_total"]!.GetValue<long>() >= 1);
        await (await agent.GetAsync("/api/v1/approvals/stats?from=yesterday", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest);
        await (await agent.GetAsync("/api/v1/approvals/stats?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task List_pages_with_a_cursor_and_filters()
    {
        using var agent = await AgentAsync();
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add((await agent.CreateApprovalAsync(new { action_name = "paged", risk_level = i == 0 ? "minimal" : "low" })).Id());
        }
        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await (await agent.GetAsync($"/api/v1/approvals?action_name=paged&limit=2{(cursor is null ? "" : "&cursor=" + cursor)}", Ct)).Json();
            seen.AddRange(page["items"]!.AsArray().Select(i => i!.Id()));
            cursor = page.Str("next_cursor");
        }
        while (cursor is not null);
        Assert.Equal(ids.AsEnumerable().Reverse(), seen);
        var minimal = await (await agent.GetAsync("/api/v1/approvals?action_name=paged&risk_level=minimal", Ct)).Json();
        Assert.Equal(ids[0], Assert.Single(minimal["items"]!.AsArray())!.Id());
        await (await agent.GetAsync("/api/v1/approvals?status=done", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest, "status");
        await (await agent.GetAsync("/api/v1/approvals?limit=0", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest, "limit");
        await (await agent.GetAsync("/api/v1/approvals?cursor=zzz", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest, "cursor");
    }

    [Fact]
    public async Task Revoked_keys_stop_working_at_once()
    {
        using var admin = App.Client();
        var created = await (await admin.PostJsonAsync("/api/v1/admin/api-keys", new { name = "short lived", scopes = new[] { "agent" } })).Json();
        var key = created.Str("key")!;
        Assert.StartsWith("as_", key, StringComparison.Ordinal);
        using var agent = App.Client(key);
        Assert.Equal(HttpStatusCode.Created, (await agent.PostJsonAsync("/api/v1/approvals", new { action_name = "x" })).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/v1/admin/api-keys/{created.Id()}", Ct)).StatusCode);
        await (await agent.PostJsonAsync("/api/v1/approvals", new { action_name = "x" })).AssertProblemAsync(HttpStatusCode.Unauthorized);
        await (await admin.DeleteAsync("/api/v1/admin/api-keys/nope", Ct)).AssertProblemAsync(HttpStatusCode.NotFound);

        var list = await (await admin.GetAsync("/api/v1/admin/api-keys", Ct)).Content.ReadAsStringAsync(Ct);
        Assert.DoesNotContain(key, list, StringComparison.Ordinal);
        Assert.DoesNotContain("key_hash", list, StringComparison.Ordinal);
        Assert.Contains(key[..10], list, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Creating_keys_validates_name_scopes_and_email()
    {
        using var admin = App.Client();
        await (await admin.PostJsonAsync("/api/v1/admin/api-keys", new { name = "x", scopes = Array.Empty<string>() })).AssertProblemAsync(HttpStatusCode.BadRequest, "scopes");
        await (await admin.PostJsonAsync("/api/v1/admin/api-keys", new { name = "x", scopes = new[] { "root" } })).AssertProblemAsync(HttpStatusCode.BadRequest, "scopes");
        await (await admin.PostJsonAsync("/api/v1/admin/api-keys", new { scopes = new[] { "agent" } })).AssertProblemAsync(HttpStatusCode.BadRequest, "name");
        await (await admin.PostJsonAsync("/api/v1/admin/api-keys", new { name = "x", scopes = new[] { "approver" }, email = "not an email" })).AssertProblemAsync(HttpStatusCode.BadRequest, "email");
    }

    [Fact]
    public async Task An_approver_key_needs_an_email_and_an_admin_or_agent_key_does_not()
    {
        using var admin = App.Client();
        foreach (var scopes in new[] { new[] { "approver" }, new[] { "agent", "approver" }, new[] { "approver", "admin" } })
        {
            var refused = await admin.PostJsonAsync("/api/v1/admin/api-keys", new { name = "no email", scopes });
            await refused.AssertProblemAsync(HttpStatusCode.BadRequest, "email is required");
        }
        var field = await (await admin.PostJsonAsync("/api/v1/admin/api-keys", new { name = "no email", scopes = new[] { "approver" }, email = (string?)null })).Json();
        Assert.Equal("email", field.Str("field"));
        foreach (var scopes in new[] { new[] { "admin" }, new[] { "agent" } })
        {
            Assert.Equal(HttpStatusCode.Created, (await admin.PostJsonAsync("/api/v1/admin/api-keys", new { name = "no email", scopes })).StatusCode);
        }
    }

    [Fact]
    public async Task Every_decision_records_the_deciding_key()
    {
        using var agent = await AgentAsync();
        var (approverKeyId, approverKey) = await App.CreateKeyWithIdAsync("keyed approver", [Scopes.Approver], "keyed@example.com");
        using var approver = App.Client(approverKey);
        var asked = (await agent.CreateApprovalAsync()).Id();
        Assert.Equal(HttpStatusCode.OK, (await approver.PostJsonAsync($"/api/v1/approvals/{asked}/request-info", new { question = "Which?" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await approver.PostJsonAsync($"/api/v1/approvals/{asked}/approve", new { notes = "fine" })).StatusCode);
        var detail = await (await approver.GetAsync($"/api/v1/approvals/{asked}", Ct)).Json();
        Assert.Equal(approverKeyId, detail.Str("decided_by_key_id"));
        var events = detail["events"]!.AsArray();
        Assert.All(events.Where(e => e!.Str("kind") is "info_requested" or "approved"), e => Assert.Equal(approverKeyId, e!.Str("actor_key_id")));
        Assert.NotNull(events.Single(e => e!.Str("kind") == "created")!.Str("actor_key_id"));
        Assert.NotEqual(approverKeyId, events.Single(e => e!.Str("kind") == "created")!.Str("actor_key_id"));

        // An admin key without an email decides through the API, recorded under its id.
        var (adminKeyId, adminKey) = await App.CreateKeyWithIdAsync("mailless admin", [Scopes.Admin]);
        using var admin = App.Client(adminKey);
        var rejected = (await agent.CreateApprovalAsync()).Id();
        Assert.Equal(HttpStatusCode.OK, (await admin.PostJsonAsync($"/api/v1/approvals/{rejected}/reject", new { reason = "no" })).StatusCode);
        Assert.Equal(adminKeyId, (await (await admin.GetAsync($"/api/v1/approvals/{rejected}", Ct)).Json()).Str("decided_by_key_id"));
    }

    [Fact]
    public async Task Health_openapi_and_reference_are_served()
    {
        using var anonymous = App.Client(null);
        var ready = await anonymous.GetAsync("/health/ready", Ct);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains("healthy", await ready.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health/live", Ct)).StatusCode);
        var openapi = await anonymous.GetStringAsync("/openapi/v1.json", Ct);
        foreach (var path in new[] { "/api/v1/approvals", "/api/v1/approvals/{id}/poll", "/api/v1/approvals/{id}/wait", "/api/v1/admin/routes" })
        {
            Assert.Contains($"\"{path}\"", openapi, StringComparison.Ordinal);
        }
        var scalar = await anonymous.GetAsync("/scalar/", Ct);
        Assert.Equal(HttpStatusCode.OK, scalar.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/", Ct)).StatusCode);
        await (await anonymous.GetAsync("/api/v1/nothing-here", Ct)).AssertProblemAsync(HttpStatusCode.NotFound);
    }
}
