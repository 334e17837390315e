using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using static AgentSentinel.Testing.FakeSlackServer;

namespace AgentSentinel.Bot.Tests;

/// <summary>The Slack bot end to end: the real host with its job server, signed requests shaped as Slack sends them,
/// and a fake Slack Web API on loopback that records what the bot sent.</summary>
public sealed class SlackFlowTests : IAsyncLifetime
{
    private ChatHarness _h = null!;
    private string _aliceKeyId = null!;
    private static CancellationToken Ct => ChatHarness.Ct;

    public async ValueTask InitializeAsync()
    {
        _h = await ChatHarness.StartAsync(new ChatSetup(StorageProvider.Sqlite, "slack")
        {
            Slack = true,
            AgentKeyName = "billing-prod",
            AgentIds = ["billing-agent", "agent", "*agent* evil.example"],
            SlackUsers =
            {
                ["U0ALICE"] = ("Alice", "alice@example.com"),
                ["U0BOB"] = ("Bob", "bob@example.com"),
                ["U0CAROL"] = ("Carol", "carol@example.com"),
                ["U0DAN"] = ("Dan", "dan@example.com"),
                ["U0EVE"] = ("Eve", "eve@example.com"),
            },
            Settings =
            {
                ["AgentSentinel:PublicBaseUrl"] = "https://approvals.example.com",
                ["AgentSentinel:Routing:Routes:0:Name"] = "payments",
                ["AgentSentinel:Routing:Routes:0:Match:Actions:0"] = "transfer_*",
                ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = "C0PAY",
                ["AgentSentinel:Routing:Routes:0:Approvers:0"] = "U0ALICE",
                ["AgentSentinel:Routing:Routes:0:Approvers:1"] = "bob@example.com",
                ["AgentSentinel:Routing:Routes:0:Approvers:2"] = "U0CAROL",
                ["AgentSentinel:Routing:Routes:0:Mention"] = "here",
                ["AgentSentinel:Routing:Routes:1:Name"] = "default",
                ["AgentSentinel:Routing:Routes:1:Slack:Channel"] = "C0ALL",
            },
        });
        // Slack users decide as the approver identities their confirmed emails match; Eve has no key.
        _aliceKeyId = await _h.ApproverAsync("alice", "alice@example.com");
        foreach (var person in new[] { "bob", "carol", "dan" })
        {
            await _h.ApproverAsync(person, $"{person}@example.com");
        }
    }

    public async ValueTask DisposeAsync() => await _h.DisposeAsync();

    private FakeSlackServer Slack => _h.Slack;

    private async Task<(string Id, JsonObject Message)> CreateAndAwaitPostAsync(object body, string channel = "C0PAY")
    {
        var id = await _h.CreateAsync(body);
        return (id, await _h.SlackPostAsync(channel, id));
    }

    private Task<HttpResponseMessage> SendAsync(string path, string form) => _h.SlackFormAsync(path, form);

    private Task<HttpResponseMessage> ClickAsync(string user, string action, string id, string ts, string channel = "C0PAY") =>
        SendAsync("/slack/interactions", SlackRequests.PayloadForm(SlackRequests.BlockActions(user, action, id, channel, ts)));

    private Task<HttpResponseMessage> SubmitAsync(string user, string callback, string id, string? text) =>
        SendAsync("/slack/interactions", SlackRequests.PayloadForm(SlackRequests.ViewSubmission(user, callback, id, text)));

    private Task<JsonObject> PollAsync(string id) => _h.PollAsync(id);

    private static JsonObject? Block(JsonObject message, string blockId) =>
        message["blocks"]?.AsArray().FirstOrDefault(b => (string?)b!["block_id"] == blockId)?.AsObject();

