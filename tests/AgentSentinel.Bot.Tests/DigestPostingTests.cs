using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Bot.Digest;
using AgentSentinel.Bot.Teams;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Digest;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;
using Hangfire;
using Hangfire.Storage;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Bot.Tests;

/// <summary>The weekly digest job against the fake Slack Web API and the fake Bot Connector, over two weeks of
/// traffic seeded through the API with a fake clock: each week is posted once per channel, whatever is retried.</summary>
public sealed class DigestPostingTests : IAsyncLifetime
{
    private const string SlackChannel = "C0MANAGERS";
    private const string TeamsChannel = "19:managers0123@thread.tacv2";
    private FakeSlackServer _slack = null!;
    private FakeBotConnector _bot = null!;
    private AgentSentinelApp _app = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _slack = await FakeSlackServer.StartAsync();
        _bot = await FakeBotConnector.StartAsync();
        var time = new FakeTimeProvider(DigestScenario.Start);
        _app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "digestpost"), time, settings: DigestScenario.Settings(new Dictionary<string, string?>
        {
            ["AgentSentinel:PublicBaseUrl"] = "https://approvals.example.com",
            ["AgentSentinel:Slack:BotToken"] = FakeSlackServer.Token,
            ["AgentSentinel:Slack:SigningSecret"] = SlackRequests.SigningSecret,
            ["AgentSentinel:Slack:ApiBaseUrl"] = _slack.BaseUrl.ToString(),
            ["AgentSentinel:Slack:MinSecondsBetweenPostsPerChannel"] = "0",
            ["AgentSentinel:Teams:AppId"] = FakeBotConnector.AppId,
            ["AgentSentinel:Teams:AppPassword"] = FakeBotConnector.AppPassword,
            ["AgentSentinel:Teams:OpenIdMetadataUrl"] = _bot.MetadataUrl,
            ["AgentSentinel:Teams:TokenUrl"] = _bot.TokenUrl,
            ["AgentSentinel:Teams:TenantId"] = FakeBotConnector.TenantId,
            ["AgentSentinel:Digest:Cron"] = "30 8 * * 1",
            ["AgentSentinel:Digest:Slack:Channel"] = SlackChannel,
            ["AgentSentinel:Digest:Teams:Channel"] = TeamsChannel,
        }));
        using var agent = _app.Client(await _app.CreateKeyAsync("agent", [Scopes.Agent], agentIds: DigestScenario.AgentIds));
        using var approver = _app.Client(await _app.CreateKeyAsync("approver", [Scopes.Approver], "approver@example.com"));
        await DigestScenario.SeedAsync(_app, time, agent, approver, Ct);
        // The bot was added to the managers' team.
        await _app.Service<IChatConversationStore>().UpsertConversationAsync(new ChatConversation
        {
            Surface = Surface.Teams,
            ConversationId = TeamsChannel,
            Kind = "channel",
            ChannelId = TeamsChannel,
            TeamId = TeamsChannel,
            TenantId = FakeBotConnector.TenantId,
            ServiceUrl = _bot.ServiceUrl,
        }, time.GetUtcNow(), Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        await _slack.DisposeAsync();
        await _bot.DisposeAsync();
    }

    private static readonly JsonSerializerOptions Readable = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private DigestJobs Jobs() => _app.Service<DigestJobs>();

    [Fact]
    public async Task The_recurring_job_is_registered_with_the_configured_cron_and_time_zone()
    {
        using var connection = _app.Service<JobStorage>().GetConnection();
        var job = Assert.Single(connection.GetRecurringJobs(), j => j.Id == DigestJobs.RecurringJobId);
        Assert.Equal("30 8 * * 1", job.Cron);
        Assert.Equal(DigestScenario.TimeZone, job.TimeZoneId);
        Assert.Equal(nameof(DigestJobs.RunAsync), job.Job.Method.Name);
    }

    [Fact]
    public async Task Each_channel_gets_the_finished_week_once_through_429_500_and_repeated_runs()
    {
        _slack.FailNext("chat.postMessage", FakeSlackServer.SlackFault.RateLimited, FakeSlackServer.SlackFault.ServerError);
        _bot.FailNext("create", HttpStatusCode.InternalServerError);

        // 1: Slack answers 429 (the week is rescheduled after Retry-After), Teams 500 (thrown, for Hangfire's retry).
        await Assert.ThrowsAsync<HttpRequestException>(() => Jobs().RunAsync(Ct));
        var retry = Assert.Single(_app.Service<JobStorage>().GetMonitoringApi().ScheduledJobs(0, 10_000), j => j.Value.Job.Type == typeof(DigestJobs));
        Assert.Equal((nameof(DigestJobs.PostWeekAsync), (object)DigestScenario.Week), (retry.Value.Job.Method.Name, retry.Value.Job.Args[0]));
        // 2: Slack answers 500; Teams posts.
        await Assert.ThrowsAsync<HttpRequestException>(() => Jobs().RunAsync(Ct));
        // 3: Slack posts. 4 and 5: nothing left to do.
        await Jobs().RunAsync(Ct);
        await Jobs().RunAsync(Ct);
        await Jobs().PostWeekAsync(DigestScenario.Week, Ct);

        Assert.Equal(3, _slack.CallsTo("chat.postMessage").Count);
        var message = Assert.Single(_slack.Messages(SlackChannel));
        Assert.Equal(2, _bot.CallsTo("create").Count);
        var posts = await _app.Service<DigestStore>().ListPostsAsync(DigestScenario.Week, Ct);
        Assert.All(posts, p => Assert.Equal(DigestPostState.Posted, p.State));
        Assert.Equal([("slack", SlackChannel, 3), ("teams", TeamsChannel, 2)], posts.Select(p => (p.Surface, p.Channel, p.Attempts)));

        // What was posted shows the same figures as the JSON endpoint.
        using var admin = _app.Client();
        var json = JsonNode.Parse(await admin.GetStringAsync($"/api/v1/approvals/digest?week={DigestScenario.Week}", Ct))!;
        var summary = json["summary"]!;
        var text = message.ToJsonString(Readable);
        Assert.Equal("header", (string?)message["blocks"]![0]!["type"]);
        Assert.Contains($"Weekly approvals digest {DigestScenario.Week}: {summary["total"]} requests", (string?)message["text"], StringComparison.Ordinal);
        Assert.Contains($"*{summary["approved"]}* approved ({DigestFormat.Percent((double)summary["approval_rate"]!)})", text, StringComparison.Ordinal);
        Assert.Contains($"median *{DigestFormat.Duration((double)summary["median_decision_seconds"]!)}*", text, StringComparison.Ordinal);
        Assert.Contains("█", text, StringComparison.Ordinal);
        Assert.Contains("<https://approvals.example.com/approvals/" + (string)json["oldest_pending"]![0]!["id"]!, text, StringComparison.Ordinal);
        Assert.Contains($"Compared with {DigestScenario.PreviousWeek}", text, StringComparison.Ordinal);
        Assert.Equal(DigestScenario.Week, (string?)message["metadata"]!["event_payload"]!["week"]);
        await File.WriteAllTextAsync(Path.Combine(Path.GetTempPath(), "agentsentinel-tests", "digest-chat.postMessage.json"),
            _slack.CallsTo("chat.postMessage")[^1].Body.ToJsonString(Readable), Ct);

        var card = _bot.CallsTo("create")[^1].Body!["activity"]!["attachments"]![0]!["content"]!;
        Assert.Contains($"{summary["total"]} requests", card.ToJsonString(Readable), StringComparison.Ordinal);
        var parsed = await TeamsCardTests.ParseWithLibraryAsync(card.ToJsonString());
        Assert.Equal("1.5", (string?)parsed["version"]);
        Assert.Empty(parsed["errors"]!.AsArray());
    }

    [Fact]
    public async Task Two_runs_at_once_post_once_per_channel()
    {
        await Task.WhenAll(Jobs().RunAsync(Ct), Jobs().RunAsync(Ct), Jobs().PostWeekAsync(DigestScenario.Week, Ct));
        Assert.Single(_slack.Messages(SlackChannel));
        Assert.Single(_bot.CallsTo("create"));
    }

    [Fact]
    public async Task A_post_whose_answer_was_lost_is_found_in_the_channel_and_not_posted_again()
    {
        _slack.FailNext("chat.postMessage", FakeSlackServer.SlackFault.PostThenDrop);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => Jobs().RunAsync(Ct));
        await Jobs().RunAsync(Ct);
        var message = Assert.Single(_slack.Messages(SlackChannel));
        Assert.Single(_slack.CallsTo("chat.postMessage"));
        var post = (await _app.Service<DigestStore>().ListPostsAsync(DigestScenario.Week, Ct)).Single(p => p.Surface == "slack");
        Assert.Equal((DigestPostState.Posted, (string?)message["ts"]), (post.State, post.MessageId));
    }

    [Fact]
    public async Task A_week_not_over_yet_is_not_posted()
    {
        await Jobs().PostWeekAsync("2025-W14", Ct);
        Assert.Empty(_slack.CallsTo("chat.postMessage"));
        Assert.Empty(_bot.CallsTo("create"));
    }
}

