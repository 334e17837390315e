using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Grants;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteGrantTests() : GrantTests(StorageProvider.Sqlite);

public sealed class PostgresGrantTests() : GrantTests(StorageProvider.Postgres);

/// <summary>Scoped standing grants through the real API: given with an approval, they approve the matching requests of
/// the same agent at intake until their use, cost or time limit, their revocation (seen by every instance), and never
/// for critical requests; concurrent requests never take a grant past its limits.</summary>
public abstract class GrantTests(StorageProvider provider)
{
    private static CancellationToken Ct => Http.Ct;

    private sealed record Setup(AgentSentinelApp App, FakeTimeProvider Time, HttpClient Agent, string AgentKeyId, HttpClient Approver, string ApproverKey) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await App.DisposeAsync();
    }

    private async Task<Setup> StartAsync(TestStorage? storage = null)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var app = new AgentSentinelApp(storage ?? await TestStorage.CreateAsync(provider, "grants"), time);
        var (agentKeyId, agentKey) = await app.CreateKeyWithIdAsync("refund-bot", [Scopes.Agent], agentIds: ["bot-*"]);
        var approverKey = await app.CreateKeyAsync("alice", [Scopes.Approver], "alice@example.com");
        return new Setup(app, time, app.Client(agentKey), agentKeyId, app.Client(approverKey), approverKey);
    }

    private static object Refund(int order = 1, decimal? cost = 10m, string risk = "low", string priority = "medium", string agentId = "bot-1") => new
    {
        action_name = "refund",
        agent_id = agentId,
        risk_level = risk,
        priority,
        estimated_cost = cost,
        timeout_seconds = 600,
        action_inputs = new { order, currency = "EUR" },
    };

    /// <summary>Creates a request and approves it with the given grant; returns the grant object of the answer.</summary>
    private static async Task<JsonNode> GrantAsync(Setup s, object grant, object? request = null)
    {
        var source = await s.Agent.CreateApprovalAsync(request ?? Refund());
        var response = await s.Approver.PostJsonAsync($"/api/v1/approvals/{source.Id()}/approve", new { notes = "fine", grant });
        var json = await response.Json();
        Assert.True(response.StatusCode == HttpStatusCode.OK, json.ToJsonString());
        Assert.Equal("approved", json.Str("status"));
        return json["grant"]!;
    }

    [Fact]
    public async Task Matching_requests_are_approved_at_once_until_the_use_limit()
    {
        await using var s = await StartAsync();
        var grant = await GrantAsync(s, new { minutes = 30, max_uses = 2, match = "action" });
        Assert.Equal("active", grant.Str("state"));
        Assert.Equal("alice@example.com", grant.Str("created_by_email"));
        Assert.Equal(s.AgentKeyId, grant.Str("agent_key_id"));
        Assert.Equal("bot-1", grant.Str("agent_id"));
        Assert.Equal("action", grant.Str("match"));
        var grantId = grant.Id();

        for (var i = 2; i <= 3; i++)
        {
            var approved = await s.Agent.CreateApprovalAsync(Refund(order: i));
            Assert.Equal("approved", approved.Str("status"));
            Assert.Equal(grantId, approved.Str("grant_id"));
            Assert.Equal("alice@example.com", approved.Str("decided_by_email"));
            Assert.Contains($"grant {grantId}", approved.Str("decision_notes"));
        }
        var third = await s.Agent.CreateApprovalAsync(Refund(order: 4));
        Assert.Equal("pending", third.Str("status"));
        Assert.Null(third.Str("grant_id"));

        // The trail names the grant and the person who gave it.
        using var admin = s.App.Client();
        var page = await (await admin.GetAsync("/api/v1/approvals?status=approved", Ct)).Json();
        var byGrant = page["items"]!.AsArray().First(i => i!.Str("grant_id") == grantId)!;
        var detail = await (await admin.GetAsync($"/api/v1/approvals/{byGrant.Id()}", Ct)).Json();
        var events = detail["events"]!.AsArray();
        Assert.Equal(["created", "approved"], events.Select(e => e!.Str("kind")));
        Assert.Equal("alice@example.com", events[1]!.Str("actor"));
        Assert.Equal(grantId, events[1]!["details"]!.Str("grant_id"));
        Assert.Equal("alice@example.com", events[1]!["details"]!.Str("granted_by"));

        // Used up: gone from the active list, listed with state=all.
        var active = await (await s.Approver.GetAsync("/api/v1/grants", Ct)).Json();
        Assert.DoesNotContain(active["items"]!.AsArray(), g => g!.Id() == grantId);
        var all = await (await s.Approver.GetAsync("/api/v1/grants?state=all", Ct)).Json();
        var listed = all["items"]!.AsArray().Single(g => g!.Id() == grantId)!;
        Assert.Equal("used_up", listed.Str("state"));
        Assert.Equal(2, listed["uses"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_grant_stops_at_its_cost_limit_and_a_request_that_would_pass_it_is_not_matched()
    {
        await using var s = await StartAsync();
        var grantId = (await GrantAsync(s, new { minutes = 30, max_total_cost = 25, match = "action" })).Id();

        Assert.Equal("approved", (await s.Agent.CreateApprovalAsync(Refund(2, cost: 10m))).Str("status"));
        Assert.Equal("approved", (await s.Agent.CreateApprovalAsync(Refund(3, cost: 10m))).Str("status"));
        // 20 spent: 10 more would pass 25, 5 fits exactly.
        Assert.Equal("pending", (await s.Agent.CreateApprovalAsync(Refund(4, cost: 10m))).Str("status"));
        Assert.Equal("approved", (await s.Agent.CreateApprovalAsync(Refund(5, cost: 5m))).Str("status"));
        // A request without an estimated cost cannot be counted against a cost limit.
        Assert.Equal("pending", (await s.Agent.CreateApprovalAsync(Refund(6, cost: null))).Str("status"));

        var grant = await (await s.Approver.GetAsync($"/api/v1/grants/{grantId}", Ct)).Json();
        Assert.Equal(25m, grant["cost_used"]!.GetValue<decimal>());
        Assert.Equal("spent", grant.Str("state"));
    }

    [Fact]
    public async Task A_grant_ends_at_its_expiry()
    {
        await using var s = await StartAsync();
        await GrantAsync(s, new { minutes = 10, match = "action" });

        s.Time.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromMilliseconds(1));
        Assert.Equal("approved", (await s.Agent.CreateApprovalAsync(Refund(2))).Str("status"));
        s.Time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal("pending", (await s.Agent.CreateApprovalAsync(Refund(3))).Str("status"));
    }

    [Fact]
    public async Task A_grant_for_the_same_inputs_matches_only_those_inputs_from_the_same_agent()
    {
        await using var s = await StartAsync();
        var grant = await GrantAsync(s, new { minutes = 30, match = "action_and_inputs" });
        Assert.Equal("action_and_inputs", grant.Str("match"));
        Assert.NotNull(grant.Str("inputs_hash"));

        // The same arguments, written in another order and number form: the canonical form is the same.
        var reordered = new
        {
            action_name = "refund", agent_id = "bot-1", risk_level = "low", estimated_cost = 10, timeout_seconds = 600,
            action_inputs = JsonNode.Parse("""{"currency":"EUR","order":1.0}"""),
        };
        Assert.Equal("approved", (await s.Agent.CreateApprovalAsync(reordered)).Str("status"));
        // Other arguments, another agent id, another action, another key with the same agent id: not matched.
        Assert.Equal("pending", (await s.Agent.CreateApprovalAsync(Refund(order: 2))).Str("status"));
        Assert.Equal("pending", (await s.Agent.CreateApprovalAsync(Refund(agentId: "bot-2"))).Str("status"));
        Assert.Equal("pending", (await s.Agent.CreateApprovalAsync(new { action_name = "refund_all", agent_id = "bot-1", risk_level = "low", action_inputs = new { order = 1, currency = "EUR" } })).Str("status"));
        using var otherAgent = s.App.Client(await s.App.CreateKeyAsync("other-bot", [Scopes.Agent], agentIds: ["bot-1"]));
        Assert.Equal("pending", (await otherAgent.CreateApprovalAsync(Refund())).Str("status"));
    }

    [Fact]
    public async Task Revocation_applies_to_the_next_request_on_every_instance()
    {
        var storage = await TestStorage.CreateAsync(provider, "grantrevoke");
        await using var s = await StartAsync(storage);
        await using var second = new AgentSentinelApp(storage, s.Time);
        var grantId = (await GrantAsync(s, new { minutes = 30, match = "action" })).Id();

        // The agent talks to the second instance.
        var agentKey = s.Agent.DefaultRequestHeaders.Authorization!.Parameter;
        using var agentOnSecond = second.Client(agentKey);
        Assert.Equal("approved", (await agentOnSecond.CreateApprovalAsync(Refund(2))).Str("status"));

        // Only the giver or an admin may revoke.
        using var bob = s.App.Client(await s.App.CreateKeyAsync("bob", [Scopes.Approver], "bob@example.com"));
        await (await bob.PostJsonAsync($"/api/v1/grants/{grantId}/revoke", null)).AssertProblemAsync(HttpStatusCode.Forbidden, "gave");
        await (await s.Agent.PostJsonAsync($"/api/v1/grants/{grantId}/revoke", null)).AssertProblemAsync(HttpStatusCode.Forbidden);

        var revoked = await s.Approver.PostJsonAsync($"/api/v1/grants/{grantId}/revoke", null);
        Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
        Assert.Equal("revoked", (await revoked.Json()).Str("state"));
        Assert.Equal("pending", (await agentOnSecond.CreateApprovalAsync(Refund(3))).Str("status"));
        await (await s.Approver.PostJsonAsync($"/api/v1/grants/{grantId}/revoke", null)).AssertProblemAsync(HttpStatusCode.Conflict, "already revoked");

        // The revocation is in the trail of the request the grant was given with.
        using var admin = second.Client();
        var grant = await (await admin.GetAsync($"/api/v1/grants/{grantId}", Ct)).Json();
        var source = await (await admin.GetAsync($"/api/v1/approvals/{grant.Str("source_approval_id")}", Ct)).Json();
        Assert.Equal(["created", "approved", "grant_created", "grant_revoked"], source["events"]!.AsArray().Select(e => e!.Str("kind")));
    }

    [Fact]
    public async Task A_revoked_approver_key_stops_its_grants()
    {
        await using var s = await StartAsync();
        var (carolId, carolKey) = await s.App.CreateKeyWithIdAsync("carol", [Scopes.Approver], "carol@example.com");
        using var carol = s.App.Client(carolKey);
        var source = await s.Agent.CreateApprovalAsync(Refund());
        (await carol.PostJsonAsync($"/api/v1/approvals/{source.Id()}/approve", new { grant = new { minutes = 30, match = "action" } })).EnsureSuccessStatusCode();
        Assert.Equal("approved", (await s.Agent.CreateApprovalAsync(Refund(2))).Str("status"));

        await s.App.RevokeKeyAsync(carolId);
        Assert.Equal("pending", (await s.Agent.CreateApprovalAsync(Refund(3))).Str("status"));
    }

    [Fact]
    public async Task Critical_requests_are_never_matched_and_grants_follow_the_route()
    {
        await using var s = await StartAsync();
        await GrantAsync(s, new { minutes = 30, match = "action" });
        Assert.Equal("pending", (await s.Agent.CreateApprovalAsync(Refund(2, priority: "critical"))).Str("status"));
        Assert.Equal("pending", (await s.Agent.CreateApprovalAsync(Refund(3, risk: "critical"))).Str("status"));
        // By default high risk is not granted either (and so never matched).
        Assert.Equal("pending", (await s.Agent.CreateApprovalAsync(Refund(4, risk: "high"))).Str("status"));

        // Offering a grant where it is not allowed: 400 naming grant, and nothing is decided.
        foreach (var refused in new[] { Refund(5, priority: "critical"), Refund(6, risk: "high") })
        {
            var id = (await s.Agent.CreateApprovalAsync(refused)).Id();
            var answer = await s.Approver.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { grant = new { minutes = 5 } });
            await answer.AssertProblemAsync(HttpStatusCode.BadRequest, "grant");
            Assert.Equal("pending", (await (await s.Agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).Json()).Str("status"));
        }
        // Longer than the default maximum (60 minutes).
        var longer = (await s.Agent.CreateApprovalAsync(Refund(7))).Id();
        var tooLong = await s.Approver.PostJsonAsync($"/api/v1/approvals/{longer}/approve", new { grant = new { minutes = 61 } });
        await tooLong.AssertProblemAsync(HttpStatusCode.BadRequest, "60");
        Assert.Equal("grant", (await tooLong.Json()).Str("field"));

        // A route cannot allow grants for critical requests.
        using var admin = s.App.Client();
        var critical = await admin.PutAsJsonAsync("/api/v1/admin/routes", new
        {
            routes = new object[] { new { name = "crit", match = new { priorities = new[] { "critical" } }, grants = new { allowed = true } } },
        }, Ct);
        await critical.AssertProblemAsync(HttpStatusCode.BadRequest, "critical");
        Assert.Contains("routes[0].grants.allowed", await critical.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        var tooLongRoute = await admin.PutAsJsonAsync("/api/v1/admin/routes", new
        {
            routes = new object[] { new { name = "all", grants = new { allowed = true, max_minutes = 0 } } },
        }, Ct);
        await tooLongRoute.AssertProblemAsync(HttpStatusCode.BadRequest, "max_minutes");

        // A route that allows grants for high risk, for at most 15 minutes; another that allows none.
        (await admin.PutAsJsonAsync("/api/v1/admin/routes", new
        {
            routes = new object[]
            {
                new { name = "closed", match = new { actions = new[] { "delete_*" } }, grants = new { allowed = false } },
                new { name = "open", grants = new { allowed = true, max_minutes = 15 } },
            },
        }, Ct)).EnsureSuccessStatusCode();
        var high = (await s.Agent.CreateApprovalAsync(Refund(8, risk: "high"))).Id();
        await (await s.Approver.PostJsonAsync($"/api/v1/approvals/{high}/approve", new { grant = new { minutes = 20 } })).AssertProblemAsync(HttpStatusCode.BadRequest, "15");
        var highGrant = await s.Approver.PostJsonAsync($"/api/v1/approvals/{high}/approve", new { grant = new { minutes = 15, match = "action" } });
        Assert.Equal(HttpStatusCode.OK, highGrant.StatusCode);
        Assert.Equal("approved", (await s.Agent.CreateApprovalAsync(Refund(9, risk: "high"))).Str("status"));
        Assert.Equal("pending", (await s.Agent.CreateApprovalAsync(Refund(10, risk: "high", priority: "critical"))).Str("status"));
        var delete = (await s.Agent.CreateApprovalAsync(new { action_name = "delete_rows", agent_id = "bot-1", risk_level = "low" })).Id();
        await (await s.Approver.PostJsonAsync($"/api/v1/approvals/{delete}/approve", new { grant = new { minutes = 5 } })).AssertProblemAsync(HttpStatusCode.BadRequest, "not allowed");
    }

    [Fact]
    public async Task The_allowance_says_what_the_approve_form_may_offer_by_the_same_rule()
    {
        await using var s = await StartAsync();
        var low = (await s.Agent.CreateApprovalAsync(Refund(1))).Id();
        var allowance = await (await s.Approver.GetAsync($"/api/v1/grants/allowance/{low}", Ct)).Json();
        Assert.True(allowance["allowed"]!.GetValue<bool>());
        Assert.Equal(60, allowance["max_minutes"]!.GetValue<int>());
        Assert.Null(allowance.Str("reason"));

        var critical = (await s.Agent.CreateApprovalAsync(Refund(2, priority: "critical"))).Id();
        var refused = await (await s.Approver.GetAsync($"/api/v1/grants/allowance/{critical}", Ct)).Json();
        Assert.False(refused["allowed"]!.GetValue<bool>());
        Assert.Null(refused["max_minutes"]);
        Assert.Contains("never allowed for critical", refused.Str("reason"), StringComparison.Ordinal);

        // The grant is found from the approval it was given with (chat messages show it there).
        var given = await GrantAsync(s, new { minutes = 5 });
        var source = await s.App.Service<GrantService>().GetBySourceAsync(Guid.Parse(given.Str("source_approval_id")!), Ct);
        Assert.Equal(given.Id(), source?.Id.ToString());
        Assert.Null(await s.App.Service<GrantService>().GetBySourceAsync(Guid.Parse(low), Ct));

        // Once decided, nothing more may be offered; a malformed or unknown id is a 4xx.
        var decided = await s.Approver.PostJsonAsync($"/api/v1/approvals/{low}/approve", new { });
        Assert.Equal(HttpStatusCode.OK, decided.StatusCode);
        Assert.False((await (await s.Approver.GetAsync($"/api/v1/grants/allowance/{low}", Ct)).Json())["allowed"]!.GetValue<bool>());
        await (await s.Approver.GetAsync("/api/v1/grants/allowance/nope", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest, "approval id");
        await (await s.Approver.GetAsync($"/api/v1/grants/allowance/{Guid.CreateVersion7()}", Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "does not exist");
        // Agents cannot ask.
        Assert.Equal(HttpStatusCode.Forbidden, (await s.Agent.GetAsync($"/api/v1/grants/allowance/{low}", Ct)).StatusCode);
    }

    [Fact]
    public async Task Malformed_grant_offers_are_refused_naming_grant()
    {
        await using var s = await StartAsync();
        var id = (await s.Agent.CreateApprovalAsync(Refund())).Id();
        foreach (var body in new object[]
        {
            new { grant = new { max_uses = 2 } },
            new { grant = new { minutes = 5, match = "anything" } },
            new { grant = new { minutes = 5, max_uses = 0 } },
            new { grant = new { minutes = 5, max_total_cost = -1 } },
            new { grant = new { minutes = "five" } },
            new { grant = new { minutes = 5, surprise = true } },
            new { grant = "yes" },
        })
        {
            var response = await s.Approver.PostJsonAsync($"/api/v1/approvals/{id}/approve", body);
            await response.AssertProblemAsync(HttpStatusCode.BadRequest);
            Assert.Equal("grant", (await response.Json()).Str("field"));
        }
        Assert.Equal("pending", (await (await s.Agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).Json()).Str("status"));
        await (await s.Agent.GetAsync("/api/v1/grants", Ct)).AssertProblemAsync(HttpStatusCode.Forbidden);
        await (await s.Approver.GetAsync("/api/v1/grants?state=some", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest, "state");
    }

    [Fact]
    public async Task Two_requests_racing_for_the_last_use_get_it_once()
    {
        await using var s = await StartAsync();
        for (var round = 0; round < 6; round++)
        {
            var action = $"refund_{round}";
            var source = await s.Agent.CreateApprovalAsync(new { action_name = action, agent_id = "bot-1", risk_level = "low", estimated_cost = 1 });
            var grant = await s.Approver.PostJsonAsync($"/api/v1/approvals/{source.Id()}/approve",
                new { grant = new { minutes = 30, max_uses = 2, max_total_cost = 100, match = "action" } });
            var grantId = (await grant.Json())["grant"]!.Id();
            Assert.Equal("approved", (await s.Agent.CreateApprovalAsync(new { action_name = action, agent_id = "bot-1", risk_level = "low", estimated_cost = 1 })).Str("status"));

            // One use left: two agents' calls at once (separate connections), one gets it.
            using var a = s.App.Client(s.Agent.DefaultRequestHeaders.Authorization!.Parameter);
            using var b = s.App.Client(s.Agent.DefaultRequestHeaders.Authorization!.Parameter);
            var body = new { action_name = action, agent_id = "bot-1", risk_level = "low", estimated_cost = 1 };
            var results = await Task.WhenAll(a.CreateApprovalAsync(body), b.CreateApprovalAsync(body));
            Assert.Equal(1, results.Count(r => r.Str("status") == "approved"));
            Assert.Equal(1, results.Count(r => r.Str("status") == "pending"));

            var after = await (await s.Approver.GetAsync($"/api/v1/grants/{grantId}", Ct)).Json();
            Assert.Equal(2, after["uses"]!.GetValue<int>());
            Assert.Equal(2m, after["cost_used"]!.GetValue<decimal>());
        }
    }

    [Fact]
    public async Task A_replayed_request_does_not_spend_a_grant()
    {
        await using var s = await StartAsync();
        var grantId = (await GrantAsync(s, new { minutes = 30, max_uses = 3, match = "action" })).Id();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/approvals") { Content = JsonContent.Create(Refund(2)) };
        request.Headers.Add("Idempotency-Key", "refund-2");
        var first = await s.Agent.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        using var again = new HttpRequestMessage(HttpMethod.Post, "/api/v1/approvals") { Content = JsonContent.Create(Refund(2)) };
        again.Headers.Add("Idempotency-Key", "refund-2");
        var replay = await s.Agent.SendAsync(again, Ct);
        Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        Assert.Equal((await first.Json()).Id(), (await replay.Json()).Id());
        Assert.Equal("approved", (await replay.Json()).Str("status"));
        var grant = await (await s.Approver.GetAsync($"/api/v1/grants/{grantId}", Ct)).Json();
        Assert.Equal(1, grant["uses"]!.GetValue<int>());
    }
}