    [Fact]
    public async Task A_new_request_is_posted_once_to_its_routes_channel_within_about_a_second()
    {
        var clock = Stopwatch.StartNew();
        var (id, message) = await CreateAndAwaitPostAsync(new { action_name = "transfer_funds", action_description = "Pay invoice 42", priority = "critical", risk_level = "high", estimated_cost = 1200.5, agent_id = "billing-agent", action_inputs = new { invoice = 42 } });
        var elapsed = clock.Elapsed;
        Assert.True(elapsed < TimeSpan.FromSeconds(3), $"posted after {elapsed}");
        Assert.StartsWith("<!here> ", (string?)message["text"], StringComparison.Ordinal);
        Assert.NotNull(Block(message, "header"));
        var fields = string.Join("\n", Block(message, "fields")!["fields"]!.AsArray().Select(f => (string?)f!["text"]));
        Assert.Contains("$1,200.50", fields, StringComparison.Ordinal);
        Assert.Contains("<!date^", fields, StringComparison.Ordinal);
        // The agent id is a claim; the key that made the request is shown beside it.
        Assert.Contains("`billing-agent` · key `billing-prod`", fields, StringComparison.Ordinal);
        Assert.Contains("\"invoice\": 42", (string?)Block(message, "inputs")!["text"]!["text"], StringComparison.Ordinal);
        Assert.Contains($"https://approvals.example.com/approvals/{id}", Block(message, "footer")!.ToJsonString(), StringComparison.Ordinal);
        // The three buttons and the "…" menu (Reassign to a person… / to a channel…).
        Assert.Equal(["button", "button", "button", "overflow"], Block(message, "decision")!["elements"]!.AsArray().Select(e => (string?)e!["type"]));

        var post = Assert.Single(Slack.CallsTo("chat.postMessage"));
        Assert.Equal($"Bearer {FakeSlackServer.Token}", post.Authorization);
        Assert.DoesNotContain("null", post.Body.ToJsonString(), StringComparison.Ordinal);

        // Requests on another route go to that route's channel.
        await CreateAndAwaitPostAsync(new { action_name = "read_report" }, "C0ALL");
        await Task.Delay(300, Ct);
        Assert.Equal(2, Slack.CallsTo("chat.postMessage").Count);
    }

