using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;
using Dapper;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentSentinel.Core.Tests.Storage;

public sealed class SqliteStoreTests() : StoreContractTests(StorageProvider.Sqlite);

public sealed class PostgresStoreTests() : StoreContractTests(StorageProvider.Postgres);

/// <summary>One contract, run against both providers.</summary>
public abstract class StoreContractTests(StorageProvider provider) : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero).AddTicks(1234560);
    private Database _db = null!;
    private ApprovalStore _store = null!;
    private ApiKeyStore _keys = null!;
    private readonly SettableClock _clock = new();

    public async ValueTask InitializeAsync()
    {
        var storage = await TestStorage.CreateAsync(provider, "store");
        _db = Database.Create(new StorageOptions { Provider = provider, ConnectionString = storage.ConnectionString });
        await new MigrationRunner(_db, NullLogger<MigrationRunner>.Instance).MigrateAsync(CancellationToken.None);
        _store = new ApprovalStore(_db, _clock);
        _keys = new ApiKeyStore(_db);
    }

    public async ValueTask DisposeAsync() => await _db.DisposeAsync();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ApprovalRequest NewRequest(DateTimeOffset? created = null, int timeoutSeconds = 300, string requester = "key-agent", string? idempotencyKey = null, Priority priority = Priority.High, RiskLevel? risk = RiskLevel.Critical)
    {
        var at = (created ?? T0).TruncateToMicroseconds();
        return new ApprovalRequest
        {
            Id = Guid.CreateVersion7(at),
            ActionName = "transfer_funds",
            ActionDescription = "Move <b>$10</b> & more",
            AgentId = "agent-7",
            RunId = "run-1",
            TaskId = "task-1",
            MissionId = "mission-1",
            EstimatedCost = 15000.10m,
            RiskLevel = risk,
            Priority = priority,
            ActionInputs = """{"symbol":"AAPL","quantity":100}""",
            Context = """{"why":"rebalance"}""",
            CallbackUrl = "https://agent.example.com/hook",
            CreatedAt = at,
            ExpiresAt = at.AddSeconds(timeoutSeconds),
            Status = ApprovalStatus.Pending,
            RequesterKeyId = requester,
            IdempotencyKey = idempotencyKey,
            RouteName = "payments",
            Approvers = ["alice@example.com", "U0BOB"],
            Version = 1,
            UpdatedAt = at,
        };
    }

    private static ApprovalEvent CreatedEvent(ApprovalRequest r) =>
        new() { ApprovalId = r.Id, Kind = EventKinds.Created, At = r.CreatedAt, Actor = "agent", Surface = Surface.Api };

    private async Task<ApprovalRequest> CreateAsync(ApprovalRequest? request = null)
    {
        request ??= NewRequest();
        var result = await _store.CreateAsync(request, "hash", CreatedEvent(request), Ct);
        Assert.Equal(CreateOutcome.Created, result.Outcome);
        return request;
    }

    private static readonly Actor Alice = new("Alice", Surface.Api, "alice@example.com", null, "key-alice");

    /// <summary>A transition judged at <paramref name="now"/>: the store reads its clock once it holds the lock.</summary>
    private Task<TransitionResult> Transition(Guid id, TransitionKind kind, DateTimeOffset now, Actor? actor = null, string? text = null)
    {
        _clock.Now = now;
        return _store.TransitionAsync(new TransitionCommand(id, kind, actor ?? Alice, text), Ct);
    }

    private sealed class SettableClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = T0;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public async Task Create_then_get_round_trips_every_field()
    {
        var request = await CreateAsync();
        var stored = await _store.GetAsync(request.Id, Ct);
        Assert.NotNull(stored);
        Assert.Equal(request with { Approvers = [] }, stored with { Approvers = [] });
        Assert.Equal(request.Approvers, stored.Approvers);
        Assert.Equal(request.CreatedAt.ToUnixMicroseconds(), stored.CreatedAt.ToUnixMicroseconds());
        Assert.Equal(15000.10m, stored.EstimatedCost);
    }

    [Fact]
    public async Task Unknown_id_reads_as_null()
    {
        Assert.Null(await _store.GetAsync(Guid.CreateVersion7(), Ct));
        var result = await Transition(Guid.CreateVersion7(), TransitionKind.Approve, T0);
        Assert.Equal(TransitionOutcome.NotFound, result.Outcome);
    }

    [Fact]
    public async Task Reads_by_id_in_one_statement_return_each_request_and_leave_out_unknown_ids()
    {
        var requests = new List<ApprovalRequest>();
        for (var i = 0; i < 7; i++)
        {
            requests.Add(await CreateAsync(NewRequest(created: T0.AddSeconds(i))));
        }
        await Transition(requests[3].Id, TransitionKind.Approve, T0.AddSeconds(10));
        var unknown = Guid.CreateVersion7();

        var found = await ApprovalStore.ReadByIdsAsync(_db, [.. requests.Select(r => r.Id), unknown], Ct);

        Assert.Equal(requests.Count, found.Count);
        Assert.False(found.ContainsKey(unknown));
        foreach (var request in requests)
        {
            Assert.Equal(await StoredAloneAsync(request.Id), found[request.Id] with { Approvers = [] });
        }
        Assert.Equal(ApprovalStatus.Approved, found[requests[3].Id].Status);
    }

    [Fact]
    public async Task Concurrent_reads_by_id_each_get_their_own_request()
    {
        var requests = new List<ApprovalRequest>();
        for (var i = 0; i < 12; i++)
        {
            requests.Add(await CreateAsync(NewRequest(created: T0.AddSeconds(i))));
        }
        var reads = requests.Select(r => r.Id).Append(Guid.CreateVersion7()).Select(id => Task.Run(() => _store.GetAsync(id, Ct), Ct)).ToList();
        var results = await Task.WhenAll(reads);
        Assert.Equal(requests.Select(r => r.Id), results.Take(requests.Count).Select(r => r!.Id));
        Assert.Null(results[^1]);
    }

    /// <summary>The request as the one-id statement reads it (approvers blanked: the lists compare by reference).</summary>
    private async Task<ApprovalRequest> StoredAloneAsync(Guid id)
    {
        await using var connection = await _db.OpenAsync(Ct);
        var row = await connection.QuerySingleAsync<ApprovalRow>(new CommandDefinition(
            $"SELECT {ApprovalSql.Columns} FROM approvals WHERE id = @id", new { id = ApprovalSql.IdText(id) }, cancellationToken: Ct));
        return row.ToModel() with { Approvers = [] };
    }

    [Fact]
    public async Task Same_idempotency_key_and_body_returns_the_original()
    {
        var first = await CreateAsync(NewRequest(idempotencyKey: "k-1"));
        var second = NewRequest(idempotencyKey: "k-1");
        var replay = await _store.CreateAsync(second, "hash", CreatedEvent(second), Ct);
        Assert.Equal(CreateOutcome.Replayed, replay.Outcome);
        Assert.Equal(first.Id, replay.Request.Id);
        Assert.Null(await _store.GetAsync(second.Id, Ct));
    }

    [Fact]
    public async Task Same_idempotency_key_with_another_body_is_reported_and_stores_nothing()
    {
        var first = await CreateAsync(NewRequest(idempotencyKey: "k-2"));
        var other = NewRequest(idempotencyKey: "k-2");
        var result = await _store.CreateAsync(other, "other-hash", CreatedEvent(other), Ct);
        Assert.Equal(CreateOutcome.IdempotencyKeyReused, result.Outcome);
        Assert.Equal(first.Id, result.Request.Id);
        Assert.Null(await _store.GetAsync(other.Id, Ct));
    }

    private async Task<long> ConfigVersionAsync()
    {
        await using var connection = await _db.OpenAsync(Ct);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition("SELECT version FROM config_version WHERE id = 1", cancellationToken: Ct));
    }

    private async Task<long> CountAsync(string sql, Guid id)
    {
        await using var connection = await _db.OpenAsync(Ct);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(sql, new { id = ApprovalSql.IdText(id) }, cancellationToken: Ct));
    }

    [Fact]
    public async Task A_create_checked_at_a_configuration_version_that_moved_stores_nothing()
    {
        var checkedAt = await ConfigVersionAsync();
        var first = NewRequest(idempotencyKey: "cv-1");
        Assert.Equal(CreateOutcome.Created, (await _store.CreateAsync(first, "hash", CreatedEvent(first), checkedAt, Ct)).Outcome);

        // A key or setting changes (the same counter every such change bumps).
        await _keys.CreateAsync(new ApiKeyRecord
        {
            Id = "key-new", Name = "newcomer", Prefix = "as_new", KeyHash = "hash-new", Scopes = [Scopes.Agent], CreatedAt = T0.TruncateToMicroseconds(),
        }, Ct);
        Assert.Equal(checkedAt + 1, await ConfigVersionAsync());

        var stale = NewRequest();
        var refused = await _store.CreateAsync(stale, "hash", CreatedEvent(stale), checkedAt, Ct);
        Assert.Equal(CreateOutcome.ConfigChanged, refused.Outcome);
        Assert.Null(await _store.GetAsync(stale.Id, Ct));
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM approval_events WHERE approval_id = @id", stale.Id));
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM outbox WHERE approval_id = @id", stale.Id));
        // A replay of a used idempotency key checked at the old version is refused the same way, not replayed.
        var replay = NewRequest(idempotencyKey: "cv-1");
        Assert.Equal(CreateOutcome.ConfigChanged, (await _store.CreateAsync(replay, "hash", CreatedEvent(replay), checkedAt, Ct)).Outcome);

        // Checked again at the stored version, both go ahead as they would have.
        Assert.Equal(CreateOutcome.Created, (await _store.CreateAsync(stale, "hash", CreatedEvent(stale), checkedAt + 1, Ct)).Outcome);
        var again = await _store.CreateAsync(replay, "hash", CreatedEvent(replay), checkedAt + 1, Ct);
        Assert.Equal(CreateOutcome.Replayed, again.Outcome);
        Assert.Equal(first.Id, again.Request.Id);
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM outbox WHERE approval_id = @id", stale.Id));
    }

    [Fact]
    public async Task Idempotency_keys_are_per_requester()
    {
        await CreateAsync(NewRequest(idempotencyKey: "shared", requester: "a"));
        await CreateAsync(NewRequest(idempotencyKey: "shared", requester: "b"));
    }

    [Fact]
    public async Task Concurrent_creates_with_one_idempotency_key_store_exactly_one_request()
    {
        var attempts = Enumerable.Range(0, 16).Select(_ => NewRequest(idempotencyKey: "race")).ToList();
        var results = await Task.WhenAll(attempts.Select(r => Task.Run(() => _store.CreateAsync(r, "hash", CreatedEvent(r), Ct), Ct)));
        Assert.Single(results, r => r.Outcome == CreateOutcome.Created);
        Assert.Single(results.Select(r => r.Request.Id).Distinct());
    }

    [Fact]
    public async Task Approve_applies_once_records_the_approver_and_appends_an_event()
    {
        var request = await CreateAsync();
        var now = T0.AddSeconds(10);
        var result = await Transition(request.Id, TransitionKind.Approve, now, text: "looks fine");
        Assert.Equal(TransitionOutcome.Applied, result.Outcome);
        var approved = result.Request!;
        Assert.Equal(ApprovalStatus.Approved, approved.Status);
        Assert.Equal("alice@example.com", approved.DecidedByEmail);
        Assert.Equal(Surface.Api, approved.DecidedVia);
        Assert.Equal("looks fine", approved.DecisionNotes);
        Assert.Equal(now.TruncateToMicroseconds(), approved.DecidedAt);
        Assert.Equal(2, approved.Version);

        var again = await Transition(request.Id, TransitionKind.Reject, now.AddSeconds(1), text: "no");
        Assert.Equal(TransitionOutcome.WrongState, again.Outcome);
        Assert.Equal(ApprovalStatus.Approved, again.Request!.Status);
        Assert.Equal("alice@example.com", again.Request.DecidedByEmail);

        var events = await _store.GetEventsAsync(request.Id, Ct);
        Assert.Equal([EventKinds.Created, EventKinds.Approved], events.Select(e => e.Kind));
        Assert.Equal("alice@example.com", events[1].Actor);
        Assert.Contains("looks fine", events[1].Details, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Concurrent_approve_and_reject_calls_produce_exactly_one_decision_every_time()
    {
        for (var round = 0; round < 10; round++)
        {
            var request = await CreateAsync(NewRequest());
            var now = T0.AddSeconds(5);
            var calls = Enumerable.Range(0, 24).Select(i => Task.Run(() => Transition(
                request.Id,
                i % 2 == 0 ? TransitionKind.Approve : TransitionKind.Reject,
                now,
                new Actor($"approver{i}", Surface.Api, $"approver{i}@example.com", null, $"key-{i}"),
                $"decision {i}"), Ct));
            var results = await Task.WhenAll(calls);

            var winners = results.Where(r => r.Applied).ToList();
            Assert.Single(winners);
            var winner = winners[0].Request!;
            // Every loser is told who won.
            Assert.All(results.Where(r => !r.Applied), r =>
            {
                Assert.Equal(TransitionOutcome.WrongState, r.Outcome);
                Assert.Equal(winner.Status, r.Request!.Status);
                Assert.Equal(winner.DecidedByEmail, r.Request.DecidedByEmail);
            });
            var stored = await _store.GetAsync(request.Id, Ct);
            Assert.Equal(winner.Status, stored!.Status);
            Assert.Equal(winner.DecisionNotes, stored.DecisionNotes);
            var events = await _store.GetEventsAsync(request.Id, Ct);
            Assert.Single(events, e => e.Kind is EventKinds.Approved or EventKinds.Rejected);
        }
    }

    [Fact]
    public async Task A_decision_at_or_after_the_deadline_is_refused_even_before_the_expiry_job_ran()
    {
        var request = await CreateAsync(NewRequest(timeoutSeconds: 60));
        var atDeadline = await Transition(request.Id, TransitionKind.Approve, request.ExpiresAt);
        Assert.Equal(TransitionOutcome.PastDeadline, atDeadline.Outcome);
        Assert.Equal(ApprovalStatus.Expired, atDeadline.Request!.Status);

        var after = await Transition(request.Id, TransitionKind.Reject, request.ExpiresAt.AddSeconds(1), text: "late");
        Assert.Equal(TransitionOutcome.PastDeadline, after.Outcome);

        var justBefore = await Transition(request.Id, TransitionKind.Approve, request.ExpiresAt.AddTicks(-10));
        Assert.Equal(TransitionOutcome.Applied, justBefore.Outcome);
    }

    [Fact]
    public async Task Expiry_applies_only_at_or_after_the_deadline_and_only_once()
    {
        var request = await CreateAsync(NewRequest(timeoutSeconds: 60));
        var early = await Transition(request.Id, TransitionKind.Expire, request.ExpiresAt.AddMilliseconds(-1), Actor.System);
        Assert.Equal(TransitionOutcome.NotYetDue, early.Outcome);
        Assert.Equal(ApprovalStatus.Pending, (await _store.GetAsync(request.Id, Ct))!.Status);

        var due = await Transition(request.Id, TransitionKind.Expire, request.ExpiresAt.AddSeconds(3), Actor.System);
        Assert.Equal(TransitionOutcome.Applied, due.Outcome);
        Assert.Equal(ApprovalStatus.Expired, due.Request!.Status);
        Assert.Equal(request.ExpiresAt, due.Request.DecidedAt);

        var twice = await Transition(request.Id, TransitionKind.Expire, request.ExpiresAt.AddSeconds(4), Actor.System);
        Assert.Equal(TransitionOutcome.WrongState, twice.Outcome);
        var events = await _store.GetEventsAsync(request.Id, Ct);
        var expired = Assert.Single(events, e => e.Kind == EventKinds.Expired);
        Assert.Equal(request.ExpiresAt, expired.At);
    }

    [Fact]
    public async Task Request_info_then_respond_returns_to_pending_and_can_then_be_decided()
    {
        var request = await CreateAsync();
        var asked = await Transition(request.Id, TransitionKind.RequestInfo, T0.AddSeconds(1), text: "Which account?");
        Assert.Equal(ApprovalStatus.InfoRequested, asked.Request!.Status);
        Assert.Equal("Which account?", asked.Request.InfoRequestMessage);

        var askedAgain = await Transition(request.Id, TransitionKind.RequestInfo, T0.AddSeconds(2), text: "Again?");
        Assert.Equal(TransitionOutcome.WrongState, askedAgain.Outcome);

        var agent = new Actor("agent", Surface.Api, null, null, "key-agent");
        var answered = await Transition(request.Id, TransitionKind.Respond, T0.AddSeconds(3), agent, "Savings 123");
        Assert.Equal(ApprovalStatus.Pending, answered.Request!.Status);
        Assert.Equal("Savings 123", answered.Request.InfoResponse);

        var respondTwice = await Transition(request.Id, TransitionKind.Respond, T0.AddSeconds(4), agent, "again");
        Assert.Equal(TransitionOutcome.WrongState, respondTwice.Outcome);

        var approved = await Transition(request.Id, TransitionKind.Approve, T0.AddSeconds(5));
        Assert.Equal(ApprovalStatus.Approved, approved.Request!.Status);
        Assert.Equal(4, approved.Request.Version);
    }

    [Fact]
    public async Task Info_requested_requests_can_be_decided_without_an_answer()
    {
        var request = await CreateAsync();
        await Transition(request.Id, TransitionKind.RequestInfo, T0.AddSeconds(1), text: "Why?");
        var rejected = await Transition(request.Id, TransitionKind.Reject, T0.AddSeconds(2), text: "No answer needed");
        Assert.Equal(ApprovalStatus.Rejected, rejected.Request!.Status);
    }

    [Fact]
    public async Task The_requester_can_never_decide_its_own_request()
    {
        var request = await CreateAsync(NewRequest(requester: "key-self"));
        var self = new Actor("self", Surface.Api, "self@example.com", null, "key-self");
        foreach (var kind in new[] { TransitionKind.Approve, TransitionKind.Reject, TransitionKind.RequestInfo })
        {
            var result = await Transition(request.Id, kind, T0.AddSeconds(1), self, "x");
            Assert.Equal(TransitionOutcome.SelfDecision, result.Outcome);
        }
        Assert.Equal(ApprovalStatus.Pending, (await _store.GetAsync(request.Id, Ct))!.Status);
    }

    [Fact]
    public async Task Cancel_works_on_open_requests_and_never_on_terminal_ones()
    {
        var request = await CreateAsync();
        var agent = new Actor("agent", Surface.Api, null, null, "key-agent");
        var cancelled = await Transition(request.Id, TransitionKind.Cancel, T0.AddSeconds(1), agent);
        Assert.Equal(ApprovalStatus.Cancelled, cancelled.Request!.Status);
        var again = await Transition(request.Id, TransitionKind.Cancel, T0.AddSeconds(2), agent);
        Assert.Equal(TransitionOutcome.WrongState, again.Outcome);
        var approve = await Transition(request.Id, TransitionKind.Approve, T0.AddSeconds(3));
        Assert.Equal(TransitionOutcome.WrongState, approve.Outcome);
        Assert.Equal(ApprovalStatus.Cancelled, approve.Request!.Status);
    }

    [Fact]
    public async Task The_event_trail_is_append_only()
    {
        var request = await CreateAsync();
        await using var connection = await _db.OpenAsync(Ct);
        await Assert.ThrowsAnyAsync<Exception>(() => connection.ExecuteAsync("UPDATE approval_events SET kind = 'approved'"));
        await Assert.ThrowsAnyAsync<Exception>(() => connection.ExecuteAsync("DELETE FROM approval_events"));
        Assert.Single(await _store.GetEventsAsync(request.Id, Ct));
    }

    [Fact]
    public async Task Listing_filters_and_pages_newest_first_and_treats_overdue_requests_as_expired()
    {
        var created = new List<ApprovalRequest>();
        for (var i = 0; i < 7; i++)
        {
            created.Add(await CreateAsync(NewRequest(created: T0.AddSeconds(i), timeoutSeconds: i == 0 ? 10 : 3600,
                priority: i % 2 == 0 ? Priority.Critical : Priority.Low)));
        }
        var now = T0.AddSeconds(30); // the first request is past its deadline
        var page1 = await _store.ListAsync(new ApprovalQuery { Limit = 3 }, now, Ct);
        Assert.Equal(created.AsEnumerable().Reverse().Take(3).Select(r => r.Id), page1.Items.Select(r => r.Id));
        Assert.NotNull(page1.Next);
        var page2 = await _store.ListAsync(new ApprovalQuery { Limit = 3, After = page1.Next }, now, Ct);
        var page3 = await _store.ListAsync(new ApprovalQuery { Limit = 3, After = page2.Next }, now, Ct);
        Assert.Null(page3.Next);
        Assert.Equal(7, page1.Items.Count + page2.Items.Count + page3.Items.Count);

        var pending = await _store.ListAsync(new ApprovalQuery { Status = ApprovalStatus.Pending }, now, Ct);
        Assert.Equal(6, pending.Items.Count);
        var expired = await _store.ListAsync(new ApprovalQuery { Status = ApprovalStatus.Expired }, now, Ct);
        Assert.Equal(created[0].Id, Assert.Single(expired.Items).Id);
        var critical = await _store.ListAsync(new ApprovalQuery { Priority = Priority.Critical }, now, Ct);
        Assert.Equal(4, critical.Items.Count);
        var mine = await _store.ListAsync(new ApprovalQuery { RequesterKeyId = "nobody" }, now, Ct);
        Assert.Empty(mine.Items);
    }

    [Fact]
    public async Task Requests_created_in_the_same_instant_list_in_a_stable_order_without_gaps()
    {
        var ids = new HashSet<Guid>();
        for (var i = 0; i < 9; i++)
        {
            ids.Add((await CreateAsync(NewRequest(created: T0))).Id);
        }
        var seen = new List<Guid>();
        ApprovalCursor? cursor = null;
        do
        {
            var page = await _store.ListAsync(new ApprovalQuery { Limit = 2, After = cursor }, T0, Ct);
            seen.AddRange(page.Items.Select(r => r.Id));
            cursor = page.Next;
        }
        while (cursor is not null);
        Assert.Equal(9, seen.Count);
        Assert.True(ids.SetEquals(seen));
        Assert.Equal(seen.OrderByDescending(id => id.ToString("D"), StringComparer.Ordinal), seen);
        Assert.True(ApprovalCursor.TryParse(new ApprovalCursor(T0, seen[0]).ToString(), out var parsed));
        Assert.Equal(new ApprovalCursor(T0.TruncateToMicroseconds(), seen[0]), parsed);
        Assert.False(ApprovalCursor.TryParse("zzz", out _));
        Assert.False(ApprovalCursor.TryParse("-5.abc", out _));
    }

    [Fact]
    public async Task Statistics_count_exactly_for_the_window()
    {
        // Outside the window: never counted (except in the live pending total).
        await CreateAsync(NewRequest(created: T0.AddDays(-10), timeoutSeconds: 30 * 86400));
        var a = await CreateAsync(NewRequest(created: T0, priority: Priority.Critical, risk: RiskLevel.High));
        var b = await CreateAsync(NewRequest(created: T0.AddSeconds(1), priority: Priority.Low, risk: null));
        var c = await CreateAsync(NewRequest(created: T0.AddSeconds(2), priority: Priority.Low, risk: RiskLevel.Low));
        var d = await CreateAsync(NewRequest(created: T0.AddSeconds(3), timeoutSeconds: 5));
        var e = await CreateAsync(NewRequest(created: T0.AddSeconds(4)));
        await CreateAsync(NewRequest(created: T0.AddSeconds(5)));
        await Transition(a.Id, TransitionKind.Approve, T0.AddSeconds(10));          // 10 s
        await Transition(b.Id, TransitionKind.Approve, T0.AddSeconds(1 + 30));      // 30 s
        await Transition(c.Id, TransitionKind.Reject, T0.AddSeconds(2 + 60), text: "no"); // 60 s
        await Transition(e.Id, TransitionKind.Cancel, T0.AddSeconds(6));
        var now = T0.AddSeconds(100); // d is past its deadline (read as expired, not yet updated)

        var stats = await _store.GetStatsAsync(T0.AddHours(-1), T0.AddHours(1), now, Ct);
        Assert.Equal(6, stats.Total);
        Assert.Equal(2, stats.Approved);
        Assert.Equal(1, stats.Rejected);
        Assert.Equal(1, stats.Expired);
        Assert.Equal(1, stats.Cancelled);
        Assert.Equal(1, stats.Pending);
        Assert.Equal(2, stats.PendingTotal);
        Assert.Equal(33.333, stats.AverageDecisionSeconds);
        Assert.Equal(30, stats.MedianDecisionSeconds);
        Assert.Equal(0.4, stats.Rate(stats.Approved));
        Assert.Equal(2, stats.ByPriority["low"]);
        Assert.Equal(1, stats.ByPriority["critical"]);
        Assert.Equal(3, stats.ByPriority["high"]);
        Assert.Equal(1, stats.ByRiskLevel["unspecified"]);
        Assert.Equal(3, stats.ByRiskLevel["critical"]);

        await Transition(d.Id, TransitionKind.Expire, now, Actor.System);
        var after = await _store.GetStatsAsync(T0.AddHours(-1), T0.AddHours(1), now, Ct);
        Assert.Equal(stats with { ByPriority = after.ByPriority, ByRiskLevel = after.ByRiskLevel }, after);

        var empty = await _store.GetStatsAsync(T0.AddYears(-5), T0.AddYears(-4), now, Ct);
        Assert.Equal(0, empty.Total);
        Assert.Null(empty.MedianDecisionSeconds);
        Assert.Null(empty.AverageDecisionSeconds);
    }

    [Fact]
    public async Task Overdue_open_requests_are_listed_for_expiry_oldest_deadline_first_and_the_nearest_deadline_is_known()
    {
        var late = await CreateAsync(NewRequest(created: T0, timeoutSeconds: 20));
        var later = await CreateAsync(NewRequest(created: T0, timeoutSeconds: 10));
        await CreateAsync(NewRequest(created: T0, timeoutSeconds: 1000));
        var due = await _store.ListDueForExpiryAsync(T0.AddSeconds(30), 10, Ct);
        Assert.Equal([later.Id, late.Id], due);
        Assert.Equal(later.ExpiresAt, await _store.NextDeadlineAsync(Ct));
    }

    [Fact]
    public async Task Due_requests_expire_in_one_batch_each_with_its_event_and_outbox_entry_and_the_others_are_left_alone()
    {
        var first = await CreateAsync(NewRequest(created: T0, timeoutSeconds: 10));
        var second = await CreateAsync(NewRequest(created: T0, timeoutSeconds: 20));
        var decided = await CreateAsync(NewRequest(created: T0, timeoutSeconds: 15));
        var open = await CreateAsync(NewRequest(created: T0, timeoutSeconds: 1000));
        Assert.Equal(TransitionOutcome.Applied, (await Transition(decided.Id, TransitionKind.Approve, T0.AddSeconds(5))).Outcome);
        var outbox = new OutboxStore(_db);

        _clock.Now = T0.AddSeconds(30);
        var expired = await _store.ExpireDueAsync(100, Ct);

        Assert.Equal([first.Id, second.Id], expired.Select(r => r.Id));
        foreach (var (request, stored) in new[] { first, second }.Zip(expired))
        {
            Assert.Equal(ApprovalStatus.Expired, stored.Status);
            Assert.Equal(request.ExpiresAt, stored.DecidedAt);
            Assert.Equal(stored, (await _store.GetAsync(request.Id, Ct))! with { Approvers = stored.Approvers });
            var events = await _store.GetEventsAsync(request.Id, Ct);
            var expiredEvent = Assert.Single(events, e => e.Kind == EventKinds.Expired);
            Assert.Equal(request.ExpiresAt, expiredEvent.At);
            Assert.Equal(Actor.System.AuditName, expiredEvent.Actor);
            Assert.Equal(Surface.System, expiredEvent.Surface);
        }
        Assert.Equal(ApprovalStatus.Approved, (await _store.GetAsync(decided.Id, Ct))!.Status);
        Assert.Equal(ApprovalStatus.Pending, (await _store.GetAsync(open.Id, Ct))!.Status);
        // The creations' and the approval's entries come first; then one entry per expiry, in deadline order.
        var entries = (await outbox.ClaimAsync(T0.AddHours(3), T0.AddHours(4), 100, Ct)).Where(e => e.Transition == TransitionKind.Expire).ToList();
        Assert.Equal([first.Id, second.Id], entries.Select(e => e.Request.Id));
        Assert.All(entries, e =>
        {
            Assert.Equal(OutboxKind.Changed, e.Kind);
            Assert.Equal(TransitionKind.Expire, e.Transition);
            Assert.Equal(Actor.System.AuditName, e.Actor!.AuditName);
            Assert.Equal(ApprovalStatus.Expired, e.Request.Status);
        });
        Assert.Empty(await _store.ExpireDueAsync(100, Ct));
    }

    [Fact]
    public async Task Requests_left_unposted_are_listed_for_recovery_once_their_creation_has_left_the_outbox()
    {
        var chat = new ChatMessageStore(_db, new ServerInstance(_db, TimeProvider.System));
        var outbox = new OutboxStore(_db);
        var queued = await CreateAsync(NewRequest(created: T0));
        var dispatched = await CreateAsync(NewRequest(created: T0.AddSeconds(1)));
        var claimed = await CreateAsync(NewRequest(created: T0.AddSeconds(2)));
        var posted = await CreateAsync(NewRequest(created: T0.AddSeconds(3)));
        // The dispatcher handled the creations of all but the first (it queued their posts).
        var entries = await outbox.ClaimAsync(T0.AddMinutes(1), T0.AddMinutes(2), 100, Ct);
        await outbox.MarkHandledAsync([.. entries.Where(e => e.Request.Id != queued.Id).Select(e => e.Id)], T0.AddMinutes(1), Ct);
        await chat.ClaimAsync(claimed.Id, Surface.Slack, "C1", DeliveryKeys.Root, T0.AddMinutes(1), Ct);
        var (message, _) = await chat.ClaimAsync(posted.Id, Surface.Slack, "C1", DeliveryKeys.Root, T0.AddMinutes(1), Ct);
        await chat.MarkPostedAsync(message.Id, "1.1", null, null, T0.AddMinutes(1), Ct);

        var listed = await chat.ListUnpostedAsync(Surface.Slack, T0.AddHours(-1), T0.AddHours(1), 100, Ct);

        // The first is still in the outbox, whose dispatcher queues its post: listing it would queue a second one.
        Assert.Equal([dispatched.Id, claimed.Id], listed);
        // Each surface on its own: none of them is posted on Teams.
        Assert.Equal([dispatched.Id, claimed.Id, posted.Id], await chat.ListUnpostedAsync(Surface.Teams, T0.AddHours(-1), T0.AddHours(1), 100, Ct));
    }

    [Fact]
    public async Task A_decision_and_a_batch_expiry_racing_on_two_instances_never_both_apply()
    {
        // Two server instances whose clocks straddle the deadlines: to the decider every request is still open, to the
        // expiry job every one is due, so only the row lock decides which one applies.
        var requests = new List<ApprovalRequest>();
        for (var i = 0; i < 40; i++)
        {
            requests.Add(await CreateAsync(NewRequest(created: T0.AddMilliseconds(i), timeoutSeconds: 10)));
        }
        var deciderClock = new SettableClock { Now = T0.AddSeconds(9) };
        var decider = new ApprovalStore(_db, deciderClock);
        _clock.Now = T0.AddSeconds(11);

        var decisions = requests.Select(r => Task.Run(() => decider.TransitionAsync(new TransitionCommand(r.Id, TransitionKind.Approve, Alice, "ok"), Ct), Ct)).ToList();
        var expiries = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            var expired = new List<ApprovalRequest>();
            for (var pass = 0; pass < 5; pass++)
            {
                expired.AddRange(await _store.ExpireDueAsync(8, Ct));
            }
            return expired;
        }, Ct)).ToList();
        var approved = (await Task.WhenAll(decisions)).Where(r => r.Applied).Select(r => r.Request!.Id).ToHashSet();
        var expired = (await Task.WhenAll(expiries)).SelectMany(e => e).Select(r => r.Id).ToList();
        expired.AddRange((await _store.ExpireDueAsync(100, Ct)).Select(r => r.Id));

        Assert.Equal(expired.Count, expired.Distinct().Count());
        Assert.Empty(approved.Intersect(expired));
        Assert.Equal(requests.Count, approved.Count + expired.Count);
        foreach (var request in requests)
        {
            var stored = (await _store.GetAsync(request.Id, Ct))!;
            var closing = (await _store.GetEventsAsync(request.Id, Ct)).Where(e => e.Kind is EventKinds.Approved or EventKinds.Expired).ToList();
            Assert.Single(closing);
            Assert.Equal(approved.Contains(request.Id) ? ApprovalStatus.Approved : ApprovalStatus.Expired, stored.Status);
            Assert.Equal(approved.Contains(request.Id) ? EventKinds.Approved : EventKinds.Expired, closing[0].Kind);
        }
    }

    [Fact]
    public async Task Api_keys_are_found_by_hash_until_revoked()
    {
        var key = ApiKeyFactory.NewKey();
        var record = new ApiKeyRecord
        {
            Id = Guid.CreateVersion7().ToString(),
            Name = "agent one",
            Prefix = ApiKeyFactory.DisplayPrefix(key),
            KeyHash = ApiKeyFactory.Hash(key),
            Scopes = [Scopes.Agent, Scopes.Approver],
            Email = "a@example.com",
            CreatedAt = T0.TruncateToMicroseconds(),
        };
        await _keys.CreateAsync(record, Ct);
        var found = await _keys.FindActiveByHashAsync(ApiKeyFactory.Hash(key), Ct);
        Assert.NotNull(found);
        Assert.Equal(record.Scopes, found.Scopes);
        Assert.Null(await _keys.FindActiveByHashAsync(ApiKeyFactory.Hash(key + "x"), Ct));
        Assert.True(await _keys.RevokeAsync(record.Id, T0, Ct));
        Assert.False(await _keys.RevokeAsync(record.Id, T0, Ct));
        Assert.Null(await _keys.FindActiveByHashAsync(ApiKeyFactory.Hash(key), Ct));
        Assert.NotNull((await _keys.GetAsync(record.Id, Ct))!.RevokedAt);
    }

    [Fact]
    public async Task Settings_writes_are_versioned_and_a_stale_version_loses()
    {
        ISettingsStore settings = new SettingsStore(_db);
        var v1 = await settings.PutAsync("routes", "[1]", "alice", 0, T0, Ct);
        Assert.Equal(1, v1!.Version);
        Assert.Null(await settings.PutAsync("routes", "[2]", "bob", 0, T0, Ct));
        var v2 = await settings.PutAsync("routes", "[3]", "carol", 1, T0, Ct);
        Assert.Equal(2, v2!.Version);
        var v3 = await settings.PutAsync("routes", "[4]", "dave", null, T0, Ct);
        Assert.Equal(3, v3!.Version);
        Assert.Equal("[4]", (await settings.GetAsync("routes", Ct))!.Value);
        var history = await settings.GetHistoryAsync("routes", 10, Ct);
        Assert.Equal(["dave", "carol", "alice"], history.Select(h => h.Actor));
        Assert.Equal("[3]", history[0].ValueBefore);
        Assert.False(await settings.TryInsertAsync("routes", "[9]", "x", T0, Ct));
        Assert.True(await settings.TryInsertAsync("marker", "{}", "x", T0, Ct));
    }

    [Fact]
    public async Task Reassignment_notes_stored_under_the_new_message_key_get_keys_of_their_own()
    {
        var chat = new ChatMessageStore(_db, new ServerInstance(_db, TimeProvider.System));
        var request = await CreateAsync(NewRequest(created: T0));
        // As stored before migration 0034: the copy in the new channel and the note in the old thread under one key.
        var (copy, _) = await chat.ClaimAsync(request.Id, Surface.Slack, "C0OPS", "reassigned:2", T0, Ct);
        var (note, _) = await chat.ClaimAsync(request.Id, Surface.Slack, "C0PAY", "reassigned:2", T0, Ct, body: "Reassigned to Slack channel C0OPS by root.");
        await using (var connection = await _db.OpenAsync(Ct))
        {
            await connection.ExecuteAsync("DELETE FROM schema_migrations WHERE version = 34");
        }

        Assert.Equal(1, await new MigrationRunner(_db, NullLogger<MigrationRunner>.Instance).MigrateAsync(Ct));

        var keys = (await chat.ListAsync(request.Id, Surface.Slack, Ct)).ToDictionary(m => m.Id, m => m.DeliveryKey);
        Assert.Equal("reassigned:2", keys[copy.Id]);
        Assert.Equal(DeliveryKeys.ReassignedNote(2), keys[note.Id]);
        Assert.True(DeliveryKeys.IsRequestMessage(keys[copy.Id]));
        Assert.False(DeliveryKeys.IsRequestMessage(keys[note.Id]));
    }

    [Fact]
    public async Task Migrations_apply_once()
    {
        var again = await new MigrationRunner(_db, NullLogger<MigrationRunner>.Instance).MigrateAsync(Ct);
        Assert.Equal(0, again);
    }
}
