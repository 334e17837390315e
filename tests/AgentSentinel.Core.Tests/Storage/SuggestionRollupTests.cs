using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Stats;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;
using Dapper;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentSentinel.Core.Tests.Storage;

public sealed class SqliteSuggestionRollupTests() : SuggestionRollupTests(StorageProvider.Sqlite);

public sealed class PostgresSuggestionRollupTests() : SuggestionRollupTests(StorageProvider.Postgres);

/// <summary>
/// The suggestions read from rollups are compared with the statements that defined them before the rollups (they read
/// every decision and each one's chat posts), on random decisions from every surface, with chat posts recorded before
/// and after the decision, for windows ending anywhere: on day and hour edges, inside hours, exactly 30 days after a
/// decision and a microsecond later.
/// </summary>
public abstract class SuggestionRollupTests(StorageProvider provider) : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 10, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly string[] Agents = ["agent-1", "agent-2", ""];
    private static readonly string[] Actions = ["refund", "export"];
    private static readonly string[] Emails = ["alice@example.com", "Alice@Example.com", "bob@example.com", ""];
    private static readonly Surface[] Surfaces = [Surface.Api, Surface.Console, Surface.Slack, Surface.Teams];

    private Database _db = null!;
    private ApprovalStore _store = null!;
    private readonly SettableClock _clock = new();
    private readonly List<DateTimeOffset> _decisions = [];
    private int _messages;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        var storage = await TestStorage.CreateAsync(provider, "suggestrollup");
        _db = Database.Create(new StorageOptions { Provider = provider, ConnectionString = storage.ConnectionString });
        await new MigrationRunner(_db, NullLogger<MigrationRunner>.Instance).MigrateAsync(CancellationToken.None);
        _store = new ApprovalStore(_db, _clock);
    }

    public async ValueTask DisposeAsync() => await _db.DisposeAsync();

    private sealed class SettableClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = T0;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    // The definitions before the rollups, kept here as the reference.
    private const string PeoplesDecisions = """
        status IN ('approved', 'rejected') AND decided_at >= @from AND decided_at < @to AND grant_id IS NULL AND COALESCE(decided_via, '') <> 'system'
        """;

    private const string ReferenceExemptionsSql = $"""
        SELECT agent_id, action_name,
               SUM(CASE WHEN status = 'approved' THEN 1 ELSE 0 END) AS approved,
               MAX(CASE WHEN status = 'approved' THEN decided_at END) AS last_approved_at
        FROM approvals
        WHERE {PeoplesDecisions}
        GROUP BY agent_id, action_name
        HAVING SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END) = 0 AND SUM(CASE WHEN status = 'approved' THEN 1 ELSE 0 END) >= @min
        ORDER BY approved DESC, action_name, agent_id
        LIMIT @limit
        """;

    private const string ReferenceFastApprovalsSql = """
        SELECT approver, COUNT(*) AS approvals, SUM(CASE WHEN decided_at - appeared_at < @fast THEN 1 ELSE 0 END) AS fast
        FROM (
            SELECT COALESCE(LOWER(a.decided_by_email), a.decided_by_key_id) AS approver, a.decided_at,
                   COALESCE((SELECT MIN(m.posted_at) FROM chat_messages m
                             WHERE m.approval_id = a.id AND m.surface = a.decided_via AND m.posted_at IS NOT NULL), a.created_at) AS appeared_at
            FROM approvals a
            WHERE a.status = 'approved' AND a.decided_at >= @from AND a.decided_at < @to AND a.grant_id IS NULL AND COALESCE(a.decided_via, '') <> 'system'
              AND COALESCE(a.decided_by_email, a.decided_by_key_id) IS NOT NULL
        ) d
        GROUP BY approver
        """;

    private async Task PostAsync(string approvalId, Surface surface, DateTimeOffset? postedAt)
    {
        await using var connection = await _db.OpenAsync(Ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO chat_messages (approval_id, surface, channel, delivery_key, state, claimed_at, posted_at, updated_at)
            VALUES (@approvalId, @surface, 'C1', @key, @state, @claimed, @posted, @claimed)
            """, new
        {
            approvalId, surface = surface.ToWire(), key = $"k{_messages++}", state = postedAt is null ? "claimed" : "posted",
            claimed = _clock.Now.ToUnixMicroseconds(), posted = postedAt?.ToUnixMicroseconds(),
        }, cancellationToken: Ct));
    }

    private async Task RecordPostsAsync(string approvalId, DateTimeOffset postedAt)
    {
        await using var connection = await _db.OpenAsync(Ct);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE chat_messages SET posted_at = @posted, state = 'posted' WHERE approval_id = @approvalId AND posted_at IS NULL",
            new { approvalId, posted = postedAt.ToUnixMicroseconds() }, cancellationToken: Ct));
    }

    /// <summary>Random requests created over <paramref name="spread"/> from <paramref name="start"/>, decided 0-25 s
    /// after creation (some at exactly 10 s after a post), with posts on Slack and Teams, some recorded only after the
    /// decision.</summary>
    private async Task SeedAsync(int count, int seed, DateTimeOffset start, TimeSpan spread)
    {
        var random = new Random(seed);
        var later = new List<(string Id, DateTimeOffset PostedAt)>();
        for (var i = 0; i < count; i++)
        {
            var created = start.AddTicks((long)(random.NextDouble() * spread.Ticks)).TruncateToMicroseconds();
            _clock.Now = created;
            var agent = Agents[random.Next(Agents.Length)];
            var request = new ApprovalRequest
            {
                Id = Guid.CreateVersion7(created),
                ActionName = Actions[random.Next(Actions.Length)],
                AgentId = agent.Length == 0 ? null : agent,
                Priority = Priority.Medium,
                CreatedAt = created,
                ExpiresAt = created.AddHours(1),
                Status = ApprovalStatus.Pending,
                RequesterKeyId = "key-agent",
                Version = 1,
                UpdatedAt = created,
            };
            await _store.CreateAsync(request, "hash",
                new ApprovalEvent { ApprovalId = request.Id, Kind = EventKinds.Created, At = created, Actor = "agent", Surface = Surface.Api }, Ct);
            var id = request.Id.ToString();

            var postedAt = created.AddMicroseconds(random.Next(1, 15_000_000));
            var postSurface = random.Next(2) == 0 ? Surface.Slack : Surface.Teams;
            var postState = random.Next(3); // 0: recorded before the decision, 1: recorded after it, 2: never
            if (postState != 2)
            {
                await PostAsync(id, postSurface, postState == 0 ? postedAt : null);
            }

            var roll = random.Next(10);
            if (roll < 8)
            {
                var surface = Surfaces[random.Next(Surfaces.Length)];
                var at = random.Next(5) == 0
                    ? (surface == postSurface && postState == 0 ? postedAt : created).AddSeconds(10)   // the boundary: not fast
                    : created.AddMicroseconds(random.Next(0, 25_000_000));
                _clock.Now = at < created ? created : at;
                var email = Emails[random.Next(Emails.Length)];
                var actor = new Actor("someone", surface, email.Length == 0 ? null : email, null, $"key-{random.Next(3)}");
                var kind = roll < 6 ? TransitionKind.Approve : TransitionKind.Reject;
                var transition = await _store.TransitionAsync(new TransitionCommand(request.Id, kind, actor, kind == TransitionKind.Reject ? "no" : null), Ct);
                Assert.Equal(TransitionOutcome.Applied, transition.Outcome);
                _decisions.Add(transition.Request!.DecidedAt!.Value);
            }
            else if (roll == 8)
            {
                _clock.Now = created.AddSeconds(3);
                await _store.TransitionAsync(new TransitionCommand(request.Id, TransitionKind.Cancel, new Actor("agent", Surface.Api, KeyId: "key-agent"), null), Ct);
            }
            if (postState == 1)
            {
                later.Add((id, postedAt));
            }
        }
        // Posts recorded after the decisions they preceded.
        foreach (var (id, postedAt) in later)
        {
            await RecordPostsAsync(id, postedAt);
        }
    }

    private SuggestionStore? _reader;

    private async Task AssertSameAsReferenceAsync(DateTimeOffset asOf)
    {
        var (from, to) = (asOf.AddDays(-SuggestionRules.WindowDays), asOf);
        // One store for every read: an answer is given again only while nothing was folded since and no decision lies
        // between the windows' ends; asked twice, the second answer is the kept one.
        var reader = _reader ??= new SuggestionStore(_db) { FoldBatchSize = 13 };
        var (exemptions, fast) = await reader.ReadAsync(from, to, 3, 50, Ct);
        var again = await reader.ReadAsync(from, to, 3, 50, Ct);
        Assert.Equal(exemptions, again.Exemptions);
        Assert.Equal(fast, again.FastApprovals);

        await using var connection = await _db.OpenAsync(Ct);
        var p = new { from = from.ToUnixMicroseconds(), to = to.ToUnixMicroseconds(), min = 3, limit = 50, fast = SuggestionRules.FastSeconds * 1_000_000L };
        var expectedExemptions = (await connection.QueryAsync<(string? AgentId, string ActionName, long Approved, long LastApprovedAt)>(
            new CommandDefinition(ReferenceExemptionsSql, p, cancellationToken: Ct)))
            .Select(r => new ExemptionSuggestion(r.AgentId, r.ActionName, r.Approved, TimeConversions.FromUnixMicroseconds(r.LastApprovedAt))).ToList();
        var expectedFast = (await connection.QueryAsync<(string Approver, long Approvals, long Fast)>(
            new CommandDefinition(ReferenceFastApprovalsSql, p, cancellationToken: Ct))).OrderBy(f => f.Approver, StringComparer.Ordinal).ToList();

        Assert.Equal(expectedExemptions, exemptions);
        Assert.Equal(expectedFast, fast.OrderBy(f => f.Approver, StringComparer.Ordinal).ToList());
    }

    [Fact]
    public async Task Suggestions_from_rollups_equal_the_reference_statements_over_the_decisions()
    {
        await SeedAsync(220, seed: 7, T0, TimeSpan.FromDays(40));
        // Dense hours 30 days apart, so both edges of a window ending in them hold many decisions.
        await SeedAsync(150, seed: 9, T0.AddDays(3).AddHours(7), TimeSpan.FromHours(2));
        await SeedAsync(150, seed: 10, T0.AddDays(33).AddHours(7), TimeSpan.FromHours(2));
        Assert.Contains(_decisions, d => d >= T0.AddDays(30));

        var random = new Random(11);
        var ends = new List<DateTimeOffset>
        {
            T0.AddDays(35),                                        // on a day edge
            T0.AddDays(33).AddHours(7),                            // on an hour edge
            T0.AddDays(41),                                        // after the last decision
            T0.AddDays(10),                                        // a window starting before the first
            T0.AddDays(33).AddHours(8).AddMinutes(13).AddSeconds(7), // both edges inside dense hours
            T0.AddDays(33).AddHours(8).AddMicroseconds(-1),
        };
        ends.AddRange(Enumerable.Range(0, 4).Select(_ => T0.AddTicks((long)(random.NextDouble() * TimeSpan.FromDays(42).Ticks)).TruncateToMicroseconds()));
        var edge = _decisions.Where(d => d > T0.AddDays(2) && d < T0.AddDays(10)).First();
        ends.Add(edge.AddDays(30));                                // the window starts exactly at a decision
        ends.Add(edge.AddDays(30).AddMicroseconds(1));             // and a microsecond after it
        ends.Add(edge.AddMicroseconds(1));                         // the window ends just after a decision
        foreach (var end in ends)
        {
            await AssertSameAsReferenceAsync(end);
        }

        // More decisions and late posts after the rollups were read: the next read folds them in.
        await SeedAsync(80, seed: 8, T0.AddDays(20), TimeSpan.FromDays(15));
        foreach (var end in ends)
        {
            await AssertSameAsReferenceAsync(end);
        }
    }

    [Fact]
    public async Task A_post_recorded_after_an_approval_times_it_from_the_post_and_a_removed_post_from_creation()
    {
        _clock.Now = T0.AddHours(1);
        var request = new ApprovalRequest
        {
            Id = Guid.CreateVersion7(_clock.Now), ActionName = "refund", AgentId = "agent-1", Priority = Priority.Medium, CreatedAt = _clock.Now,
            ExpiresAt = _clock.Now.AddHours(1), Status = ApprovalStatus.Pending, RequesterKeyId = "key-agent", Version = 1, UpdatedAt = _clock.Now,
        };
        await _store.CreateAsync(request, "hash",
            new ApprovalEvent { ApprovalId = request.Id, Kind = EventKinds.Created, At = _clock.Now, Actor = "agent", Surface = Surface.Api }, Ct);
        await PostAsync(request.Id.ToString(), Surface.Slack, null);
        _clock.Now = T0.AddHours(1).AddSeconds(25);
        await _store.TransitionAsync(new TransitionCommand(request.Id, TransitionKind.Approve, new Actor("Alice", Surface.Slack, "alice@example.com"), null), Ct);
        var store = new SuggestionStore(_db);
        var (from, to) = (T0, T0.AddDays(1));

        Assert.Equal([("alice@example.com", 1L, 0L)], await store.FastApprovalsAsync(from, to, Ct));
        await RecordPostsAsync(request.Id.ToString(), T0.AddHours(1).AddSeconds(20));
        Assert.Equal([("alice@example.com", 1L, 1L)], await store.FastApprovalsAsync(from, to, Ct));
        await AssertSameAsReferenceAsync(to);

        await using (var connection = await _db.OpenAsync(Ct))
        {
            await connection.ExecuteAsync(new CommandDefinition("DELETE FROM chat_messages", cancellationToken: Ct));
        }
        Assert.Equal([("alice@example.com", 1L, 0L)], await store.FastApprovalsAsync(from, to, Ct));
        await AssertSameAsReferenceAsync(to);
    }
}
