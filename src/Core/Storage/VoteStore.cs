using System.Data.Common;
using System.Text.Json;
using AgentSentinel.Core.Approvals;
using Dapper;
using static AgentSentinel.Core.Storage.ApprovalSql;

namespace AgentSentinel.Core.Storage;

/// <summary>Quorum votes (<see cref="Routing.RouteDefinition.Quorum"/>): each approve or reject on a quorum request is
/// recorded in <c>approval_votes</c> inside the transition's own transaction, under the request's write lock, so the
/// vote, its event, the request's copy of the votes and its outbox entry commit together, and two last votes cast at
/// once produce exactly one decision.</summary>
public sealed class VoteStore(Database database)
{
    private const string InsertVoteSql = """
        INSERT INTO approval_votes (approval_id, person, seq, choice, name, email, user_id, key_id, surface, at, notes, on_behalf_of)
        VALUES (@approvalId, @person, @seq, @choice, @name, @email, @userId, @keyId, @surface, @at, @notes, @onBehalfOf)
        ON CONFLICT (approval_id, person) DO NOTHING
        """;

    private const string SelectVotesSql = """
        SELECT person, choice, name, email, user_id, key_id, surface, at, notes, on_behalf_of
        FROM approval_votes WHERE approval_id = @id ORDER BY seq
        """;

    private const string CountVoteSql = $"""
        UPDATE approvals SET votes = @votes, version = version + 1, updated_at = @now
        WHERE id = @id AND status IN {OpenStatuses} AND expires_at > @now
        RETURNING {Columns}
        """;

