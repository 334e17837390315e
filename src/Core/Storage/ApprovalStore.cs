using System.Data.Common;
using System.Text;
using System.Text.Json;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Stats;
using Dapper;
using static AgentSentinel.Core.Storage.ApprovalSql;

namespace AgentSentinel.Core.Storage;

/// <summary>Approval requests on PostgreSQL and SQLite: the same parameterized statements on both, a connection per
/// operation, and every state change a single conditional UPDATE ... RETURNING inside a short transaction that
/// also appends the audit event and the outbox entry. A transition reads the clock only once it holds the request's
/// write lock, so its deadline check is the one in force when it commits. The audit trail and the statistics have
/// stores of their own; this one answers for them behind <see cref="IApprovalStore"/>.</summary>
public sealed class ApprovalStore(Database database, TimeProvider time) : IApprovalStore
{
    private readonly ApprovalEventLog _events = new(database);
    private readonly ApprovalStatsStore _stats = new(database);
    private readonly ReadCoalescer<Guid, ApprovalRequest> _byId = new((ids, ct) => ReadByIdsAsync(database, ids, ct));

    // On PostgreSQL a create is one statement, so one round trip and one implicit transaction: the request, its created
    // event, its outbox entry and the change notification (sent at commit), or nothing when the idempotency key was used
    // or the configuration version moved; the stored version comes back to tell the two apart.
    private const string CreateInOneStatementSql = $"""
        WITH a AS ({InsertApprovalAtConfigVersionSql}
            RETURNING id),
        e AS (INSERT INTO approval_events (approval_id, kind, at, actor, actor_key_id, surface, details)
              SELECT id, @EventKind, @EventAt, @EventActor, @EventActorKeyId, @EventSurface, @EventDetails FROM a),
        o AS (INSERT INTO outbox (approval_id, kind, transition, actor, follow_up, request, created_at, due_at, trace_parent)
              SELECT id, @OutboxKind, NULL, NULL, NULL, @OutboxRequest, @EventAt, @EventAt, @TraceParent FROM a)
        SELECT (SELECT count(*) FROM (SELECT pg_notify('{PostgresDatabase.ChangeChannel}', id) FROM a) notified) AS created,
               {StoredConfigVersion} AS config_version
        """;

    public Task<CreateResult> CreateAsync(ApprovalRequest request, string? requestHash, ApprovalEvent createdEvent, CancellationToken ct) =>
        CreateAsync(request, requestHash, createdEvent, null, ct);

