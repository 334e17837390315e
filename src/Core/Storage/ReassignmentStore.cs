using System.Text.Json;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Routing;
using Dapper;
using static AgentSentinel.Core.Storage.ApprovalSql;

namespace AgentSentinel.Core.Storage;

/// <summary>Records a reassignment: while the request is open and before its deadline, one conditional UPDATE under
/// the request's lock sets where it went (and, for a person, makes them its one approver), appends the
/// <c>reassigned</c> event and the outbox entry that posts it there, in one transaction. Null when the request was no
/// longer open when the lock was held.</summary>
public sealed class ReassignmentStore(Database database, TimeProvider time)
{
    public async Task<ApprovalRequest?> ReassignAsync(Guid approvalId, Reassignment target, Actor actor, CancellationToken ct)
    {
        var id = IdText(approvalId);
        await using var connection = await database.OpenAsync(ct);
        await using var tx = await database.BeginWriteAsync(connection, ct);
        if (database.LockApprovalSql is { } lockSql)
        {
            await connection.ExecuteAsync(new CommandDefinition(lockSql, new { id }, tx, cancellationToken: ct));
        }
        var at = time.GetUtcNow().TruncateToMicroseconds();
        target = target with { At = at };
        var setApprovers = target.PersonEmail is null ? "" : ", approvers = @approvers";
        var row = await connection.QuerySingleOrDefaultAsync<ApprovalRow>(new CommandDefinition($"""
            UPDATE approvals SET reassigned_to = @target, version = version + 1, updated_at = @now{setApprovers}
            WHERE id = @id AND {IsOpen}
            RETURNING {Columns}
            """, new
        {
            id,
            now = at.ToUnixMicroseconds(),
            target = JsonSerializer.Serialize(target, Configuration.SettingsJson.Options),
            approvers = target.PersonEmail is null ? null : JsonSerializer.Serialize(new[] { target.PersonEmail }),
        }, tx, cancellationToken: ct));
        if (row is null)
        {
            await tx.RollbackAsync(ct);
            return null;
        }
        var changed = row.ToModel();
        await ApprovalEventLog.InsertAsync(connection, tx, new ApprovalEvent
        {
            ApprovalId = approvalId,
            Kind = EventKinds.Reassigned,
            At = at,
            Actor = actor.AuditName,
            ActorKeyId = actor.KeyId,
            Surface = actor.Surface,
            Details = JsonSerializer.Serialize(new Dictionary<string, string?>
            {
                ["to_email"] = target.PersonEmail,
                ["slack_channel"] = target.SlackChannel,
                ["teams_channel"] = target.TeamsChannel,
                ["note"] = target.Note,
                ["on_behalf_of"] = target.OnBehalfOf,
            }.Where(kv => kv.Value is not null).ToDictionary()),
        }, ct);
        var level = new EscalationLevel
        {
            Slack = target.SlackChannel is { } slack ? new ChannelTarget { Channel = slack } : target.PersonSlackId is { } dm ? new ChannelTarget { Channel = dm } : null,
            Teams = target.TeamsChannel is { } teams ? new ChannelTarget { Channel = teams } : null,
            Mention = target.PersonSlackId is { } person ? [person] : target.PersonEmail is { } email ? [email] : [],
        };
        var followUp = new FollowUp(FollowUpKind.Reassignment, changed.Version, at, level) { Reassignment = target };
        await OutboxStore.InsertAsync(connection, tx, OutboxKind.FollowUp, changed, at, ct, followUp: followUp);
        if (database.NotifySql is { } notify)
        {
            await connection.ExecuteAsync(new CommandDefinition(notify, new { id }, tx, cancellationToken: ct));
        }
        await tx.CommitAsync(ct);
        return changed;
    }
}
