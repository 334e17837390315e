using System.Data.Common;
using System.Reflection;
using AgentSentinel.Core.Configuration;
using Dapper;
using Microsoft.Extensions.Logging;

namespace AgentSentinel.Core.Storage;

/// <summary>Applies the embedded, ordered <c>NNNN_name.sql</c> scripts of the provider, each in a transaction,
/// and records them in <c>schema_migrations</c>.</summary>
public sealed class MigrationRunner(Database database, ILogger<MigrationRunner> logger)
{
    public async Task<int> MigrateAsync(CancellationToken ct)
    {
        var scripts = LoadScripts(database.Provider);
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)",
            cancellationToken: ct));

        var applied = 0;
        foreach (var (version, name, sql) in scripts)
        {
            await using var tx = await database.BeginWriteAsync(connection, ct);
            await database.LockForMigrationAsync(connection, tx, ct);
            var done = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT COUNT(*) FROM schema_migrations WHERE version = @version", new { version }, tx, cancellationToken: ct));
            if (done > 0)
            {
                await tx.RollbackAsync(ct);
                continue;
            }
            await connection.ExecuteAsync(new CommandDefinition(sql, transaction: tx, cancellationToken: ct));
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@version, @name, @at)",
                new { version, name, at = DateTimeOffset.UtcNow.ToUnixMicroseconds() }, tx, cancellationToken: ct));
            await tx.CommitAsync(ct);
            applied++;
            Log.MigrationApplied(logger, version, name, database.Provider.ToString());
        }
        return applied;
    }

    internal static List<(int Version, string Name, string Sql)> LoadScripts(StorageProvider provider)
    {
        var assembly = typeof(MigrationRunner).Assembly;
        var prefix = $"{assembly.GetName().Name}.Storage.Migrations.{provider}.";
        var result = new List<(int, string, string)>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            var file = resource[prefix.Length..];
            var name = Path.GetFileNameWithoutExtension(file);
            var version = int.Parse(name.AsSpan(0, name.IndexOf('_', StringComparison.Ordinal)), System.Globalization.CultureInfo.InvariantCulture);
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            result.Add((version, name, reader.ReadToEnd()));
        }
        return [.. result.OrderBy(s => s.Item1)];
    }
}
