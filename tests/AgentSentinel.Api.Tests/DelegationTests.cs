using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteDelegationTests() : DelegationTests(StorageProvider.Sqlite);

public sealed class PostgresDelegationTests() : DelegationTests(StorageProvider.Postgres);

/// <summary>Delegation while away through the real API (<c>/api/v1/me/delegation</c>) and the decision rule: a
/// delegate decides what the person could, on their behalf, only within the period, never a request either of them
/// made; bad input and chains are refused with nothing stored changed.</summary>
public abstract class DelegationTests(StorageProvider provider)
{
    private static CancellationToken Ct => Http.Ct;

    private sealed record Setup(AgentSentinelApp App, FakeTimeProvider Time, HttpClient Agent, HttpClient Alice, string AliceKeyId, HttpClient Bob, string BobKeyId,
        HttpClient Carol, HttpClient Dan) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await App.DisposeAsync();
    }

    /// <summary>Requests for <c>transfer_*</c> may be decided only by alice; bob, carol and dan are approvers too.</summary>
    private async Task<Setup> StartAsync()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "delegation"), time, settings: new Dictionary<string, string?>
        {
            ["AgentSentinel:Routing:Routes:0:Name"] = "payments",
            ["AgentSentinel:Routing:Routes:0:Match:Actions:0"] = "transfer_*",
            ["AgentSentinel:Routing:Routes:0:Approvers:0"] = "alice@example.com",
        });
        var agent = await app.CreateKeyAsync("billing", [Scopes.Agent]);
        var alice = await app.CreateKeyWithIdAsync("alice", [Scopes.Approver], "alice@example.com");
        var bob = await app.CreateKeyWithIdAsync("bob", [Scopes.Approver], "bob@example.com");
        var carol = await app.CreateKeyAsync("carol", [Scopes.Approver], "carol@example.com");
        var dan = await app.CreateKeyAsync("dan", [Scopes.Approver], "dan@example.com");
        return new Setup(app, time, app.Client(agent), app.Client(alice.Key), alice.Id, app.Client(bob.Key), bob.Id, app.Client(carol), app.Client(dan));
    }

    private static Task<HttpResponseMessage> AwayAsync(HttpClient person, object body) =>
        person.PutAsJsonAsync("/api/v1/me/delegation", body, Ct);

    private static string At(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);

    private static object Transfer(int timeoutSeconds = 7200) => new { action_name = "transfer_funds", timeout_seconds = timeoutSeconds };

    private static async Task<JsonNode> OkAsync(HttpResponseMessage response)
    {
        var json = await response.Json();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {json.ToJsonString()}");
        return json;
    }

    [Fact]
    public async Task A_delegate_decides_on_behalf_of_the_person_away_and_the_trail_says_so()
    {
        await using var s = await StartAsync();
        var request = await s.Agent.CreateApprovalAsync(Transfer());
        // Bob is not one of the request's approvers.
        await (await s.Bob.PostJsonAsync($"/api/v1/approvals/{request.Id()}/approve", new { notes = "too early" }))
            .AssertProblemAsync(HttpStatusCode.Forbidden, "not one of the approvers");

        var set = await OkAsync(await AwayAsync(s.Alice, new { delegate_email = "Bob@Example.com", ends_at = At(s.Time.GetUtcNow().AddDays(3)) }));
        Assert.Equal("alice@example.com", set.Str("delegator_email"));
        Assert.Equal("bob@example.com", set.Str("delegate_email"));
        Assert.True(set["active"]!.GetValue<bool>());
        Assert.Equal("api", set.Str("set_via"));
        var read = await OkAsync(await s.Alice.GetAsync("/api/v1/me/delegation", Ct));
        Assert.Equal("bob@example.com", read.Str("delegate_email"));

        var approved = await OkAsync(await s.Bob.PostJsonAsync($"/api/v1/approvals/{request.Id()}/approve", new { notes = "covering for alice" }));
        Assert.Equal("approved", approved.Str("status"));
        Assert.Equal("bob@example.com", approved.Str("decided_by_email"));
        Assert.Equal(s.BobKeyId, approved.Str("decided_by_key_id"));
        Assert.Equal("alice@example.com", approved.Str("decided_on_behalf_of"));

        var detail = await (await s.App.Client().GetAsync($"/api/v1/approvals/{request.Id()}", Ct)).Json();
        var approvedEvent = detail["events"]!.AsArray().Single(e => e!.Str("kind") == "approved")!;
        Assert.Equal("bob@example.com", approvedEvent.Str("actor"));
        Assert.Equal("alice@example.com", (string?)approvedEvent["details"]!["on_behalf_of"]);
        Assert.Equal("covering for alice", (string?)approvedEvent["details"]!["notes"]);

        // A second decision by the delegate meets the first one, described as made on alice's behalf.
        await (await s.Bob.PostJsonAsync($"/api/v1/approvals/{request.Id()}/reject", new { reason = "again" }))
            .AssertProblemAsync(HttpStatusCode.Conflict, "bob@example.com on behalf of alice@example.com");
    }

    [Fact]
    public async Task Alices_own_right_comes_first_and_her_decisions_are_not_marked_as_delegated()
    {
        await using var s = await StartAsync();
        await OkAsync(await AwayAsync(s.Alice, new { delegate_email = "bob@example.com", ends_at = At(s.Time.GetUtcNow().AddDays(1)) }));
        var request = await s.Agent.CreateApprovalAsync(Transfer());
        var approved = await OkAsync(await s.Alice.PostJsonAsync($"/api/v1/approvals/{request.Id()}/approve", new { }));
        Assert.Equal("alice@example.com", approved.Str("decided_by_email"));
        Assert.Null(approved.Str("decided_on_behalf_of"));
        // Carol is nobody's delegate: she is still refused.
        var other = await s.Agent.CreateApprovalAsync(Transfer());
        await (await s.Carol.PostJsonAsync($"/api/v1/approvals/{other.Id()}/approve", new { }))
            .AssertProblemAsync(HttpStatusCode.Forbidden, "not one of the approvers");
    }

    [Fact]
    public async Task A_delegation_counts_only_within_its_period()
    {
        await using var s = await StartAsync();
        var start = s.Time.GetUtcNow().AddHours(1);
        var set = await OkAsync(await AwayAsync(s.Alice, new { delegate_email = "bob@example.com", starts_at = At(start), ends_at = At(start.AddHours(2)) }));
        Assert.False(set["active"]!.GetValue<bool>());
        var early = await s.Agent.CreateApprovalAsync(Transfer(timeoutSeconds: 6 * 3600));
        await (await s.Bob.PostJsonAsync($"/api/v1/approvals/{early.Id()}/approve", new { }))
            .AssertProblemAsync(HttpStatusCode.Forbidden, "not one of the approvers");

        s.Time.Advance(TimeSpan.FromHours(1));
        var during = await s.Agent.CreateApprovalAsync(Transfer());
        await OkAsync(await s.Bob.PostJsonAsync($"/api/v1/approvals/{during.Id()}/approve", new { }));

        s.Time.Advance(TimeSpan.FromHours(2));
        await (await s.Bob.PostJsonAsync($"/api/v1/approvals/{early.Id()}/approve", new { }))
            .AssertProblemAsync(HttpStatusCode.Forbidden, "not one of the approvers");
        Assert.Equal("pending", (await (await s.App.Client().GetAsync($"/api/v1/approvals/{early.Id()}/poll", Ct)).Json()).Str("status"));
        // Ended: it reads as no delegation.
        await (await s.Alice.GetAsync("/api/v1/me/delegation", Ct)).AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_delegate_never_decides_their_own_request_nor_the_request_of_the_person_they_stand_in_for()
    {
        await using var s = await StartAsync();
        await OkAsync(await AwayAsync(s.Alice, new { delegate_email = "bob@example.com", ends_at = At(s.Time.GetUtcNow().AddDays(1)) }));
        // An agent key that carries Bob's email: the request is Bob's.
        var bobsAgent = s.App.Client(await s.App.CreateKeyAsync("bob-agent", [Scopes.Agent], "bob@example.com"));
        var bobs = await bobsAgent.CreateApprovalAsync(Transfer());
        await (await s.Bob.PostJsonAsync($"/api/v1/approvals/{bobs.Id()}/approve", new { }))
            .AssertProblemAsync(HttpStatusCode.Forbidden, "You requested this action");

        // An agent key that carries Alice's email: Bob may not decide it for her.
        var alicesAgent = s.App.Client(await s.App.CreateKeyAsync("alice-agent", [Scopes.Agent], "alice@example.com"));
        var alices = await alicesAgent.CreateApprovalAsync(Transfer());
        await (await s.Bob.PostJsonAsync($"/api/v1/approvals/{alices.Id()}/approve", new { }))
            .AssertProblemAsync(HttpStatusCode.Forbidden, "nobody decides their own request, even through a delegate");
        await (await s.Bob.PostJsonAsync($"/api/v1/approvals/{alices.Id()}/reject", new { reason = "no" }))
            .AssertProblemAsync(HttpStatusCode.Forbidden, "even through a delegate");
        foreach (var id in new[] { bobs.Id(), alices.Id() })
        {
            Assert.Equal("pending", (await (await s.App.Client().GetAsync($"/api/v1/approvals/{id}/poll", Ct)).Json()).Str("status"));
        }
    }

    [Fact]
    public async Task Revoking_either_key_stops_the_delegation_at_the_next_decision()
    {
        await using var s = await StartAsync();
        await OkAsync(await AwayAsync(s.Alice, new { delegate_email = "bob@example.com", ends_at = At(s.Time.GetUtcNow().AddDays(1)) }));
        var first = await s.Agent.CreateApprovalAsync(Transfer());
        var second = await s.Agent.CreateApprovalAsync(Transfer());

        // Alice's key revoked: she could decide nothing, so neither can her delegate.
        await s.App.RevokeKeyAsync(s.AliceKeyId);
        await (await s.Bob.PostJsonAsync($"/api/v1/approvals/{first.Id()}/approve", new { }))
            .AssertProblemAsync(HttpStatusCode.Forbidden, "not one of the approvers");

        // Alice comes back with a new key; Bob's key revoked: he is not let in at all.
        await s.App.CreateKeyAsync("alice-2", [Scopes.Approver], "alice@example.com");
        await OkAsync(await s.Bob.PostJsonAsync($"/api/v1/approvals/{first.Id()}/approve", new { }));
        await s.App.RevokeKeyAsync(s.BobKeyId);
        Assert.Equal(HttpStatusCode.Unauthorized, (await s.Bob.PostJsonAsync($"/api/v1/approvals/{second.Id()}/approve", new { })).StatusCode);
        Assert.Equal("pending", (await (await s.App.Client().GetAsync($"/api/v1/approvals/{second.Id()}/poll", Ct)).Json()).Str("status"));
    }

    [Fact]
    public async Task Bad_delegations_are_refused_with_problem_details_and_change_nothing()
    {
        await using var s = await StartAsync();
        var now = s.Time.GetUtcNow();
        var kept = await OkAsync(await AwayAsync(s.Alice, new { delegate_email = "bob@example.com", ends_at = At(now.AddDays(2)) }));

        await (await AwayAsync(s.Alice, new { delegate_email = "carol@example.com", ends_at = At(now.AddMinutes(-1)) }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "not in the future");
        await (await AwayAsync(s.Alice, new { delegate_email = "carol@example.com", starts_at = At(now.AddDays(2)), ends_at = At(now.AddDays(1)) }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "start before it ends");
        await (await AwayAsync(s.Alice, new { delegate_email = "ALICE@example.com", ends_at = At(now.AddDays(1)) }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "yourself");
        await (await AwayAsync(s.Alice, new { delegate_email = "mallory@example.com", ends_at = At(now.AddDays(1)) }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "mallory@example.com is not an approver known to this server");
        await (await AwayAsync(s.Alice, new { delegate_email = "carol@example.com", ends_at = "next tuesday" }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "ISO 8601");
        await (await AwayAsync(s.Alice, new { delegate_email = "carol@example.com", ends_at = "2026-12-24" }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "ISO 8601");
        await (await AwayAsync(s.Alice, new { ends_at = At(now.AddDays(1)) }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "delegate_email");
        await (await AwayAsync(s.Alice, new { delegate_email = "carol@example.com", ends_at = At(now.AddDays(400)) }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "at most 366 days");
        await (await s.Alice.PutAsync("/api/v1/me/delegation", new StringContent("{", System.Text.Encoding.UTF8, "application/json"), Ct))
            .AssertProblemAsync(HttpStatusCode.BadRequest);
        // An agent key may not delegate at all.
        Assert.Equal(HttpStatusCode.Forbidden, (await AwayAsync(s.Agent, new { delegate_email = "bob@example.com", ends_at = At(now.AddDays(1)) })).StatusCode);

        var read = await OkAsync(await s.Alice.GetAsync("/api/v1/me/delegation", Ct));
        Assert.Equal(kept.ToJsonString(), read.ToJsonString());
    }

    [Fact]
    public async Task Delegations_that_would_chain_are_refused_in_both_directions()
    {
        await using var s = await StartAsync();
        var now = s.Time.GetUtcNow();
        // Carol is away and Alice stands in for her: Alice cannot hand that on while it runs.
        await OkAsync(await AwayAsync(s.Carol, new { delegate_email = "alice@example.com", ends_at = At(now.AddDays(2)) }));
        var chained = await AwayAsync(s.Alice, new { delegate_email = "bob@example.com", ends_at = At(now.AddDays(1)) });
        await chained.AssertProblemAsync(HttpStatusCode.Conflict, "carol@example.com has delegated their decisions to you");
        // A period after Carol's is fine.
        await OkAsync(await AwayAsync(s.Alice, new { delegate_email = "bob@example.com", starts_at = At(now.AddDays(2)), ends_at = At(now.AddDays(3)) }));

        // Dan is away (to Bob): nobody may delegate to Dan while he is.
        await OkAsync(await AwayAsync(s.Dan, new { delegate_email = "bob@example.com", ends_at = At(now.AddDays(2)) }));
        await (await AwayAsync(s.Bob, new { delegate_email = "dan@example.com", ends_at = At(now.AddDays(1)) }))
            .AssertProblemAsync(HttpStatusCode.Conflict, "dan@example.com is away themselves");
        await (await s.Bob.GetAsync("/api/v1/me/delegation", Ct)).AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Ending_a_delegation_takes_the_delegates_right_away()
    {
        await using var s = await StartAsync();
        await (await s.Alice.DeleteAsync("/api/v1/me/delegation", Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "no delegation");
        await OkAsync(await AwayAsync(s.Alice, new { delegate_email = "bob@example.com", ends_at = At(s.Time.GetUtcNow().AddDays(1)) }));
        var request = await s.Agent.CreateApprovalAsync(Transfer());
        Assert.Equal(HttpStatusCode.NoContent, (await s.Alice.DeleteAsync("/api/v1/me/delegation", Ct)).StatusCode);
        await (await s.Alice.GetAsync("/api/v1/me/delegation", Ct)).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await s.Bob.PostJsonAsync($"/api/v1/approvals/{request.Id()}/approve", new { }))
            .AssertProblemAsync(HttpStatusCode.Forbidden, "not one of the approvers");
    }

    [Fact]
    public async Task The_people_who_delegated_to_me_are_listed_while_running_or_planned_and_not_once_ended()
    {
        await using var s = await StartAsync();
        var now = s.Time.GetUtcNow();
        await OkAsync(await AwayAsync(s.Alice, new { delegate_email = "bob@example.com", ends_at = At(now.AddHours(1)) }));
        await OkAsync(await AwayAsync(s.Carol, new { delegate_email = "BOB@example.com", starts_at = At(now.AddHours(2)), ends_at = At(now.AddHours(3)) }));
        await OkAsync(await AwayAsync(s.Dan, new { delegate_email = "carol@example.com", starts_at = At(now.AddHours(4)), ends_at = At(now.AddHours(5)) }));

        async Task<List<(string? Delegator, bool Active)>> ToBobAsync()
        {
            var items = (await OkAsync(await s.Bob.GetAsync("/api/v1/me/delegation/to-me", Ct)))["items"]!.AsArray();
            Assert.All(items, d => Assert.Equal("bob@example.com", d!.Str("delegate_email")));
            return [.. items.Select(d => (d!.Str("delegator_email"), (bool)d!["active"]!))];
        }

        Assert.Equal([("alice@example.com", true), ("carol@example.com", false)], await ToBobAsync());
        s.Time.Advance(TimeSpan.FromMinutes(150));
        Assert.Equal([("carol@example.com", true)], await ToBobAsync());
        s.Time.Advance(TimeSpan.FromHours(1));
        Assert.Empty(await ToBobAsync());
        // Carol is Dan's delegate (planned): hers is her own list, not Bob's.
        Assert.Equal("dan@example.com", (await OkAsync(await s.Carol.GetAsync("/api/v1/me/delegation/to-me", Ct)))["items"]![0]!.Str("delegator_email"));
        Assert.Equal(HttpStatusCode.Forbidden, (await s.Agent.GetAsync("/api/v1/me/delegation/to-me", Ct)).StatusCode);
    }
}
