using AgentSentinel.Core.Configuration;

namespace AgentSentinel.Testing;

/// <summary>A fresh database on one provider: a temporary SQLite file, or a new database on the test PostgreSQL.</summary>
public sealed record TestStorage(StorageProvider Provider, string ConnectionString)
{
    public static async Task<TestStorage> CreateAsync(StorageProvider provider, string name) => provider switch
    {
        StorageProvider.Postgres => new TestStorage(provider, await (await PostgresServer.GetAsync()).CreateDatabaseAsync(name)),
        _ => new TestStorage(provider, $"Data Source={Path.Combine(TestPaths.NewTempDirectory(), name + ".db")}"),
    };
}

public static class TestPaths
{
    public static string NewTempDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "agentsentinel-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
