using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Jobs;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

using static AgentSentinel.Testing.ChatText;

namespace AgentSentinel.Bot.Tests;

public sealed class SqliteAwayNoticeTests() : AwayNoticeTests(StorageProvider.Sqlite);

public sealed class PostgresAwayNoticeTests() : AwayNoticeTests(StorageProvider.Postgres);

/// <summary>Mentions and reminders name the delegate of a person who is away at the moment the message is made (the
/// server's injected clock, moved by the test): request messages and cards, reminders in their threads, escalation
/// posts and notes. Alice (a route approver named by her Slack id) goes away from Slack with Bob as her delegate; the
/// boss (the escalation level's person) is away through the API from minute 20 to minute 40 with Dan. The fake Slack
/// Web API and the fake Bot Connector record what was sent.</summary>
public abstract class AwayNoticeTests(StorageProvider provider) : IAsyncLifetime
{
    private const string PayChannel = EscalatingRoute.PayChannel;
    private const string LeadsChannel = EscalatingRoute.LeadsChannel;
    private const string TeamsChannel = EscalatingRoute.TeamsChannel;
    private const string TeamsLeads = EscalatingRoute.TeamsLeads;
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private ChatHarness _h = null!;
    private HttpClient _boss = null!;
    private static CancellationToken Ct => ChatHarness.Ct;

    public async ValueTask InitializeAsync()
    {
        var setup = EscalatingRoute.Setup(provider, "away-notices", _time, [10, 50], 30, "boss@example.com");
        setup.SlackUsers["U0BOB"] = ("Bob", "bob@example.com");
        _h = await ChatHarness.StartAsync(setup);
        await _h.ApproverAsync("alice", "alice@example.com");
        await _h.ApproverAsync("bob", "bob@example.com");
        await _h.ApproverAsync("dan", "dan@example.com");
        _boss = await _h.ApproverClientAsync("boss", "boss@example.com");
        await _h.InstallBotAsync(TeamsChannel, "29:alice", "aad-alice");
    }

    public async ValueTask DisposeAsync() => await _h.DisposeAsync();

    private Task<JsonObject> SlackMessageAsync(string channel, string id, string deliveryKey) =>
        _h.Slack.WaitForAsync(s => s.Messages(channel).FirstOrDefault(m => IdOf(m) == id && KeyOf(m) == deliveryKey), what: $"{deliveryKey} of {id} in {channel}");

    /// <summary>Every text of a card (or a reply) as Teams would read it, one per line.</summary>
    private static string CardText(FakeBotConnector.Call call) => string.Join("\n", Texts(call.Body!));

    /// <summary>A person as the Teams texts write them (escaped so that no client links the address).</summary>
    private static string T(string text) => Teams.TeamsText.Escape(text);

    private Task<FakeBotConnector.Call> TeamsCardAsync(string id, string contains) =>
        TeamsCallAsync("create", c => CardText(c).Contains(id, StringComparison.Ordinal) && CardText(c).Contains(contains, StringComparison.Ordinal),
            $"the Teams card of {id} with '{contains}'");

    private Task<FakeBotConnector.Call> TeamsReplyAsync(string contains) =>
        TeamsCallAsync("reply", c => CardText(c).Contains(contains, StringComparison.Ordinal), $"the Teams reply with '{contains}'");

    /// <summary>Waits for a call to the fake Bot Connector. Writes to one Teams conversation are spaced on the server's
    /// clock, which only the test moves: it is nudged (a tenth of a second a time) while waiting.</summary>
    private async Task<FakeBotConnector.Call> TeamsCallAsync(string operation, Func<FakeBotConnector.Call, bool> match, string what)
    {
        for (var i = 0; i < 1200; i++)
        {
            if (_h.Bot.CallsTo(operation).FirstOrDefault(match) is { } call)
            {
                return call;
            }
            _time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(50, Ct);
        }
        throw new TimeoutException($"Timed out waiting for {what}; calls so far: {string.Join(", ", _h.Bot.Calls.Select(c => c.Operation))}");
    }

    private Task<string> CreateAsync() => _h.CreateAsync(new { action_name = "transfer_funds", priority = "high", timeout_seconds = 3600 });

    private async Task<string> SlackCommandAsync(string user, string text)
    {
        var response = await _h.SlackCommandAsync(user, PayChannel, text);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (string)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["text"]!;
    }

