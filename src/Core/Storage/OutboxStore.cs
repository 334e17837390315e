using System.Data.Common;
using System.Text.Json;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>The transactional outbox: an entry is written in the transaction of every creation, transition and
/// follow-up, and the dispatcher claims, handles and purges entries here.</summary>
public sealed class OutboxStore(Database database) : IOutboxStore
{
    private const string InsertOutboxSql = """
        INSERT INTO outbox (approval_id, kind, transition, actor, follow_up, request, created_at, due_at, trace_parent)
        VALUES (@approvalId, @kind, @transition, @actor, @followUp, @request, @now, @now, @traceParent)
        """;

    /// <summary>Records the effects of a change in its own transaction: they are carried out once it has committed,
    /// however the process fares afterwards.</summary>
    internal static Task InsertAsync(DbConnection connection, DbTransaction tx, OutboxKind kind, ApprovalRequest request,
        DateTimeOffset at, CancellationToken ct, TransitionKind? transition = null, Actor? actor = null, FollowUp? followUp = null) =>
        connection.ExecuteAsync(new CommandDefinition(InsertOutboxSql, new
        {
            approvalId = ApprovalSql.IdText(request.Id),
            kind = kind.ToString(),
            transition = transition?.ToString(),
            actor = actor is null ? null : JsonSerializer.Serialize(OutboxActor.From(actor), SettingsJson.Options),
            followUp = followUp is null ? null : JsonSerializer.Serialize(followUp, SettingsJson.Options),
            request = RequestCopy(request),
            now = at.ToUnixMicroseconds(),
            traceParent = System.Diagnostics.Activity.Current?.Id,
        }, tx, cancellationToken: ct));

    /// <summary>On PostgreSQL: the entries of one transition applied to many requests, and their change notifications
    /// (sent at commit), in one statement.</summary>
    internal static Task InsertChangedManyAsync(DbConnection connection, DbTransaction tx, IReadOnlyList<ApprovalRequest> requests,
        DateTimeOffset at, TransitionKind transition, Actor actor, CancellationToken ct) =>
        connection.ExecuteScalarAsync<long>(new CommandDefinition($"""
            WITH o AS (INSERT INTO outbox (approval_id, kind, transition, actor, follow_up, request, created_at, due_at, trace_parent)
                       SELECT d.id, @kind, @transition, @actor, NULL, d.request, @now, @now, @traceParent
                       FROM unnest(@ids, @requests) WITH ORDINALITY AS d(id, request, n) ORDER BY d.n
                       RETURNING approval_id)
            SELECT count(*) FROM (SELECT pg_notify('{PostgresDatabase.ChangeChannel}', approval_id) FROM o) notified
            """, new
        {
            kind = nameof(OutboxKind.Changed),
            transition = transition.ToString(),
            actor = JsonSerializer.Serialize(OutboxActor.From(actor), SettingsJson.Options),
            now = at.ToUnixMicroseconds(),
            traceParent = System.Diagnostics.Activity.Current?.Id,
            ids = requests.Select(r => ApprovalSql.IdText(r.Id)).ToArray(),
            requests = requests.Select(RequestCopy).ToArray(),
        }, tx, cancellationToken: ct));

    /// <summary>The copy of the request an entry keeps.</summary>
    internal static string RequestCopy(ApprovalRequest request) => JsonSerializer.Serialize(ApprovalRow.From(request, null));

    private const string OutboxColumns = "id, kind, transition, actor, follow_up, request, attempts, trace_parent";

    public async Task<IReadOnlyList<OutboxEntry>> ClaimAsync(DateTimeOffset now, DateTimeOffset claimUntil, int limit, CancellationToken ct)
    {
        var sql = $"""
            UPDATE outbox SET claimed_until = @until, attempts = attempts + 1
            WHERE id IN (SELECT id FROM outbox
                         WHERE handled_at IS NULL AND due_at <= @now AND (claimed_until IS NULL OR claimed_until <= @now)
                         ORDER BY id LIMIT @limit{database.SkipLockedClause})
            RETURNING {OutboxColumns}
            """;
        await using var connection = await database.OpenAsync(ct);
        await using var tx = await database.BeginWriteAsync(connection, ct);
        var rows = await connection.QueryAsync<OutboxRow>(new CommandDefinition(sql, new
        {
            now = now.ToUnixMicroseconds(),
            until = claimUntil.ToUnixMicroseconds(),
            limit,
        }, tx, cancellationToken: ct));
        var entries = rows.OrderBy(r => r.Id).Select(r => r.ToModel()).ToList();
        await tx.CommitAsync(ct);
        return entries;
    }

    public async Task MarkHandledAsync(IReadOnlyCollection<long> ids, DateTimeOffset now, CancellationToken ct)
    {
        if (ids.Count == 0)
        {
            return;
        }
        // Dapper expands a list for SQLite; Npgsql takes the array as one parameter.
        var idIn = database.Provider == StorageProvider.Postgres ? "id = ANY(@ids)" : "id IN @ids";
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            $"UPDATE outbox SET handled_at = @now, claimed_until = NULL, last_error = NULL WHERE {idIn}",
            new { now = now.ToUnixMicroseconds(), ids = ids.ToArray() }, cancellationToken: ct));
    }

    public async Task RetryLaterAsync(long id, DateTimeOffset dueAt, string error, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE outbox SET due_at = @due, claimed_until = NULL, last_error = @error WHERE id = @id AND handled_at IS NULL",
            new { id, due = dueAt.ToUnixMicroseconds(), error }, cancellationToken: ct));
    }

    public async Task<int> PurgeHandledAsync(DateTimeOffset before, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE handled_at IS NOT NULL AND handled_at < @before ORDER BY handled_at LIMIT @limit)",
            new { before = before.ToUnixMicroseconds(), limit }, cancellationToken: ct));
    }

    public async Task<int> CountUnhandledAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<int>(new CommandDefinition(
            "SELECT COUNT(*) FROM outbox WHERE handled_at IS NULL", cancellationToken: ct));
    }

    /// <summary>The transition's actor as stored in an entry (the surface by its wire name).</summary>
    private sealed record OutboxActor(string DisplayName, string Surface, string? Email, string? UserId, string? KeyId, string? OnBehalfOf = null)
    {
        public static OutboxActor From(Actor a) => new(a.DisplayName, a.Surface.ToWire(), a.Email, a.UserId, a.KeyId, a.OnBehalfOf);

        public Actor ToModel() => new(DisplayName, WireNames.ParseSurface(Surface), Email, UserId, KeyId) { OnBehalfOf = OnBehalfOf };
    }

    private sealed class OutboxRow
    {
        public long Id { get; set; }
        public string Kind { get; set; } = "";
        public string? Transition { get; set; }
        public string? Actor { get; set; }
        public string? FollowUp { get; set; }
        public string Request { get; set; } = "";
        public long Attempts { get; set; }
        public string? TraceParent { get; set; }

        public OutboxEntry ToModel() => new(
            Id,
            Enum.Parse<OutboxKind>(Kind),
            (JsonSerializer.Deserialize<ApprovalRow>(Request) ?? throw new InvalidDataException($"Outbox entry {Id} has no request.")).ToModel(),
            Transition is null ? null : Enum.Parse<TransitionKind>(Transition),
            Actor is null ? null : JsonSerializer.Deserialize<OutboxActor>(Actor, SettingsJson.Options)?.ToModel(),
            FollowUp is null ? null : JsonSerializer.Deserialize<FollowUp>(FollowUp, SettingsJson.Options),
            (int)Attempts,
            TraceParent);
    }
}
