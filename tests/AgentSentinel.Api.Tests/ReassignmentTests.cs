using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteReassignmentTests() : ReassignmentTests(StorageProvider.Sqlite);

public sealed class PostgresReassignmentTests() : ReassignmentTests(StorageProvider.Postgres);

/// <summary>Reassignment through the real API: only someone who may decide an open request hands it on, to an approver
/// identity who did not request it (who becomes its one approver) or to a channel; the trail records it; bad targets
/// and closed requests are refused with problem details and change nothing.</summary>
public abstract class ReassignmentTests(StorageProvider provider)
{
    private static CancellationToken Ct => Http.Ct;

    private sealed record Setup(AgentSentinelApp App, HttpClient Agent, HttpClient Alice, HttpClient Bob, HttpClient Carol) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await App.DisposeAsync();
    }

    /// <summary>Requests for <c>transfer_*</c> may be decided only by alice; bob and carol are approvers too.</summary>
    private async Task<Setup> StartAsync()
    {
        var app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "reassign"), settings: new Dictionary<string, string?>
        {
            ["AgentSentinel:Routing:Routes:0:Name"] = "payments",
            ["AgentSentinel:Routing:Routes:0:Match:Actions:0"] = "transfer_*",
            ["AgentSentinel:Routing:Routes:0:Approvers:0"] = "alice@example.com",
        });
        var agent = await app.CreateKeyAsync("billing", [Scopes.Agent], "agent-owner@example.com");
        await app.CreateKeyAsync("agent-owner", [Scopes.Approver], "agent-owner@example.com");
        return new Setup(app, app.Client(agent), app.Client(await app.CreateKeyAsync("alice", [Scopes.Approver], "alice@example.com")),
            app.Client(await app.CreateKeyAsync("bob", [Scopes.Approver], "bob@example.com")),
            app.Client(await app.CreateKeyAsync("carol", [Scopes.Approver], "carol@example.com")));
    }

    private static Task<HttpResponseMessage> ReassignAsync(HttpClient who, string id, object body) =>
        who.PostAsJsonAsync($"/api/v1/approvals/{id}/reassign", body, Ct);

    private static async Task<JsonNode> DetailAsync(Setup s, string id) => await (await s.App.Client().GetAsync($"/api/v1/approvals/{id}", Ct)).Json();

    [Fact]
    public async Task An_approver_hands_a_request_to_another_person_who_then_decides_it()
    {
        await using var s = await StartAsync();
        var request = await s.Agent.CreateApprovalAsync(new { action_name = "transfer_funds", timeout_seconds = 600 });
        var response = await ReassignAsync(s.Alice, request.Id(), new { to_email = "BOB@example.com", note = "Bob owns this vendor" });
        var json = await response.Json();
        Assert.True(response.StatusCode == HttpStatusCode.OK, json.ToJsonString());
        Assert.Equal("pending", json.Str("status"));
        Assert.Equal(["bob@example.com"], json["approvers"]!.AsArray().Select(a => (string?)a));
        Assert.Equal("bob@example.com", (string?)json["reassigned_to"]!["person_email"]);
        Assert.Equal("alice@example.com", (string?)json["reassigned_to"]!["by"]);
        Assert.Equal("Bob owns this vendor", (string?)json["reassigned_to"]!["note"]);

        var detail = await DetailAsync(s, request.Id());
        var handed = detail["events"]!.AsArray().Single(e => e!.Str("kind") == "reassigned")!;
        Assert.Equal("alice@example.com", handed.Str("actor"));
        Assert.Equal("bob@example.com", (string?)handed["details"]!["to_email"]);
        Assert.Equal("Bob owns this vendor", (string?)handed["details"]!["note"]);

        // Alice handed it on: she is no longer its approver; Bob is.
        await (await s.Alice.PostJsonAsync($"/api/v1/approvals/{request.Id()}/approve", new { }))
            .AssertProblemAsync(HttpStatusCode.Forbidden, "not one of the approvers");
        var approved = await (await s.Bob.PostJsonAsync($"/api/v1/approvals/{request.Id()}/approve", new { })).Json();
        Assert.Equal("approved", approved.Str("status"));
        // Once decided it cannot be handed on.
        await (await ReassignAsync(s.Bob, request.Id(), new { to_email = "carol@example.com" }))
            .AssertProblemAsync(HttpStatusCode.Conflict, "already approved");
    }

    [Fact]
    public async Task Only_someone_who_may_decide_reassigns_and_bad_targets_change_nothing()
    {
        await using var s = await StartAsync();
        var request = await s.Agent.CreateApprovalAsync(new { action_name = "transfer_funds", timeout_seconds = 600 });
        var id = request.Id();
        await (await ReassignAsync(s.Carol, id, new { to_email = "carol@example.com" }))
            .AssertProblemAsync(HttpStatusCode.Forbidden, "not one of the approvers");
        await (await ReassignAsync(s.Alice, id, new { to_email = "mallory@example.com" }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "mallory@example.com is not an approver known to this server");
        await (await ReassignAsync(s.Alice, id, new { to_email = "agent-owner@example.com" }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "requested this action");
        await (await ReassignAsync(s.Alice, id, new { to_email = "bob@example.com", slack_channel = "C0OPS" }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "exactly one target");
        await (await ReassignAsync(s.Alice, id, new { note = "nobody" }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "exactly one target");
        await (await ReassignAsync(s.Alice, id, new { slack_channel = "#general" }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "not a Slack channel id");
        await (await ReassignAsync(s.Alice, id, new { teams_channel = "19:unknown@thread.tacv2" }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "bot is not in the Teams channel");
        await (await ReassignAsync(s.Alice, id, new { to_email = "bob@example.com", note = new string('x', 2001) }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "note");
        await (await ReassignAsync(s.Alice, "not-a-uuid", new { to_email = "bob@example.com" })).AssertProblemAsync(HttpStatusCode.BadRequest);
        await (await ReassignAsync(s.Alice, Guid.NewGuid().ToString(), new { to_email = "bob@example.com" })).AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.Forbidden, (await ReassignAsync(s.Agent, id, new { to_email = "bob@example.com" })).StatusCode);

        var detail = await DetailAsync(s, id);
        Assert.Equal(request["version"]!.GetValue<int>(), detail["version"]!.GetValue<int>());
        Assert.Null(detail["reassigned_to"]);
        Assert.DoesNotContain(detail["events"]!.AsArray(), e => e!.Str("kind") == "reassigned");
    }

    [Fact]
    public async Task Handing_a_request_to_a_channel_keeps_its_approvers_and_a_delegate_may_do_it_on_behalf()
    {
        await using var s = await StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await s.Alice.PutAsJsonAsync("/api/v1/me/delegation",
            new { delegate_email = "bob@example.com", ends_at = DateTimeOffset.UtcNow.AddDays(1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture) }, Ct)).StatusCode);
        var request = await s.Agent.CreateApprovalAsync(new { action_name = "transfer_funds", timeout_seconds = 600 });
        var json = await (await ReassignAsync(s.Bob, request.Id(), new { slack_channel = "C0OPS" })).Json();
        Assert.Equal("C0OPS", (string?)json["reassigned_to"]!["slack_channel"]);
        Assert.Equal("bob@example.com", (string?)json["reassigned_to"]!["by"]);
        Assert.Equal("alice@example.com", (string?)json["reassigned_to"]!["on_behalf_of"]);
        Assert.Equal(["alice@example.com"], json["approvers"]!.AsArray().Select(a => (string?)a));
        var handed = (await DetailAsync(s, request.Id()))["events"]!.AsArray().Single(e => e!.Str("kind") == "reassigned")!;
        Assert.Equal("alice@example.com", (string?)handed["details"]!["on_behalf_of"]);
    }
}
