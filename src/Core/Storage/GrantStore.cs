using System.Data.Common;
using System.Text.Json;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Grants;
using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>Scoped standing grants. Revocation and use are read from the database at every intake (no cache), so a
/// revocation applies to the next request on every instance.</summary>
public interface IGrantStore
{
    Task<Grant?> GetGrantAsync(Guid id, CancellationToken ct);

    /// <summary>The grant given with the approval of <paramref name="approvalId"/>, if any (at most one is).</summary>
    Task<Grant?> GetGrantBySourceAsync(Guid approvalId, CancellationToken ct);

    /// <summary>Grants newest first: only those still active at <paramref name="now"/>, or all of them.</summary>
    Task<IReadOnlyList<Grant>> ListGrantsAsync(bool activeOnly, DateTimeOffset now, int limit, CancellationToken ct);

    /// <summary>Revokes the grant and records it in the trail of its source request; null when it was revoked already
    /// (or does not exist).</summary>
    Task<Grant?> RevokeGrantAsync(Guid id, Actor actor, DateTimeOffset now, CancellationToken ct);

    /// <summary>Creates <paramref name="request"/> approved by the first live grant that matches <paramref name="probe"/>,
    /// consuming one use and the request's cost with one conditional UPDATE in the same transaction, so concurrent
    /// requests never take a grant past its limits. Null when no grant matched (nothing was written). With an
    /// idempotency key seen before, the original request is returned and no grant is used.</summary>
    Task<CreateResult?> CreateByGrantAsync(ApprovalRequest request, string? requestHash, ApprovalEvent createdEvent, GrantProbe probe, CancellationToken ct);
}

/// <summary>Standing grants: found and spent at intake in the transaction that creates the request they approve.</summary>
public sealed class GrantStore(Database database) : IGrantStore
{
    private const string GrantColumns = """
        id, created_by_email, created_by_key_id, agent_key_id, agent_id, action_name, inputs_hash, expires_at, max_uses, uses,
        max_total_cost_micros, cost_used_micros, revoked_at, revoked_by, route_name, source_approval_id, created_at
        """;

    // A grant is live while it is not revoked, not expired, has a use left and, when it has a cost limit, room for the
    // request's cost (a request without an estimated cost never matches a grant with a cost limit). The granter must
    // still be an approver identity: a revoked key's grants stop with it.
    private const string LiveGrant = """
        revoked_at IS NULL AND expires_at > @now
        AND (max_uses IS NULL OR uses < max_uses)
        AND (max_total_cost_micros IS NULL OR (@cost IS NOT NULL AND cost_used_micros + @cost <= max_total_cost_micros))
        """;

    /// <summary>Which grants a request matches (its agent key and agent id, action, inputs and route) while their granter is
    /// still an approver identity; the policy simulation asks the same question of past requests.</summary>
    internal const string GrantMatchesProbe = """
        agent_key_id = @agentKeyId AND action_name = @actionName
          AND (agent_id = @agentId OR (agent_id IS NULL AND @agentId IS NULL))
          AND (route_name = @routeName OR (route_name IS NULL AND @routeName IS NULL))
          AND (inputs_hash IS NULL OR inputs_hash = @inputsHash)
          AND (created_by_key_id = @bootstrap
               OR EXISTS (SELECT 1 FROM api_keys k WHERE k.id = grants.created_by_key_id AND k.revoked_at IS NULL))
        """;

    private const string FindGrantsSql = $"""
        SELECT {GrantColumns} FROM grants
        WHERE {GrantMatchesProbe}
          AND {LiveGrant}
        ORDER BY CASE WHEN inputs_hash IS NULL THEN 1 ELSE 0 END, expires_at, id
        LIMIT 10
        """;

    // The one statement that spends a grant: it re-checks every limit against the row as it is now (PostgreSQL re-reads
    // a row another transaction just changed; SQLite holds the write lock), so two requests racing for the last use
    // cannot both get it.
    private const string ConsumeGrantSql = $"""
        UPDATE grants SET uses = uses + 1, cost_used_micros = cost_used_micros + @spend
        WHERE id = @id AND {LiveGrant}
        RETURNING {GrantColumns}
        """;

