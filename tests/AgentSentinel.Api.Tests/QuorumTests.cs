using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Api.Tests;

/// <summary>One host per class on a fake clock, with a 2-of-3 quorum route, a route whose quorum needs one approval
/// from bob's group, and an ordinary route.</summary>
public abstract class QuorumFixture(StorageProvider provider) : IAsyncLifetime
{
    public AgentSentinelApp App { get; private set; } = null!;
    public FakeTimeProvider Time { get; } = new(DateTimeOffset.UtcNow);
    public HttpClient Agent { get; private set; } = null!;
    public HttpClient Alice { get; private set; } = null!;
    public string BobKey { get; private set; } = null!;
    public HttpClient AliceSecondKey { get; private set; } = null!;
    public HttpClient Bob { get; private set; } = null!;
    public HttpClient Carol { get; private set; } = null!;
    public HttpClient Dave { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        App = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "quorum"), Time, settings: new Dictionary<string, string?>
        {
            ["AgentSentinel:Routing:Routes:0:Name"] = "payments-quorum",
            ["AgentSentinel:Routing:Routes:0:Match:Actions:0"] = "transfer_*",
            ["AgentSentinel:Routing:Routes:0:Approvers:0"] = "alice@example.com",
            ["AgentSentinel:Routing:Routes:0:Approvers:1"] = "bob@example.com",
            ["AgentSentinel:Routing:Routes:0:Approvers:2"] = "carol@example.com",
            ["AgentSentinel:Routing:Routes:0:Quorum:Approvals"] = "2",
            ["AgentSentinel:Routing:Routes:1:Name"] = "deploy-with-security",
            ["AgentSentinel:Routing:Routes:1:Match:Actions:0"] = "deploy_*",
            ["AgentSentinel:Routing:Routes:1:Approvers:0"] = "alice@example.com",
            ["AgentSentinel:Routing:Routes:1:Approvers:1"] = "bob@example.com",
            ["AgentSentinel:Routing:Routes:1:Approvers:2"] = "carol@example.com",
            ["AgentSentinel:Routing:Routes:1:Quorum:Approvals"] = "2",
            ["AgentSentinel:Routing:Routes:1:Quorum:Groups:0:0"] = "bob@example.com",
            ["AgentSentinel:Routing:Routes:1:Quorum:Groups:0:1"] = "U0SECLEAD",
            ["AgentSentinel:Routing:Routes:2:Name"] = "default",
        });
        _ = App.Server;
        Agent = App.Client(await App.CreateKeyAsync("agent", [Scopes.Agent]));
        Alice = App.Client(await App.CreateKeyAsync("alice", [Scopes.Approver], "alice@example.com"));
        AliceSecondKey = App.Client(await App.CreateKeyAsync("alice-laptop", [Scopes.Approver], "Alice@Example.com"));
        BobKey = await App.CreateKeyAsync("bob", [Scopes.Approver], "bob@example.com");
        Bob = App.Client(BobKey);
        Carol = App.Client(await App.CreateKeyAsync("carol", [Scopes.Approver], "carol@example.com"));
        Dave = App.Client(await App.CreateKeyAsync("dave", [Scopes.Approver], "dave@example.com"));
    }

    public async ValueTask DisposeAsync() => await App.DisposeAsync();
}

public sealed class SqliteQuorumFixture() : QuorumFixture(StorageProvider.Sqlite);

public sealed class PostgresQuorumFixture() : QuorumFixture(StorageProvider.Postgres);

public sealed class SqliteQuorumTests(SqliteQuorumFixture f) : QuorumTests(f), IClassFixture<SqliteQuorumFixture>;

public sealed class PostgresQuorumTests(PostgresQuorumFixture f) : QuorumTests(f), IClassFixture<PostgresQuorumFixture>;

/// <summary>M-of-N approval through the approver API: votes count once per person (by email, whatever the key), the
/// request stays <c>pending</c> until the quorum is reached, a rejection vetoes at once, the requester never votes,
/// concurrent last votes give exactly one decision, and a request expires with its partial votes kept.</summary>
public abstract class QuorumTests(QuorumFixture f)
{
    private static CancellationToken Ct => Http.Ct;

