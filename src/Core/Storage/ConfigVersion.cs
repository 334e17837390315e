using System.Collections.Concurrent;
using System.Data.Common;
using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>
/// The version of everything the servers cache (API keys and run-time settings): one counter in the database, bumped in
/// the transaction of every change to them. A cached copy is used only while the stored version still equals the one it
/// was read at, and that version is read from the database once per request (<see cref="BeginRequest"/>), so a
/// revocation or a new route applies to the next request on every instance. On PostgreSQL each change is also announced
/// with NOTIFY, and every instance drops its copies when it hears it (they would be refused anyway).
/// A request whose only write checks the version itself (a create: <see cref="Unverified"/>) skips the read: it uses
/// the version this process last read, and its statement writes nothing when the stored version has moved since; the
/// caller then reads the version (<see cref="Refresh"/>) and tries again with fresh copies.
/// </summary>
public sealed class ConfigVersion(Database database)
{
    public const string ChangeChannel = "agentsentinel_config_changed";

    private const string ReadSql = "SELECT version FROM config_version WHERE id = 1";

    private static readonly AsyncLocal<RequestScope?> Scope = new();

    private readonly List<Action> _onChanged = [];

    // The newest version this process has read (-1: none since the last change it heard of). Versions only grow.
    private long _known = -1;

    // Every request reads the version: concurrent requests share one read, each served by a read that started after it
    // arrived, so a change committed before a request began is always seen by it.
    private readonly ReadCoalescer<int, long> _reads = new(async (_, ct) =>
    {
        await using var connection = await database.OpenAsync(ct);
        return new Dictionary<int, long> { [0] = await connection.ExecuteScalarAsync<long>(new CommandDefinition(ReadSql, cancellationToken: ct)) };
    });

    private void Learned(long version)
    {
        var known = Interlocked.Read(ref _known);
        while (version > known && Interlocked.CompareExchange(ref _known, version, known) is var seen && seen != known)
        {
            known = seen;
        }
    }

    /// <summary>Run in the transaction of a change to API keys or settings.</summary>
    internal static async Task BumpAsync(Database database, DbConnection connection, DbTransaction tx, CancellationToken ct)
    {
        var version = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "UPDATE config_version SET version = version + 1 WHERE id = 1 RETURNING version", transaction: tx, cancellationToken: ct));
        if (database.Provider == Configuration.StorageProvider.Postgres)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                $"SELECT pg_notify('{ChangeChannel}', @version)", new { version = version.ToString(System.Globalization.CultureInfo.InvariantCulture) }, tx, cancellationToken: ct));
        }
    }

    /// <summary>Opens the scope of one request: the first cache read in it reads the stored version, the others reuse it.
    /// With <paramref name="checkedAtCommit"/> (the request's write checks the version: see <see cref="Unverified"/>)
    /// the version this process last read is used without reading it.</summary>
    public static IDisposable BeginRequest(bool checkedAtCommit = false)
    {
        var previous = Scope.Value;
        var scope = new RequestScope(previous) { CheckedAtCommit = checkedAtCommit };
        Scope.Value = scope;
        return scope;
    }

    /// <summary>The stored version: read once per request scope, and every time outside one (a job).</summary>
    public async ValueTask<long> CurrentAsync(CancellationToken ct)
    {
        var scope = Scope.Value;
        if (scope is not null && scope.Version is { } current)
        {
            return current;
        }
        if (scope is { CheckedAtCommit: true } && Interlocked.Read(ref _known) is var known and >= 0)
        {
            scope.Version = known;
            scope.Assumed = true;
            return known;
        }
        var version = await _reads.ReadAsync(0, ct);
        Learned(version);
        if (scope is not null)
        {
            scope.Version = version;
            scope.Assumed = false;
        }
        return version;
    }

    /// <summary>The version the current request's cached copies were taken at when it was not read in this request
    /// (a scope opened with <c>checkedAtCommit</c>): the write must go ahead only while it is still the stored one.
    /// Null when the request read the version (or none was used).</summary>
    public static long? Unverified => Scope.Value is { Assumed: true, Version: { } version } ? version : null;

    /// <summary>The write found the stored version moved: the rest of the request reads it (once) and uses fresh copies.</summary>
    public void Refresh()
    {
        Interlocked.Exchange(ref _known, -1);
        if (Scope.Value is { } scope)
        {
            scope.CheckedAtCommit = false;
            scope.Assumed = false;
            scope.Version = null;
        }
    }

    /// <summary>Reads the stored version for a request that used an unverified one: true when it is still that one
    /// (the request goes on as if it had read it), false when it moved (see <see cref="Refresh"/>).</summary>
    public async ValueTask<bool> ConfirmAsync(CancellationToken ct)
    {
        if (Unverified is not { } assumed)
        {
            return true;
        }
        var version = await _reads.ReadAsync(0, ct);
        Learned(version);
        if (version != assumed)
        {
            return false;
        }
        Scope.Value!.Assumed = false;
        return true;
    }

    /// <summary>This process changed keys or settings: the current request reads the version again, and the copies go.</summary>
    public void Changed()
    {
        Interlocked.Exchange(ref _known, -1);
        if (Scope.Value is { } scope)
        {
            scope.Version = null;
        }
        Action[] handlers;
        lock (_onChanged)
        {
            handlers = [.. _onChanged];
        }
        foreach (var handler in handlers)
        {
            handler();
        }
    }

    /// <summary>A cache of values read at a version: a value is returned only while its version is the stored one.</summary>
    public Cache<TKey, TValue> NewCache<TKey, TValue>() where TKey : notnull
    {
        var cache = new Cache<TKey, TValue>(this);
        lock (_onChanged)
        {
            _onChanged.Add(cache.Clear);
        }
        return cache;
    }

    public sealed class Cache<TKey, TValue>(ConfigVersion version) where TKey : notnull
    {
        /// <summary>More entries than this and the cache starts over (keys are few; this bounds a flood of distinct ones).</summary>
        public const int MaxEntries = 10_000;

        private readonly ConcurrentDictionary<TKey, (long Version, TValue Value)> _entries = new();

        /// <summary>The cached value when it was read at the stored version, else <paramref name="load"/>'s, cached when
        /// <paramref name="keep"/> says so.</summary>
        public async Task<TValue> GetAsync(TKey key, Func<CancellationToken, Task<TValue>> load, Func<TValue, bool> keep, CancellationToken ct)
        {
            // The version is read before the value, so a value is never tagged with a version newer than itself.
            var current = await version.CurrentAsync(ct);
            if (_entries.TryGetValue(key, out var entry) && entry.Version == current)
            {
                return entry.Value;
            }
            var value = await load(ct);
            if (keep(value))
            {
                if (_entries.Count >= MaxEntries)
                {
                    _entries.Clear();
                }
                _entries[key] = (current, value);
            }
            return value;
        }

        public void Clear() => _entries.Clear();
    }

    private sealed class RequestScope(RequestScope? previous) : IDisposable
    {
        private long _version = -1;

        /// <summary>The request's write checks the version, so it may use the last one read without reading it.</summary>
        public bool CheckedAtCommit { get; set; }

        /// <summary><see cref="Version"/> was not read in this request (see <see cref="Unverified"/>).</summary>
        public bool Assumed { get; set; }

        public long? Version
        {
            get => Interlocked.Read(ref _version) is var v and >= 0 ? v : null;
            set => Interlocked.Exchange(ref _version, value ?? -1);
        }

        public void Dispose() => Scope.Value = previous;
    }
}

