using System.Data.Common;
using AgentSentinel.Core.Approvals;
using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>The audit trail of each request: appended in the transaction of the change it records, read in order.</summary>
public sealed class ApprovalEventLog(Database database)
{
    private const string InsertEventSql = """
        INSERT INTO approval_events (approval_id, kind, at, actor, actor_key_id, surface, details)
        VALUES (@ApprovalId, @Kind, @At, @Actor, @ActorKeyId, @Surface, @Details)
        """;

    internal static Task InsertAsync(DbConnection connection, DbTransaction? tx, ApprovalEvent e, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(InsertEventSql, new
        {
            ApprovalId = ApprovalSql.IdText(e.ApprovalId),
            e.Kind,
            At = e.At.ToUnixMicroseconds(),
            e.Actor,
            e.ActorKeyId,
            Surface = e.Surface.ToWire(),
            e.Details,
        }, tx, cancellationToken: ct));

    public async Task AppendAsync(ApprovalEvent approvalEvent, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await InsertAsync(connection, null, approvalEvent, ct);
    }

    public async Task<IReadOnlyList<ApprovalEvent>> ListAsync(Guid id, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<EventRow>(new CommandDefinition(
            "SELECT id, approval_id, kind, at, actor, actor_key_id, surface, details FROM approval_events WHERE approval_id = @id ORDER BY id",
            new { id = ApprovalSql.IdText(id) }, cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
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
}
