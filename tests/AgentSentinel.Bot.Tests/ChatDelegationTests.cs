using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Bot.Tests;

public sealed class SqliteChatDelegationTests() : ChatDelegationTests(StorageProvider.Sqlite);

public sealed class PostgresChatDelegationTests() : ChatDelegationTests(StorageProvider.Postgres);

/// <summary>Delegation while away through the chat surfaces: the Slack command sets and ends it (signed requests, fake
/// Slack), and a delegate decides in Slack and in Teams (fake Bot Connector) on behalf of the person away, which the
/// messages say; a revoked delegate is refused. The route names Alice only by her Slack and Teams ids.</summary>
public abstract class ChatDelegationTests(StorageProvider provider) : IAsyncLifetime
{
    private const string TeamsChannel = PaymentsTeam.TeamsChannel;
    private const string AliceAad = PaymentsTeam.AliceAad;
    private ChatHarness _h = null!;
    private string _bobKeyId = null!;
    private static CancellationToken Ct => ChatHarness.Ct;

    public async ValueTask InitializeAsync()
    {
        _h = await ChatHarness.StartAsync(PaymentsTeam.Setup(provider, "chat-delegation"));
        await _h.ApproverAsync("alice", "alice@example.com");
        _bobKeyId = await _h.ApproverAsync("bob", "bob@example.com");
        await _h.InstallBotAsync(TeamsChannel, "29:alice", AliceAad);
    }

    public async ValueTask DisposeAsync() => await _h.DisposeAsync();

    private FakeSlackServer Slack => _h.Slack;

    private static string InDays(int days) => DateTime.UtcNow.Date.AddDays(days).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private async Task<string> CommandAsync(string user, string text)
    {
        var response = await _h.SlackCommandAsync(user, "C0PAY", text);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!;
        Assert.Equal("ephemeral", (string?)json["response_type"]);
        return (string)json["text"]!;
    }

