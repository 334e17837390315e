using System.Net;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Bot.Tests;

public sealed class SqliteChatReassignTests() : ChatReassignTests(StorageProvider.Sqlite);

public sealed class PostgresChatReassignTests() : ChatReassignTests(StorageProvider.Postgres);

/// <summary>Reassignment from the chat surfaces: the "…" menu of the Slack message opens a modal (signed requests, fake
/// Slack recording <c>views.open</c> and the posts), the Teams card's Reassign card is sent as an invoke (fake Bot
/// Connector); only someone who may decide hands a request on, to an approver or a channel, through the same service
/// as the API. The route names Alice only by her Slack and Teams ids.</summary>
public abstract class ChatReassignTests(StorageProvider provider) : IAsyncLifetime
{
    private const string TeamsChannel = PaymentsTeam.TeamsChannel;
    private const string OpsTeamsChannel = "19:ops4567@thread.tacv2";
    private const string AliceAad = PaymentsTeam.AliceAad;
    private ChatHarness _h = null!;
    private static CancellationToken Ct => ChatHarness.Ct;

    public async ValueTask InitializeAsync()
    {
        var setup = PaymentsTeam.Setup(provider, "chat-reassign");
        setup.Settings["AgentSentinel:Routing:Routes:0:Match:Actions:0"] = "transfer_*";
        setup.Settings["AgentSentinel:Routing:Routes:1:Name"] = "ops";
        setup.Settings["AgentSentinel:Routing:Routes:1:Teams:Channel"] = OpsTeamsChannel;
        _h = await ChatHarness.StartAsync(setup);
        await _h.ApproverAsync("alice", "alice@example.com");
        await _h.ApproverAsync("bob", "bob@example.com");
        await _h.InstallBotAsync(TeamsChannel, "29:alice", AliceAad);
        await _h.InstallBotAsync(OpsTeamsChannel, "29:alice", AliceAad);
    }

    public async ValueTask DisposeAsync() => await _h.DisposeAsync();

    private FakeSlackServer Slack => _h.Slack;

    private async Task<(string Id, string Ts)> CreateAndAwaitSlackPostAsync()
    {
        var id = await _h.CreateAsync(new { action_name = "transfer_funds", action_description = "Pay <!channel> *now*", timeout_seconds = 3600 });
        var message = await _h.SlackPostAsync("C0PAY", id);
        return (id, (string)message["ts"]!);
    }

    /// <summary>The Reassign modal's submission: the picked user or conversation, and the note.</summary>
    private static JsonObject Submission(string user, string approvalId, bool toChannel, string? picked, string? note)
    {
        var payload = SlackRequests.ViewSubmission(user, toChannel ? "reassign_channel" : "reassign_person", approvalId, null);
        payload["view"]!["state"]!["values"] = new JsonObject
        {
            ["reassign_target"] = new JsonObject
            {
                ["target"] = toChannel
                    ? new JsonObject { ["type"] = "conversations_select", ["selected_conversation"] = picked is null ? null : JsonValue.Create(picked) }
                    : new JsonObject { ["type"] = "users_select", ["selected_user"] = picked is null ? null : JsonValue.Create(picked) },
            },
            ["reassign_note"] = new JsonObject { ["text"] = new JsonObject { ["type"] = "plain_text_input", ["value"] = note is null ? null : JsonValue.Create(note) } },
        };
        return payload;
    }

    private async Task<HttpResponseMessage> InteractAsync(JsonObject payload)
    {
        var response = await _h.SlackInteractionAsync(payload);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response;
    }