    /// <summary>Records <paramref name="command"/>'s ballot (the caller holds the request's write lock and took
    /// <paramref name="at"/> under it). Returns a finished result (the transaction committed or rolled back) when the
    /// vote was refused or only counted; otherwise the command to apply in the same transaction: unchanged when the
    /// request's state refuses any decision (the conditional update explains why) or for a veto, and for the approval
    /// that completes the quorum, with the joined notes of every approver.</summary>
    internal static async Task<(TransitionResult? Result, TransitionCommand Command)> CastAsync(
        Database database, DbConnection connection, DbTransaction tx, TransitionCommand command, DateTimeOffset at, CancellationToken ct)
    {
        var id = IdText(command.Id);
        var current = (await connection.QuerySingleOrDefaultAsync<ApprovalRow>(new CommandDefinition(
            $"SELECT {Columns} FROM approvals WHERE id = @id", new { id }, tx, cancellationToken: ct)))?.ToModel();
        if (current?.RoutePlan?.Quorum is not { } rule || current.IsTerminal || at >= current.ExpiresAt
            || command.Kind is not (TransitionKind.Approve or TransitionKind.Reject)
            || DecisionRule.IsRequester(current, command.Actor))
        {
            return (null, command);
        }
        var vote = new QuorumVote(
            command.Ballot!.Person,
            command.Kind == TransitionKind.Approve ? VoteChoice.Approve : VoteChoice.Reject,
            command.Actor.DisplayName,
            command.Actor.Email,
            command.Actor.UserId,
            command.Actor.KeyId,
            command.Actor.Surface,
            at,
            command.Text,
            command.Actor.OnBehalfOf);
        var inserted = await connection.ExecuteAsync(new CommandDefinition(InsertVoteSql, new
        {
            approvalId = id,
            person = vote.Person,
            // Votes are numbered in the order they were cast (under the request's lock).
            seq = current.Votes.Count + 1,
            choice = vote.Choice == VoteChoice.Approve ? "approve" : "reject",
            name = vote.Name,
            email = vote.Email,
            userId = vote.UserId,
            keyId = vote.KeyId,
            surface = vote.Surface.ToWire(),
            at = at.ToUnixMicroseconds(),
            notes = vote.Notes,
            onBehalfOf = vote.OnBehalfOf,
        }, tx, cancellationToken: ct));
        if (inserted == 0)
        {
            await tx.RollbackAsync(ct);
            return (new TransitionResult(TransitionOutcome.AlreadyVoted, current.AsOf(at)), command);
        }
        var votes = await ReadVotesAsync(connection, tx, command.Id, ct);
        var progress = QuorumTally.Of(rule, votes);
        await ApprovalEventLog.InsertAsync(connection, tx, new ApprovalEvent
        {
            ApprovalId = command.Id,
            Kind = EventKinds.Voted,
            At = at,
            Actor = command.Actor.AuditName,
            ActorKeyId = command.Actor.KeyId,
            Surface = command.Actor.Surface,
            Details = JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["choice"] = vote.Choice == VoteChoice.Approve ? "approve" : "reject",
                ["notes"] = vote.Notes,
                ["approvals"] = progress.Approvals.Count,
                ["required"] = progress.Required,
                ["quorum"] = progress.Summary,
            }),
        }, ct);
        if (vote.Choice == VoteChoice.Reject || progress.Reached)
        {
            // The veto or the deciding approval: the transition that follows returns the row with these votes.
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE approvals SET votes = @votes WHERE id = @id", new { id, votes = VoteJson.Write(votes) }, tx, cancellationToken: ct));
            return (null, vote.Choice == VoteChoice.Reject ? command : command with { Text = QuorumTally.JoinedNotes(progress.Approvals) });
        }
        var row = await connection.QuerySingleAsync<ApprovalRow>(new CommandDefinition(CountVoteSql, new
        {
            id,
            votes = VoteJson.Write(votes),
            now = at.ToUnixMicroseconds(),
        }, tx, cancellationToken: ct));
        var counted = row.ToModel();
        // The same effect as any change: every surface redraws the request with the quorum's progress.
        await OutboxStore.InsertAsync(connection, tx, OutboxKind.Changed, counted, at, ct, command.Kind, command.Actor);
        if (database.NotifySql is { } notify)
        {
            await connection.ExecuteAsync(new CommandDefinition(notify, new { id }, tx, cancellationToken: ct));
        }
        await tx.CommitAsync(ct);
        return (new TransitionResult(TransitionOutcome.Applied, counted) { VoteOnly = true }, command);
    }

    /// <summary>The votes recorded for a request in <c>approval_votes</c>, oldest first (the request carries a copy).</summary>
    public async Task<IReadOnlyList<QuorumVote>> ListVotesAsync(Guid approvalId, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await ReadVotesAsync(connection, null, approvalId, ct);
    }

    private static async Task<IReadOnlyList<QuorumVote>> ReadVotesAsync(DbConnection connection, DbTransaction? tx, Guid approvalId, CancellationToken ct)
    {
        var rows = await connection.QueryAsync<VoteRow>(new CommandDefinition(SelectVotesSql, new { id = IdText(approvalId) }, tx, cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
    }

    private sealed class VoteRow
    {
        public string Person { get; set; } = "";
        public string Choice { get; set; } = "";
        public string Name { get; set; } = "";
        public string? Email { get; set; }
        public string? UserId { get; set; }
        public string? KeyId { get; set; }
        public string Surface { get; set; } = "";
        public long At { get; set; }
        public string? Notes { get; set; }
        public string? OnBehalfOf { get; set; }

        public QuorumVote ToModel() => new(Person, Choice == "reject" ? VoteChoice.Reject : VoteChoice.Approve, Name, Email, UserId, KeyId,
            WireNames.ParseSurface(Surface), TimeConversions.FromUnixMicroseconds(At), Notes, OnBehalfOf);
    }
}

/// <summary>The request's copy of its votes (<c>approvals.votes</c>), as JSON.</summary>
internal static class VoteJson
{
    private sealed record Item(string Person, string Choice, string Name, string? Email, string? UserId, string? KeyId, string Surface, long At, string? Notes, string? OnBehalfOf);

    public static string? Write(IReadOnlyList<QuorumVote> votes) => votes.Count == 0 ? null : JsonSerializer.Serialize(votes.Select(v =>
        new Item(v.Person, v.Choice == VoteChoice.Reject ? "reject" : "approve", v.Name, v.Email, v.UserId, v.KeyId, v.Surface.ToWire(), v.At.ToUnixMicroseconds(), v.Notes, v.OnBehalfOf)));

    public static IReadOnlyList<QuorumVote> Read(string? json) => json is null
        ? []
        : [.. (JsonSerializer.Deserialize<Item[]>(json) ?? []).Select(i => new QuorumVote(i.Person, i.Choice == "reject" ? VoteChoice.Reject : VoteChoice.Approve,
            i.Name, i.Email, i.UserId, i.KeyId, WireNames.ParseSurface(i.Surface), TimeConversions.FromUnixMicroseconds(i.At), i.Notes, i.OnBehalfOf))];
}