    public async Task<CreateResult> CreateAsync(ApprovalRequest request, string? requestHash, ApprovalEvent createdEvent, long? configVersion, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        if (database.Provider == Configuration.StorageProvider.Postgres)
        {
            var p = new DynamicParameters(ApprovalRow.From(request, requestHash));
            p.Add("EventKind", createdEvent.Kind);
            p.Add("EventAt", createdEvent.At.ToUnixMicroseconds());
            p.Add("EventActor", createdEvent.Actor);
            p.Add("EventActorKeyId", createdEvent.ActorKeyId);
            p.Add("EventSurface", createdEvent.Surface.ToWire());
            p.Add("EventDetails", createdEvent.Details);
            p.Add("OutboxKind", nameof(OutboxKind.Created));
            p.Add("OutboxRequest", OutboxStore.RequestCopy(request));
            p.Add("TraceParent", System.Diagnostics.Activity.Current?.Id);
            p.Add("ConfigVersion", configVersion, System.Data.DbType.Int64);
            var (created, storedVersion) = await connection.QuerySingleAsync<(long, long)>(new CommandDefinition(CreateInOneStatementSql, p, cancellationToken: ct));
            if (created == 1)
            {
                return new CreateResult(CreateOutcome.Created, request);
            }
            return configVersion is { } expected && expected != storedVersion
                ? new CreateResult(CreateOutcome.ConfigChanged, request)
                : await ExistingAsync(connection, request, requestHash, ct);
        }
        await using (var tx = await database.BeginWriteAsync(connection, ct))
        {
            var row = new DynamicParameters(ApprovalRow.From(request, requestHash));
            row.Add("ConfigVersion", configVersion, System.Data.DbType.Int64);
            var inserted = await connection.ExecuteAsync(new CommandDefinition(InsertApprovalAtConfigVersionSql, row, tx, cancellationToken: ct));
            if (inserted == 1)
            {
                await ApprovalEventLog.InsertAsync(connection, tx, createdEvent, ct);
                await OutboxStore.InsertAsync(connection, tx, OutboxKind.Created, request, createdEvent.At, ct);
                if (database.NotifySql is { } notify)
                {
                    await connection.ExecuteAsync(new CommandDefinition(notify, new { id = IdText(request.Id) }, tx, cancellationToken: ct));
                }
                await tx.CommitAsync(ct);
                return new CreateResult(CreateOutcome.Created, request);
            }
            var moved = configVersion is { } expected && expected != await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                $"SELECT {StoredConfigVersion}", transaction: tx, cancellationToken: ct));
            await tx.RollbackAsync(ct);
            if (moved)
            {
                return new CreateResult(CreateOutcome.ConfigChanged, request);
            }
        }
        return await ExistingAsync(connection, request, requestHash, ct);
    }

    /// <summary>The key was used before by this requester: a replay returns the original, a different body is refused.</summary>
    private static async Task<CreateResult> ExistingAsync(DbConnection connection, ApprovalRequest request, string? requestHash, CancellationToken ct)
    {
        var existing = await connection.QuerySingleAsync<ApprovalRow>(new CommandDefinition(
            SelectByIdempotencySql, new { requester = request.RequesterKeyId, key = request.IdempotencyKey }, cancellationToken: ct));
        var outcome = existing.RequestHash == requestHash ? CreateOutcome.Replayed : CreateOutcome.IdempotencyKeyReused;
        return new CreateResult(outcome, existing.ToModel());
    }

    /// <summary>Most polls, waits and decisions read one request by id: concurrent reads share one statement, each
    /// served by a read that started after it was asked for (<see cref="ReadCoalescer{TKey, TValue}"/>).</summary>
    public Task<ApprovalRequest?> GetAsync(Guid id, CancellationToken ct) => _byId.ReadAsync(id, ct);

    private const int MaxIdsPerStatement = 500;

    internal static async Task<IReadOnlyDictionary<Guid, ApprovalRequest>> ReadByIdsAsync(Database database, IReadOnlyCollection<Guid> ids, CancellationToken ct)
    {
        var found = new Dictionary<Guid, ApprovalRequest>(ids.Count);
        await using var connection = await database.OpenAsync(ct);
        if (ids.Count == 1)
        {
            // The usual case when the server is not busy: the statement every other read by id uses.
            if (await GetAsync(connection, ids.First(), ct) is { } one)
            {
                found[one.Id] = one;
            }
            return found;
        }
        // PostgreSQL takes the ids as one array parameter (one prepared statement for any count); Dapper expands the
        // list into parameters for SQLite.
        var sql = database.Provider == Configuration.StorageProvider.Postgres
            ? $"SELECT {Columns} FROM approvals WHERE id = ANY(@ids)"
            : $"SELECT {Columns} FROM approvals WHERE id IN @ids";
        foreach (var chunk in ids.Select(IdText).Chunk(MaxIdsPerStatement))
        {
            foreach (var row in await connection.QueryAsync<ApprovalRow>(new CommandDefinition(sql, new { ids = chunk }, cancellationToken: ct)))
            {
                var request = row.ToModel();
                found[request.Id] = request;
            }
        }
        return found;
    }

    private static async Task<ApprovalRequest?> GetAsync(DbConnection connection, Guid id, CancellationToken ct)
    {
        var row = await connection.QuerySingleOrDefaultAsync<ApprovalRow>(new CommandDefinition(
            $"SELECT {Columns} FROM approvals WHERE id = @id", new { id = IdText(id) }, cancellationToken: ct));
        return row?.ToModel();
    }

    private static readonly Dictionary<TransitionKind, string> TransitionSql =
        Enum.GetValues<TransitionKind>().ToDictionary(k => k, BuildTransitionSql);

    private static string BuildTransitionSql(TransitionKind kind)
    {
        var set = kind switch
        {
            TransitionKind.Approve or TransitionKind.Reject =>
                ", decided_at = @now, decided_by_email = @email, decided_by_user_id = @userId, decided_by_key_id = @keyId, decided_via = @surface, decision_notes = @text, decided_on_behalf_of = @onBehalfOf",
            TransitionKind.RequestInfo => ", info_request_message = @text, info_response = NULL",
            TransitionKind.Respond => ", info_response = @text",
            TransitionKind.Cancel => ", decided_at = @now, decided_via = @surface",
            TransitionKind.Expire => ", decided_at = expires_at",
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        if (TransitionRules.To(kind) is not (ApprovalStatus.Pending or ApprovalStatus.InfoRequested))
        {
            // A closed request is never chased again.
            set += ", follow_up_at = NULL";
        }
        var from = string.Join(", ", TransitionRules.From(kind).Select(s => $"'{s.ToWire()}'"));
        var deadline = kind == TransitionKind.Expire ? "expires_at <= @now" : "expires_at > @now";
        // The requester can never decide its own request, whatever its scopes.
        var notSelf = kind is TransitionKind.Approve or TransitionKind.Reject or TransitionKind.RequestInfo
            ? " AND (@keyId IS NULL OR requester_key_id <> @keyId)"
            : "";
        return $"""
            UPDATE approvals
            SET status = '{TransitionRules.To(kind).ToWire()}', version = version + 1, updated_at = @now{set}
            WHERE id = @id AND status IN ({from}) AND {deadline}{notSelf}
            RETURNING {Columns}
            """;
    }

    // Expiry of a batch on PostgreSQL: the due requests (oldest deadline first) moved to expired in one statement with
    // their events. Rows another transaction holds (a decision under way, another expiry pass) are skipped, so two
    // passes never wait on each other; the conditions are repeated on the UPDATE itself, so a row whose decision
    // committed meanwhile is left alone: a decision and an expiry never both apply.
    private static readonly string ExpireDueSql = $"""
        WITH x AS ({TransitionSql[TransitionKind.Expire].Replace("WHERE id = @id AND",
            $"WHERE id IN (SELECT id FROM approvals WHERE {IsOverdue} ORDER BY expires_at LIMIT @limit FOR UPDATE SKIP LOCKED) AND", StringComparison.Ordinal)}),
        e AS (INSERT INTO approval_events (approval_id, kind, at, actor, actor_key_id, surface, details)
              SELECT id, @eventKind, expires_at, @actor, @actorKeyId, @surface, NULL FROM x)
        SELECT {Columns} FROM x ORDER BY expires_at, id
        """;

    public async Task<IReadOnlyList<ApprovalRequest>> ExpireDueAsync(int limit, CancellationToken ct)
    {
        if (database.Provider != Configuration.StorageProvider.Postgres)
        {
            // SQLite has one writer at a time: the due requests one transition each.
            var expired = new List<ApprovalRequest>();
            foreach (var due in await ListDueForExpiryAsync(time.GetUtcNow(), limit, ct))
            {
                if (await TransitionAsync(new TransitionCommand(due, TransitionKind.Expire, Actor.System, null), ct) is { Applied: true, Request: { } request })
                {
                    expired.Add(request);
                }
            }
            return expired;
        }
        await using var connection = await database.OpenAsync(ct);
        await using var tx = await database.BeginWriteAsync(connection, ct);
        var at = time.GetUtcNow().TruncateToMicroseconds();
        var rows = await connection.QueryAsync<ApprovalRow>(new CommandDefinition(ExpireDueSql, new
        {
            now = at.ToUnixMicroseconds(),
            limit,
            eventKind = TransitionRules.EventKind(TransitionKind.Expire),
            actor = Actor.System.AuditName,
            actorKeyId = Actor.System.KeyId,
            surface = Actor.System.Surface.ToWire(),
        }, tx, cancellationToken: ct));
        var requests = rows.Select(r => r.ToModel()).ToList();
        if (requests.Count > 0)
        {
            await OutboxStore.InsertChangedManyAsync(connection, tx, requests, at, TransitionKind.Expire, Actor.System, ct);
        }
        await tx.CommitAsync(ct);
        return requests;
    }

    /// <summary>The event details of a transition: its text, and for a delegate's decision whom it was made for.</summary>
    private static string? TransitionDetails(string? field, string? text, string? onBehalfOf)
    {
        var details = new Dictionary<string, string>();
        if (field is not null && text is not null)
        {
            details[field] = text;
        }
        if (onBehalfOf is not null)
        {
            details["on_behalf_of"] = onBehalfOf;
        }
        return details.Count == 0 ? null : JsonSerializer.Serialize(details);
    }

    public async Task<TransitionResult> TransitionAsync(TransitionCommand command, CancellationToken ct)
    {
        var id = IdText(command.Id);
        await using var connection = await database.OpenAsync(ct);
        await using var tx = await database.BeginWriteAsync(connection, ct);
        if (database.LockApprovalSql is { } lockSql)
        {
            await connection.ExecuteAsync(new CommandDefinition(lockSql, new { id }, tx, cancellationToken: ct));
        }
        // The instant is taken under the lock, at commit time: a decision that waited for the lock past the deadline is
        // refused, and once a read has recorded the expiry (it takes the same lock) nothing else applies.
        var at = time.GetUtcNow().TruncateToMicroseconds();
        if (command.Ballot is not null)
        {
            // A quorum vote: recorded, or refused, or the approval it completes continues below with the joined notes.
            var (counted, deciding) = await VoteStore.CastAsync(database, connection, tx, command, at, ct);
            if (counted is not null)
            {
                return counted;
            }
            command = deciding;
        }
        var row = await connection.QuerySingleOrDefaultAsync<ApprovalRow>(new CommandDefinition(
            TransitionSql[command.Kind],
            new
            {
                id,
                now = at.ToUnixMicroseconds(),
                email = command.Actor.Email,
                userId = command.Actor.UserId,
                surface = command.Actor.Surface.ToWire(),
                text = command.Text,
                keyId = command.Actor.KeyId,
                onBehalfOf = command.Actor.OnBehalfOf,
            },
            tx, cancellationToken: ct));
        if (row is not null)
        {
            var field = TransitionRules.TextField(command.Kind);
            var details = TransitionDetails(field, command.Text, command.Actor.OnBehalfOf);
            await ApprovalEventLog.InsertAsync(connection, tx, new ApprovalEvent
            {
                ApprovalId = command.Id,
                Kind = TransitionRules.EventKind(command.Kind),
                At = command.Kind == TransitionKind.Expire ? TimeConversions.FromUnixMicroseconds(row.ExpiresAt) : at,
                Actor = command.Actor.AuditName,
                ActorKeyId = command.Actor.KeyId,
                Surface = command.Actor.Surface,
                Details = details,
            }, ct);
            var changed = row.ToModel();
            var grant = command.Grant is { } creation
                ? await GrantStore.InsertGrantAsync(connection, tx, creation.For(changed, command.Actor), command.Actor, ct)
                : null;
            await OutboxStore.InsertAsync(connection, tx, OutboxKind.Changed, changed, at, ct, command.Kind, command.Actor);
            if (database.NotifySql is { } notify)
            {
                await connection.ExecuteAsync(new CommandDefinition(notify, new { id }, tx, cancellationToken: ct));
            }
            await tx.CommitAsync(ct);
            return new TransitionResult(TransitionOutcome.Applied, changed) { Grant = grant };
        }

        // Explained from the state seen under the same lock and at the same instant as the refused statement.
        var current = (await connection.QuerySingleOrDefaultAsync<ApprovalRow>(new CommandDefinition(
            $"SELECT {Columns} FROM approvals WHERE id = @id", new { id }, tx, cancellationToken: ct)))?.ToModel();
        await tx.RollbackAsync(ct);
        if (current is null)
        {
            return new TransitionResult(TransitionOutcome.NotFound, null);
        }
        var outcome = command.Actor.KeyId is not null && current.RequesterKeyId == command.Actor.KeyId
            && command.Kind is TransitionKind.Approve or TransitionKind.Reject or TransitionKind.RequestInfo
            && current.Status.IsOpen() && at < current.ExpiresAt
                ? TransitionOutcome.SelfDecision
                : TransitionRules.Explain(command.Kind, current, at);
        return new TransitionResult(outcome, current.AsOf(at));
    }

    public async Task<ApprovalPage> ListAsync(ApprovalQuery query, DateTimeOffset now, CancellationToken ct)
    {
        var where = new List<string>();
        var p = new DynamicParameters();
        p.Add("now", now.ToUnixMicroseconds());
        if (query.Status is { } status)
        {
            where.Add(status switch
            {
                // "+ 0" keeps the planner off the deadline index: it underestimates how many open requests have a
                // future deadline (nearly all of them) and would read every one of them and sort, where walking
                // ix_approvals_open_created newest first stops after one page (62 ms -> ~1 ms at 20,000 open).
                ApprovalStatus.Pending or ApprovalStatus.InfoRequested => "status = @status AND expires_at + 0 > @now",
                ApprovalStatus.Expired => ReadsExpired,
                _ => "status = @status",
            });
            p.Add("status", status.ToWire());
        }
        AddFilter(where, p, "priority", query.Priority?.ToWire());
        AddFilter(where, p, "risk_level", query.RiskLevel?.ToWire());
        AddFilter(where, p, "agent_id", query.AgentId);
        AddFilter(where, p, "action_name", query.ActionName);
        AddFilter(where, p, "requester_key_id", query.RequesterKeyId);
        if (query.After is { } after)
        {
            where.Add("(created_at < @afterCreated OR (created_at = @afterCreated AND id < @afterId))");
            p.Add("afterCreated", after.CreatedAt.ToUnixMicroseconds());
            p.Add("afterId", IdText(after.Id));
        }
        p.Add("limit", query.Limit + 1);
        var sql = new StringBuilder($"SELECT {Columns} FROM approvals");
        if (where.Count > 0)
        {
            sql.Append(" WHERE ").AppendJoin(" AND ", where);
        }
        sql.Append(" ORDER BY created_at DESC, id DESC LIMIT @limit");

        await using var connection = await database.OpenAsync(ct);
        var rows = (await connection.QueryAsync<ApprovalRow>(new CommandDefinition(sql.ToString(), p, cancellationToken: ct))).ToList();
        var more = rows.Count > query.Limit;
        var items = rows.Take(query.Limit).Select(r => r.ToModel()).ToList();
        return new ApprovalPage(items, more ? new ApprovalCursor(items[^1].CreatedAt, items[^1].Id) : null);
    }

    private static void AddFilter(List<string> where, DynamicParameters p, string column, string? value)
    {
        if (value is not null)
        {
            where.Add($"{column} = @{column}");
            p.Add(column, value);
        }
    }

    public async Task<IReadOnlyList<Guid>> ListDueForExpiryAsync(DateTimeOffset now, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var ids = await connection.QueryAsync<string>(new CommandDefinition(
            $"SELECT id FROM approvals WHERE {IsOverdue} ORDER BY expires_at LIMIT @limit",
            new { now = now.ToUnixMicroseconds(), limit }, cancellationToken: ct));
        return [.. ids.Select(Guid.Parse)];
    }

    public async Task<DateTimeOffset?> NextDeadlineAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var next = await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
            $"SELECT MIN(expires_at) FROM approvals WHERE status IN {OpenStatuses}", cancellationToken: ct));
        return TimeConversions.FromUnixMicroseconds(next);
    }

    // ---- follow-ups (reminders and escalation) ---------------------------------------------------------------------

    public async Task<ApprovalRequest?> AdvanceFollowUpAsync(FollowUpAdvance advance, CancellationToken ct)
    {
        var counter = advance.Kind == FollowUpKind.Reminder ? "reminders_sent" : "escalation_level";
        var setApprovers = advance.Approvers is null ? "" : ", approvers = @approvers";
        var sql = $"""
            UPDATE approvals SET {counter} = @number, follow_up_at = @next{setApprovers}
            WHERE id = @id AND {counter} = @expected AND {IsOpen}
            RETURNING {Columns}
            """;
        await using var connection = await database.OpenAsync(ct);
        await using var tx = await database.BeginWriteAsync(connection, ct);
        var row = await connection.QuerySingleOrDefaultAsync<ApprovalRow>(new CommandDefinition(sql, new
        {
            id = IdText(advance.Id),
            number = advance.Number,
            expected = advance.Expected,
            next = advance.NextFollowUpAt?.ToUnixMicroseconds(),
            approvers = advance.Approvers is null ? null : JsonSerializer.Serialize(advance.Approvers),
            now = advance.Event.At.ToUnixMicroseconds(),
        }, tx, cancellationToken: ct));
        if (row is null)
        {
            await tx.RollbackAsync(ct);
            return null;
        }
        await ApprovalEventLog.InsertAsync(connection, tx, advance.Event, ct);
        var advanced = row.ToModel();
        await OutboxStore.InsertAsync(connection, tx, OutboxKind.FollowUp, advanced, advance.Event.At, ct, followUp: advance.FollowUp);
        await tx.CommitAsync(ct);
        return advanced;
    }

    public async Task<IReadOnlyList<Guid>> ListDueFollowUpsAsync(DateTimeOffset now, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var ids = await connection.QueryAsync<string>(new CommandDefinition(
            $"SELECT id FROM approvals WHERE {IsOpen} AND follow_up_at IS NOT NULL AND follow_up_at <= @now ORDER BY follow_up_at LIMIT @limit",
            new { now = now.ToUnixMicroseconds(), limit }, cancellationToken: ct));
        return [.. ids.Select(Guid.Parse)];
    }

    // ---- the audit trail and the statistics, kept by their own stores ------------------------------------------

    public Task AppendEventAsync(ApprovalEvent approvalEvent, CancellationToken ct) => _events.AppendAsync(approvalEvent, ct);

    public Task<IReadOnlyList<ApprovalEvent>> GetEventsAsync(Guid id, CancellationToken ct) => _events.ListAsync(id, ct);

    public Task<ApprovalStats> GetStatsAsync(DateTimeOffset from, DateTimeOffset to, DateTimeOffset now, CancellationToken ct) =>
        _stats.GetStatsAsync(from, to, now, ct);
}