    [Fact]
    public async Task Approve_opens_a_modal_and_its_submission_decides_and_updates_the_message()
    {
        var (id, message) = await CreateAndAwaitPostAsync(new { action_name = "transfer_funds" });
        var ts = (string)message["ts"]!;
        var click = await ClickAsync("U0ALICE", "approve", id, ts);
        Assert.Equal(HttpStatusCode.OK, click.StatusCode);
        var open = Assert.Single(Slack.CallsTo("views.open"));
        Assert.Equal("decision_approve", (string?)open.Body["view"]!["callback_id"]);
        Assert.Equal(id, (string?)open.Body["view"]!["private_metadata"]);
        Assert.Equal("pending", (string?)(await PollAsync(id))["status"]);

        var submit = await SubmitAsync("U0ALICE", "decision_approve", id, "Looks right");
        Assert.Equal(HttpStatusCode.OK, submit.StatusCode);
        Assert.Equal("", await submit.Content.ReadAsStringAsync(Ct));
        var poll = await PollAsync(id);
        Assert.Equal("approved", (string?)poll["status"]);
        Assert.Equal("alice@example.com", (string?)poll["decided_by_email"]);
        Assert.Equal("U0ALICE", (string?)poll["decided_by_user_id"]);
        Assert.Equal("slack", (string?)poll["decided_via"]);
        Assert.Equal("Looks right", (string?)poll["decision_notes"]);
        // The decision is recorded under the key of the approver identity Alice's email matched.
        var detail = await (await _h.App.Client().GetAsync($"/api/v1/approvals/{id}", Ct)).Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.Equal(_aliceKeyId, (string?)detail!["decided_by_key_id"]);
        Assert.Equal(_aliceKeyId, (string?)detail["events"]!.AsArray().Single(e => (string?)e!["kind"] == "approved")!["actor_key_id"]);

        var updated = await Slack.WaitForAsync(s => s.Messages("C0PAY").FirstOrDefault(m => (string?)m["ts"] == ts && Block(m, "outcome") is not null), what: "the updated message");
        Assert.Null(Block(updated, "decision"));
        var outcome = (string)Block(updated, "outcome")!["text"]!["text"]!;
        Assert.Contains("Approved", outcome, StringComparison.Ordinal);
        Assert.Contains("<@U0ALICE>", outcome, StringComparison.Ordinal);
        Assert.Contains("Looks right", outcome, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reject_and_request_info_need_their_text_and_nothing_changes_without_it()
    {
        var (id, message) = await CreateAndAwaitPostAsync(new { action_name = "transfer_funds" });
        await ClickAsync("U0ALICE", "reject", id, (string)message["ts"]!);
        Assert.Equal("decision_reject", (string?)Assert.Single(Slack.CallsTo("views.open")).Body["view"]!["callback_id"]);

        foreach (var (callback, text) in new[] { ("decision_reject", (string?)null), ("decision_reject", "   "), ("decision_request_info", null) })
        {
            var response = await SubmitAsync("U0ALICE", callback, id, text);
            var json = await response.Content.ReadFromJsonAsync<JsonObject>(Ct);
            Assert.Equal("errors", (string?)json!["response_action"]);
            Assert.NotNull(json["errors"]!["decision_text"]);
        }
        Assert.Equal("pending", (string?)(await PollAsync(id))["status"]);

        await SubmitAsync("U0ALICE", "decision_reject", id, "Not this quarter");
        var poll = await PollAsync(id);
        Assert.Equal("rejected", (string?)poll["status"]);
        Assert.Equal("Not this quarter", (string?)poll["decision_notes"]);
    }

    [Fact]
    public async Task An_approver_who_is_not_on_the_requests_list_is_told_so_privately_and_nothing_changes()
    {
        var (id, message) = await CreateAndAwaitPostAsync(new { action_name = "transfer_funds" });
        var click = await ClickAsync("U0DAN", "approve", id, (string)message["ts"]!);
        Assert.Equal(HttpStatusCode.OK, click.StatusCode);
        var ephemeral = await Slack.WaitForAsync(s => s.CallsTo("chat.postEphemeral").FirstOrDefault(), what: "the ephemeral reply");
        Assert.Equal("U0DAN", (string?)ephemeral.Body["user"]);
        Assert.Equal("C0PAY", (string?)ephemeral.Body["channel"]);
        Assert.Contains("not one of the approvers", (string?)ephemeral.Body["text"], StringComparison.Ordinal);
        Assert.Empty(Slack.CallsTo("views.open"));

        // A forged submission without a click is refused as well.
        var submit = await (await SubmitAsync("U0DAN", "decision_approve", id, null)).Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.Equal("errors", (string?)submit!["response_action"]);
        Assert.Equal("pending", (string?)(await PollAsync(id))["status"]);
    }

    [Fact]
    public async Task An_approver_listed_by_email_is_recognised_through_users_info()
    {
        var (id, message) = await CreateAndAwaitPostAsync(new { action_name = "transfer_funds" });
        await ClickAsync("U0BOB", "approve", id, (string)message["ts"]!);
        Assert.Single(Slack.CallsTo("views.open"));
        Assert.Contains(Slack.CallsTo("users.info"), c => (string?)c.Body["user"] == "U0BOB");
        await SubmitAsync("U0BOB", "decision_approve", id, null);
        Assert.Equal("bob@example.com", (string?)(await PollAsync(id))["decided_by_email"]);
    }

    [Fact]
    public async Task Two_approvers_submitting_at_once_make_exactly_one_decision_and_the_other_learns_who_won()
    {
        var (id, _) = await CreateAndAwaitPostAsync(new { action_name = "transfer_funds" });
        var responses = await Task.WhenAll(
            SubmitAsync("U0ALICE", "decision_approve", id, "yes"),
            SubmitAsync("U0CAROL", "decision_reject", id, "no"));
        var bodies = await Task.WhenAll(responses.Select(r => r.Content.ReadAsStringAsync(Ct)));
        Assert.Single(bodies, b => b.Length == 0);
        var loser = JsonNode.Parse(Assert.Single(bodies, b => b.Length > 0))!;
        Assert.Equal("errors", (string?)loser["response_action"]);
        var winner = await PollAsync(id);
        Assert.Contains("already", (string?)loser["errors"]!["decision_text"], StringComparison.Ordinal);
        var detail = await (await _h.App.Client().GetAsync($"/api/v1/approvals/{id}", Ct)).Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.Single(detail!["events"]!.AsArray(), e => (string?)e!["kind"] is "approved" or "rejected");
        Assert.Contains((string?)winner["status"], new[] { "approved", "rejected" });

        // A later click on the decided request gets an ephemeral note naming the decision.
        await ClickAsync("U0ALICE", "reject", id, "1.1");
        var note = await Slack.WaitForAsync(s => s.CallsTo("chat.postEphemeral").FirstOrDefault(), what: "the already-decided note");
        Assert.Contains("already", (string?)note.Body["text"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decisions_made_elsewhere_and_expiry_update_the_message()
    {
        var (id, message) = await CreateAndAwaitPostAsync(new { action_name = "transfer_funds" });
        using var approver = _h.App.Client(await _h.App.CreateKeyAsync("api approver", [Scopes.Approver], "bob@example.com"));
        var rejected = await approver.PostAsJsonAsync($"/api/v1/approvals/{id}/reject", new { reason = "Decided in the console" }, Ct);
        Assert.Equal(HttpStatusCode.OK, rejected.StatusCode);
        var ts = (string)message["ts"]!;
        var updated = await Slack.WaitForAsync(s => s.Messages("C0PAY").FirstOrDefault(m => (string?)m["ts"] == ts && Block(m, "outcome") is not null), what: "the update after an API decision");
        Assert.Contains("bob@example.com", (string)Block(updated, "outcome")!["text"]!["text"]!, StringComparison.Ordinal);

        var (expiring, expiringMessage) = await CreateAndAwaitPostAsync(new { action_name = "transfer_funds", timeout_seconds = 1 });
        var expiringTs = (string)expiringMessage["ts"]!;
        var clock = Stopwatch.StartNew();
        var expired = await Slack.WaitForAsync(s => s.Messages("C0PAY").FirstOrDefault(m => (string?)m["ts"] == expiringTs && Block(m, "outcome") is not null), what: "the expiry update");
        Assert.Contains("Expired", (string)Block(expired, "outcome")!["text"]!["text"]!, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"expiry update after {clock.Elapsed}");
        Assert.Equal("expired", (string?)(await PollAsync(expiring))["status"]);

        var (cancelled, cancelledMessage) = await CreateAndAwaitPostAsync(new { action_name = "transfer_funds" });
        await _h.Agent.PostAsync($"/api/v1/approvals/{cancelled}/cancel", null, Ct);
        await Slack.WaitForAsync(s => s.Messages("C0PAY").FirstOrDefault(m => (string?)m["ts"] == (string)cancelledMessage["ts"]! && Block(m, "outcome") is not null), what: "the cancel update");
    }

    [Fact]
    public async Task Questions_and_answers_go_in_the_thread_and_the_buttons_come_back()
    {
        var (id, message) = await CreateAndAwaitPostAsync(new { action_name = "transfer_funds" });
        var ts = (string)message["ts"]!;
        await SubmitAsync("U0ALICE", "decision_request_info", id, "Which account? <!channel>");
        Assert.Equal("info_requested", (string?)(await PollAsync(id))["status"]);
        var question = await Slack.WaitForAsync(s => s.Messages("C0PAY").FirstOrDefault(m => (string?)m["thread_ts"] == ts), what: "the question in the thread");
        Assert.Contains("Which account?", (string?)question["text"], StringComparison.Ordinal);
        Assert.Contains("<@U0ALICE>", (string?)question["text"], StringComparison.Ordinal);
        Assert.DoesNotContain("<!channel>", (string?)question["text"], StringComparison.Ordinal);
        await Slack.WaitForAsync(s => s.Messages("C0PAY").FirstOrDefault(m => (string?)m["ts"] == ts && Block(m, "decision") is null), what: "buttons hidden while waiting");

        var answer = await _h.Agent.PostAsJsonAsync($"/api/v1/approvals/{id}/respond", new { response = "Savings <@U0BOB>" }, Ct);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var reply = await Slack.WaitForAsync(s => s.Messages("C0PAY").Where(m => (string?)m["thread_ts"] == ts).Skip(1).FirstOrDefault(), what: "the answer in the thread");
        Assert.Contains("Savings &lt;@\u2060U0BOB&gt;", (string?)reply["text"], StringComparison.Ordinal);
        var back = await Slack.WaitForAsync(s => s.Messages("C0PAY").FirstOrDefault(m => (string?)m["ts"] == ts && Block(m, "decision") is not null && Block(m, "answer") is not null), what: "buttons back");
        Assert.Contains("Savings", Block(back, "answer")!.ToJsonString(), StringComparison.Ordinal);
        await Task.Delay(300, Ct);
        Assert.Equal(2, Slack.Messages("C0PAY").Count(m => (string?)m["thread_ts"] == ts));
    }

    [Fact]
    public async Task Rate_limits_server_errors_and_lost_answers_never_post_twice()
    {
        Slack.FailNext("chat.postMessage", SlackFault.RateLimited, SlackFault.ServerError, SlackFault.PostThenDrop);
        var (id, _) = await CreateAndAwaitPostAsync(new { action_name = "transfer_funds" });
        await Task.Delay(2500, Ct);
        Assert.Single(Slack.Messages("C0PAY"), m => (string?)m["metadata"]?["event_payload"]?["approval_id"] == id);
        Assert.True(Slack.CallsTo("chat.postMessage").Count >= 3);
        Assert.NotEmpty(Slack.CallsTo("conversations.history"));

        // Updates recover from a 429 too, and the message is redrawn once the decision is made.
        Slack.FailNext("chat.update", SlackFault.RateLimited, SlackFault.ServerError);
        using var approver = _h.App.Client(await _h.App.CreateKeyAsync("api approver", [Scopes.Approver], "bob@example.com"));
        Assert.Equal(HttpStatusCode.OK, (await approver.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { }, Ct)).StatusCode);
        await Slack.WaitForAsync(s => s.Messages("C0PAY").FirstOrDefault(m => (string?)m["metadata"]?["event_payload"]?["approval_id"] == id && Block(m, "outcome") is not null),
            TimeSpan.FromSeconds(20), "the update after a 429 and a 500");
    }

    [Fact]
    public async Task Forged_stale_and_unsigned_requests_get_401_and_change_nothing()
    {
        var (id, message) = await CreateAndAwaitPostAsync(new { action_name = "transfer_funds" });
        var form = SlackRequests.PayloadForm(SlackRequests.ViewSubmission("U0ALICE", "decision_approve", id, "forged"));
        var forged = await _h.Anonymous.SendAsync(SlackRequests.Signed("/slack/interactions", form, secret: "not-the-secret"), Ct);
        var stale = await _h.Anonymous.SendAsync(SlackRequests.Signed("/slack/interactions", form, at: DateTimeOffset.UtcNow.AddMinutes(-6)), Ct);
        var unsigned = await _h.Anonymous.PostAsync("/slack/interactions", new StringContent(form, System.Text.Encoding.UTF8, "application/x-www-form-urlencoded"), Ct);
        var tampered = SlackRequests.Signed("/slack/interactions", form);
        tampered.Content = new StringContent(form.Replace("forged", "FORGED", StringComparison.Ordinal), System.Text.Encoding.UTF8, "application/x-www-form-urlencoded");
        var tamperedResponse = await _h.Anonymous.SendAsync(tampered, Ct);
        foreach (var response in new[] { forged, stale, unsigned, tamperedResponse })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
        var commands = await _h.Anonymous.SendAsync(SlackRequests.Signed("/slack/commands", "command=%2Fapprovals&user_id=U0ALICE", secret: "wrong"), Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, commands.StatusCode);
        Assert.Equal("pending", (string?)(await PollAsync(id))["status"]);
        Assert.Empty(Slack.CallsTo("views.open"));
        _ = message;
    }

    [Fact]
    public async Task Url_verification_is_answered_with_the_challenge()
    {
        var body = """{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}""";
        var request = SlackRequests.Signed("/slack/events", body);
        request.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        var response = await _h.Anonymous.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", (string?)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["challenge"]);
    }

    [Fact]
    public async Task The_approvals_command_lists_only_what_the_user_may_decide()
    {
        var (id, _) = await CreateAndAwaitPostAsync(new { action_name = "transfer_funds", action_description = "Pay <!channel>" });
        var (other, _) = await CreateAndAwaitPostAsync(new { action_name = "read_report" }, "C0ALL");
        var form = "token=t&team_id=T0TEAM&channel_id=C0PAY&user_id=U0ALICE&user_name=alice&command=%2Fapprovals&text=&trigger_id=1.2.3";
        var alice = await (await SendAsync("/slack/commands", form)).Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.Equal("ephemeral", (string?)alice!["response_type"]);
        var text = alice["blocks"]!.ToJsonString();
        Assert.Contains(id, text, StringComparison.Ordinal);
        Assert.Contains(other, text, StringComparison.Ordinal); // the default route names no approvers
        Assert.DoesNotContain("<!channel>", text, StringComparison.Ordinal);

        // Dan is an approver, but not of the payments route.
        var dan = await (await SendAsync("/slack/commands", form.Replace("U0ALICE", "U0DAN", StringComparison.Ordinal))).Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.DoesNotContain(id, dan!["blocks"]!.ToJsonString(), StringComparison.Ordinal);
        Assert.Contains(other, dan["blocks"]!.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_text_with_urls_channels_and_formatting_is_posted_without_a_link_or_a_format()
    {
        const string hostile = "See https://evil.example/login, www.evil.example or ops@evil.example in #general: *bold* _it_ ~no~ `x` <https://x|y>";
        var (id, _) = await CreateAndAwaitPostAsync(new
        {
            action_name = "transfer_funds",
            action_description = hostile,
            agent_id = "*agent* evil.example",
            run_id = "`run` #general",
            action_inputs = new { url = "https://evil.example/```*x*```" },
        });
        var sent = Slack.CallsTo("chat.postMessage").Single(c => (string?)c.Body["metadata"]?["event_payload"]?["approval_id"] == id).Body;

        const string wj = "\u2060", dot = "\u2024";
        var expected = $"See https:{wj}//evil{dot}example/login, www{dot}evil{dot}example or ops@{wj}evil{dot}example in #{wj}general: *bold* _it_ ~no~ `x` &lt;https:{wj}//x|y&gt;";
        Assert.True(JsonNode.DeepEquals(
            new JsonObject { ["type"] = "section", ["block_id"] = "description", ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = expected, ["emoji"] = false } },
            Block(sent, "description")), Block(sent, "description")!.ToJsonString());
        var fields = Block(sent, "fields")!["fields"]!.AsArray();
        Assert.True(JsonNode.DeepEquals(
            new JsonObject { ["type"] = "mrkdwn", ["text"] = $"*Agent*\n`*agent* evil{dot}example` · key `billing-prod`", ["verbatim"] = true },
            fields.Single(f => ((string)f!["text"]!).StartsWith("*Agent*", StringComparison.Ordinal))), fields.ToJsonString());
        Assert.Contains(fields, f => (string?)f!["text"] == $"*Run*\n`ˋrunˋ #{wj}general`");
        var inputs = (string)Block(sent, "inputs")!["text"]!["text"]!;
        Assert.Equal(2, inputs.Split("```").Length - 1);
        Assert.Contains($"\"url\": \"https:{wj}//evil{dot}example/", inputs, StringComparison.Ordinal);

        // Whatever the block, every mrkdwn text is verbatim, and the only link anywhere is the product's own.
        var raw = sent.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(raw, "https?://"));
        Assert.Contains($"<https://approvals.example.com/approvals/{id}|", raw, StringComparison.Ordinal);
        foreach (var forbidden in new[] { "evil.example", "www.", "#general", "<https://x", "@evil" })
        {
            Assert.DoesNotContain(forbidden, raw, StringComparison.Ordinal);
        }
        Assert.All(sent["blocks"]!.AsArray().SelectMany(b => (IEnumerable<JsonNode?>?)b!["fields"]?.AsArray() ?? [b!["text"]]).OfType<JsonNode>().Where(t => (string?)t["type"] == "mrkdwn"),
            t => Assert.True((bool?)t["verbatim"], t.ToJsonString()));
    }
}

/// <summary>Without a signing secret the Slack endpoints are off, never unchecked.</summary>
public sealed class SlackDisabledTests
{
    [Fact]
    public async Task Without_a_signing_secret_the_slack_endpoints_answer_404()
    {
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "noslack"));
        using var client = app.Client(null);
        foreach (var path in new[] { "/slack/interactions", "/slack/commands", "/slack/events" })
        {
            var response = await client.SendAsync(SlackRequests.Signed(path, "payload=%7B%7D"), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
    }
}
