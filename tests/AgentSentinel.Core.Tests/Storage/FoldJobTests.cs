using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Jobs;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace AgentSentinel.Core.Tests.Storage;

/// <summary>
/// The minute job folds the statistics and suggestion changes only when no other folder is at work (PostgreSQL, where
/// folders take an advisory lock): behind a long fold it returns at once, leaving the changes to that folder, instead
/// of holding a job worker until the fold ends. Readers still wait, and then see every change.
/// </summary>
public sealed class FoldJobTests : IAsyncLifetime
{
    private const long StatsFolderLock = 7413290460;
    private const long SuggestionsFolderLock = 7413290461;
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 9, 0, 0, TimeSpan.Zero);

    private string _cs = null!;
    private Database _db = null!;
    private ApprovalStatsStore _stats = null!;
    private SuggestionStore _suggestions = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        var storage = await TestStorage.CreateAsync(StorageProvider.Postgres, "foldjob");
        _cs = storage.ConnectionString;
        _db = Database.Create(new StorageOptions { Provider = StorageProvider.Postgres, ConnectionString = _cs });
        await new MigrationRunner(_db, NullLogger<MigrationRunner>.Instance).MigrateAsync(CancellationToken.None);
        _stats = new ApprovalStatsStore(_db);
        _suggestions = new SuggestionStore(_db);
        // The backfills queued by the migrations run once, on the empty tables.
        await _stats.FoldAsync(Ct);
        await _suggestions.FoldAsync(Ct);
    }

    public async ValueTask DisposeAsync() => await _db.DisposeAsync();

    private async Task<long> CountAsync(string table)
    {
        await using var c = new NpgsqlConnection(_cs);
        await c.OpenAsync(Ct);
        await using var cmd = new NpgsqlCommand($"SELECT count(*) FROM {table}", c);
        return (long)(await cmd.ExecuteScalarAsync(Ct))!;
    }

    /// <summary>A request created and approved by a person: a statistics change and a suggestion change each.</summary>
    private async Task SeedDecisionAsync()
    {
        var clock = new FakeTimeProvider(T0);
        var store = new ApprovalStore(_db, clock);
        var request = new ApprovalRequest
        {
            Id = Guid.CreateVersion7(T0),
            ActionName = "transfer_funds",
            AgentId = "agent-7",
            Priority = Priority.High,
            CreatedAt = T0,
            ExpiresAt = T0.AddHours(1),
            Status = ApprovalStatus.Pending,
            RequesterKeyId = "key-agent",
            Version = 1,
            UpdatedAt = T0,
        };
        var created = await store.CreateAsync(request, "hash",
            new ApprovalEvent { ApprovalId = request.Id, Kind = EventKinds.Created, At = T0, Actor = "agent", Surface = Surface.Api }, Ct);
        Assert.Equal(CreateOutcome.Created, created.Outcome);
        clock.SetUtcNow(T0.AddMinutes(3));
        var approved = await store.TransitionAsync(new TransitionCommand(request.Id, TransitionKind.Approve,
            new Actor("Alice", Surface.Api, "alice@example.com", null, "key-alice"), null), Ct);
        Assert.Equal(TransitionOutcome.Applied, approved.Outcome);
    }

    [Fact]
    public async Task The_minute_job_leaves_the_changes_to_a_folder_at_work_and_folds_them_once_it_is_done()
    {
        await SeedDecisionAsync();
        Assert.True(await CountAsync("stats_changes") > 0);
        Assert.True(await CountAsync("suggestion_changes") > 0);

        // Another folder at work: it holds both folder locks in its transaction.
        await using (var folder = new NpgsqlConnection(_cs))
        {
            await folder.OpenAsync(Ct);
            await using var tx = await folder.BeginTransactionAsync(Ct);
            await using (var take = new NpgsqlCommand($"SELECT pg_advisory_xact_lock({StatsFolderLock}), pg_advisory_xact_lock({SuggestionsFolderLock})", folder, tx))
            {
                await take.ExecuteNonQueryAsync(Ct);
            }

            // The job returns without waiting (a waiting job would run into this token) and moves nothing.
            using var patience = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            patience.CancelAfter(TimeSpan.FromSeconds(20));
            await new StatsJobs(_stats, _suggestions).FoldAsync(patience.Token);
            Assert.False(await _stats.TryFoldAsync(patience.Token));
            Assert.False(await _suggestions.TryFoldAsync(patience.Token));
            Assert.True(await CountAsync("stats_changes") > 0);
            Assert.True(await CountAsync("suggestion_changes") > 0);

            // A reader does wait for the folder.
            var reading = _stats.GetStatsAsync(T0.AddHours(-1), T0.AddHours(1), T0.AddHours(1), Ct);
            await Task.Delay(300, Ct);
            Assert.False(reading.IsCompleted);
            await tx.CommitAsync(Ct);
            var stats = await reading;
            Assert.Equal(1, stats.Total);
            Assert.Equal(1, stats.Approved);
        }

        // The reader folded the statistics; the job folds the suggestion changes now that nobody else is folding.
        Assert.Equal(0, await CountAsync("stats_changes"));
        await new StatsJobs(_stats, _suggestions).FoldAsync(Ct);
        Assert.Equal(0, await CountAsync("suggestion_changes"));
        Assert.True(await _stats.TryFoldAsync(Ct));
        Assert.True(await _suggestions.TryFoldAsync(Ct));
    }
}
