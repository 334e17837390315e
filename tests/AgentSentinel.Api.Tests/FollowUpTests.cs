using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Jobs;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteFollowUpTests() : FollowUpTests(StorageProvider.Sqlite);

public sealed class PostgresFollowUpTests() : FollowUpTests(StorageProvider.Postgres);

/// <summary>Reminders and escalation on an injected clock: each at its minute, each once, in order, never after a
/// decision or the deadline, every one in the event trail, and escalated people allowed to decide.</summary>
public abstract class FollowUpTests(StorageProvider provider) : IAsyncLifetime
{
    private static CancellationToken Ct => Http.Ct;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 8, 0, 0, TimeSpan.Zero));
    private AgentSentinelApp _app = null!;
    private HttpClient _agent = null!;

    public async ValueTask InitializeAsync()
    {
        _app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "followups"), _time, settings: new Dictionary<string, string?>
        {
            ["AgentSentinel:Routing:Routes:0:Name"] = "payments",
            ["AgentSentinel:Routing:Routes:0:Match:Actions:0"] = "transfer_*",
            ["AgentSentinel:Routing:Routes:0:Approvers:0"] = "alice@example.com",
            ["AgentSentinel:Routing:Routes:0:RemindersMinutes:0"] = "20",
            ["AgentSentinel:Routing:Routes:0:RemindersMinutes:1"] = "10",
            ["AgentSentinel:Routing:Routes:0:Escalation:0:AfterMinutes"] = "15",
            ["AgentSentinel:Routing:Routes:0:Escalation:0:Slack:Channel"] = "C0LEADS",
            ["AgentSentinel:Routing:Routes:0:Escalation:0:Mention:0"] = "lead@example.com",
            ["AgentSentinel:Routing:Routes:0:Escalation:1:AfterMinutes"] = "25",
            ["AgentSentinel:Routing:Routes:0:Escalation:1:Mention:0"] = "cfo@example.com",
            ["AgentSentinel:Routing:Routes:0:Escalation:1:Mention:1"] = "here",
            ["AgentSentinel:Routing:Routes:1:Name"] = "default",
        });
        _ = _app.Server;
        _agent = _app.Client(await _app.CreateKeyAsync("agent", [Scopes.Agent]));
    }

    public async ValueTask DisposeAsync()
    {
        _agent.Dispose();
        await _app.DisposeAsync();
    }

    private async Task<Guid> CreateAsync(string action = "transfer_funds", int timeoutMinutes = 60, string priority = "high") =>
        Guid.Parse((await _agent.CreateApprovalAsync(new { action_name = action, timeout_seconds = timeoutMinutes * 60, priority })).Id());

    private Task RunAsync(Guid id) => _app.Service<FollowUpJobs>().RunAsync(id, Ct);

    private async Task<IReadOnlyList<ApprovalEvent>> FollowUpEventsAsync(Guid id) =>
        [.. (await _app.Service<IApprovalStore>().GetEventsAsync(id, Ct)).Where(e => e.Kind is EventKinds.ReminderSent or EventKinds.Escalated)];

    private Task<ApprovalRequest?> GetAsync(Guid id) => _app.Service<IApprovalStore>().GetAsync(id, Ct);

    private static JsonNode Details(ApprovalEvent e) => JsonNode.Parse(e.Details!)!;

    [Fact]
    public async Task Reminders_and_levels_come_at_their_minutes_once_each_in_order()
    {
        var created = _time.GetUtcNow();
        var id = await CreateAsync();
        Assert.Equal(created.AddMinutes(10), (await GetAsync(id))!.FollowUpAt);

        var expected = new List<(string Kind, int Number, double Minute)>();
        foreach (var (minute, kind, number) in new[] { (10.0, EventKinds.ReminderSent, 1), (15.0, EventKinds.Escalated, 1), (20.0, EventKinds.ReminderSent, 2), (25.0, EventKinds.Escalated, 2) })
        {
            // A millisecond early: nothing. On the minute: exactly that follow-up, and running again adds nothing.
            _time.SetUtcNow(created.AddMinutes(minute).AddMilliseconds(-1));
            await RunAsync(id);
            Assert.Equal(expected.Count, (await FollowUpEventsAsync(id)).Count);
            _time.SetUtcNow(created.AddMinutes(minute));
            await RunAsync(id);
            await RunAsync(id);
            await _app.Service<FollowUpJobs>().SweepAsync(Ct);
            expected.Add((kind, number, minute));
            var events = await FollowUpEventsAsync(id);
            Assert.Equal(expected.Select(e => e.Kind), events.Select(e => e.Kind));
            Assert.Equal(expected.Select(e => created.AddMinutes(e.Minute)), events.Select(e => e.At));
            var last = events[^1];
            Assert.Equal(number, (int)Details(last)[kind == EventKinds.ReminderSent ? "number" : "level"]!);
            Assert.Equal("system", last.Actor);
        }
        var reminder = (await FollowUpEventsAsync(id))[2];
        Assert.Equal(40 * 60, (long)Details(reminder)["seconds_left"]!);
        var firstLevel = Details((await FollowUpEventsAsync(id))[1]);
        Assert.Equal("C0LEADS", (string?)firstLevel["slack_channel"]);

        var stored = (await GetAsync(id))!;
        Assert.Equal((2, 2), (stored.RemindersSent, stored.EscalationLevel));
        Assert.Null(stored.FollowUpAt);
        // Level 2 names "here", which is not a person: only the two people join the approvers.
        Assert.Equal(["alice@example.com", "lead@example.com", "cfo@example.com"], stored.Approvers);

        _time.Advance(TimeSpan.FromMinutes(30));
        await RunAsync(id);
        Assert.Equal(4, (await FollowUpEventsAsync(id)).Count);
    }

    [Fact]
    public async Task Follow_ups_due_in_one_slot_share_one_job_that_runs_each_of_them_at_its_minute()
    {
        var created = _time.GetUtcNow();
        var ids = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await CreateAsync());
        }
        await _app.EffectsQueuedAsync();
        // Three requests whose first follow-up is at minute 10 of the same second: one job, not one per request.
        var monitor = _app.Service<Hangfire.JobStorage>().GetMonitoringApi();
        var slotJobs = monitor.ScheduledJobs(0, 1000).Where(j => j.Value.Job.Type == typeof(FollowUpJobs)).ToList();
        Assert.Single(slotJobs);
        Assert.Equal(nameof(FollowUpJobs.RunDueAsync), slotJobs[0].Value.Job.Method.Name);

        var jobs = _app.Service<FollowUpJobs>();
        _time.SetUtcNow(created.AddMinutes(10).AddMilliseconds(-1));
        await jobs.RunDueAsync(Ct);
        foreach (var id in ids)
        {
            Assert.Empty(await FollowUpEventsAsync(id));
        }
        _time.SetUtcNow(created.AddMinutes(10));
        await jobs.RunDueAsync(Ct);
        foreach (var id in ids)
        {
            var reminder = Assert.Single(await FollowUpEventsAsync(id));
            Assert.Equal(EventKinds.ReminderSent, reminder.Kind);
            // The next follow-up (level 1 at minute 15) is what the request now waits for.
            Assert.Equal(created.AddMinutes(15), (await GetAsync(id))!.FollowUpAt);
        }
    }

    [Fact]
    public async Task After_downtime_every_due_level_fires_in_order_but_only_the_latest_reminder()
    {
        var created = _time.GetUtcNow();
        var id = await CreateAsync();
        _time.SetUtcNow(created.AddMinutes(22));
        Assert.Equal(1, await _app.Service<FollowUpJobs>().SweepAsync(Ct));
        var events = await FollowUpEventsAsync(id);
        Assert.Equal([EventKinds.Escalated, EventKinds.ReminderSent], events.Select(e => e.Kind));
        Assert.Equal(1, (int)Details(events[0])["level"]!);
        Assert.Equal(2, (int)Details(events[1])["number"]!);
        Assert.Equal(created.AddMinutes(25), (await GetAsync(id))!.FollowUpAt);
    }

    [Fact]
    public async Task Nothing_follows_a_decision()
    {
        var approver = _app.Client(await _app.CreateKeyAsync("alice", [Scopes.Approver], "alice@example.com"));
        var id = await CreateAsync();
        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(HttpStatusCode.OK, (await approver.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = "ok" })).StatusCode);
        Assert.Null((await GetAsync(id))!.FollowUpAt);

        _time.Advance(TimeSpan.FromMinutes(30));
        await RunAsync(id);
        await _app.Service<FollowUpJobs>().SweepAsync(Ct);
        Assert.Empty(await FollowUpEventsAsync(id));
    }

    [Fact]
    public async Task Nothing_follows_the_deadline_and_follow_ups_past_it_are_not_planned()
    {
        var created = _time.GetUtcNow();
        var id = await CreateAsync(timeoutMinutes: 12);
        _time.SetUtcNow(created.AddMinutes(10));
        await RunAsync(id);
        Assert.Single(await FollowUpEventsAsync(id));
        // The first level (15 min) and the second reminder (20 min) fall after the 12 min deadline.
        Assert.Null((await GetAsync(id))!.FollowUpAt);

        var late = await CreateAsync(timeoutMinutes: 12);
        _time.Advance(TimeSpan.FromMinutes(13));
        await RunAsync(late);
        await _app.Service<FollowUpJobs>().SweepAsync(Ct);
        Assert.Empty(await FollowUpEventsAsync(late));
    }

    [Fact]
    public async Task An_escalated_person_may_decide_only_after_the_level_fired()
    {
        var lead = _app.Client(await _app.CreateKeyAsync("lead", [Scopes.Approver], "lead@example.com"));
        var created = _time.GetUtcNow();
        var id = await CreateAsync();
        _time.SetUtcNow(created.AddMinutes(14));
        await RunAsync(id);
        await (await lead.PostJsonAsync($"/api/v1/approvals/{id}/approve", null)).AssertProblemAsync(HttpStatusCode.Forbidden);

        _time.SetUtcNow(created.AddMinutes(15));
        await RunAsync(id);
        var approved = await lead.PostJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = "covering for alice" });
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        var poll = await (await _agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).Json();
        Assert.Equal("approved", poll.Str("status"));
        Assert.Equal("lead@example.com", poll.Str("decided_by_email"));
    }

    [Fact]
    public async Task Follow_ups_keep_the_plan_the_request_was_made_with_when_the_route_changes()
    {
        var created = _time.GetUtcNow();
        var id = await CreateAsync();
        // The route is changed after creation: sooner, to another channel, other people.
        using var admin = _app.Client();
        var changed = await admin.PutAsJsonAsync("/api/v1/admin/routes", new
        {
            routes = new object[]
            {
                new
                {
                    name = "payments",
                    match = new { actions = new[] { "transfer_*" } },
                    approvers = new[] { "alice@example.com" },
                    reminders_minutes = new[] { 1 },
                    escalation = new[] { new { after_minutes = 2, slack = new { channel = "C0OTHER" }, mention = new[] { "intruder@example.com" } } },
                },
                new { name = "default" },
            },
        }, Ct);
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);

        _time.SetUtcNow(created.AddMinutes(3));
        await RunAsync(id);
        await _app.Service<FollowUpJobs>().SweepAsync(Ct);
        Assert.Empty(await FollowUpEventsAsync(id));

        _time.SetUtcNow(created.AddMinutes(15));
        await RunAsync(id);
        var events = await FollowUpEventsAsync(id);
        Assert.Equal([EventKinds.Escalated, EventKinds.ReminderSent], events.Select(e => e.Kind));
        Assert.Equal("C0LEADS", (string?)Details(events[0])["slack_channel"]);
        Assert.Equal(["alice@example.com", "lead@example.com"], (await GetAsync(id))!.Approvers);
        Assert.Equal(created.AddMinutes(20), (await GetAsync(id))!.FollowUpAt);

        // A request made after the change follows the new route.
        var later = await CreateAsync();
        Assert.Equal(_time.GetUtcNow().AddMinutes(1), (await GetAsync(later))!.FollowUpAt);
        var plan = (await GetAsync(later))!.RoutePlan!;
        Assert.Equal("C0OTHER", plan.Escalation.Single().Slack!.Channel);
    }

    [Fact]
    public async Task Without_route_reminders_priority_decides_how_soon()
    {
        var created = _time.GetUtcNow();
        var critical = await CreateAsync("read_report", priority: "critical");
        var low = await CreateAsync("read_report", timeoutMinutes: 24 * 60, priority: "low");
        Assert.Equal(created.AddMinutes(5), (await GetAsync(critical))!.FollowUpAt);
        Assert.Equal(created.AddMinutes(720), (await GetAsync(low))!.FollowUpAt);

        _time.SetUtcNow(created.AddMinutes(5));
        await _app.Service<FollowUpJobs>().SweepAsync(Ct);
        Assert.Single(await FollowUpEventsAsync(critical));
        Assert.Empty(await FollowUpEventsAsync(low));
        Assert.Equal(created.AddMinutes(15), (await GetAsync(critical))!.FollowUpAt);
    }
}