    public async Task<CreateResult?> CreateByGrantAsync(ApprovalRequest request, string? requestHash, ApprovalEvent createdEvent, GrantProbe probe, CancellationToken ct)
    {
        var cost = GrantRules.Micros(probe.Cost);
        var now = probe.Now.ToUnixMicroseconds();
        var find = new
        {
            agentKeyId = probe.AgentKeyId,
            actionName = probe.ActionName,
            agentId = probe.AgentId,
            routeName = probe.RouteName,
            inputsHash = probe.InputsHash,
            now,
            cost,
            bootstrap = ApproverDirectory.BootstrapKeyId,
        };
        await using var connection = await database.OpenAsync(ct);
        // Most requests match no grant: a plain read says so without taking the write lock.
        if (!(await connection.QueryAsync<GrantRow>(new CommandDefinition(FindGrantsSql, find, cancellationToken: ct))).Any())
        {
            return null;
        }
        await using (var tx = await database.BeginWriteAsync(connection, ct))
        {
            var candidates = await connection.QueryAsync<GrantRow>(new CommandDefinition(FindGrantsSql, find, tx, cancellationToken: ct));
            Grant? used = null;
            foreach (var candidate in candidates)
            {
                var row = await connection.QuerySingleOrDefaultAsync<GrantRow>(new CommandDefinition(ConsumeGrantSql,
                    new { id = candidate.Id, now, cost, spend = cost ?? 0 }, tx, cancellationToken: ct));
                if (row is not null)
                {
                    used = row.ToModel();
                    break;
                }
            }
            if (used is null)
            {
                await tx.RollbackAsync(ct);
                return null;
            }
            var (approved, approvedEvent) = GrantRules.Approve(request, used, probe.Now);
            var inserted = await connection.ExecuteAsync(new CommandDefinition(
                ApprovalSql.InsertApprovalSql, ApprovalRow.From(approved, requestHash), tx, cancellationToken: ct));
            if (inserted == 1)
            {
                await ApprovalEventLog.InsertAsync(connection, tx, createdEvent, ct);
                await ApprovalEventLog.InsertAsync(connection, tx, approvedEvent, ct);
                // Created and approved at once: every effect of both, as if they had happened one after the other.
                await OutboxStore.InsertAsync(connection, tx, OutboxKind.Created, approved, approvedEvent.At, ct);
                await OutboxStore.InsertAsync(connection, tx, OutboxKind.Changed, approved, approvedEvent.At, ct, TransitionKind.Approve, GrantRules.Granter(approved));
                if (database.NotifySql is { } notify)
                {
                    await connection.ExecuteAsync(new CommandDefinition(notify, new { id = ApprovalSql.IdText(request.Id) }, tx, cancellationToken: ct));
                }
                await tx.CommitAsync(ct);
                return new CreateResult(CreateOutcome.Created, approved);
            }
            // The idempotency key was used before: the grant is not spent on a replay.
            await tx.RollbackAsync(ct);
        }
        var existing = await connection.QuerySingleAsync<ApprovalRow>(new CommandDefinition(
            ApprovalSql.SelectByIdempotencySql, new { requester = request.RequesterKeyId, key = request.IdempotencyKey }, cancellationToken: ct));
        var outcome = existing.RequestHash == requestHash ? CreateOutcome.Replayed : CreateOutcome.IdempotencyKeyReused;
        return new CreateResult(outcome, existing.ToModel());
    }

