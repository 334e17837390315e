using System.Data.Common;
using System.Globalization;
using System.Text;
using System.Text.Json;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Stats;
using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>The store on PostgreSQL and SQLite: the same parameterized statements on both, a connection per
/// operation, and every state change a single conditional UPDATE ... RETURNING inside a short transaction that
/// also appends the audit event. A transition reads the clock only once it holds the request's write lock, so its
/// deadline check is the one in force when it commits.</summary>
public sealed partial class SqlStore(Database database, TimeProvider time) : IApprovalStore, IApiKeyStore, ISettingsStore, IChatMessageStore, IChatConversationStore
{
    private const string OpenStatuses = "('pending', 'info_requested')";

    private const string Columns = """
        id, action_name, action_description, agent_id, run_id, task_id, mission_id, estimated_cost, risk_level, priority,
        action_inputs, context, callback_url, created_at, expires_at, status, decided_at, decided_by_email,
        decided_by_user_id, decided_via, decision_notes, info_request_message, info_response, requester_key_id,
        requester_email, idempotency_key, request_hash, route_name, approvers, version, updated_at, reminders_sent, escalation_level, follow_up_at,
        decided_by_key_id, requester_key_name, route_plan, grant_id, receipt
        """;

    static SqlStore() => DefaultTypeMap.MatchNamesWithUnderscores = true;

    public Database Database => database;

    // ---- approvals -------------------------------------------------------------------------------------------

    private const string InsertApprovalSql = $"""
        INSERT INTO approvals ({Columns})
        VALUES (@Id, @ActionName, @ActionDescription, @AgentId, @RunId, @TaskId, @MissionId, @EstimatedCostValue, @RiskLevel,
                @Priority, @ActionInputs, @Context, @CallbackUrl, @CreatedAt, @ExpiresAt, @Status, @DecidedAt,
                @DecidedByEmail, @DecidedByUserId, @DecidedVia, @DecisionNotes, @InfoRequestMessage, @InfoResponse,
                @RequesterKeyId, @RequesterEmail, @IdempotencyKey, @RequestHash, @RouteName, @Approvers, @Version, @UpdatedAt, @RemindersSent, @EscalationLevel, @FollowUpAt,
                @DecidedByKeyId, @RequesterKeyName, @RoutePlan, @GrantId, @Receipt)
        ON CONFLICT (requester_key_id, idempotency_key) DO NOTHING
        """;

    private const string SelectByIdempotencySql = $"""
        SELECT {Columns} FROM approvals WHERE requester_key_id = @requester AND idempotency_key = @key
        """;

    public async Task<CreateResult> CreateAsync(ApprovalRequest request, string? requestHash, ApprovalEvent createdEvent, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using (var tx = await database.BeginWriteAsync(connection, ct))
        {
            var inserted = await connection.ExecuteAsync(new CommandDefinition(
                InsertApprovalSql, ApprovalRow.From(request, requestHash), tx, cancellationToken: ct));
            if (inserted == 1)
            {
                await InsertEventAsync(connection, tx, createdEvent, ct);
                await InsertOutboxAsync(connection, tx, OutboxKind.Created, request, createdEvent.At, ct);
                if (database.NotifySql is { } notify)
                {
                    await connection.ExecuteAsync(new CommandDefinition(notify, new { id = IdText(request.Id) }, tx, cancellationToken: ct));
                }
                await tx.CommitAsync(ct);
                return new CreateResult(CreateOutcome.Created, request);
            }
            await tx.RollbackAsync(ct);
        }

        // The key was used before by this requester: a replay returns the original, a different body is refused.
        var existing = await connection.QuerySingleAsync<ApprovalRow>(new CommandDefinition(
            SelectByIdempotencySql, new { requester = request.RequesterKeyId, key = request.IdempotencyKey }, cancellationToken: ct));
        var outcome = existing.RequestHash == requestHash ? CreateOutcome.Replayed : CreateOutcome.IdempotencyKeyReused;
        return new CreateResult(outcome, existing.ToModel());
    }

