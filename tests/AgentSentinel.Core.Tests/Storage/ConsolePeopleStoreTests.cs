using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Core.Tests.Storage;

public sealed class SqliteConsolePeopleStoreTests() : ConsolePeopleStoreTests(StorageProvider.Sqlite);

public sealed class PostgresConsolePeopleStoreTests() : ConsolePeopleStoreTests(StorageProvider.Postgres);

/// <summary>People who signed in through the identity provider, on both providers: the record, the sessions it keeps
/// open, and the approver identity it gives in chat for a bounded time.</summary>
public abstract class ConsolePeopleStoreTests(StorageProvider provider) : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero).AddTicks(4560);
    private const string Issuer = "https://idp.example.com/";
    private Database _db = null!;
    private ConsolePeopleStore _people = null!;
    private ConsoleSessionStore _sessions = null!;
    private ApiKeyStore _keys = null!;
    private readonly FakeTimeProvider _time = new(T0);
    private readonly AgentSentinelOptions _options = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        var storage = await TestStorage.CreateAsync(provider, "people");
        _db = Database.Create(new StorageOptions { Provider = provider, ConnectionString = storage.ConnectionString });
        await new MigrationRunner(_db, NullLogger<MigrationRunner>.Instance).MigrateAsync(CancellationToken.None);
        _people = new ConsolePeopleStore(_db);
        _sessions = new ConsoleSessionStore(_db);
        _keys = new ApiKeyStore(_db);
    }

    public async ValueTask DisposeAsync() => await _db.DisposeAsync();

    private ApproverDirectory Directory() => new(_keys, _people, new StaticOptionsMonitor(_options), _time);

    private static ConsolePerson Person(string subject, string email, string[] scopes, DateTimeOffset at) => new()
    {
        Id = ConsolePerson.IdFor(Issuer, subject),
        Issuer = Issuer,
        Subject = subject,
        Email = email,
        Name = subject,
        Scopes = scopes,
        FirstSignedInAt = at.TruncateToMicroseconds(),
        LastSignedInAt = at.TruncateToMicroseconds(),
    };

    [Fact]
    public async Task A_sign_in_is_recorded_and_a_later_one_updates_email_scopes_and_time_but_not_the_first_sign_in()
    {
        var first = Person("sub-1", "ann@example.com", [Scopes.Approver], T0);
        await _people.RecordSignInAsync(first, Ct);
        Assert.Equal(first with { Scopes = first.Scopes }, (await _people.GetAsync(first.Id, Ct))! with { Scopes = first.Scopes });

        var later = first with { Email = "ann.b@example.com", Scopes = [Scopes.Admin, Scopes.Approver], FirstSignedInAt = T0.AddDays(3).TruncateToMicroseconds(), LastSignedInAt = T0.AddDays(3).TruncateToMicroseconds() };
        await _people.RecordSignInAsync(later, Ct);
        var stored = (await _people.GetAsync(first.Id, Ct))!;
        Assert.Equal("ann.b@example.com", stored.Email);
        Assert.Equal([Scopes.Admin, Scopes.Approver], stored.Scopes);
        Assert.Equal(first.FirstSignedInAt, stored.FirstSignedInAt);
        Assert.Equal(later.LastSignedInAt, stored.LastSignedInAt);
        Assert.Empty(await _people.FindByEmailAsync("ann@example.com", Ct));
        Assert.Single(await _people.FindByEmailAsync("ANN.B@example.com", Ct));
    }

    [Fact]
    public async Task A_person_is_an_approver_identity_in_chat_for_the_configured_days_after_signing_in()
    {
        await _people.RecordSignInAsync(Person("sub-2", "bo@example.com", [Scopes.Approver], T0), Ct);
        var identity = await Directory().FindByEmailAsync("Bo@Example.com", Ct);
        Assert.NotNull(identity);
        Assert.Equal(ConsolePerson.IdFor(Issuer, "sub-2"), identity.KeyId);
        Assert.False(identity.IsAdmin);

        // 0: people who signed in decide in the console only.
        _options.Auth.SignedInPersonDays = 0;
        Assert.Null(await Directory().FindByEmailAsync("bo@example.com", Ct));
        _options.Auth.SignedInPersonDays = 30;

        _time.SetUtcNow(T0.AddDays(30).AddSeconds(-1));
        Assert.NotNull(await Directory().FindByEmailAsync("bo@example.com", Ct));
        _time.SetUtcNow(T0.AddDays(30));
        Assert.Null(await Directory().FindByEmailAsync("bo@example.com", Ct));
    }

    [Fact]
    public async Task A_sign_in_that_gave_no_role_ends_the_chat_identity_and_the_persons_sessions()
    {
        var person = Person("sub-3", "cy@example.com", [Scopes.Admin], T0);
        await _people.RecordSignInAsync(person, Ct);
        await _sessions.CreateAsync(new ConsoleSession
        {
            IdHash = "p1",
            KeyId = person.Id,
            KeyHash = "person:" + person.Id,
            Name = person.Name,
            Email = person.Email,
            Scopes = person.Scopes,
            CreatedAt = T0.TruncateToMicroseconds(),
            LastSeenAt = T0.TruncateToMicroseconds(),
            ExpiresAt = T0.AddHours(8).TruncateToMicroseconds(),
            AuthTime = T0.AddMinutes(-2).TruncateToMicroseconds(),
        }, Ct);
        var open = (await _sessions.FindOpenAsync("p1", T0.AddMinutes(1), Ct))!;
        Assert.True(open.StoredKeyActive);
        Assert.Equal(T0.AddMinutes(-2).TruncateToMicroseconds(), open.AuthTime);
        Assert.True((await Directory().FindByEmailAsync("cy@example.com", Ct))!.IsAdmin);

        await _people.RecordSignInAsync(person with { Scopes = [], LastSignedInAt = T0.AddMinutes(5).TruncateToMicroseconds() }, Ct);

        Assert.False((await _sessions.FindOpenAsync("p1", T0.AddMinutes(6), Ct))!.StoredKeyActive);
        Assert.Null(await Directory().FindByEmailAsync("cy@example.com", Ct));
    }

    [Fact]
    public async Task An_api_key_with_the_same_email_speaks_for_the_person_first()
    {
        await _people.RecordSignInAsync(Person("sub-4", "di@example.com", [Scopes.Admin], T0), Ct);
        var key = new ApiKeyRecord
        {
            Id = Guid.CreateVersion7().ToString(),
            Name = "di",
            Prefix = "as_di",
            KeyHash = ApiKeyFactory.Hash("di-key"),
            Scopes = [Scopes.Approver],
            Email = "di@example.com",
            CreatedAt = T0.TruncateToMicroseconds(),
        };
        await _keys.CreateAsync(key, Ct);
        Assert.Equal(key.Id, (await Directory().FindByEmailAsync("di@example.com", Ct))!.KeyId);
    }

    private sealed class StaticOptionsMonitor(AgentSentinelOptions value) : IOptionsMonitor<AgentSentinelOptions>
    {
        public AgentSentinelOptions CurrentValue => value;
        public AgentSentinelOptions Get(string? name) => value;
        public IDisposable? OnChange(Action<AgentSentinelOptions, string?> listener) => null;
    }
}