    private async Task<string> CreateAsync(string action = "transfer_funds", int timeoutSeconds = 600) =>
        (await f.Agent.CreateApprovalAsync(new { action_name = action, timeout_seconds = timeoutSeconds })).Id();

    private static async Task<JsonNode> DecideAsync(HttpClient who, string id, string kind, object body, HttpStatusCode expected)
    {
        var response = await who.PostJsonAsync($"/api/v1/approvals/{id}/{kind}", body);
        var json = await response.Json();
        Assert.True(response.StatusCode == expected, $"{kind}: expected {(int)expected}, got {(int)response.StatusCode}: {json.ToJsonString()}");
        return json;
    }

    private async Task<JsonNode> DetailAsync(string id, HttpClient? agent = null) => await (await (agent ?? f.Agent).GetAsync($"/api/v1/approvals/{id}", Ct)).Json();

    private async Task<string?> PollStatusAsync(string id) => (await (await f.Agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).Json()).Str("status");

    private static IEnumerable<JsonNode> Events(JsonNode detail, string kind) => detail["events"]!.AsArray().Where(e => e!.Str("kind") == kind)!;

    [Fact]
    public async Task Two_of_three_stays_pending_after_one_approval_and_is_approved_by_the_second()
    {
        var id = await CreateAsync();

        var first = await DecideAsync(f.Alice, id, "approve", new { notes = "numbers match" }, HttpStatusCode.OK);
        Assert.Equal("pending", first.Str("status"));
        Assert.Null(first["decided_by_email"]);
        Assert.Equal(1, (int)first["quorum"]!["approvals"]!);
        Assert.Equal(2, (int)first["quorum"]!["required"]!);
        Assert.Equal("1 of 2 approvals: alice ✓ · waiting for 1 more approval", first["quorum"]!.Str("summary"));
        Assert.Equal("pending", await PollStatusAsync(id));

        f.Time.Advance(TimeSpan.FromSeconds(30));
        var second = await DecideAsync(f.Carol, id, "approve", new { notes = "ok by me" }, HttpStatusCode.OK);
        Assert.Equal("approved", second.Str("status"));
        Assert.Equal("carol@example.com", second.Str("decided_by_email"));
        Assert.Equal("alice@example.com: numbers match\ncarol@example.com: ok by me", second.Str("decision_notes"));

        var detail = await DetailAsync(id);
        var votes = detail["votes"]!.AsArray();
        Assert.Equal(["alice@example.com", "carol@example.com"], votes.Select(v => v!.Str("email")));
        Assert.All(votes, v => Assert.Equal("approve", v!.Str("choice")));
        Assert.All(votes, v => Assert.Equal("api", v!.Str("surface")));
        Assert.Equal("numbers match", votes[0]!.Str("notes"));
        // decided_at is the deciding vote's instant.
        Assert.Equal(votes[1]!.Str("at"), detail.Str("decided_at"));
        Assert.NotEqual(votes[0]!.Str("at"), votes[1]!.Str("at"));
        Assert.Equal(2, Events(detail, "voted").Count());
        Assert.Single(Events(detail, "approved"));
        Assert.Equal("2 of 2 approvals: alice ✓, carol ✓", detail["quorum"]!.Str("summary"));

        // The votes are the durable rows of approval_votes, not only the request's copy.
        var stored = await f.App.Service<VoteStore>().ListVotesAsync(Guid.Parse(id), Ct);
        Assert.Equal(["alice@example.com", "carol@example.com"], stored.Select(v => v.Person));

        // Decided: a third vote changes nothing.
        var late = await f.Bob.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { });
        await late.AssertProblemAsync(HttpStatusCode.Conflict, "already approved by carol@example.com");
    }

    [Fact]
    public async Task A_console_vote_and_an_api_vote_count_together_and_the_same_person_cannot_vote_from_both()
    {
        var id = await CreateAsync();
        using var console = f.App.Client(null);
        var signIn = await console.PostAsJsonAsync("/console/api/session", new { api_key = f.BobKey }, Ct);
        var session = await signIn.Json();
        Assert.True(signIn.StatusCode == HttpStatusCode.OK, session.ToJsonString());
        var cookie = signIn.Headers.GetValues("Set-Cookie").Select(v => v.Split(';')[0]).Single(v => v.StartsWith("agentsentinel_session=", StringComparison.Ordinal));
        console.DefaultRequestHeaders.Add("Cookie", cookie);
        console.DefaultRequestHeaders.Add("X-CSRF-Token", session.Str("csrf_token"));

        var fromConsole = await DecideAsync(console, id, "approve", new { notes = "from the console" }, HttpStatusCode.OK);
        Assert.Equal("pending", fromConsole.Str("status"));
        Assert.Equal("console", Assert.Single(fromConsole["votes"]!.AsArray())!.Str("surface"));

        var sameBob = await f.Bob.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { });
        await sameBob.AssertProblemAsync(HttpStatusCode.Conflict, "already voted");

        var decided = await DecideAsync(f.Alice, id, "approve", new { }, HttpStatusCode.OK);
        Assert.Equal("approved", decided.Str("status"));
        Assert.Equal(["console", "api"], decided["votes"]!.AsArray().Select(v => v!.Str("surface")));
        Assert.Equal("bob@example.com: from the console", decided.Str("decision_notes"));
    }

    [Fact]
    public async Task A_delegate_votes_as_the_person_they_stand_in_for_and_that_person_cannot_vote_again()
    {
        // Frank is not one of the route's approvers; Carol, who is, is away and lets him decide for her.
        using var frank = f.App.Client(await f.App.CreateKeyAsync("frank", [Scopes.Approver], "frank@example.com"));
        var until = f.Time.GetUtcNow().AddDays(1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var away = await f.Carol.PutAsJsonAsync("/api/v1/me/delegation", new { delegate_email = "frank@example.com", ends_at = until }, Ct);
        Assert.True(away.IsSuccessStatusCode, await away.Content.ReadAsStringAsync(Ct));
        try
        {
            var id = await CreateAsync();
            var forCarol = await DecideAsync(frank, id, "approve", new { notes = "for carol" }, HttpStatusCode.OK);
            Assert.Equal("pending", forCarol.Str("status"));
            var vote = Assert.Single(forCarol["votes"]!.AsArray())!;
            Assert.Equal("frank@example.com", vote.Str("email"));
            Assert.Equal("carol@example.com", vote.Str("on_behalf_of"));
            Assert.Equal("1 of 2 approvals: frank on behalf of carol@example.com ✓ · waiting for 1 more approval", forCarol["quorum"]!.Str("summary"));

            // Carol's vote is cast: neither she nor her delegate votes again.
            var carol = await f.Carol.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { });
            await carol.AssertProblemAsync(HttpStatusCode.Conflict, "already voted");
            var again = await frank.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { });
            await again.AssertProblemAsync(HttpStatusCode.Conflict, "already voted");

            var decided = await DecideAsync(f.Bob, id, "approve", new { }, HttpStatusCode.OK);
            Assert.Equal("approved", decided.Str("status"));
            Assert.Equal(["carol@example.com", null], decided["votes"]!.AsArray().Select(v => v!.Str("on_behalf_of")));
        }
        finally
        {
            (await f.Carol.DeleteAsync("/api/v1/me/delegation", Ct)).EnsureSuccessStatusCode();
        }
    }

    [Fact]
    public async Task A_bulk_approval_counts_as_a_vote_on_a_quorum_request_and_says_so()
    {
        var quorum = await CreateAsync();
        var ordinary = await CreateAsync("send_newsletter");
        var answer = await (await f.Alice.PostJsonAsync("/api/v1/approvals/bulk-decisions", new { decision = "approve", ids = new[] { quorum, ordinary } })).Json();
        var results = answer["results"]!.AsArray();
        Assert.Equal("voted", results[0]!.Str("outcome"));
        Assert.Equal("pending", results[0]!.Str("status"));
        Assert.Equal("Your approval was counted: 1 of 2 approvals: alice ✓ · waiting for 1 more approval.", results[0]!.Str("detail"));
        Assert.Equal("decided", results[1]!.Str("outcome"));
        Assert.Equal(1, (int)answer["totals"]!["voted"]!);
        Assert.Equal(1, (int)answer["totals"]!["decided"]!);

        var again = await (await f.Alice.PostJsonAsync("/api/v1/approvals/bulk-decisions", new { decision = "approve", ids = new[] { quorum } })).Json();
        Assert.Equal("not_allowed", again["results"]![0]!.Str("outcome"));
        Assert.Equal("already_voted", again["results"]![0]!.Str("reason"));
    }

    [Fact]
    public async Task A_group_needs_one_of_its_members_whatever_the_total()
    {
        var id = await CreateAsync("deploy_service");

        await DecideAsync(f.Alice, id, "approve", new { }, HttpStatusCode.OK);
        var two = await DecideAsync(f.Carol, id, "approve", new { }, HttpStatusCode.OK);
        Assert.Equal("pending", two.Str("status"));
        Assert.Equal(2, (int)two["quorum"]!["approvals"]!);
        Assert.False((bool)two["quorum"]!["reached"]!);
        Assert.Equal("2 of 2 approvals: alice ✓, carol ✓ · waiting for one of bob@example.com, U0SECLEAD", two["quorum"]!.Str("summary"));

        var three = await DecideAsync(f.Bob, id, "approve", new { }, HttpStatusCode.OK);
        Assert.Equal("approved", three.Str("status"));
        Assert.Equal("bob@example.com", three.Str("decided_by_email"));
        Assert.Null(three.Str("decision_notes"));
    }

    [Fact]
    public async Task One_person_votes_once_even_with_a_second_key()
    {
        var id = await CreateAsync();
        await DecideAsync(f.Alice, id, "approve", new { notes = "first" }, HttpStatusCode.OK);

        var again = await f.AliceSecondKey.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = "second" });
        await again.AssertProblemAsync(HttpStatusCode.Conflict, "already voted");
        var sameKey = await f.Alice.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { });
        await sameKey.AssertProblemAsync(HttpStatusCode.Conflict, "already voted");
        // Nor can the person who approved turn round and veto as a second vote.
        var veto = await f.AliceSecondKey.PostJsonAsync($"/api/v1/approvals/{id}/reject", new { reason = "changed my mind" });
        await veto.AssertProblemAsync(HttpStatusCode.Conflict, "already voted");

        var detail = await DetailAsync(id);
        Assert.Equal("pending", detail.Str("status"));
        Assert.Single(detail["votes"]!.AsArray());
        Assert.Single(Events(detail, "voted"));
    }

    [Fact]
    public async Task Any_allowed_approvers_rejection_rejects_at_once_with_its_reason()
    {
        var id = await CreateAsync();
        await DecideAsync(f.Alice, id, "approve", new { notes = "fine" }, HttpStatusCode.OK);

        var rejected = await DecideAsync(f.Bob, id, "reject", new { reason = "wrong beneficiary" }, HttpStatusCode.OK);
        Assert.Equal("rejected", rejected.Str("status"));
        Assert.Equal("bob@example.com", rejected.Str("decided_by_email"));
        Assert.Equal("wrong beneficiary", rejected.Str("decision_notes"));
        Assert.Equal(["approve", "reject"], rejected["votes"]!.AsArray().Select(v => v!.Str("choice")));
        Assert.Equal("rejected", await PollStatusAsync(id));

        // Someone not on the route's list cannot veto.
        var other = await CreateAsync();
        var stranger = await f.Dave.PostJsonAsync($"/api/v1/approvals/{other}/reject", new { reason = "no" });
        await stranger.AssertProblemAsync(HttpStatusCode.Forbidden, "not one of the approvers");
        Assert.Empty((await DetailAsync(other))["votes"]!.AsArray());
    }

    [Fact]
    public async Task The_requester_never_votes_whatever_key_it_uses()
    {
        var (_, ownKey) = await f.App.CreateKeyWithIdAsync("alice-agent", [Scopes.Agent, Scopes.Approver], "alice@example.com");
        using var aliceAsAgent = f.App.Client(ownKey);
        var id = (await aliceAsAgent.CreateApprovalAsync(new { action_name = "transfer_funds", timeout_seconds = 600 })).Id();

        var self = await aliceAsAgent.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { });
        await self.AssertProblemAsync(HttpStatusCode.Forbidden, "You requested this action");
        var sameEmail = await f.Alice.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { });
        await sameEmail.AssertProblemAsync(HttpStatusCode.Forbidden, "You requested this action");

        var detail = await DetailAsync(id, aliceAsAgent);
        Assert.Equal("pending", detail.Str("status"));
        Assert.Empty(detail["votes"]!.AsArray());
        Assert.Empty(Events(detail, "voted"));
        // The others still reach the quorum without the requester.
        await DecideAsync(f.Bob, id, "approve", new { }, HttpStatusCode.OK);
        Assert.Equal("approved", (await DecideAsync(f.Carol, id, "approve", new { }, HttpStatusCode.OK)).Str("status"));
    }

    [Fact]
    public async Task Concurrent_last_votes_give_exactly_one_decision_repeatedly()
    {
        const int Requests = 12;
        var ids = new List<string>();
        for (var i = 0; i < Requests; i++)
        {
            var id = await CreateAsync();
            await DecideAsync(f.Alice, id, "approve", new { }, HttpStatusCode.OK);
            ids.Add(id);
        }

        // Every request's two last votes at once, all requests together.
        var race = ids.SelectMany(id => new[] { (id, f.Bob), (id, f.Carol) })
            .Select(async pair => (pair.id, Response: await pair.Item2.PostJsonAsync($"/api/v1/approvals/{pair.id}/approve", new { })))
            .ToList();
        var results = await Task.WhenAll(race);

        foreach (var id in ids)
        {
            var answers = results.Where(r => r.id == id).Select(r => r.Response).ToList();
            var winners = answers.Where(r => r.StatusCode == HttpStatusCode.OK).ToList();
            var winner = Assert.Single(winners);
            var won = await winner.Json();
            Assert.Equal("approved", won.Str("status"));
            var loser = Assert.Single(answers, r => r.StatusCode != HttpStatusCode.OK);
            await loser.AssertProblemAsync(HttpStatusCode.Conflict, $"already approved by {won.Str("decided_by_email")}");

            var detail = await DetailAsync(id);
            Assert.Single(Events(detail, "approved"));
            Assert.Equal(2, Events(detail, "voted").Count());
            Assert.Equal(2, detail["votes"]!.AsArray().Count);
            Assert.Equal(2, (await f.App.Service<VoteStore>().ListVotesAsync(Guid.Parse(id), Ct)).Count);
        }
    }

    [Fact]
    public async Task A_request_expires_with_its_partial_votes_kept()
    {
        var id = await CreateAsync(timeoutSeconds: 60);
        await DecideAsync(f.Alice, id, "approve", new { notes = "fine" }, HttpStatusCode.OK);

        f.Time.Advance(TimeSpan.FromSeconds(61));
        var late = await f.Bob.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { });
        await late.AssertProblemAsync(HttpStatusCode.Conflict, "expired");

        var detail = await DetailAsync(id);
        Assert.Equal("expired", detail.Str("status"));
        Assert.Null(detail.Str("decided_by_email"));
        Assert.Equal("alice@example.com", Assert.Single(detail["votes"]!.AsArray())!.Str("email"));
        Assert.Single(Events(detail, "voted"));
        Assert.Single(Events(detail, "expired"));
        Assert.Single(await f.App.Service<VoteStore>().ListVotesAsync(Guid.Parse(id), Ct));
    }

    [Fact]
    public async Task A_single_approver_cannot_give_a_grant_on_a_quorum_route()
    {
        var id = await CreateAsync();
        var response = await f.Alice.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { grant = new { minutes = 30 } });
        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "quorum");
        var detail = await DetailAsync(id);
        Assert.Equal("pending", detail.Str("status"));
        Assert.Empty(detail["votes"]!.AsArray());
    }

    [Fact]
    public async Task Requests_on_other_routes_are_decided_by_the_first_approval()
    {
        var id = await CreateAsync("send_newsletter");
        var approved = await DecideAsync(f.Alice, id, "approve", new { notes = "go" }, HttpStatusCode.OK);
        Assert.Equal("approved", approved.Str("status"));
        Assert.Equal("go", approved.Str("decision_notes"));
        Assert.Null(approved["quorum"]);
        Assert.Empty(approved["votes"]!.AsArray());
    }
}
