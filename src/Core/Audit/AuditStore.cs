using System.Data.Common;
using System.Runtime.CompilerServices;
using AgentSentinel.Core.Storage;
using Dapper;

namespace AgentSentinel.Core.Audit;

/// <summary>One event of the audit chain as exported: its content, its place and its hashes.</summary>
public sealed record AuditEventRecord(long Seq, long Id, string ApprovalId, string Kind, string At, string? Actor, string? ActorKeyId,
    string Surface, string? Details, string PrevHash, string Hash);

/// <summary>A signed checkpoint: the chain's events up to <see cref="Seq"/> were deleted by retention; the next event's
/// previous hash is <see cref="Hash"/>.</summary>
public sealed record AuditCheckpoint(long Seq, string Hash, string At, long DeletedRequests, long DeletedEvents, string KeyId, string Signature);

/// <summary>The audit chain in the database: sealing new events into it, and reading a window of it.</summary>
public sealed class AuditStore(Database database)
{
    /// <summary>How many events one sealing transaction takes.</summary>
    public const int SealBatchSize = 500;

    private const string TailSql = """
        SELECT seq, hash FROM approval_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1
        """;

    private const string LastCheckpointSql = """
        SELECT seq, hash, at, deleted_requests, deleted_events, key_id, signature FROM audit_checkpoints ORDER BY seq DESC LIMIT 1
        """;

    private const string UnsealedSql = """
        SELECT id, approval_id, kind, at, actor, actor_key_id, surface, details FROM approval_events
        WHERE seq IS NULL ORDER BY id LIMIT @limit
        """;

    private const string SealSql = "UPDATE approval_events SET seq = @seq, prev_hash = @prev, hash = @hash WHERE id = @id AND seq IS NULL";

    static AuditStore() => DefaultTypeMap.MatchNamesWithUnderscores = true;

    private class UnsealedRow
    {
        public long Id { get; init; }
        public string ApprovalId { get; init; } = "";
        public string Kind { get; init; } = "";
        public long At { get; init; }
        public string? Actor { get; init; }
        public string? ActorKeyId { get; init; }
        public string Surface { get; init; } = "";
        public string? Details { get; init; }
    }

    internal sealed class CheckpointRow
    {
        public long Seq { get; init; }
        public string Hash { get; init; } = "";
        public long At { get; init; }
        public long DeletedRequests { get; init; }
        public long DeletedEvents { get; init; }
        public string KeyId { get; init; } = "";
        public string Signature { get; init; } = "";
    }

    /// <summary>Appends every committed event not yet in the chain, in batches, one sealer at a time (the chain lock);
    /// returns how many were sealed.</summary>
    public async Task<int> SealAsync(CancellationToken ct)
    {
        var total = 0;
        while (true)
        {
            await using var connection = await database.OpenAsync(ct);
            await using var tx = await database.BeginWriteAsync(connection, ct);
            await LockChainAsync(connection, tx, ct);
            var (seq, hash) = await TailAsync(connection, tx, ct);
            var rows = (await connection.QueryAsync<UnsealedRow>(new CommandDefinition(UnsealedSql, new { limit = SealBatchSize }, tx, cancellationToken: ct))).ToList();
            foreach (var row in rows)
            {
                seq++;
                var next = AuditChain.EventHash(hash, seq, row.Id, row.ApprovalId, row.Kind, FormatTime(row.At), row.Actor, row.ActorKeyId, row.Surface, row.Details);
                await connection.ExecuteAsync(new CommandDefinition(SealSql, new { seq, prev = hash, hash = next, id = row.Id }, tx, cancellationToken: ct));
                hash = next;
            }
            await tx.CommitAsync(ct);
            total += rows.Count;
            if (rows.Count < SealBatchSize)
            {
                return total;
            }
        }
    }

    /// <summary>Takes the chain lock in a write transaction (on SQLite the write transaction already is the lock).</summary>
    internal async Task LockChainAsync(DbConnection connection, DbTransaction tx, CancellationToken ct)
    {
        if (database.AuditChainLockSql is { } sql)
        {
            await connection.ExecuteAsync(new CommandDefinition(sql, transaction: tx, cancellationToken: ct));
        }
    }

    /// <summary>The chain's last sealed event (or the last checkpoint when retention deleted them all, or the genesis).</summary>
    internal static async Task<(long Seq, string Hash)> TailAsync(DbConnection connection, DbTransaction tx, CancellationToken ct)
    {
        var tail = await connection.QueryFirstOrDefaultAsync<CheckpointRow>(new CommandDefinition(TailSql, transaction: tx, cancellationToken: ct));
        if (tail is not null)
        {
            return (tail.Seq, tail.Hash);
        }
        var checkpoint = await connection.QueryFirstOrDefaultAsync<CheckpointRow>(new CommandDefinition(LastCheckpointSql, transaction: tx, cancellationToken: ct));
        return checkpoint is null ? (0, AuditChain.Genesis) : (checkpoint.Seq, checkpoint.Hash);
    }

    private const string WindowSql = """
        SELECT (SELECT MIN(seq) FROM approval_events WHERE seq IS NOT NULL AND at >= @from AND at < @to) AS low,
               (SELECT MAX(seq) FROM approval_events WHERE seq IS NOT NULL AND at >= @from AND at < @to) AS high
        """;

    private const string CheckpointAtSql = """
        SELECT seq, hash, at, deleted_requests, deleted_events, key_id, signature FROM audit_checkpoints WHERE seq = @seq
        """;

    private const string RangeSql = """
        SELECT seq, id, approval_id, kind, at, actor, actor_key_id, surface, details, prev_hash, hash FROM approval_events
        WHERE seq >= @low AND seq <= @high ORDER BY seq
        """;

    private sealed class EventRow : UnsealedRow
    {
        public long Seq { get; init; }
        public string PrevHash { get; init; } = "";
        public string Hash { get; init; } = "";
    }

    /// <summary>The contiguous stretch of the chain from the first to the last event in [from, to) (events sealed a
    /// moment out of time order near the edges come with it, so no link is missing), preceded by the checkpoint it
    /// starts from when retention cut the chain there. Streamed from the database, never buffered.</summary>
    public async IAsyncEnumerable<object> ReadAsync(DateTimeOffset from, DateTimeOffset to, [EnumeratorCancellation] CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var (low, high) = await connection.QuerySingleAsync<(long? Low, long? High)>(new CommandDefinition(WindowSql,
            new { from = from.ToUnixMicroseconds(), to = to.ToUnixMicroseconds() }, cancellationToken: ct));
        if (low is null || high is null)
        {
            yield break;
        }
        if (await connection.QueryFirstOrDefaultAsync<CheckpointRow>(new CommandDefinition(CheckpointAtSql, new { seq = low - 1 }, cancellationToken: ct)) is { } c)
        {
            yield return new AuditCheckpoint(c.Seq, c.Hash, FormatTime(c.At), c.DeletedRequests, c.DeletedEvents, c.KeyId, c.Signature);
        }
        await foreach (var e in connection.QueryUnbufferedAsync<EventRow>(RangeSql, new { low, high }).WithCancellation(ct))
        {
            yield return new AuditEventRecord(e.Seq, e.Id, e.ApprovalId, e.Kind, FormatTime(e.At), e.Actor, e.ActorKeyId, e.Surface, e.Details, e.PrevHash, e.Hash);
        }
    }

    internal static string FormatTime(long micros) => AuditChain.FormatTime(TimeConversions.FromUnixMicroseconds(micros));
}