    private static string At(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private Task RunFollowUpAsync(string id) => _h.App.Service<FollowUpJobs>().RunAsync(Guid.Parse(id), Ct);

    [Fact]
    public async Task Messages_made_while_a_person_is_away_name_their_delegate_and_those_made_outside_the_period_do_not()
    {
        var t0 = _time.GetUtcNow();
        var until = t0.UtcDateTime.Date.AddDays(3);

        // Before anyone is away: the message and the card name no delegate.
        var first = await CreateAsync();
        var root = await SlackMessageAsync(PayChannel, first, "root");
        Assert.Null(BlockText(root, "away"));
        Assert.DoesNotContain("decides for", (string?)root["text"], StringComparison.Ordinal);
        var firstCard = await TeamsCardAsync(first, "Approval needed");
        Assert.DoesNotContain("decides for", CardText(firstCard), StringComparison.Ordinal);

        // Alice goes away from Slack with Bob; the boss will be away from minute 20 to minute 40 with Dan (set through the API).
        _time.SetUtcNow(t0.AddMinutes(1));
        Assert.Contains("bob@example.com may decide", await SlackCommandAsync("U0ALICE", $"away until {until:yyyy-MM-dd} delegate <@U0BOB|bob>"), StringComparison.Ordinal);
        var bossAway = await _boss.PutAsJsonAsync("/api/v1/me/delegation", new { delegate_email = "dan@example.com", starts_at = At(t0.AddMinutes(20)), ends_at = At(t0.AddMinutes(40)) }, Ct);
        Assert.Equal(HttpStatusCode.OK, bossAway.StatusCode);

        // A request made now names Bob beside Alice, mentioning both (Slack) and by email (Teams).
        var second = await CreateAsync();
        var secondRoot = await SlackMessageAsync(PayChannel, second, "root");
        var awayBlock = BlockText(secondRoot, "away");
        Assert.NotNull(awayBlock);
        Assert.StartsWith(":palm_tree: <@U0ALICE> (away until <!date^", awayBlock, StringComparison.Ordinal);
        Assert.EndsWith("; <@U0BOB> decides for them)", awayBlock, StringComparison.Ordinal);
        Assert.Contains("<@U0BOB> decides for them", (string?)secondRoot["text"], StringComparison.Ordinal);
        var secondCard = await TeamsCardAsync(second, "Approval needed");
        // "until 2026-12-24" runs to the end of that day.
        Assert.Contains($"🌴 U0ALICE (away until {Utc(new DateTimeOffset(until.AddDays(1)))}; {T("bob@example.com")} decides for them)", CardText(secondCard), StringComparison.Ordinal);
        // The card Teams gets back when someone refreshes it (or clicks on it) says the same.
        var refreshed = await (await _h.SendActivityAsync(_h.Bot.Invoke(TeamsChannel, "29:alice", "refresh", second, null, $"{TeamsChannel};messageid=1"))).Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.Contains($"{T("bob@example.com")} decides for them", string.Join("\n", Texts(refreshed)), StringComparison.Ordinal);

        // Minute 10: the first request's reminder names Bob for Alice; the boss is not one of its approvers yet.
        _time.SetUtcNow(t0.AddMinutes(10));
        await RunFollowUpAsync(first);
        var reminder = await SlackMessageAsync(PayChannel, first, "reminder:1");
        Assert.Contains("<@U0ALICE> (away until", (string?)reminder["text"], StringComparison.Ordinal);
        Assert.Contains("<@U0BOB> decides for them", (string?)reminder["text"], StringComparison.Ordinal);
        Assert.DoesNotContain("dan@example.com", (string?)reminder["text"], StringComparison.Ordinal);
        await TeamsReplyAsync($"{T("bob@example.com")} decides for them");

        // Minute 30: the boss is away, so the escalation post, its Teams card and the thread note name Dan for him.
        _time.SetUtcNow(t0.AddMinutes(30));
        await RunFollowUpAsync(first);
        var escalated = await SlackMessageAsync(LeadsChannel, first, "escalation:1");
        var bossNote = $"boss@example.com (away until {SlackDate(t0.AddMinutes(40))}; dan@example.com decides for them)";
        Assert.StartsWith(bossNote + " Escalated: ", (string?)escalated["text"], StringComparison.Ordinal);
        Assert.Contains(bossNote + ", please decide.", BlockText(escalated, "escalation"), StringComparison.Ordinal);
        // Alice, the route's approver, is named with her delegate below the banner.
        Assert.Contains("<@U0BOB> decides for them", BlockText(escalated, "away"), StringComparison.Ordinal);
        var note = await SlackMessageAsync(PayChannel, first, "escalated:1");
        Assert.Contains(bossNote, (string?)note["text"], StringComparison.Ordinal);
        var leadsCard = await TeamsCardAsync(first, "Escalated (level 1)");
        Assert.Equal(TeamsLeads, (string?)leadsCard.Body!["channelData"]!["channel"]!["id"]);
        Assert.Contains($"{T("boss@example.com")} (away until {Utc(t0.AddMinutes(40))}; {T("dan@example.com")} decides for them), please decide.", CardText(leadsCard), StringComparison.Ordinal);
        await TeamsReplyAsync($"{T("dan@example.com")} decides for them");

        // Minute 50: the boss's period is over, Alice's is not: the reminder names Bob for her and nobody for him.
        _time.SetUtcNow(t0.AddMinutes(50));
        await RunFollowUpAsync(first);
        var late = await SlackMessageAsync(PayChannel, first, "reminder:2");
        Assert.Contains("<@U0BOB> decides for them", (string?)late["text"], StringComparison.Ordinal);
        Assert.DoesNotContain("dan@example.com", (string?)late["text"], StringComparison.Ordinal);
        Assert.DoesNotContain("boss@example.com", (string?)late["text"], StringComparison.Ordinal);

        // Alice is back: a request made now names no delegate again.
        Assert.Contains("Welcome back", await SlackCommandAsync("U0ALICE", "back"), StringComparison.Ordinal);
        var third = await CreateAsync();
        var thirdRoot = await SlackMessageAsync(PayChannel, third, "root");
        Assert.Null(BlockText(thirdRoot, "away"));
        Assert.DoesNotContain("decides for", CardText(await TeamsCardAsync(third, "Approval needed")), StringComparison.Ordinal);
    }

    private static string SlackDate(DateTimeOffset at) => string.Create(CultureInfo.InvariantCulture,
        $"<!date^{at.ToUnixTimeSeconds()}^{{date_short_pretty}} at {{time}}|{at.UtcDateTime:yyyy-MM-dd HH:mm} UTC>");

    private static string Utc(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);
}