/// <summary>API keys with the lookups of every request (by hash, by id) cached at the stored <see cref="ConfigVersion"/>.</summary>
public sealed class CachedApiKeyStore(ApiKeyStore inner, ConfigVersion version) : IApiKeyStore
{
    private readonly ConfigVersion.Cache<string, Auth.ApiKeyRecord?> _byHash = version.NewCache<string, Auth.ApiKeyRecord?>();
    private readonly ConfigVersion.Cache<string, Auth.ApiKeyRecord?> _byId = version.NewCache<string, Auth.ApiKeyRecord?>();

    // Only keys that exist are kept by hash: a flood of wrong keys must not fill the cache.
    public Task<Auth.ApiKeyRecord?> FindActiveByHashAsync(string keyHash, CancellationToken ct) =>
        _byHash.GetAsync(keyHash, c => inner.FindActiveByHashAsync(keyHash, c), r => r is not null, ct);

    public Task<Auth.ApiKeyRecord?> GetAsync(string id, CancellationToken ct) =>
        _byId.GetAsync(id, c => inner.GetAsync(id, c), r => r is not null, ct);

    public async Task CreateAsync(Auth.ApiKeyRecord key, CancellationToken ct)
    {
        await inner.CreateAsync(key, ct);
        version.Changed();
    }

    public async Task<bool> RevokeAsync(string id, DateTimeOffset at, CancellationToken ct)
    {
        var revoked = await inner.RevokeAsync(id, at, ct);
        version.Changed();
        return revoked;
    }

    public Task<IReadOnlyList<Auth.ApiKeyRecord>> FindActiveByEmailAsync(string email, CancellationToken ct) => inner.FindActiveByEmailAsync(email, ct);

    public Task<IReadOnlyList<Auth.ApiKeyRecord>> ListAsync(CancellationToken ct) => inner.ListAsync(ct);

    public Task<bool> AnyAsync(CancellationToken ct) => inner.AnyAsync(ct);
}

/// <summary>Run-time settings (routes, policy), read on every create, cached at the stored <see cref="ConfigVersion"/>.</summary>
public sealed class CachedSettingsStore(SettingsStore inner, ConfigVersion version) : ISettingsStore
{
    private readonly ConfigVersion.Cache<string, SettingRecord?> _byKey = version.NewCache<string, SettingRecord?>();

    // A key that is not stored is kept too: storing it bumps the version.
    public Task<SettingRecord?> GetAsync(string key, CancellationToken ct) =>
        _byKey.GetAsync(key, c => inner.GetAsync(key, c), _ => true, ct);

    public async Task<SettingRecord?> PutAsync(string key, string value, string? actor, long? expectedVersion, DateTimeOffset now, CancellationToken ct)
    {
        var saved = await inner.PutAsync(key, value, actor, expectedVersion, now, ct);
        version.Changed();
        return saved;
    }

    public async Task<bool> TryInsertAsync(string key, string value, string? actor, DateTimeOffset now, CancellationToken ct)
    {
        var inserted = await inner.TryInsertAsync(key, value, actor, now, ct);
        version.Changed();
        return inserted;
    }

    public Task<IReadOnlyList<SettingChange>> GetHistoryAsync(string key, int limit, CancellationToken ct) => inner.GetHistoryAsync(key, limit, ct);
}
