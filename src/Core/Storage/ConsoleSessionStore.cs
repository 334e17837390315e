using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>A signed-in web console session. The id itself lives only in the person's cookie.</summary>
public sealed record ConsoleSession
{
    public required string IdHash { get; init; }
    public required string KeyId { get; init; }
    /// <summary>The hash of the API key signed in with; the session lasts only while that key is active.</summary>
    public required string KeyHash { get; init; }
    public required string Name { get; init; }
    public string? Email { get; init; }
    public required IReadOnlyList<string> Scopes { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset LastSeenAt { get; init; }
    /// <summary>The absolute end, whatever the activity.</summary>
    public required DateTimeOffset ExpiresAt { get; init; }
    public DateTimeOffset? EndedAt { get; init; }
    /// <summary>True when the key is a stored, unrevoked key, or the session's person (signed in through the identity
    /// provider) still has a console scope (false for the bootstrap key, which is not stored).</summary>
    public bool StoredKeyActive { get; init; }
    /// <summary>When the person last proved who they are at the identity provider (the ID token's <c>auth_time</c>);
    /// null for a session signed in with an API key, or when the provider did not say.</summary>
    public DateTimeOffset? AuthTime { get; init; }
}

public interface IConsoleSessionStore
{
    Task CreateAsync(ConsoleSession session, CancellationToken ct);

    /// <summary>The session if it has not been ended and is before its absolute end; idle and key checks are the
    /// caller's (the bootstrap key is not stored).</summary>
    Task<ConsoleSession?> FindOpenAsync(string idHash, DateTimeOffset now, CancellationToken ct);

    /// <summary>Records activity, at most once per <paramref name="granularity"/>, for the idle timeout.</summary>
    Task TouchAsync(string idHash, DateTimeOffset now, TimeSpan granularity, CancellationToken ct);

    /// <summary>Ends the session (sign-out); false when it was not open.</summary>
    Task<bool> EndAsync(string idHash, DateTimeOffset now, CancellationToken ct);
}

/// <summary>Console sessions on PostgreSQL and SQLite, with the same statements on both.</summary>
public sealed class ConsoleSessionStore(Database database) : IConsoleSessionStore
{
    private const string FindSql = """
        SELECT s.id_hash, s.key_id, s.key_hash, s.name, s.email, s.scopes, s.created_at, s.last_seen_at, s.expires_at, s.ended_at, s.auth_time,
               CASE WHEN k.id IS NOT NULL AND k.revoked_at IS NULL THEN 1
                    WHEN p.id IS NOT NULL AND p.scopes <> '' THEN 1 ELSE 0 END AS stored_key_active
        FROM console_sessions s LEFT JOIN api_keys k ON k.key_hash = s.key_hash LEFT JOIN console_people p ON p.id = s.key_id
        WHERE s.id_hash = @idHash AND s.ended_at IS NULL AND s.expires_at > @now
        """;

    static ConsoleSessionStore() => DefaultTypeMap.MatchNamesWithUnderscores = true;

    public async Task CreateAsync(ConsoleSession session, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO console_sessions (id_hash, key_id, key_hash, name, email, scopes, created_at, last_seen_at, expires_at, ended_at, auth_time)
            VALUES (@IdHash, @KeyId, @KeyHash, @Name, @Email, @scopes, @createdAt, @lastSeenAt, @expiresAt, NULL, @authTime)
            """, new
        {
            session.IdHash,
            session.KeyId,
            session.KeyHash,
            session.Name,
            session.Email,
            scopes = string.Join(' ', session.Scopes),
            createdAt = session.CreatedAt.ToUnixMicroseconds(),
            lastSeenAt = session.LastSeenAt.ToUnixMicroseconds(),
            expiresAt = session.ExpiresAt.ToUnixMicroseconds(),
            authTime = session.AuthTime?.ToUnixMicroseconds(),
        }, cancellationToken: ct));
    }

    public async Task<ConsoleSession?> FindOpenAsync(string idHash, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<SessionRow>(new CommandDefinition(
            FindSql, new { idHash, now = now.ToUnixMicroseconds() }, cancellationToken: ct));
        return row?.ToModel();
    }

    public async Task TouchAsync(string idHash, DateTimeOffset now, TimeSpan granularity, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var nowUs = now.ToUnixMicroseconds();
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE console_sessions SET last_seen_at = @now WHERE id_hash = @idHash AND ended_at IS NULL AND last_seen_at <= @before",
            new { idHash, now = nowUs, before = nowUs - (granularity.Ticks / TimeSpan.TicksPerMicrosecond) }, cancellationToken: ct));
    }

    public async Task<bool> EndAsync(string idHash, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE console_sessions SET ended_at = @now WHERE id_hash = @idHash AND ended_at IS NULL",
            new { idHash, now = now.ToUnixMicroseconds() }, cancellationToken: ct)) == 1;
    }

    private sealed class SessionRow
    {
        public string IdHash { get; set; } = "";
        public string KeyId { get; set; } = "";
        public string KeyHash { get; set; } = "";
        public string Name { get; set; } = "";
        public string? Email { get; set; }
        public string Scopes { get; set; } = "";
        public long CreatedAt { get; set; }
        public long LastSeenAt { get; set; }
        public long ExpiresAt { get; set; }
        public long? EndedAt { get; set; }
        public long StoredKeyActive { get; set; }
        public long? AuthTime { get; set; }

        public ConsoleSession ToModel() => new()
        {
            IdHash = IdHash,
            KeyId = KeyId,
            KeyHash = KeyHash,
            Name = Name,
            Email = Email,
            Scopes = Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries),
            CreatedAt = TimeConversions.FromUnixMicroseconds(CreatedAt),
            LastSeenAt = TimeConversions.FromUnixMicroseconds(LastSeenAt),
            ExpiresAt = TimeConversions.FromUnixMicroseconds(ExpiresAt),
            EndedAt = TimeConversions.FromUnixMicroseconds(EndedAt),
            StoredKeyActive = StoredKeyActive == 1,
            AuthTime = TimeConversions.FromUnixMicroseconds(AuthTime),
        };
    }
}