    private async Task<JsonNode?> DelegationOfAsync(string email)
    {
        // Read through the store the API uses, as the person would see it.
        var d = await _h.App.Service<Core.Delegation.DelegationService>().GetAsync(email, Ct);
        return d is null ? null : JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(d));
    }

    private async Task<(string Id, string Ts)> CreateAndAwaitSlackPostAsync()
    {
        var id = await _h.CreateAsync(new { action_name = "transfer_funds", timeout_seconds = 3600 });
        var message = await _h.SlackPostAsync("C0PAY", id);
        return (id, (string)message["ts"]!);
    }

    [Fact]
    public async Task The_away_command_sets_a_delegation_and_the_delegate_decides_in_slack_on_behalf_of_the_person_away()
    {
        var (id, ts) = await CreateAndAwaitSlackPostAsync();
        // Bob is not on the list yet: his click is refused.
        await _h.SlackClickAsync("U0BOB", "approve", id, "C0PAY", ts);
        Assert.Empty(Slack.CallsTo("views.open"));

        var answer = await CommandAsync("U0ALICE", $"away until {InDays(3)} delegate <@U0BOB|bob>");
        Assert.Contains("bob@example.com may decide what you could", answer, StringComparison.Ordinal);
        Assert.Contains($"{InDays(4)} 00:00:00 UTC", answer, StringComparison.Ordinal);
        var stored = await DelegationOfAsync("alice@example.com");
        Assert.Equal("bob@example.com", (string?)stored!["DelegateEmail"]);
        Assert.Equal("U0ALICE", (string?)stored["DelegatorSlackId"]);

        // Bob sees Alice's request in /approvals and decides it.
        Assert.Contains("1 request(s) waiting", await CommandAsync("U0BOB", ""), StringComparison.Ordinal);
        await _h.SlackClickAsync("U0BOB", "approve", id, "C0PAY", ts);
        Assert.Single(Slack.CallsTo("views.open"));
        var submit = await _h.SlackSubmitAsync("U0BOB", "decision_approve", id, "for alice");
        Assert.Equal("", await submit.Content.ReadAsStringAsync(Ct));
        var poll = await _h.PollAsync(id);
        Assert.Equal("approved", (string?)poll["status"]);
        Assert.Equal("bob@example.com", (string?)poll["decided_by_email"]);
        var update = await Slack.WaitForAsync(s => s.CallsTo("chat.update").Select(c => c.Body).LastOrDefault(b => b.ToJsonString().Contains("Approved", StringComparison.Ordinal)),
            what: "the redrawn message");
        var outcome = (string?)update["blocks"]!.AsArray().Single(b => (string?)b!["block_id"] == "outcome")!["text"]!["text"];
        Assert.Contains("*Approved* by <@U0BOB> on behalf of alice@example.com", outcome, StringComparison.Ordinal);

        // Back: the delegation ends and Bob is refused again.
        Assert.Contains("Welcome back", await CommandAsync("U0ALICE", "back"), StringComparison.Ordinal);
        Assert.Null(await DelegationOfAsync("alice@example.com"));
        await CreateAndAwaitSlackPostAsync();
        Assert.Contains("0 request(s) waiting", await CommandAsync("U0BOB", ""), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_away_command_refuses_what_it_cannot_read_and_stores_nothing()
    {
        foreach (var (text, expected) in new[]
        {
            ("away until 2026-02-30 delegate <@U0BOB|bob>", "is not a date written as yyyy-MM-dd"),
            ($"away until {InDays(3).Replace('-', '/')} delegate <@U0BOB|bob>", "is not a date written as yyyy-MM-dd"),
            ("away until next week delegate <@U0BOB|bob>", "I could not read that"),
            ($"away until {InDays(3)} delegate @bob", "is not a mention"),
            ($"away until {InDays(-2)} delegate <@U0BOB|bob>", "is not in the future"),
            ($"away until {InDays(3)} delegate <@U0ALICE|alice>", "yourself"),
            ($"away until {InDays(3)} delegate <@U0EVE|eve>", "cannot decide for you"),
            ($"away until {InDays(3)} delegate <@U0NOBODY|x>", "cannot decide for you"),
            ($"away until {InDays(3)} delegate <!channel>", "is not a mention"),
        })
        {
            var answer = await CommandAsync("U0ALICE", text);
            Assert.True(answer.Contains(expected, StringComparison.Ordinal), $"{text} -> {answer}");
            Assert.DoesNotContain("<!channel>", answer, StringComparison.Ordinal);
        }
        Assert.Null(await DelegationOfAsync("alice@example.com"));
        Assert.Contains("no delegation", await CommandAsync("U0ALICE", "away"), StringComparison.Ordinal);
        // Someone unknown to the server sets nothing either.
        Assert.DoesNotContain("may decide", await CommandAsync("U0EVE", $"away until {InDays(3)} delegate <@U0BOB|bob>"), StringComparison.Ordinal);
        Assert.Null(await DelegationOfAsync("eve@example.com"));
    }

    [Fact]
    public async Task A_delegate_decides_from_a_teams_card_on_behalf_of_the_person_away_until_their_key_is_revoked()
    {
        Assert.Contains("may decide", await CommandAsync("U0ALICE", $"away until {InDays(2)} delegate <@U0BOB|bob>"), StringComparison.Ordinal);
        var first = await CreateAndAwaitCardAsync();
        var invoke = await _h.CardAnswerAsync(_h.Bot.Invoke(TeamsChannel, "29:bob", "approve", first, "ok", $"{TeamsChannel};messageid=1"));
        var outcome = invoke["body"]!.AsArray().Select(e => e!.ToJsonString()).Single(e => e.Contains("\"outcome\"", StringComparison.Ordinal));
        Assert.Contains("bob@example.com on behalf of alice@example.com", outcome.Replace("\\\\", "", StringComparison.Ordinal).Replace("\\u2060", "", StringComparison.Ordinal), StringComparison.Ordinal);
        var poll = await _h.PollAsync(first);
        Assert.Equal("approved", (string?)poll["status"]);
        Assert.Equal("teams", (string?)poll["decided_via"]);

        // Bob's key revoked: his next click decides nothing, on either surface.
        var second = await CreateAndAwaitCardAsync();
        await _h.App.RevokeKeyAsync(_bobKeyId);
        var refused = await _h.CardAnswerAsync(_h.Bot.Invoke(TeamsChannel, "29:bob", "approve", second, "ok", $"{TeamsChannel};messageid=2"));
        Assert.Contains("not an approver known to this server", refused.ToJsonString(), StringComparison.Ordinal);
        var submit = await _h.SlackSubmitAsync("U0BOB", "decision_approve", second, null);
        Assert.Contains("not an approver known to this server", await submit.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal("pending", (string?)(await _h.PollAsync(second))["status"]);
    }

    [Fact]
    public async Task A_request_handed_to_a_channel_is_posted_there_and_its_old_messages_say_where_it_went()
    {
        // The route names Alice by her chat ids only: through the API an admin hands it on.
        var admin = _h.Admin;
        var (id, ts) = await CreateAndAwaitSlackPostAsync();
        var handed = await admin.PostAsJsonAsync($"/api/v1/approvals/{id}/reassign", new { slack_channel = "C0OPS", note = "ops <!channel> owns it" }, Ct);
        Assert.Equal(HttpStatusCode.OK, handed.StatusCode);

        var copy = await Slack.WaitForAsync(s => s.Messages("C0OPS").FirstOrDefault(m => (string?)m["metadata"]?["event_payload"]?["approval_id"] == id),
            what: "the copy in the new channel");
        Assert.StartsWith("reassigned:", (string?)copy["metadata"]!["event_payload"]!["delivery_key"], StringComparison.Ordinal);
        Assert.NotNull(copy["blocks"]!.AsArray().FirstOrDefault(b => (string?)b!["block_id"] == "decision"));
        var note = await Slack.WaitForAsync(s => s.Messages("C0PAY").FirstOrDefault(m => (string?)m["thread_ts"] == ts), what: "the note in the old thread");
        var text = (string)note["text"]!;
        Assert.Contains("*Reassigned* to <#C0OPS> by root@example.com", text, StringComparison.Ordinal);
        Assert.DoesNotContain("<!channel>", text, StringComparison.Ordinal);
        var redrawn = await _h.SlackRedrawAsync(ts, b => b["blocks"]!.AsArray().Any(x => (string?)x!["block_id"] == "reassigned"), "the old message redrawn");
        Assert.Contains("<#C0OPS>", (string?)redrawn["blocks"]!.AsArray().First(x => (string?)x!["block_id"] == "reassigned")!["text"]!["text"], StringComparison.Ordinal);

        // The same request handed to a Teams channel the bot is in gets a card there, and its old card says so. Its
        // old card is in that very channel: the new card and the note in the old card's thread are two deliveries.
        var cards = _h.Bot.CallsTo("create").Count;
        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsJsonAsync($"/api/v1/approvals/{id}/reassign", new { teams_channel = TeamsChannel }, Ct)).StatusCode);
        await _h.Bot.WaitForAsync(b => b.CallsTo("create").Count > cards ? b.CallsTo("create").Last() : null, TimeSpan.FromSeconds(60), what: "the card where it went");
        var update = await _h.Bot.WaitForAsync(b => b.CallsTo("update").LastOrDefault(c => c.Body!.ToJsonString().Contains("\"reassigned\"", StringComparison.Ordinal)), TimeSpan.FromSeconds(60), what: "the old card redrawn");
        Assert.Contains("Reassigned to", update.Body!.ToJsonString(), StringComparison.Ordinal);
        var notes = await _h.Bot.WaitForAsync(b => b.CallsTo("reply").Select(c => (string?)c.Body!["text"] ?? "").Where(t => t.StartsWith("↪ Reassigned to", StringComparison.Ordinal)).ToList() is { Count: 2 } two ? two : null,
            TimeSpan.FromSeconds(60), what: "a note in the old card's thread for each reassignment");
        Assert.Contains("C0OPS", notes[0], StringComparison.Ordinal);
        Assert.Contains("Reassigned to Teams channel 19:payments0123", notes[1], StringComparison.Ordinal);
        // Each note is stored as a reply, never redrawn as if it were the request's card.
        var stored = (await _h.App.Service<Core.Storage.IChatMessageStore>().ListAsync(Guid.Parse(id), Core.Approvals.Surface.Teams, Ct))
            .Where(m => m.DeliveryKey.StartsWith("reassigned-note:", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, stored.Count(m => m.State == Core.Storage.ChatMessageState.Posted));
        Assert.DoesNotContain(_h.Bot.CallsTo("update"), c => stored.Any(m => c.Path.EndsWith("/" + m.MessageId, StringComparison.Ordinal)));
    }

    private async Task<string> CreateAndAwaitCardAsync()
    {
        var id = await _h.CreateAsync(new { action_name = "transfer_funds", timeout_seconds = 3600 });
        await _h.TeamsCardAsync(id);
        return id;
    }
}
