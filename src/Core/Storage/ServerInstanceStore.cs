using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>The server processes that run (or ran) on this database, each with the last time it was heard from.</summary>
public interface IServerInstanceStore
{
    /// <summary>Records that the instance is alive at <paramref name="now"/> (adding its row the first time).</summary>
    Task BeatAsync(string id, string name, DateTimeOffset startedAt, DateTimeOffset now, CancellationToken ct);

    /// <summary>When the instance was last heard from; null for an instance that stopped cleanly or was never recorded.</summary>
    Task<DateTimeOffset?> LastSeenAsync(string id, CancellationToken ct);

    /// <summary>Removes the instance's row (a clean stop).</summary>
    Task RemoveAsync(string id, CancellationToken ct);

    /// <summary>Removes the rows of instances not heard from since <paramref name="before"/>.</summary>
    Task<int> PruneAsync(DateTimeOffset before, CancellationToken ct);
}

public sealed class ServerInstanceStore(Database database) : IServerInstanceStore
{
    public async Task BeatAsync(string id, string name, DateTimeOffset startedAt, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO server_instances (id, name, started_at, last_seen) VALUES (@id, @name, @startedAt, @now)
            ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen
            """, new { id, name, startedAt = startedAt.ToUnixMicroseconds(), now = now.ToUnixMicroseconds() }, cancellationToken: ct));
    }

    public async Task<DateTimeOffset?> LastSeenAsync(string id, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var seen = await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            "SELECT last_seen FROM server_instances WHERE id = @id", new { id }, cancellationToken: ct));
        return TimeConversions.FromUnixMicroseconds(seen);
    }

    public async Task RemoveAsync(string id, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("DELETE FROM server_instances WHERE id = @id", new { id }, cancellationToken: ct));
    }

    public async Task<int> PruneAsync(DateTimeOffset before, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM server_instances WHERE last_seen < @before", new { before = before.ToUnixMicroseconds() }, cancellationToken: ct));
    }
}
