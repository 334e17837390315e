using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentSentinel.Core.Tests.Storage;

public sealed class SqliteConsoleSessionStoreTests() : ConsoleSessionStoreTests(StorageProvider.Sqlite);

public sealed class PostgresConsoleSessionStoreTests() : ConsoleSessionStoreTests(StorageProvider.Postgres);

/// <summary>Console sessions on both providers: open until ended or past their absolute end, and joined to their key.</summary>
public abstract class ConsoleSessionStoreTests(StorageProvider provider) : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero).AddTicks(4560);
    private Database _db = null!;
    private ConsoleSessionStore _sessions = null!;
    private ApiKeyStore _keys = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        var storage = await TestStorage.CreateAsync(provider, "sessions");
        _db = Database.Create(new StorageOptions { Provider = provider, ConnectionString = storage.ConnectionString });
        await new MigrationRunner(_db, NullLogger<MigrationRunner>.Instance).MigrateAsync(CancellationToken.None);
        _sessions = new ConsoleSessionStore(_db);
        _keys = new ApiKeyStore(_db);
    }

    public async ValueTask DisposeAsync() => await _db.DisposeAsync();

    private async Task<(ApiKeyRecord Key, ConsoleSession Session)> CreateAsync(string idHash)
    {
        var key = new ApiKeyRecord
        {
            Id = Guid.CreateVersion7().ToString(),
            Name = "approver",
            Prefix = "as_abc",
            KeyHash = ApiKeyFactory.Hash(idHash + "-key"),
            Scopes = [Scopes.Approver, Scopes.Admin],
            Email = "amy@example.com",
            CreatedAt = T0.TruncateToMicroseconds(),
        };
        await _keys.CreateAsync(key, Ct);
        var session = new ConsoleSession
        {
            IdHash = idHash,
            KeyId = key.Id,
            KeyHash = key.KeyHash,
            Name = "approver",
            Email = "amy@example.com",
            Scopes = key.Scopes,
            CreatedAt = T0.TruncateToMicroseconds(),
            LastSeenAt = T0.TruncateToMicroseconds(),
            ExpiresAt = T0.AddHours(8).TruncateToMicroseconds(),
        };
        await _sessions.CreateAsync(session, Ct);
        return (key, session);
    }

    [Fact]
    public async Task A_session_reads_back_as_stored_with_its_key_active()
    {
        var (_, session) = await CreateAsync("s1");
        var found = await _sessions.FindOpenAsync("s1", T0.AddMinutes(1), Ct);
        Assert.NotNull(found);
        Assert.Equal(session with { StoredKeyActive = true }, found with { Scopes = session.Scopes });
        Assert.Equal(session.Scopes, found.Scopes);
        Assert.Null(await _sessions.FindOpenAsync("nope", T0, Ct));
    }

    [Fact]
    public async Task A_session_is_closed_after_its_absolute_end_and_after_sign_out()
    {
        await CreateAsync("s2");
        Assert.Null(await _sessions.FindOpenAsync("s2", T0.AddHours(8), Ct));
        Assert.True(await _sessions.EndAsync("s2", T0.AddMinutes(5), Ct));
        Assert.False(await _sessions.EndAsync("s2", T0.AddMinutes(6), Ct));
        Assert.Null(await _sessions.FindOpenAsync("s2", T0.AddMinutes(7), Ct));
    }

    [Fact]
    public async Task Revoking_the_key_shows_on_the_session()
    {
        var (key, _) = await CreateAsync("s3");
        Assert.True((await _sessions.FindOpenAsync("s3", T0, Ct))!.StoredKeyActive);
        Assert.True(await _keys.RevokeAsync(key.Id, T0.AddMinutes(1), Ct));
        Assert.False((await _sessions.FindOpenAsync("s3", T0.AddMinutes(2), Ct))!.StoredKeyActive);
    }

    [Fact]
    public async Task Touch_records_activity_at_most_once_per_granularity()
    {
        await CreateAsync("s4");
        await _sessions.TouchAsync("s4", T0.AddSeconds(30), TimeSpan.FromMinutes(1), Ct);
        Assert.Equal(T0.TruncateToMicroseconds(), (await _sessions.FindOpenAsync("s4", T0.AddSeconds(31), Ct))!.LastSeenAt);
        var later = T0.AddSeconds(90).TruncateToMicroseconds();
        await _sessions.TouchAsync("s4", later, TimeSpan.FromMinutes(1), Ct);
        Assert.Equal(later, (await _sessions.FindOpenAsync("s4", later, Ct))!.LastSeenAt);
    }
}
