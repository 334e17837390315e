using AgentSentinel.Core.Callbacks;
using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>Callback deliveries on PostgreSQL and SQLite: the same parameterized statements on both, a connection
/// per operation. Creation is race-free (unique per request version), and each try is claimed by a conditional
/// update so that a duplicated job cannot send the same try twice.</summary>
public sealed class CallbackStore(Database database) : ICallbackStore
{
    private const string Columns = """
        id, approval_id, version, delivery_id, event, url, body, state, attempts, last_status, last_error,
        next_attempt_at, created_at, delivered_at
        """;

    static CallbackStore() => DefaultTypeMap.MatchNamesWithUnderscores = true;

    private const string InsertSql = """
        INSERT INTO callback_deliveries (approval_id, version, delivery_id, event, url, body, state, attempts, next_attempt_at, created_at, updated_at)
        VALUES (@approvalId, @Version, @DeliveryId, @Event, @Url, @Body, 'pending', 0, @now, @now, @now)
        ON CONFLICT DO NOTHING
        RETURNING id
        """;

    public async Task<long?> TryCreateAsync(CallbackDelivery delivery, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<long?>(new CommandDefinition(InsertSql, new
        {
            approvalId = delivery.ApprovalId.ToString(),
            delivery.Version,
            delivery.DeliveryId,
            delivery.Event,
            delivery.Url,
            delivery.Body,
            now = delivery.CreatedAt.ToUnixMicroseconds(),
        }, cancellationToken: ct));
    }

    public async Task<CallbackDelivery?> GetAsync(long id, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<DeliveryRow>(new CommandDefinition(
            $"SELECT {Columns} FROM callback_deliveries WHERE id = @id", new { id }, cancellationToken: ct));
        return row?.ToModel();
    }

