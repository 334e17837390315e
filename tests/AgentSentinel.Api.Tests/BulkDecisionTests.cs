using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteBulkDecisionTests() : BulkDecisionTests(StorageProvider.Sqlite);

public sealed class PostgresBulkDecisionTests() : BulkDecisionTests(StorageProvider.Postgres);

/// <summary>Bulk decisions through the real API: each request is its own guarded transition with its own events, the
/// answer reports the outcome of each, a malformed submission changes nothing, and a single decision racing the bulk
/// one leaves exactly one decision per request.</summary>
public abstract class BulkDecisionTests(StorageProvider provider) : IAsyncLifetime
{
    private const string Url = "/api/v1/approvals/bulk-decisions";
    private AgentSentinelApp _app = null!;
    private HttpClient _agent = null!;
    private HttpClient _alice = null!;
    private HttpClient _bob = null!;
    private static CancellationToken Ct => Http.Ct;

    public async ValueTask InitializeAsync()
    {
        _app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "bulk"));
        _agent = _app.Client(await _app.CreateKeyAsync("bulk-agent", [Scopes.Agent], agentIds: ["bot-*"]));
        _alice = _app.Client(await _app.CreateKeyAsync("alice", [Scopes.Approver, Scopes.Agent], "alice@example.com", agentIds: ["alice-bot"]));
        _bob = _app.Client(await _app.CreateKeyAsync("bob", [Scopes.Approver], "bob@example.com"));
        using var admin = _app.Client();
        // Requests for restricted_* may only be decided by bob.
        var routes = await admin.PutAsJsonAsync("/api/v1/admin/routes", new
        {
            routes = new object[]
            {
                new { name = "restricted", match = new { actions = new[] { "restricted_*" } }, approvers = new[] { "bob@example.com" } },
                new { name = "default" },
            },
        }, Ct);
        Assert.Equal(HttpStatusCode.OK, routes.StatusCode);
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    private Task<JsonNode> CreateAsync(string action = "refund", HttpClient? agent = null, string agentId = "bot-1") =>
        (agent ?? _agent).CreateApprovalAsync(new { action_name = action, agent_id = agentId, timeout_seconds = 600 });

    private async Task<JsonNode> GetAsync(string id) => await (await _bob.GetAsync($"/api/v1/approvals/{id}", Ct)).Json();

    private static JsonNode ResultFor(JsonNode answer, string id) => answer["results"]!.AsArray().Single(r => r!.Str("id") == id)!;

    [Fact]
    public async Task One_submission_reports_each_outcome_and_decides_only_what_the_approver_may()
    {
        var open = await CreateAsync();
        var info = await CreateAsync();
        var decided = await CreateAsync();
        var restricted = await CreateAsync("restricted_export");
        var own = await CreateAsync(agent: _alice, agentId: "alice-bot");
        var missing = Guid.CreateVersion7().ToString();
        (await _bob.PostJsonAsync($"/api/v1/approvals/{decided.Id()}/reject", new { reason = "not this one" })).EnsureSuccessStatusCode();
        (await _bob.PostJsonAsync($"/api/v1/approvals/{info.Id()}/request-info", new { question = "which order?" })).EnsureSuccessStatusCode();

        var response = await _alice.PostJsonAsync(Url, new
        {
            decision = "approve",
            notes = "batch of routine refunds",
            ids = new[] { open.Id(), info.Id(), decided.Id(), restricted.Id(), own.Id(), missing, open.Id() },
        });
        var answer = await response.Json();
        Assert.True(response.StatusCode == HttpStatusCode.OK, answer.ToJsonString());
        Assert.Equal("approve", answer.Str("decision"));
        // Each id once, in the order given.
        Assert.Equal([open.Id(), info.Id(), decided.Id(), restricted.Id(), own.Id(), missing], answer["results"]!.AsArray().Select(r => r!.Str("id")));

        Assert.Equal("decided", ResultFor(answer, open.Id()).Str("outcome"));
        Assert.Equal("approved", ResultFor(answer, open.Id()).Str("status"));
        Assert.Equal("decided", ResultFor(answer, info.Id()).Str("outcome"));
        var already = ResultFor(answer, decided.Id());
        Assert.Equal("already_decided", already.Str("outcome"));
        Assert.Equal("rejected", already.Str("status"));
        Assert.Equal("bob@example.com", already.Str("decided_by_email"));
        Assert.Contains("already rejected by bob@example.com", already.Str("detail"));
        var notListed = ResultFor(answer, restricted.Id());
        Assert.Equal("not_allowed", notListed.Str("outcome"));
        Assert.Equal("not_an_approver", notListed.Str("reason"));
        Assert.Equal("pending", notListed.Str("status"));
        var requester = ResultFor(answer, own.Id());
        Assert.Equal("not_allowed", requester.Str("outcome"));
        Assert.Equal("requester", requester.Str("reason"));
        Assert.Equal("not_found", ResultFor(answer, missing).Str("outcome"));
        var totals = answer["totals"]!;
        Assert.Equal(2, totals["decided"]!.GetValue<int>());
        Assert.Equal(1, totals["already_decided"]!.GetValue<int>());
        Assert.Equal(2, totals["not_allowed"]!.GetValue<int>());
        Assert.Equal(1, totals["not_found"]!.GetValue<int>());

        // Each decided request has its own transition and event, with the one note, by the person who submitted.
        foreach (var id in new[] { open.Id(), info.Id() })
        {
            var detail = await GetAsync(id);
            Assert.Equal("approved", detail.Str("status"));
            Assert.Equal("alice@example.com", detail.Str("decided_by_email"));
            Assert.Equal("batch of routine refunds", detail.Str("decision_notes"));
            var approvedEvents = detail["events"]!.AsArray().Where(e => e!.Str("kind") == "approved").ToList();
            Assert.Single(approvedEvents);
            Assert.Equal("alice@example.com", approvedEvents[0]!.Str("actor"));
        }
        // What the approver may not decide is untouched.
        Assert.Equal("pending", (await GetAsync(restricted.Id())).Str("status"));
        Assert.Equal("pending", (await GetAsync(own.Id())).Str("status"));
        var stillRejected = await GetAsync(decided.Id());
        Assert.Equal("rejected", stillRejected.Str("status"));
        Assert.Equal("not this one", stillRejected.Str("decision_notes"));
    }

    [Fact]
    public async Task A_bulk_rejection_gives_every_request_the_one_reason()
    {
        var first = await CreateAsync();
        var second = await CreateAsync();
        var answer = await (await _alice.PostJsonAsync(Url, new { decision = "reject", reason = "agent misconfigured", ids = new[] { first.Id(), second.Id() } })).Json();
        Assert.Equal(2, answer["totals"]!["decided"]!.GetValue<int>());
        foreach (var id in new[] { first.Id(), second.Id() })
        {
            var detail = await GetAsync(id);
            Assert.Equal("rejected", detail.Str("status"));
            Assert.Equal("agent misconfigured", detail.Str("decision_notes"));
        }
    }

    [Fact]
    public async Task A_malformed_submission_is_refused_and_changes_nothing()
    {
        var open = await CreateAsync();
        await (await _alice.PostJsonAsync(Url, new { decision = "approve", ids = new[] { open.Id(), "not-a-uuid" } }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "not an approval id");
        await (await _alice.PostJsonAsync(Url, new { decision = "reject", ids = new[] { open.Id() } }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "reason");
        await (await _alice.PostJsonAsync(Url, new { decision = "reject", reason = "   ", ids = new[] { open.Id() } }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "reason");
        await (await _alice.PostJsonAsync(Url, new { decision = "request-info", ids = new[] { open.Id() } }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "'approve' or 'reject'");
        await (await _alice.PostJsonAsync(Url, new { decision = "approve", ids = Array.Empty<string>() }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "1 to 50");
        var tooMany = Enumerable.Range(0, 51).Select(_ => Guid.CreateVersion7().ToString()).Prepend(open.Id()).ToArray();
        await (await _alice.PostJsonAsync(Url, new { decision = "approve", ids = tooMany }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "1 to 50");
        await (await _alice.PostRawAsync(Url, "{\"decision\": \"approve\", \"ids\": [")).AssertProblemAsync(HttpStatusCode.BadRequest);
        // Only approvers decide.
        Assert.Equal(HttpStatusCode.Forbidden, (await _agent.PostJsonAsync(Url, new { decision = "approve", ids = new[] { open.Id() } })).StatusCode);
        Assert.Equal("pending", (await GetAsync(open.Id())).Str("status"));
        Assert.Single((await GetAsync(open.Id()))["events"]!.AsArray());
    }

    [Fact]
    public async Task A_console_session_needs_the_anti_forgery_token_for_a_bulk_decision()
    {
        var open = await CreateAsync();
        using var browser = _app.Client(key: null);
        var signIn = await browser.PostJsonAsync("/console/api/session", new { api_key = await _app.CreateKeyAsync("carol", [Scopes.Approver], "carol@example.com") });
        var csrf = (await signIn.Json()).Str("csrf_token")!;
        var body = new { decision = "approve", ids = new[] { open.Id() } };
        await (await browser.PostJsonAsync(Url, body)).AssertProblemAsync(HttpStatusCode.Forbidden, "X-CSRF-Token");
        Assert.Equal("pending", (await GetAsync(open.Id())).Str("status"));

        using var withToken = new HttpRequestMessage(HttpMethod.Post, Url) { Content = JsonContent.Create(body) };
        withToken.Headers.Add("X-CSRF-Token", csrf);
        var answer = await (await browser.SendAsync(withToken, Ct)).Json();
        Assert.Equal("decided", ResultFor(answer, open.Id()).Str("outcome"));
        var detail = await GetAsync(open.Id());
        Assert.Equal("carol@example.com", detail.Str("decided_by_email"));
        Assert.Equal("console", detail.Str("decided_via"));
    }

    [Fact]
    public async Task Single_decisions_racing_a_bulk_one_leave_exactly_one_decision_per_request()
    {
        for (var round = 0; round < 3; round++)
        {
            var ids = new List<string>();
            for (var i = 0; i < 12; i++)
            {
                ids.Add((await CreateAsync()).Id());
            }
            var bulk = Task.Run(async () => await (await _alice.PostJsonAsync(Url, new { decision = "approve", notes = "bulk", ids })).Json(), Ct);
            var singles = ids.Select(id => Task.Run(() => _bob.PostJsonAsync($"/api/v1/approvals/{id}/reject", new { reason = "single" }), Ct)).ToList();
            var answer = await bulk;
            var singleAnswers = await Task.WhenAll(singles);

            foreach (var (id, single) in ids.Zip(singleAnswers))
            {
                var detail = await GetAsync(id);
                var decisions = detail["events"]!.AsArray().Count(e => e!.Str("kind") is "approved" or "rejected");
                Assert.Equal(1, decisions);
                var result = ResultFor(answer, id);
                if (detail.Str("status") == "approved")
                {
                    // The bulk decision won: it says so, and the single one was told it lost.
                    Assert.Equal("decided", result.Str("outcome"));
                    Assert.Equal("alice@example.com", detail.Str("decided_by_email"));
                    Assert.Equal(HttpStatusCode.Conflict, single.StatusCode);
                }
                else
                {
                    Assert.Equal("rejected", detail.Str("status"));
                    Assert.Equal("bob@example.com", detail.Str("decided_by_email"));
                    Assert.Equal(HttpStatusCode.OK, single.StatusCode);
                    Assert.Equal("already_decided", result.Str("outcome"));
                    Assert.Equal("rejected", result.Str("status"));
                }
            }
        }
    }
}