    public async Task<ApprovalRequest?> GetAsync(Guid id, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await GetAsync(connection, id, ct);
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
                ", decided_at = @now, decided_by_email = @email, decided_by_user_id = @userId, decided_by_key_id = @keyId, decided_via = @surface, decision_notes = @text",
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
            },
            tx, cancellationToken: ct));
        if (row is not null)
        {
            var field = TransitionRules.TextField(command.Kind);
            var details = field is not null && command.Text is not null
                ? JsonSerializer.Serialize(new Dictionary<string, string> { [field] = command.Text })
                : null;
            await InsertEventAsync(connection, tx, new ApprovalEvent
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
                ? await InsertGrantAsync(connection, tx, creation.For(changed, command.Actor), command.Actor, ct)
                : null;
            await InsertOutboxAsync(connection, tx, OutboxKind.Changed, changed, at, ct, command.Kind, command.Actor);
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

    private const string InsertEventSql = """
        INSERT INTO approval_events (approval_id, kind, at, actor, actor_key_id, surface, details)
        VALUES (@ApprovalId, @Kind, @At, @Actor, @ActorKeyId, @Surface, @Details)
        """;

    private static Task InsertEventAsync(DbConnection connection, DbTransaction? tx, ApprovalEvent e, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(InsertEventSql, new
        {
            ApprovalId = IdText(e.ApprovalId),
            e.Kind,
            At = e.At.ToUnixMicroseconds(),
            e.Actor,
            e.ActorKeyId,
            Surface = e.Surface.ToWire(),
            e.Details,
        }, tx, cancellationToken: ct));

    public async Task AppendEventAsync(ApprovalEvent approvalEvent, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await InsertEventAsync(connection, null, approvalEvent, ct);
    }

    public async Task<IReadOnlyList<ApprovalEvent>> GetEventsAsync(Guid id, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<EventRow>(new CommandDefinition(
            "SELECT id, approval_id, kind, at, actor, actor_key_id, surface, details FROM approval_events WHERE approval_id = @id ORDER BY id",
            new { id = IdText(id) }, cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
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
                ApprovalStatus.Expired => $"(status = 'expired' OR (status IN {OpenStatuses} AND expires_at <= @now))",
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
            $"SELECT id FROM approvals WHERE status IN {OpenStatuses} AND expires_at <= @now ORDER BY expires_at LIMIT @limit",
            new { now = now.ToUnixMicroseconds(), limit }, cancellationToken: ct));
        return [.. ids.Select(Guid.Parse)];
    }

    public async Task<IReadOnlyList<(Guid Id, DateTimeOffset ExpiresAt)>> ListOpenAsync(Guid? after, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<(string Id, long ExpiresAt)>(new CommandDefinition(
            $"SELECT id, expires_at FROM approvals WHERE status IN {OpenStatuses} AND id > @after ORDER BY id LIMIT @limit",
            new { after = after is { } a ? IdText(a) : "", limit }, cancellationToken: ct));
        return [.. rows.Select(r => (Guid.Parse(r.Id), TimeConversions.FromUnixMicroseconds(r.ExpiresAt)))];
    }

    // ---- follow-ups (reminders and escalation) ---------------------------------------------------------------------

    public async Task<ApprovalRequest?> AdvanceFollowUpAsync(FollowUpAdvance advance, CancellationToken ct)
    {
        var counter = advance.Kind == FollowUpKind.Reminder ? "reminders_sent" : "escalation_level";
        var setApprovers = advance.Approvers is null ? "" : ", approvers = @approvers";
        var sql = $"""
            UPDATE approvals SET {counter} = @number, follow_up_at = @next{setApprovers}
            WHERE id = @id AND {counter} = @expected AND status IN {OpenStatuses} AND expires_at > @now
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
        await InsertEventAsync(connection, tx, advance.Event, ct);
        var advanced = row.ToModel();
        await InsertOutboxAsync(connection, tx, OutboxKind.FollowUp, advanced, advance.Event.At, ct, followUp: advance.FollowUp);
        await tx.CommitAsync(ct);
        return advanced;
    }

    public async Task<IReadOnlyList<Guid>> ListDueFollowUpsAsync(DateTimeOffset now, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var ids = await connection.QueryAsync<string>(new CommandDefinition(
            $"SELECT id FROM approvals WHERE status IN {OpenStatuses} AND follow_up_at IS NOT NULL AND follow_up_at <= @now AND expires_at > @now ORDER BY follow_up_at LIMIT @limit",
            new { now = now.ToUnixMicroseconds(), limit }, cancellationToken: ct));
        return [.. ids.Select(Guid.Parse)];
    }

    // ---- statistics --------------------------------------------------------------------------------------------

    private const string StatsWindow = "created_at >= @from AND created_at < @to";

    // One pass over the window: counts per (priority, risk level), summed into totals and both breakdowns in code.
    private const string StatsGroupsSql = $"""
        SELECT
            priority AS priority,
            COALESCE(risk_level, 'unspecified') AS risk_level,
            COUNT(*) AS total,
            COALESCE(SUM(CASE WHEN status = 'pending' AND expires_at > @now THEN 1 ELSE 0 END), 0) AS pending,
            COALESCE(SUM(CASE WHEN status = 'info_requested' AND expires_at > @now THEN 1 ELSE 0 END), 0) AS info_requested,
            COALESCE(SUM(CASE WHEN status = 'approved' THEN 1 ELSE 0 END), 0) AS approved,
            COALESCE(SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END), 0) AS rejected,
            COALESCE(SUM(CASE WHEN status = 'expired' OR (status IN {OpenStatuses} AND expires_at <= @now) THEN 1 ELSE 0 END), 0) AS expired,
            COALESCE(SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END), 0) AS cancelled,
            SUM(CASE WHEN status IN ('approved', 'rejected') THEN (decided_at - created_at) * 1.0 END) AS decision_us
        FROM approval_facts WHERE {StatsWindow}
        GROUP BY priority, COALESCE(risk_level, 'unspecified')
        """;

    // Exact median without window functions: the middle one or two decision times, averaged.
    private const string StatsMedianSql = $"""
        SELECT decided_at - created_at FROM approval_facts
        WHERE {StatsWindow} AND status IN ('approved', 'rejected')
        ORDER BY decided_at - created_at
        LIMIT @take OFFSET @skip
        """;

    private const string PendingTotalSql = $"SELECT COUNT(*) FROM approvals WHERE status IN {OpenStatuses} AND expires_at > @now";

    public async Task<ApprovalStats> GetStatsAsync(DateTimeOffset from, DateTimeOffset to, DateTimeOffset now, CancellationToken ct)
    {
        var p = new { from = from.ToUnixMicroseconds(), to = to.ToUnixMicroseconds(), now = now.ToUnixMicroseconds() };
        await using var connection = await database.OpenAsync(ct);
        var groups = (await connection.QueryAsync<StatsRow>(new CommandDefinition(StatsGroupsSql, p, cancellationToken: ct))).ToList();
        var pendingTotal = await connection.ExecuteScalarAsync<long>(new CommandDefinition(PendingTotalSql, p, cancellationToken: ct));
        var totals = new StatsRow
        {
            Total = groups.Sum(g => g.Total),
            Pending = groups.Sum(g => g.Pending),
            InfoRequested = groups.Sum(g => g.InfoRequested),
            Approved = groups.Sum(g => g.Approved),
            Rejected = groups.Sum(g => g.Rejected),
            Expired = groups.Sum(g => g.Expired),
            Cancelled = groups.Sum(g => g.Cancelled),
        };
        var decisionUs = groups.Sum(g => g.DecisionUs is { } d ? Convert.ToDouble(d, CultureInfo.InvariantCulture) : 0d);
        IReadOnlyDictionary<string, long> byPriority = groups.GroupBy(g => g.Priority).ToDictionary(g => g.Key, g => g.Sum(x => x.Total));
        IReadOnlyDictionary<string, long> byRisk = groups.GroupBy(g => g.RiskLevel).ToDictionary(g => g.Key, g => g.Sum(x => x.Total));

        double? median = null;
        var decided = totals.Approved + totals.Rejected;
        if (decided > 0)
        {
            var middle = await connection.QueryAsync<long>(new CommandDefinition(StatsMedianSql,
                new { p.from, p.to, take = decided % 2 == 0 ? 2 : 1, skip = (decided - 1) / 2 }, cancellationToken: ct));
            median = middle.Average() / 1_000_000d;
        }

        return new ApprovalStats
        {
            From = from,
            To = to,
            PendingTotal = pendingTotal,
            Total = totals.Total,
            Pending = totals.Pending,
            InfoRequested = totals.InfoRequested,
            Approved = totals.Approved,
            Rejected = totals.Rejected,
            Expired = totals.Expired,
            Cancelled = totals.Cancelled,
            AverageDecisionSeconds = totals.Approved + totals.Rejected > 0 ? Math.Round(decisionUs / (totals.Approved + totals.Rejected) / 1_000_000d, 3) : null,
            MedianDecisionSeconds = median is { } m ? Math.Round(m, 3) : null,
            ByPriority = byPriority,
            ByRiskLevel = byRisk,
        };
    }

    // ---- API keys ----------------------------------------------------------------------------------------------

    private const string KeyColumns = "id, name, prefix, key_hash, scopes, email, created_at, created_by, revoked_at, agent_ids";

    public async Task CreateAsync(ApiKeyRecord key, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            $"INSERT INTO api_keys ({KeyColumns}) VALUES (@Id, @Name, @Prefix, @KeyHash, @Scopes, @Email, @CreatedAt, @CreatedBy, NULL, @AgentIds)",
            new
            {
                key.Id,
                key.Name,
                key.Prefix,
                key.KeyHash,
                Scopes = string.Join(' ', key.Scopes),
                key.Email,
                CreatedAt = key.CreatedAt.ToUnixMicroseconds(),
                key.CreatedBy,
                AgentIds = key.AgentIds.Count == 0 ? null : JsonSerializer.Serialize(key.AgentIds),
            }, cancellationToken: ct));
    }

    public async Task<ApiKeyRecord?> FindActiveByHashAsync(string keyHash, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<KeyRow>(new CommandDefinition(
            $"SELECT {KeyColumns} FROM api_keys WHERE key_hash = @keyHash AND revoked_at IS NULL", new { keyHash }, cancellationToken: ct));
        return row?.ToModel();
    }

    public async Task<IReadOnlyList<ApiKeyRecord>> FindActiveByEmailAsync(string email, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<KeyRow>(new CommandDefinition(
            $"SELECT {KeyColumns} FROM api_keys WHERE lower(email) = lower(@email) AND revoked_at IS NULL ORDER BY created_at, id",
            new { email }, cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
    }

    public async Task<IReadOnlyList<ApiKeyRecord>> ListAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<KeyRow>(new CommandDefinition(
            $"SELECT {KeyColumns} FROM api_keys ORDER BY created_at, id", cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
    }

    public async Task<ApiKeyRecord?> GetAsync(string id, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<KeyRow>(new CommandDefinition(
            $"SELECT {KeyColumns} FROM api_keys WHERE id = @id", new { id }, cancellationToken: ct));
        return row?.ToModel();
    }

    public async Task<bool> RevokeAsync(string id, DateTimeOffset at, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var n = await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE api_keys SET revoked_at = @at WHERE id = @id AND revoked_at IS NULL",
            new { id, at = at.ToUnixMicroseconds() }, cancellationToken: ct));
        return n == 1;
    }

    public async Task<bool> AnyAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition("SELECT COUNT(*) FROM api_keys", cancellationToken: ct)) > 0;
    }

    // ---- settings ----------------------------------------------------------------------------------------------

    async Task<SettingRecord?> ISettingsStore.GetAsync(string key, CancellationToken ct)
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
        await tx.CommitAsync(ct);
        return new SettingRecord(key, value, currentVersion + 1, now, actor);
    }

    public async Task<bool> TryInsertAsync(string key, string value, string? actor, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var n = await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO settings (key, value, version, updated_at, updated_by) VALUES (@key, @value, 1, @at, @actor) ON CONFLICT (key) DO NOTHING",
            new { key, value, at = now.ToUnixMicroseconds(), actor }, cancellationToken: ct));
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

    // ---- chat messages -------------------------------------------------------------------------------------------

    private const string ChatColumns = """
        id, approval_id, surface, channel, delivery_key, state, message_id, thread_id, conversation_id, attempts,
        last_error, claimed_at, posted_at, updated_at, error_class, body
        """;

    public async Task<(ChatMessage Message, bool Claimed)> ClaimAsync(Guid approvalId, Surface surface, string channel, string deliveryKey, DateTimeOffset now, CancellationToken ct, string? body = null)
    {
        var p = new { approvalId = IdText(approvalId), surface = surface.ToWire(), channel, deliveryKey, now = now.ToUnixMicroseconds(), body };
        await using var connection = await database.OpenAsync(ct);
        var inserted = await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO chat_messages (approval_id, surface, channel, delivery_key, state, attempts, claimed_at, updated_at, body)
            VALUES (@approvalId, @surface, @channel, @deliveryKey, 'claimed', 1, @now, @now, @body)
            ON CONFLICT (approval_id, surface, channel, delivery_key) DO NOTHING
            """, p, cancellationToken: ct));
        if (inserted == 0)
        {
            await connection.ExecuteAsync(new CommandDefinition("""
                UPDATE chat_messages SET attempts = attempts + 1, updated_at = @now
                WHERE approval_id = @approvalId AND surface = @surface AND channel = @channel AND delivery_key = @deliveryKey
                """, p, cancellationToken: ct));
        }
        var row = await connection.QuerySingleAsync<ChatRow>(new CommandDefinition($"""
            SELECT {ChatColumns} FROM chat_messages
            WHERE approval_id = @approvalId AND surface = @surface AND channel = @channel AND delivery_key = @deliveryKey
            """, p, cancellationToken: ct));
        return (row.ToModel(), inserted == 1);
    }

    public async Task<IReadOnlyList<Guid>> ListUnpostedAsync(Surface surface, DateTimeOffset from, DateTimeOffset before, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var ids = await connection.QueryAsync<string>(new CommandDefinition($"""
            SELECT a.id FROM approvals a
            WHERE a.created_at >= @from AND a.created_at < @before AND a.status IN {OpenStatuses} AND a.route_name IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM chat_messages m WHERE m.approval_id = a.id AND m.surface = @surface AND m.delivery_key = @root AND m.state <> 'claimed')
            ORDER BY a.created_at, a.id
            LIMIT @limit
            """, new { from = from.ToUnixMicroseconds(), before = before.ToUnixMicroseconds(), surface = surface.ToWire(), root = DeliveryKeys.Root, limit }, cancellationToken: ct));
        return [.. ids.Select(Guid.Parse)];
    }

    public async Task MarkPostedAsync(long id, string messageId, string? threadId, string? conversationId, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE chat_messages SET state = 'posted', message_id = @messageId, thread_id = @threadId,
                conversation_id = @conversationId, posted_at = @now, updated_at = @now, last_error = NULL
            WHERE id = @id
            """, new { id, messageId, threadId, conversationId, now = now.ToUnixMicroseconds() }, cancellationToken: ct));
    }

    public async Task RecordErrorAsync(long id, string error, DeliveryErrorClass errorClass, bool failed, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE chat_messages SET last_error = @error, error_class = @errorClass, updated_at = @now,
                state = CASE WHEN @failed AND state = 'claimed' THEN 'failed' ELSE state END
            WHERE id = @id
            """, new { id, error = error.Length > 500 ? error[..500] : error, errorClass = errorClass.ToWire(), failed, now = now.ToUnixMicroseconds() }, cancellationToken: ct));
    }

    public async Task<ChatMessage?> GetAsync(long id, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<ChatRow>(new CommandDefinition(
            $"SELECT {ChatColumns} FROM chat_messages WHERE id = @id", new { id }, cancellationToken: ct));
        return row?.ToModel();
    }

    public async Task<IReadOnlyList<DeliveryListItem>> ListDeliveriesAsync(ChatMessageState state, Surface? surface, long? beforeId, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var filter = (surface is null ? "" : " AND m.surface = @surface") + (beforeId is null ? "" : " AND m.id < @beforeId");
        var rows = await connection.QueryAsync<ChatRow>(new CommandDefinition($"""
            SELECT m.id, m.approval_id, m.surface, m.channel, m.delivery_key, m.state, m.message_id, m.thread_id, m.conversation_id,
                   m.attempts, m.last_error, m.claimed_at, m.posted_at, m.updated_at, m.error_class, m.body, a.action_name
            FROM chat_messages m JOIN approvals a ON a.id = m.approval_id
            WHERE m.state = @state{filter}
            ORDER BY m.id DESC
            LIMIT @limit
            """, new { state = state.ToString().ToLowerInvariant(), surface = surface?.ToWire(), beforeId, limit }, cancellationToken: ct));
        return [.. rows.Select(r => new DeliveryListItem(r.ToModel(), r.ActionName ?? ""))];
    }

    public async Task<bool> ResetFailedAsync(long id, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE chat_messages SET state = 'claimed', attempts = 0, claimed_at = @now, updated_at = @now
            WHERE id = @id AND state = 'failed'
            """, new { id, now = now.ToUnixMicroseconds() }, cancellationToken: ct)) == 1;
    }

    public async Task<IReadOnlyList<ChatMessage>> ListAsync(Guid approvalId, Surface surface, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<ChatRow>(new CommandDefinition(
            $"SELECT {ChatColumns} FROM chat_messages WHERE approval_id = @approvalId AND surface = @surface ORDER BY id",
            new { approvalId = IdText(approvalId), surface = surface.ToWire() }, cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
    }

    // ---- chat conversations --------------------------------------------------------------------------------------

    private const string ConversationColumns =
        "surface, conversation_id, kind, channel_id, team_id, tenant_id, service_url, bot_id, user_id, installed_at, removed_at";

    public async Task UpsertConversationAsync(ChatConversation c, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO chat_conversations (surface, conversation_id, kind, channel_id, team_id, tenant_id, service_url, bot_id, user_id, installed_at, updated_at)
            VALUES (@surface, @ConversationId, @Kind, @ChannelId, @TeamId, @TenantId, @ServiceUrl, @BotId, @UserId, @now, @now)
            ON CONFLICT (surface, conversation_id) DO UPDATE SET
                service_url = excluded.service_url,
                kind = excluded.kind,
                channel_id = COALESCE(excluded.channel_id, chat_conversations.channel_id),
                team_id = COALESCE(excluded.team_id, chat_conversations.team_id),
                tenant_id = COALESCE(excluded.tenant_id, chat_conversations.tenant_id),
                bot_id = COALESCE(excluded.bot_id, chat_conversations.bot_id),
                user_id = COALESCE(excluded.user_id, chat_conversations.user_id),
                updated_at = excluded.updated_at,
                removed_at = NULL
            """, new
        {
            surface = c.Surface.ToWire(),
            c.ConversationId,
            c.Kind,
            c.ChannelId,
            c.TeamId,
            c.TenantId,
            c.ServiceUrl,
            c.BotId,
            c.UserId,
            now = now.ToUnixMicroseconds(),
        }, cancellationToken: ct));
    }

    public async Task MarkRemovedAsync(Surface surface, string conversationId, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE chat_conversations SET removed_at = @now, updated_at = @now WHERE surface = @surface AND (conversation_id = @conversationId OR team_id = @conversationId)",
            new { surface = surface.ToWire(), conversationId, now = now.ToUnixMicroseconds() }, cancellationToken: ct));
    }

    public async Task<ChatConversation?> FindByChannelAsync(Surface surface, string channelId, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QueryFirstOrDefaultAsync<ConversationRow>(new CommandDefinition($"""
            SELECT {ConversationColumns} FROM chat_conversations
            WHERE surface = @surface AND removed_at IS NULL AND (channel_id = @channelId OR team_id = @channelId OR conversation_id = @channelId)
            ORDER BY CASE WHEN channel_id = @channelId THEN 0 WHEN conversation_id = @channelId THEN 1 ELSE 2 END, installed_at DESC
            LIMIT 1
            """, new { surface = surface.ToWire(), channelId }, cancellationToken: ct));
        return row?.ToModel();
    }

    public async Task<ChatConversation?> LatestTeamAsync(Surface surface, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QueryFirstOrDefaultAsync<ConversationRow>(new CommandDefinition($"""
            SELECT {ConversationColumns} FROM chat_conversations
            WHERE surface = @surface AND removed_at IS NULL AND kind = 'channel' AND team_id IS NOT NULL
            ORDER BY installed_at DESC LIMIT 1
            """, new { surface = surface.ToWire() }, cancellationToken: ct));
        return row?.ToModel();
    }

    // ---- rows ----------------------------------------------------------------------------------------------------

    /// <summary>Ids are stored as lowercase text: the same on both providers, and time-ordered for UUID v7.</summary>
    internal static string IdText(Guid id) => id.ToString("D");

    private sealed class ApprovalRow
    {
        public string Id { get; set; } = "";
        public string ActionName { get; set; } = "";
        public string? ActionDescription { get; set; }
        public string? AgentId { get; set; }
        public string? RunId { get; set; }
        public string? TaskId { get; set; }
        public string? MissionId { get; set; }
        public object? EstimatedCost { get; set; }
        /// <summary>The typed value written on insert (the read side gets the provider's own type).</summary>
        public decimal? EstimatedCostValue { get; set; }
        public string? RiskLevel { get; set; }
        public string Priority { get; set; } = "";
        public string? ActionInputs { get; set; }
        public string? Context { get; set; }
        public string? CallbackUrl { get; set; }
        public long CreatedAt { get; set; }
        public long ExpiresAt { get; set; }
        public string Status { get; set; } = "";
        public long? DecidedAt { get; set; }
        public string? DecidedByEmail { get; set; }
        public string? DecidedByUserId { get; set; }
        public string? DecidedByKeyId { get; set; }
        public string? DecidedVia { get; set; }
        public string? DecisionNotes { get; set; }
        public string? InfoRequestMessage { get; set; }
        public string? InfoResponse { get; set; }
        public string RequesterKeyId { get; set; } = "";
        public string? RequesterEmail { get; set; }
        public string? IdempotencyKey { get; set; }
        public string? RequestHash { get; set; }
        public string? RouteName { get; set; }
        public string? Approvers { get; set; }
        public long Version { get; set; }
        public long UpdatedAt { get; set; }
        public long RemindersSent { get; set; }
        public long EscalationLevel { get; set; }
        public long? FollowUpAt { get; set; }
        public string? RequesterKeyName { get; set; }
        public string? RoutePlan { get; set; }
        public string? GrantId { get; set; }
        public string? Receipt { get; set; }

        public static ApprovalRow From(ApprovalRequest r, string? requestHash) => new()
        {
            Id = IdText(r.Id),
            ActionName = r.ActionName,
            ActionDescription = r.ActionDescription,
            AgentId = r.AgentId,
            RunId = r.RunId,
            TaskId = r.TaskId,
            MissionId = r.MissionId,
            EstimatedCostValue = r.EstimatedCost,
            RiskLevel = r.RiskLevel?.ToWire(),
            Priority = r.Priority.ToWire(),
            ActionInputs = r.ActionInputs,
            Context = r.Context,
            CallbackUrl = r.CallbackUrl,
            CreatedAt = r.CreatedAt.ToUnixMicroseconds(),
            ExpiresAt = r.ExpiresAt.ToUnixMicroseconds(),
            Status = r.Status.ToWire(),
            DecidedAt = r.DecidedAt?.ToUnixMicroseconds(),
            DecidedByEmail = r.DecidedByEmail,
            DecidedByUserId = r.DecidedByUserId,
            DecidedByKeyId = r.DecidedByKeyId,
            DecidedVia = r.DecidedVia?.ToWire(),
            DecisionNotes = r.DecisionNotes,
            InfoRequestMessage = r.InfoRequestMessage,
            InfoResponse = r.InfoResponse,
            RequesterKeyId = r.RequesterKeyId ?? "",
            RequesterEmail = r.RequesterEmail,
            IdempotencyKey = r.IdempotencyKey,
            RequestHash = requestHash,
            RouteName = r.RouteName,
            Approvers = r.Approvers.Count == 0 ? null : JsonSerializer.Serialize(r.Approvers),
            Version = r.Version,
            UpdatedAt = r.UpdatedAt.ToUnixMicroseconds(),
            RemindersSent = r.RemindersSent,
            EscalationLevel = r.EscalationLevel,
            FollowUpAt = r.FollowUpAt?.ToUnixMicroseconds(),
            RequesterKeyName = r.RequesterKeyName,
            RoutePlan = r.RoutePlan is null ? null : JsonSerializer.Serialize(r.RoutePlan, Configuration.SettingsJson.Options),
            GrantId = r.GrantId is { } grantId ? IdText(grantId) : null,
            Receipt = r.Receipt,
        };

        public ApprovalRequest ToModel() => new()
        {
            Id = Guid.Parse(Id),
            ActionName = ActionName,
            ActionDescription = ActionDescription,
            AgentId = AgentId,
            RunId = RunId,
            TaskId = TaskId,
            MissionId = MissionId,
            EstimatedCost = EstimatedCost switch
            {
                // A row built from a model (an outbox entry's copy of the request) carries the typed value instead.
                null or DBNull => EstimatedCostValue?.Normalize(),
                decimal d => d.Normalize(),
                string s => decimal.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture).Normalize(),
                var other => Convert.ToDecimal(other, CultureInfo.InvariantCulture).Normalize(),
            },
            RiskLevel = RiskLevel is null ? null : WireNames.ParseRisk(RiskLevel),
            Priority = WireNames.ParsePriority(Priority),
            ActionInputs = ActionInputs,
            Context = Context,
            CallbackUrl = CallbackUrl,
            CreatedAt = TimeConversions.FromUnixMicroseconds(CreatedAt),
            ExpiresAt = TimeConversions.FromUnixMicroseconds(ExpiresAt),
            Status = WireNames.ParseStatus(Status),
            DecidedAt = TimeConversions.FromUnixMicroseconds(DecidedAt),
            DecidedByEmail = DecidedByEmail,
            DecidedByUserId = DecidedByUserId,
            DecidedByKeyId = DecidedByKeyId,
            DecidedVia = DecidedVia is null ? null : WireNames.ParseSurface(DecidedVia),
            DecisionNotes = DecisionNotes,
            InfoRequestMessage = InfoRequestMessage,
            InfoResponse = InfoResponse,
            RequesterKeyId = RequesterKeyId,
            RequesterEmail = RequesterEmail,
            IdempotencyKey = IdempotencyKey,
            RouteName = RouteName,
            Approvers = Approvers is null ? [] : JsonSerializer.Deserialize<string[]>(Approvers) ?? [],
            Version = (int)Version,
            UpdatedAt = TimeConversions.FromUnixMicroseconds(UpdatedAt),
            RemindersSent = (int)RemindersSent,
            EscalationLevel = (int)EscalationLevel,
            FollowUpAt = TimeConversions.FromUnixMicroseconds(FollowUpAt),
            RequesterKeyName = RequesterKeyName,
            RoutePlan = RoutePlan is null ? null : JsonSerializer.Deserialize<Routing.RouteDefinition>(RoutePlan, Configuration.SettingsJson.Options),
            GrantId = GrantId is null ? null : Guid.Parse(GrantId),
            Receipt = Receipt,
        };
    }

    private sealed class EventRow
    {
        public long Id { get; set; }
        public string ApprovalId { get; set; } = "";
        public string Kind { get; set; } = "";
        public long At { get; set; }
        public string? Actor { get; set; }
        public string? ActorKeyId { get; set; }
        public string Surface { get; set; } = "";
        public string? Details { get; set; }

        public ApprovalEvent ToModel() => new()
        {
            Id = Id,
            ApprovalId = Guid.Parse(ApprovalId),
            Kind = Kind,
            At = TimeConversions.FromUnixMicroseconds(At),
            Actor = Actor,
            ActorKeyId = ActorKeyId,
            Surface = WireNames.ParseSurface(Surface),
            Details = Details,
        };
    }

    private sealed class StatsRow
    {
        public string Priority { get; set; } = "";
        public string RiskLevel { get; set; } = "";
        public long Total { get; set; }
        public long Pending { get; set; }
        public long InfoRequested { get; set; }
        public long Approved { get; set; }
        public long Rejected { get; set; }
        public long Expired { get; set; }
        public long Cancelled { get; set; }
        public object? DecisionUs { get; set; }
    }

    private sealed class KeyRow
    {
        public string Id { get; set; } = "";
        public string Name { get; set; } = "";
        public string Prefix { get; set; } = "";
        public string KeyHash { get; set; } = "";
        public string Scopes { get; set; } = "";
        public string? Email { get; set; }
        public long CreatedAt { get; set; }
        public string? CreatedBy { get; set; }
        public long? RevokedAt { get; set; }
        public string? AgentIds { get; set; }

        public ApiKeyRecord ToModel() => new()
        {
            Id = Id,
            Name = Name,
            Prefix = Prefix,
            KeyHash = KeyHash,
            Scopes = Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries),
            Email = Email,
            CreatedAt = TimeConversions.FromUnixMicroseconds(CreatedAt),
            CreatedBy = CreatedBy,
            RevokedAt = TimeConversions.FromUnixMicroseconds(RevokedAt),
            AgentIds = AgentIds is null ? [] : JsonSerializer.Deserialize<string[]>(AgentIds) ?? [],
        };
    }

    private sealed class ChatRow
    {
        public long Id { get; set; }
        public string ApprovalId { get; set; } = "";
        public string Surface { get; set; } = "";
        public string Channel { get; set; } = "";
        public string DeliveryKey { get; set; } = "";
        public string State { get; set; } = "";
        public string? MessageId { get; set; }
        public string? ThreadId { get; set; }
        public string? ConversationId { get; set; }
        public long Attempts { get; set; }
        public string? LastError { get; set; }
        public long ClaimedAt { get; set; }
        public long? PostedAt { get; set; }
        public long UpdatedAt { get; set; }
        public string? ErrorClass { get; set; }
        public string? Body { get; set; }
        public string? ActionName { get; set; }

        public ChatMessage ToModel() => new()
        {
            Id = Id,
            ApprovalId = Guid.Parse(ApprovalId),
            Surface = WireNames.ParseSurface(Surface),
            Channel = Channel,
            DeliveryKey = DeliveryKey,
            State = Enum.Parse<ChatMessageState>(State, ignoreCase: true),
            MessageId = MessageId,
            ThreadId = ThreadId,
            ConversationId = ConversationId,
            Attempts = (int)Attempts,
            LastError = LastError,
            ClaimedAt = TimeConversions.FromUnixMicroseconds(ClaimedAt),
            PostedAt = TimeConversions.FromUnixMicroseconds(PostedAt),
            UpdatedAt = TimeConversions.FromUnixMicroseconds(UpdatedAt),
            ErrorClass = DeliveryErrorClasses.Parse(ErrorClass),
            Body = Body,
        };
    }

    private sealed class ConversationRow
    {
        public string Surface { get; set; } = "";
        public string ConversationId { get; set; } = "";
        public string Kind { get; set; } = "";
        public string? ChannelId { get; set; }
        public string? TeamId { get; set; }
        public string? TenantId { get; set; }
        public string ServiceUrl { get; set; } = "";
        public string? BotId { get; set; }
        public string? UserId { get; set; }
        public long InstalledAt { get; set; }
        public long? RemovedAt { get; set; }

        public ChatConversation ToModel() => new()
        {
            Surface = WireNames.ParseSurface(Surface),
            ConversationId = ConversationId,
            Kind = Kind,
            ChannelId = ChannelId,
            TeamId = TeamId,
            TenantId = TenantId,
            ServiceUrl = ServiceUrl,
            BotId = BotId,
            UserId = UserId,
            InstalledAt = TimeConversions.FromUnixMicroseconds(InstalledAt),
            RemovedAt = TimeConversions.FromUnixMicroseconds(RemovedAt),
        };
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