    internal static async Task<Grant> InsertGrantAsync(DbConnection connection, DbTransaction tx, Grant grant, Actor actor, CancellationToken ct)
    {
        await connection.ExecuteAsync(new CommandDefinition($"""
            INSERT INTO grants ({GrantColumns})
            VALUES (@Id, @CreatedByEmail, @CreatedByKeyId, @AgentKeyId, @AgentId, @ActionName, @InputsHash, @ExpiresAt, @MaxUses, 0,
                    @MaxTotalCostMicros, 0, NULL, NULL, @RouteName, @SourceApprovalId, @CreatedAt)
            """, new
        {
            Id = ApprovalSql.IdText(grant.Id),
            grant.CreatedByEmail,
            grant.CreatedByKeyId,
            grant.AgentKeyId,
            grant.AgentId,
            grant.ActionName,
            grant.InputsHash,
            ExpiresAt = grant.ExpiresAt.ToUnixMicroseconds(),
            grant.MaxUses,
            MaxTotalCostMicros = GrantRules.Micros(grant.MaxTotalCost),
            grant.RouteName,
            SourceApprovalId = ApprovalSql.IdText(grant.SourceApprovalId),
            CreatedAt = grant.CreatedAt.ToUnixMicroseconds(),
        }, tx, cancellationToken: ct));
        await ApprovalEventLog.InsertAsync(connection, tx, new ApprovalEvent
        {
            ApprovalId = grant.SourceApprovalId,
            Kind = GrantEventKinds.Created,
            At = grant.CreatedAt,
            Actor = actor.AuditName,
            ActorKeyId = actor.KeyId,
            Surface = actor.Surface,
            Details = JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["grant_id"] = grant.Id.ToString(),
                ["match"] = grant.Match == GrantMatch.Action ? "action" : "action_and_inputs",
                ["expires_at"] = grant.ExpiresAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture),
                ["max_uses"] = grant.MaxUses,
                ["max_total_cost"] = grant.MaxTotalCost,
            }),
        }, ct);
        return grant;
    }

    public async Task<Grant?> GetGrantAsync(Guid id, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<GrantRow>(new CommandDefinition(
            $"SELECT {GrantColumns} FROM grants WHERE id = @id", new { id = ApprovalSql.IdText(id) }, cancellationToken: ct));
        return row?.ToModel();
    }

    public async Task<Grant?> GetGrantBySourceAsync(Guid approvalId, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QueryFirstOrDefaultAsync<GrantRow>(new CommandDefinition(
            $"SELECT {GrantColumns} FROM grants WHERE source_approval_id = @id ORDER BY created_at, id LIMIT 1", new { id = ApprovalSql.IdText(approvalId) }, cancellationToken: ct));
        return row?.ToModel();
    }

    public async Task<IReadOnlyList<Grant>> ListGrantsAsync(bool activeOnly, DateTimeOffset now, int limit, CancellationToken ct)
    {
        var where = activeOnly
            ? """
              WHERE revoked_at IS NULL AND expires_at > @now AND (max_uses IS NULL OR uses < max_uses)
                AND (max_total_cost_micros IS NULL OR cost_used_micros < max_total_cost_micros)
              """
            : "";
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<GrantRow>(new CommandDefinition(
            $"SELECT {GrantColumns} FROM grants {where} ORDER BY created_at DESC, id DESC LIMIT @limit",
            new { now = now.ToUnixMicroseconds(), limit }, cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
    }

    public async Task<Grant?> RevokeGrantAsync(Guid id, Actor actor, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var tx = await database.BeginWriteAsync(connection, ct);
        var row = await connection.QuerySingleOrDefaultAsync<GrantRow>(new CommandDefinition($"""
            UPDATE grants SET revoked_at = @at, revoked_by = @by WHERE id = @id AND revoked_at IS NULL
            RETURNING {GrantColumns}
            """, new { id = ApprovalSql.IdText(id), at = now.ToUnixMicroseconds(), by = actor.AuditName }, tx, cancellationToken: ct));
        if (row is null)
        {
            await tx.RollbackAsync(ct);
            return null;
        }
        var grant = row.ToModel();
        await ApprovalEventLog.InsertAsync(connection, tx, new ApprovalEvent
        {
            ApprovalId = grant.SourceApprovalId,
            Kind = GrantEventKinds.Revoked,
            At = now,
            Actor = actor.AuditName,
            ActorKeyId = actor.KeyId,
            Surface = actor.Surface,
            Details = JsonSerializer.Serialize(new Dictionary<string, object?> { ["grant_id"] = grant.Id.ToString(), ["uses"] = grant.Uses }),
        }, ct);
        await tx.CommitAsync(ct);
        return grant;
    }

    private sealed class GrantRow
    {
        public string Id { get; set; } = "";
        public string? CreatedByEmail { get; set; }
        public string CreatedByKeyId { get; set; } = "";
        public string AgentKeyId { get; set; } = "";
        public string? AgentId { get; set; }
        public string ActionName { get; set; } = "";
        public string? InputsHash { get; set; }
        public long ExpiresAt { get; set; }
        public long? MaxUses { get; set; }
        public long Uses { get; set; }
        public long? MaxTotalCostMicros { get; set; }
        public long CostUsedMicros { get; set; }
        public long? RevokedAt { get; set; }
        public string? RevokedBy { get; set; }
        public string? RouteName { get; set; }
        public string SourceApprovalId { get; set; } = "";
        public long CreatedAt { get; set; }

        public Grant ToModel() => new()
        {
            Id = Guid.Parse(Id),
            CreatedByEmail = CreatedByEmail,
            CreatedByKeyId = CreatedByKeyId,
            AgentKeyId = AgentKeyId,
            AgentId = AgentId,
            ActionName = ActionName,
            InputsHash = InputsHash,
            ExpiresAt = TimeConversions.FromUnixMicroseconds(ExpiresAt),
            MaxUses = (int?)MaxUses,
            Uses = (int)Uses,
            MaxTotalCost = MaxTotalCostMicros is { } max ? GrantRules.FromMicros(max) : null,
            CostUsed = GrantRules.FromMicros(CostUsedMicros),
            RevokedAt = TimeConversions.FromUnixMicroseconds(RevokedAt),
            RevokedBy = RevokedBy,
            RouteName = RouteName,
            SourceApprovalId = Guid.Parse(SourceApprovalId),
            CreatedAt = TimeConversions.FromUnixMicroseconds(CreatedAt),
        };
    }
}
