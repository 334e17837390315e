using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>Run-time settings as versioned JSON documents, each change kept in the history.</summary>
public sealed class SettingsStore(Database database) : ISettingsStore
{
    public async Task<SettingRecord?> GetAsync(string key, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<SettingRow>(new CommandDefinition(
            "SELECT key, value, version, updated_at, updated_by FROM settings WHERE key = @key", new { key }, cancellationToken: ct));
        return row?.ToModel();
    }

    public async Task<SettingRecord?> PutAsync(string key, string value, string? actor, long? expectedVersion, DateTimeOffset now, CancellationToken ct)
    {
        var at = now.ToUnixMicroseconds();
        await using var connection = await database.OpenAsync(ct);
        await using var tx = await database.BeginWriteAsync(connection, ct);
        var current = await connection.QuerySingleOrDefaultAsync<SettingRow>(new CommandDefinition(
            "SELECT key, value, version, updated_at, updated_by FROM settings WHERE key = @key", new { key }, tx, cancellationToken: ct));
        var currentVersion = current?.Version ?? 0;
        if (expectedVersion is { } expected && expected != currentVersion)
        {
            return null;
        }
        // Both statements only succeed against the version just read, so a concurrent writer makes this one fail.
        var changed = current is null
            ? await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO settings (key, value, version, updated_at, updated_by) VALUES (@key, @value, 1, @at, @actor) ON CONFLICT (key) DO NOTHING",
                new { key, value, at, actor }, tx, cancellationToken: ct))
            : await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE settings SET value = @value, version = version + 1, updated_at = @at, updated_by = @actor WHERE key = @key AND version = @currentVersion",
                new { key, value, at, actor, currentVersion }, tx, cancellationToken: ct));
        if (changed != 1)
        {
            return null;
        }
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO settings_history (key, version, value_before, value_after, at, actor) VALUES (@key, @version, @before, @value, @at, @actor)",
            new { key, version = currentVersion + 1, before = current?.Value, value, at, actor }, tx, cancellationToken: ct));
        await ConfigVersion.BumpAsync(database, connection, tx, ct);
        await tx.CommitAsync(ct);
        return new SettingRecord(key, value, currentVersion + 1, now, actor);
    }

    public async Task<bool> TryInsertAsync(string key, string value, string? actor, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var tx = await database.BeginWriteAsync(connection, ct);
        var n = await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO settings (key, value, version, updated_at, updated_by) VALUES (@key, @value, 1, @at, @actor) ON CONFLICT (key) DO NOTHING",
            new { key, value, at = now.ToUnixMicroseconds(), actor }, tx, cancellationToken: ct));
        if (n == 1)
        {
            await ConfigVersion.BumpAsync(database, connection, tx, ct);
        }
        await tx.CommitAsync(ct);
        return n == 1;
    }

    public async Task<IReadOnlyList<SettingChange>> GetHistoryAsync(string key, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<SettingChangeRow>(new CommandDefinition(
            "SELECT id, key, version, value_before, value_after, at, actor FROM settings_history WHERE key = @key ORDER BY id DESC LIMIT @limit",
            new { key, limit }, cancellationToken: ct));
        return [.. rows.Select(r => new SettingChange(r.Id, r.Key, r.Version, r.ValueBefore, r.ValueAfter, TimeConversions.FromUnixMicroseconds(r.At), r.Actor))];
    }

    private sealed class SettingRow
    {
        public string Key { get; set; } = "";
        public string Value { get; set; } = "";
        public long Version { get; set; }
        public long UpdatedAt { get; set; }
        public string? UpdatedBy { get; set; }

        public SettingRecord ToModel() => new(Key, Value, Version, TimeConversions.FromUnixMicroseconds(UpdatedAt), UpdatedBy);
    }

    private sealed class SettingChangeRow
    {
        public long Id { get; set; }
        public string Key { get; set; } = "";
        public long Version { get; set; }
        public string? ValueBefore { get; set; }
        public string ValueAfter { get; set; } = "";
        public long At { get; set; }
        public string? Actor { get; set; }
    }
}