    public async Task<IReadOnlyList<CallbackDelivery>> ListAsync(Guid approvalId, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<DeliveryRow>(new CommandDefinition(
            $"SELECT {Columns} FROM callback_deliveries WHERE approval_id = @approvalId ORDER BY version",
            new { approvalId = approvalId.ToString() }, cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
    }

    public async Task<bool> TryStartAttemptAsync(long id, int attempt, DateTimeOffset now, DateTimeOffset retryIfStuckAt, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var n = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE callback_deliveries SET attempts = @attempt, next_attempt_at = @stuck, updated_at = @now
            WHERE id = @id AND state = 'pending' AND attempts = @previous
            """, new { id, attempt, previous = attempt - 1, stuck = retryIfStuckAt.ToUnixMicroseconds(), now = now.ToUnixMicroseconds() },
            cancellationToken: ct));
        return n == 1;
    }

    public async Task RecordAttemptAsync(CallbackAttempt attempt, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO callback_attempts (delivery_id, attempt, at, status, error, duration_ms)
            VALUES (@DeliveryId, @Attempt, @at, @Status, @error, @DurationMs)
            """, new
        {
            attempt.DeliveryId,
            attempt.Attempt,
            at = attempt.At.ToUnixMicroseconds(),
            attempt.Status,
            error = Truncate(attempt.Error),
            attempt.DurationMs,
        }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<CallbackAttempt>> ListAttemptsAsync(long id, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<(long DeliveryId, long Attempt, long At, long? Status, string? Error, long DurationMs)>(new CommandDefinition(
            "SELECT delivery_id, attempt, at, status, error, duration_ms FROM callback_attempts WHERE delivery_id = @id ORDER BY attempt, id",
            new { id }, cancellationToken: ct));
        return [.. rows.Select(r => new CallbackAttempt(r.DeliveryId, (int)r.Attempt, TimeConversions.FromUnixMicroseconds(r.At),
            r.Status is { } s ? (int)s : null, r.Error, (int)r.DurationMs))];
    }

    public async Task MarkDeliveredAsync(long id, int status, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE callback_deliveries SET state = 'delivered', last_status = @status, last_error = NULL,
                next_attempt_at = NULL, delivered_at = @now, updated_at = @now
            WHERE id = @id
            """, new { id, status, now = now.ToUnixMicroseconds() }, cancellationToken: ct));
    }

    public async Task MarkFailedAsync(long id, int? status, string error, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE callback_deliveries SET state = 'failed', last_status = @status, last_error = @error,
                next_attempt_at = NULL, updated_at = @now
            WHERE id = @id AND state = 'pending'
            """, new { id, status, error = Truncate(error), now = now.ToUnixMicroseconds() }, cancellationToken: ct));
    }

    public async Task ScheduleRetryAsync(long id, int? status, string? error, DateTimeOffset nextAttemptAt, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE callback_deliveries SET last_status = @status, last_error = @error, next_attempt_at = @next, updated_at = @now
            WHERE id = @id AND state = 'pending'
            """, new { id, status, error = Truncate(error), next = nextAttemptAt.ToUnixMicroseconds(), now = now.ToUnixMicroseconds() },
            cancellationToken: ct));
    }

    public async Task<IReadOnlyList<CallbackDelivery>> ListOverdueAsync(DateTimeOffset dueBefore, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<DeliveryRow>(new CommandDefinition($"""
            SELECT {Columns} FROM callback_deliveries
            WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= @due)
            ORDER BY next_attempt_at, id LIMIT @limit
            """, new { due = dueBefore.ToUnixMicroseconds(), limit }, cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
    }

    public async Task<IReadOnlyList<MissingCallback>> ListMissingAsync(DateTimeOffset changedFrom, DateTimeOffset changedTo, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<(string Id, long Version)>(new CommandDefinition("""
            SELECT a.id, a.version FROM approvals a
            WHERE a.callback_url IS NOT NULL AND a.updated_at >= @from AND a.updated_at <= @to
              AND a.status IN ('approved', 'rejected', 'expired', 'cancelled', 'info_requested')
              AND NOT EXISTS (SELECT 1 FROM callback_deliveries d WHERE d.approval_id = a.id AND d.version = a.version)
            ORDER BY a.updated_at LIMIT @limit
            """, new { from = changedFrom.ToUnixMicroseconds(), to = changedTo.ToUnixMicroseconds(), limit }, cancellationToken: ct));
        return [.. rows.Select(r => new MissingCallback(Guid.Parse(r.Id), (int)r.Version))];
    }

    public async Task<string?> GetKeySecretAsync(string keyId, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
            "SELECT callback_secret FROM api_keys WHERE id = @keyId", new { keyId }, cancellationToken: ct));
    }

    public async Task<bool> SetKeySecretAsync(string keyId, string? secret, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE api_keys SET callback_secret = @secret WHERE id = @keyId AND revoked_at IS NULL",
            new { keyId, secret }, cancellationToken: ct)) == 1;
    }

    public async Task<IReadOnlySet<string>> ListKeysWithSecretAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var ids = await connection.QueryAsync<string>(new CommandDefinition(
            "SELECT id FROM api_keys WHERE callback_secret IS NOT NULL", cancellationToken: ct));
        return ids.ToHashSet(StringComparer.Ordinal);
    }

    private static string? Truncate(string? text) => text is { Length: > 500 } ? text[..500] : text;

    private sealed class DeliveryRow
    {
        public long Id { get; set; }
        public string ApprovalId { get; set; } = "";
        public long Version { get; set; }
        public string DeliveryId { get; set; } = "";
        public string Event { get; set; } = "";
        public string Url { get; set; } = "";
        public string Body { get; set; } = "";
        public string State { get; set; } = "";
        public long Attempts { get; set; }
        public long? LastStatus { get; set; }
        public string? LastError { get; set; }
        public long? NextAttemptAt { get; set; }
        public long CreatedAt { get; set; }
        public long? DeliveredAt { get; set; }

        public CallbackDelivery ToModel() => new()
        {
            Id = Id,
            ApprovalId = Guid.Parse(ApprovalId),
            Version = (int)Version,
            DeliveryId = DeliveryId,
            Event = Event,
            Url = Url,
            Body = Body,
            State = Enum.Parse<CallbackState>(State, ignoreCase: true),
            Attempts = (int)Attempts,
            LastStatus = LastStatus is { } s ? (int)s : null,
            LastError = LastError,
            NextAttemptAt = TimeConversions.FromUnixMicroseconds(NextAttemptAt),
            CreatedAt = TimeConversions.FromUnixMicroseconds(CreatedAt),
            DeliveredAt = TimeConversions.FromUnixMicroseconds(DeliveredAt),
        };
    }
}
