using AgentSentinel.Core.Storage;
using Dapper;

namespace AgentSentinel.Core.Telemetry;

/// <summary>What the gauges report, read from the database at each collection (a scrape), so every instance reports
/// the same figures and nothing has to be kept in step in memory. Metric callbacks are synchronous, so these read
/// synchronously; each is one small aggregate statement over indexed columns.</summary>
public sealed class OperationalReadings(Database database, TimeProvider time)
{
    public sealed record ChatDeliveryCount(string Surface, string State, long Count);

    public sealed record CallbackCount(string State, long Count);

    private const string PendingSql = $"""
        SELECT COUNT(*) AS count, MIN(created_at) AS oldest FROM approvals
        WHERE {ApprovalSql.IsOpen}
        """;

    private const string ChatSql = "SELECT surface, state, COUNT(*) AS count FROM chat_messages GROUP BY surface, state ORDER BY surface, state";

    private const string CallbacksSql = "SELECT state, COUNT(*) AS count FROM callback_deliveries GROUP BY state ORDER BY state";

    /// <summary>Requests open now (the definition of the statistics' pending total) and the age of the oldest.</summary>
    public (long Count, TimeSpan OldestAge) Pending() => Run(async ct =>
    {
        var now = time.GetUtcNow().TruncateToMicroseconds();
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleAsync<(long Count, long? Oldest)>(new CommandDefinition(PendingSql, new { now = now.ToUnixMicroseconds() }, cancellationToken: ct));
        var age = row.Oldest is { } oldest ? now - TimeConversions.FromUnixMicroseconds(oldest) : TimeSpan.Zero;
        return (row.Count, age < TimeSpan.Zero ? TimeSpan.Zero : age);
    });

    public IReadOnlyList<ChatDeliveryCount> ChatDeliveries() => Run(async ct =>
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<(string Surface, string State, long Count)>(new CommandDefinition(ChatSql, cancellationToken: ct));
        return (IReadOnlyList<ChatDeliveryCount>)[.. rows.Select(r => new ChatDeliveryCount(r.Surface, r.State, r.Count))];
    });

    public IReadOnlyList<CallbackCount> Callbacks() => Run(async ct =>
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<(string State, long Count)>(new CommandDefinition(CallbacksSql, cancellationToken: ct));
        return (IReadOnlyList<CallbackCount>)[.. rows.Select(r => new CallbackCount(r.State, r.Count))];
    });

    private static T Run<T>(Func<CancellationToken, Task<T>> read)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        return read(timeout.Token).GetAwaiter().GetResult();
    }
}
