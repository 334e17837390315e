using AgentSentinel.Core.Receipts;
using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>The keys that sign decision receipts, and the receipt stored on each final request.</summary>
public sealed class ReceiptKeyStore(Database database) : IReceiptKeyStore
{
    private const string ReceiptKeyColumns = "kid, public_x, public_y, private_pem, source, slot, created_at, retired_at";

    private const string InsertReceiptKeyStrictSql = $"""
        INSERT INTO receipt_keys ({ReceiptKeyColumns})
        VALUES (@Kid, @PublicX, @PublicY, @PrivatePem, @Source, @Slot, @CreatedAt, @RetiredAt)
        """;

    private const string InsertReceiptKeySql = InsertReceiptKeyStrictSql + " ON CONFLICT DO NOTHING";

    private const string CurrentReceiptKeySql = $"SELECT {ReceiptKeyColumns} FROM receipt_keys WHERE slot = 'current'";

    public async Task<IReadOnlyList<StoredReceiptKey>> ListReceiptKeysAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<ReceiptKeyRow>(new CommandDefinition(
            $"SELECT {ReceiptKeyColumns} FROM receipt_keys ORDER BY created_at, kid", cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
    }

    public async Task<StoredReceiptKey?> GetCurrentReceiptKeyAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<ReceiptKeyRow>(new CommandDefinition(CurrentReceiptKeySql, cancellationToken: ct));
        return row?.ToModel();
    }

    public async Task<StoredReceiptKey> AddCurrentReceiptKeyAsync(StoredReceiptKey key, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        // Two instances creating the first key at once: the unique slot lets one in, and both read that one.
        await connection.ExecuteAsync(new CommandDefinition(InsertReceiptKeySql, ReceiptKeyRow.From(key with { Current = true }), cancellationToken: ct));
        var row = await connection.QuerySingleAsync<ReceiptKeyRow>(new CommandDefinition(CurrentReceiptKeySql, cancellationToken: ct));
        return row.ToModel();
    }

    public async Task<StoredReceiptKey> RotateReceiptKeyAsync(StoredReceiptKey key, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var tx = await database.BeginWriteAsync(connection, ct);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE receipt_keys SET slot = NULL, retired_at = @now WHERE slot = 'current'",
            new { now = now.ToUnixMicroseconds() }, tx, cancellationToken: ct));
        await connection.ExecuteAsync(new CommandDefinition(
            InsertReceiptKeyStrictSql,
            ReceiptKeyRow.From(key with { Current = true }), tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return key with { Current = true };
    }

    public async Task RecordConfiguredReceiptKeyAsync(StoredReceiptKey key, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        // The public half only: a configured private key stays in the configuration.
        await connection.ExecuteAsync(new CommandDefinition(
            InsertReceiptKeySql, ReceiptKeyRow.From(key with { PrivatePem = null, Current = false }), cancellationToken: ct));
    }

    public async Task<string?> SetReceiptAsync(Guid approvalId, string receipt, CancellationToken ct)
    {
        var id = ApprovalSql.IdText(approvalId);
        await using var connection = await database.OpenAsync(ct);
        // Only a final request gets one, and only once: a receipt never changes after it was first handed out.
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE approvals SET receipt = @receipt WHERE id = @id AND receipt IS NULL AND status IN ('approved', 'rejected', 'expired', 'cancelled')",
            new { id, receipt }, cancellationToken: ct));
        return await connection.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
            "SELECT receipt FROM approvals WHERE id = @id", new { id }, cancellationToken: ct));
    }

    private sealed class ReceiptKeyRow
    {
        public string Kid { get; set; } = "";
        public string PublicX { get; set; } = "";
        public string PublicY { get; set; } = "";
        public string? PrivatePem { get; set; }
        public string Source { get; set; } = "";
        public string? Slot { get; set; }
        public long CreatedAt { get; set; }
        public long? RetiredAt { get; set; }

        public static ReceiptKeyRow From(StoredReceiptKey key) => new()
        {
            Kid = key.Kid,
            PublicX = key.X,
            PublicY = key.Y,
            PrivatePem = key.PrivatePem,
            Source = key.Source,
            Slot = key.Current ? "current" : null,
            CreatedAt = key.CreatedAt.ToUnixMicroseconds(),
            RetiredAt = key.RetiredAt?.ToUnixMicroseconds(),
        };

        public StoredReceiptKey ToModel() => new(Kid, PublicX, PublicY, PrivatePem, Source, Slot == "current",
            TimeConversions.FromUnixMicroseconds(CreatedAt), TimeConversions.FromUnixMicroseconds(RetiredAt));
    }
}