/// <summary>Agent-supplied text in the digest cannot mention anyone, render links or break the layout.</summary>
public sealed class DigestMessageTests
{
    private const string Hostile = "<!channel> *wire* `now` <https://evil.example|click> & [x](https://evil.example) @here";

    private static WeeklyDigest Digest()
    {
        var summary = new DigestSummary { Total = 3, Approved = 1, Rejected = 1, Expired = 0, Cancelled = 0, Open = 1, Decided = 2, ApprovalRate = 0.5, RejectionRate = 0.5, MedianDecisionSeconds = 90, P90DecisionSeconds = 3700 };
        var from = new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero);
        return new WeeklyDigest
        {
            Week = "2026-W48",
            TimeZone = "UTC",
            From = from,
            To = from.AddDays(7),
            AsOf = from.AddDays(7),
            Complete = true,
            Summary = summary,
            ByDay = [.. Enumerable.Range(0, 7).Select(i => new DigestDay(new DateOnly(2026, 11, 23).AddDays(i), "Day", i))],
            ByPriority = new Dictionary<string, long> { ["critical"] = 1, ["high"] = 2, ["medium"] = 0, ["low"] = 0 },
            ByRiskLevel = new Dictionary<string, long> { ["high"] = 1, ["unspecified"] = 2 },
            SlowestRoutes = [new DigestRoute(Hostile, 2, 3600), new DigestRoute(null, 1, 60)],
            PendingTotal = 1,
            OldestPending = [new DigestPendingRequest(Guid.CreateVersion7(), Hostile, Hostile, "high", null, Hostile, from, from.AddDays(9), 86_400)],
            PreviousWeek = new DigestPreviousWeek("2026-W47", from.AddDays(-7), from, from, new DigestSummary()),
            Change = new DigestChange { Total = 3, ApprovalRate = 0.5 },
            Suggestions = new Core.Stats.Suggestions(from.AddDays(-23), from.AddDays(7),
                [new Core.Stats.ExemptionSuggestion(Hostile, Hostile, 12, from)],
                [new Core.Stats.FastApprovalFigure(Hostile, 8, 6, 0.75, true), new Core.Stats.FastApprovalFigure("calm@example.com", 9, 1, 0.1111, false)]),
        };
    }

    [Fact]
    public void Both_digests_end_with_the_suggestions_and_only_flagged_approvers()
    {
        var slack = JsonSerializer.Serialize(DigestSlackMessage.Build(Digest(), "C0MANAGERS", null), Slack.SlackJson.Options);
        var teams = JsonSerializer.Serialize(DigestTeamsCard.Build(Digest(), null), CardJson.Options);
        foreach (var json in new[] { slack, teams })
        {
            Assert.Contains("approved 12 times, never rejected: consider a grant or a policy exemption", json, StringComparison.Ordinal);
            Assert.Contains("75.0% of 8 approvals given under 10 s: possible rubber-stamping", json, StringComparison.Ordinal);
            Assert.DoesNotContain("calm@example.com", json, StringComparison.Ordinal);
        }
        var quiet = Digest() with { Suggestions = new Core.Stats.Suggestions(default, default, [], []) };
        Assert.Contains("Nothing to suggest.", JsonSerializer.Serialize(DigestSlackMessage.Build(quiet, "C0MANAGERS", null), Slack.SlackJson.Options), StringComparison.Ordinal);
    }

    [Fact]
    public void Slack_digest_escapes_action_names_agent_ids_and_route_names()
    {
        foreach (var baseUrl in new[] { null, "https://approvals.example.com" })
        {
            var json = JsonSerializer.Serialize(DigestSlackMessage.Build(Digest(), "C0MANAGERS", baseUrl), Slack.SlackJson.Options);
            Assert.DoesNotContain("<!channel>", json, StringComparison.Ordinal);
            Assert.DoesNotContain("<https://evil", json, StringComparison.Ordinal);
            Assert.Contains("&lt;!channel&gt; *wire*", json, StringComparison.Ordinal);
            Assert.Contains("&amp; [x]", json, StringComparison.Ordinal);
            Assert.True(json.Length < Slack.BlockKitLimits.MessageJson, $"{json.Length} characters");
        }
    }

    [Fact]
    public async Task Teams_digest_escapes_agent_text_and_passes_the_adaptive_cards_library()
    {
        var card = JsonSerializer.Serialize(DigestTeamsCard.Build(Digest(), "https://approvals.example.com"), CardJson.Options);
        Assert.DoesNotContain("[x](https://evil", card, StringComparison.Ordinal);
        Assert.DoesNotContain("@here", card, StringComparison.Ordinal);
        Assert.Contains(@"\\[x\\]", card, StringComparison.Ordinal);
        Assert.Contains("(https://approvals.example.com/approvals/", card, StringComparison.Ordinal);
        var parsed = await TeamsCardTests.ParseWithLibraryAsync(card);
        Assert.Equal("1.5", (string?)parsed["version"]);
        Assert.Empty(parsed["errors"]!.AsArray());
        Assert.Equal(0, (int)parsed["actions"]!);
    }
}
