using System.Text.Json;
using AgentSentinel.Core.Auth;
using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>API keys, found by the hash of the secret; the secret itself is never stored.</summary>
public sealed class ApiKeyStore(Database database) : IApiKeyStore
{
    private const string KeyColumns = "id, name, prefix, key_hash, scopes, email, created_at, created_by, revoked_at, agent_ids";

    public async Task CreateAsync(ApiKeyRecord key, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var tx = await database.BeginWriteAsync(connection, ct);
        await connection.ExecuteAsync(new CommandDefinition(
            $"INSERT INTO api_keys ({KeyColumns}) VALUES (@Id, @Name, @Prefix, @KeyHash, @Scopes, @Email, @CreatedAt, @CreatedBy, NULL, @AgentIds)",
            new
            {
                key.Id,
                key.Name,
                key.Prefix,
                key.KeyHash,
                Scopes = string.Join(' ', key.Scopes),
                key.Email,
                CreatedAt = key.CreatedAt.ToUnixMicroseconds(),
                key.CreatedBy,
                AgentIds = key.AgentIds.Count == 0 ? null : JsonSerializer.Serialize(key.AgentIds),
            }, tx, cancellationToken: ct));
        await ConfigVersion.BumpAsync(database, connection, tx, ct);
        await tx.CommitAsync(ct);
    }

    public async Task<ApiKeyRecord?> FindActiveByHashAsync(string keyHash, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<KeyRow>(new CommandDefinition(
            $"SELECT {KeyColumns} FROM api_keys WHERE key_hash = @keyHash AND revoked_at IS NULL", new { keyHash }, cancellationToken: ct));
        return row?.ToModel();
    }

    public async Task<IReadOnlyList<ApiKeyRecord>> FindActiveByEmailAsync(string email, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<KeyRow>(new CommandDefinition(
            $"SELECT {KeyColumns} FROM api_keys WHERE lower(email) = lower(@email) AND revoked_at IS NULL ORDER BY created_at, id",
            new { email }, cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
    }

    public async Task<IReadOnlyList<ApiKeyRecord>> ListAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<KeyRow>(new CommandDefinition(
            $"SELECT {KeyColumns} FROM api_keys ORDER BY created_at, id", cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
    }

    public async Task<ApiKeyRecord?> GetAsync(string id, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<KeyRow>(new CommandDefinition(
            $"SELECT {KeyColumns} FROM api_keys WHERE id = @id", new { id }, cancellationToken: ct));
        return row?.ToModel();
    }

    public async Task<bool> RevokeAsync(string id, DateTimeOffset at, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var tx = await database.BeginWriteAsync(connection, ct);
        var n = await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE api_keys SET revoked_at = @at WHERE id = @id AND revoked_at IS NULL",
            new { id, at = at.ToUnixMicroseconds() }, tx, cancellationToken: ct));
        if (n == 1)
        {
            await ConfigVersion.BumpAsync(database, connection, tx, ct);
        }
        await tx.CommitAsync(ct);
        return n == 1;
    }

    public async Task<bool> AnyAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition("SELECT COUNT(*) FROM api_keys", cancellationToken: ct)) > 0;
    }

    private sealed class KeyRow
    {
        public string Id { get; set; } = "";
        public string Name { get; set; } = "";
        public string Prefix { get; set; } = "";
        public string KeyHash { get; set; } = "";
        public string Scopes { get; set; } = "";
        public string? Email { get; set; }
        public long CreatedAt { get; set; }
        public string? CreatedBy { get; set; }
        public long? RevokedAt { get; set; }
        public string? AgentIds { get; set; }

        public ApiKeyRecord ToModel() => new()
        {
            Id = Id,
            Name = Name,
            Prefix = Prefix,
            KeyHash = KeyHash,
            Scopes = Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries),
            Email = Email,
            CreatedAt = TimeConversions.FromUnixMicroseconds(CreatedAt),
            CreatedBy = CreatedBy,
            RevokedAt = TimeConversions.FromUnixMicroseconds(RevokedAt),
            AgentIds = AgentIds is null ? [] : JsonSerializer.Deserialize<string[]>(AgentIds) ?? [],
        };
    }
}