    private static async Task<string?> FieldErrorAsync(HttpResponseMessage response, string block)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        if (text.Length == 0)
        {
            return null;
        }
        var json = JsonNode.Parse(text)!;
        Assert.Equal("errors", (string?)json["response_action"]);
        return (string?)json["errors"]![block];
    }

    [Fact]
    public async Task The_slack_message_has_a_reassign_menu_and_someone_who_may_not_decide_is_refused_at_the_menu_and_at_the_submit()
    {
        var (id, ts) = await CreateAndAwaitSlackPostAsync();
        var message = Slack.Messages("C0PAY").Single(m => (string?)m["ts"] == ts);
        var menu = message["blocks"]!.AsArray().Single(b => (string?)b!["block_id"] == "decision")!["elements"]!.AsArray().Single(e => (string?)e!["type"] == "overflow")!;
        Assert.Equal("reassign", (string?)menu["action_id"]);
        Assert.Equal([$"person:{id}", $"channel:{id}"], menu["options"]!.AsArray().Select(o => (string?)o!["value"]));

        // Eve is no approver at all; Bob is one, but not on this request's list: neither gets a modal.
        await InteractAsync(SlackRequests.Overflow("U0EVE", $"person:{id}", "C0PAY", ts));
        await InteractAsync(SlackRequests.Overflow("U0BOB", $"channel:{id}", "C0PAY", ts));
        Assert.Empty(Slack.CallsTo("views.open"));
        var told = await Slack.WaitForAsync(s => s.CallsTo("chat.postEphemeral").Count >= 2 ? s.CallsTo("chat.postEphemeral") : null, what: "the two private refusals");
        Assert.Contains(told, c => (string?)c.Body["user"] == "U0EVE" && ((string?)c.Body["text"])!.Contains("not an approver known to this server", StringComparison.Ordinal));
        Assert.Contains(told, c => (string?)c.Body["user"] == "U0BOB" && ((string?)c.Body["text"])!.Contains("not one of the approvers", StringComparison.Ordinal));

        // A submission without the menu (Bob's) is refused by the service, under the picker.
        var refused = await InteractAsync(Submission("U0BOB", id, toChannel: true, "C0OPS", null));
        Assert.Contains("not one of the approvers", await FieldErrorAsync(refused, "reassign_target"), StringComparison.Ordinal);
        var detail = await _h.DetailAsync(id);
        Assert.Null(detail["reassigned_to"]);
        Assert.DoesNotContain(detail["events"]!.AsArray(), e => (string?)e!["kind"] == "reassigned");
        Assert.Empty(Slack.Messages("C0OPS"));
    }

    [Fact]
    public async Task An_approver_reassigns_from_slack_to_a_person_who_then_decides_it()
    {
        var (id, ts) = await CreateAndAwaitSlackPostAsync();
        await InteractAsync(SlackRequests.Overflow("U0ALICE", $"person:{id}", "C0PAY", ts));
        var opened = Assert.Single(Slack.CallsTo("views.open")).Body;
        var view = opened["view"]!;
        Assert.Equal("reassign_person", (string?)view["callback_id"]);
        Assert.Equal(id, (string?)view["private_metadata"]);
        Assert.Equal("users_select", (string?)view["blocks"]!.AsArray().Single(b => (string?)b!["block_id"] == "reassign_target")!["element"]!["type"]);
        // The agent's description is shown inert in the modal.
        var summary = (string)view["blocks"]!.AsArray().Single(b => (string?)b!["block_id"] == "summary")!["text"]!["text"]!;
        Assert.DoesNotContain("<!channel>", summary, StringComparison.Ordinal);

        // Eve is a Slack member but no approver: the modal stays open with the reason.
        var refused = await InteractAsync(Submission("U0ALICE", id, toChannel: false, "U0EVE", null));
        Assert.Contains("Eve is not an approver known to this server", await FieldErrorAsync(refused, "reassign_target"), StringComparison.Ordinal);
        Assert.Contains("Choose the person", await FieldErrorAsync(await InteractAsync(Submission("U0ALICE", id, toChannel: false, null, null)), "reassign_target"), StringComparison.Ordinal);
        Assert.Null((await _h.DetailAsync(id))["reassigned_to"]);

        var done = await InteractAsync(Submission("U0ALICE", id, toChannel: false, "U0BOB", "Bob owns <!channel> this vendor"));
        Assert.Null(await FieldErrorAsync(done, "reassign_target"));
        var detail = await _h.DetailAsync(id);
        Assert.Equal(["bob@example.com"], detail["approvers"]!.AsArray().Select(a => (string?)a));
        Assert.Equal("U0BOB", (string?)detail["reassigned_to"]!["person_slack_id"]);
        var handed = detail["events"]!.AsArray().Single(e => (string?)e!["kind"] == "reassigned")!;
        Assert.Equal("alice@example.com", (string?)handed["actor"]);
        Assert.Equal("slack", (string?)handed["surface"]);
        Assert.Equal("Bob owns <!channel> this vendor", (string?)handed["details"]!["note"]);

        // Posted to Bob; the old message says where it went, its note escaped.
        await Slack.WaitForAsync(s => s.Messages("U0BOB").FirstOrDefault(m => (string?)m["metadata"]?["event_payload"]?["approval_id"] == id), what: "the post to Bob");
        var redrawn = await _h.SlackRedrawAsync(ts, b => b["blocks"]!.AsArray().Any(x => (string?)x!["block_id"] == "reassigned"), "the old message redrawn");
        var note = (string)redrawn["blocks"]!.AsArray().First(x => (string?)x!["block_id"] == "reassigned")!["text"]!["text"]!;
        Assert.Contains("to <@U0BOB> by alice@example.com", note, StringComparison.Ordinal);
        Assert.DoesNotContain("<!channel>", note, StringComparison.Ordinal);

        // Bob may now decide it; Alice handed it on and may not.
        await InteractAsync(SlackRequests.BlockActions("U0BOB", "approve", id, "C0PAY", ts));
        Assert.Equal(2, Slack.CallsTo("views.open").Count);
        var late = await InteractAsync(Submission("U0ALICE", id, toChannel: true, "C0OPS", null));
        Assert.Contains("not one of the approvers", await FieldErrorAsync(late, "reassign_target"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_approver_reassigns_from_slack_to_a_channel_where_it_is_posted_with_its_buttons()
    {
        var (id, ts) = await CreateAndAwaitSlackPostAsync();
        await InteractAsync(SlackRequests.Overflow("U0ALICE", $"channel:{id}", "C0PAY", ts));
        var view = Assert.Single(Slack.CallsTo("views.open")).Body["view"]!;
        Assert.Equal("reassign_channel", (string?)view["callback_id"]);
        Assert.Equal("conversations_select", (string?)view["blocks"]!.AsArray().Single(b => (string?)b!["block_id"] == "reassign_target")!["element"]!["type"]);

        var tooLong = await InteractAsync(Submission("U0ALICE", id, toChannel: true, "C0OPS", new string('x', 2001)));
        Assert.Contains("longer than 2000", await FieldErrorAsync(tooLong, "reassign_note"), StringComparison.Ordinal);
        var done = await InteractAsync(Submission("U0ALICE", id, toChannel: true, "C0OPS", null));
        Assert.Null(await FieldErrorAsync(done, "reassign_target"));

        var copy = await Slack.WaitForAsync(s => s.Messages("C0OPS").FirstOrDefault(m => (string?)m["metadata"]?["event_payload"]?["approval_id"] == id), what: "the copy in C0OPS");
        var decision = copy["blocks"]!.AsArray().Single(b => (string?)b!["block_id"] == "decision")!;
        Assert.Contains(decision["elements"]!.AsArray(), e => (string?)e!["type"] == "overflow");
        var thread = await Slack.WaitForAsync(s => s.Messages("C0PAY").FirstOrDefault(m => (string?)m["thread_ts"] == ts), what: "the note in the old thread");
        Assert.Contains("*Reassigned* to <#C0OPS> by alice@example.com", (string)thread["text"]!, StringComparison.Ordinal);
        var detail = await _h.DetailAsync(id);
        Assert.Equal("C0OPS", (string?)detail["reassigned_to"]!["slack_channel"]);
        Assert.Equal(["U0ALICE", AliceAad], detail["approvers"]!.AsArray().Select(a => (string?)a));
    }

    private JsonObject ReassignInvoke(string user, string id, string? email, string? channel, string? note = null)
    {
        var invoke = _h.Bot.Invoke(TeamsChannel, user, "reassign", id, null, $"{TeamsChannel};messageid=1");
        var data = invoke["value"]!["action"]!["data"]!.AsObject();
        data["notes"] = "";
        data["reassign_email"] = email ?? "";
        data["reassign_channel"] = channel ?? "";
        data["reassign_note"] = note ?? "";
        return invoke;
    }

    private async Task<string> NoticeOfAsync(JsonObject invoke)
    {
        var card = await _h.CardAnswerAsync(invoke);
        return (string)card["body"]!.AsArray().First(e => (string?)e!["id"] == "notice")!["text"]!;
    }

    [Fact]
    public async Task The_teams_card_offers_reassign_and_only_someone_who_may_decide_hands_it_to_a_channel_or_a_person()
    {
        var id = await _h.CreateAsync(new { action_name = "transfer_funds", timeout_seconds = 3600 });
        var posted = await _h.TeamsCardAsync(id);
        var card = posted.Body!["activity"]!["attachments"]![0]!["content"]!;
        var showCard = card["actions"]!.AsArray().Single(a => (string?)a!["type"] == "Action.ShowCard")!;
        var offered = showCard["card"]!["body"]!.AsArray().Single(e => (string?)e!["id"] == "reassign_channel")!["choices"]!.AsArray().Select(c => (string?)c!["value"]);
        Assert.Equal([TeamsChannel, OpsTeamsChannel], offered);

        // Bob is an approver, but not on this request's list; both targets at once, or a channel the card does not offer, are refused.
        Assert.Contains("not one of the approvers", ChatText.Plain(await NoticeOfAsync(ReassignInvoke("29:bob", id, null, OpsTeamsChannel))), StringComparison.Ordinal);
        Assert.Contains("Choose one target", ChatText.Plain(await NoticeOfAsync(ReassignInvoke("29:alice", id, "bob@example.com", OpsTeamsChannel))), StringComparison.Ordinal);
        Assert.Contains("bot is not in the Teams channel", ChatText.Plain(await NoticeOfAsync(ReassignInvoke("29:alice", id, null, "19:elsewhere@thread.tacv2"))), StringComparison.Ordinal);
        Assert.Contains("mallory@example.com is not an approver known", ChatText.Plain(await NoticeOfAsync(ReassignInvoke("29:alice", id, "mallory@example.com", null))), StringComparison.Ordinal);
        Assert.Null((await _h.DetailAsync(id))["reassigned_to"]);

        var cards = _h.Bot.CallsTo("create").Count;
        var handed = ChatText.Plain(await NoticeOfAsync(ReassignInvoke("29:alice", id, null, OpsTeamsChannel, "ops decides")));
        Assert.Contains($"Reassigned to Teams channel {OpsTeamsChannel} by alice@example.com: ops decides", handed, StringComparison.Ordinal);
        await _h.Bot.WaitForAsync(b => b.CallsTo("create").Skip(cards).FirstOrDefault(c => c.Body!.ToJsonString().Contains(id, StringComparison.Ordinal)), what: "the card in the ops channel");
        var detail = await _h.DetailAsync(id);
        Assert.Equal(OpsTeamsChannel, (string?)detail["reassigned_to"]!["teams_channel"]);
        Assert.Equal("teams", (string?)detail["events"]!.AsArray().Single(e => (string?)e!["kind"] == "reassigned")!["surface"]);

        // Then to Bob by email: he becomes the one approver, so Alice's next try is refused.
        Assert.Contains("Reassigned to bob@example.com", ChatText.Plain(await NoticeOfAsync(ReassignInvoke("29:alice", id, "bob@example.com", null))), StringComparison.Ordinal);
        Assert.Equal(["bob@example.com"], (await _h.DetailAsync(id))["approvers"]!.AsArray().Select(a => (string?)a));
        Assert.Contains("not one of the approvers", ChatText.Plain(await NoticeOfAsync(ReassignInvoke("29:alice", id, "alice@example.com", null))), StringComparison.Ordinal);
    }
}
