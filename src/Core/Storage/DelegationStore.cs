using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using Dapper;
using DelegationRecord = AgentSentinel.Core.Delegation.Delegation;

namespace AgentSentinel.Core.Storage;

/// <summary>The result of storing a delegation: saved, or refused because it would make a chain with the delegation
/// named in <see cref="Conflict"/>.</summary>
public sealed record DelegationWrite(bool Saved, DelegationRecord? Conflict, bool DelegateIsAway);

public interface IDelegationStore
{
    /// <summary>Stores the person's delegation (replacing theirs), unless it would make a chain with a delegation that
    /// has not ended at <paramref name="now"/>: the delegate being away in an overlapping period, or the person standing
    /// in for someone else then. The check and the write are one transaction, serialized with other delegation writes.</summary>
    Task<DelegationWrite> PutAsync(DelegationRecord delegation, DateTimeOffset now, CancellationToken ct);

    Task<DelegationRecord?> GetAsync(string delegatorEmail, CancellationToken ct);

    /// <summary>Removes the person's delegation; false when they had none.</summary>
    Task<bool> DeleteAsync(string delegatorEmail, CancellationToken ct);

    /// <summary>Delegations to this person that run at <paramref name="now"/>.</summary>
    Task<IReadOnlyList<DelegationRecord>> ActiveForDelegateAsync(string delegateEmail, DateTimeOffset now, CancellationToken ct);

    /// <summary>Delegations to this person that have not ended at <paramref name="now"/> (running or planned), soonest first.</summary>
    Task<IReadOnlyList<DelegationRecord>> UnendedForDelegateAsync(string delegateEmail, DateTimeOffset now, CancellationToken ct);

    /// <summary>Delegations running at <paramref name="now"/> whose delegator is one of <paramref name="people"/> (by
    /// email, case-insensitively, or by Slack user id).</summary>
    Task<IReadOnlyList<DelegationRecord>> ActiveForDelegatorsAsync(IReadOnlyCollection<string> people, DateTimeOffset now, CancellationToken ct);
}

/// <summary>Delegations on PostgreSQL and SQLite, with the same statements on both.</summary>
public sealed class DelegationStore(Database database) : IDelegationStore
{
    private const string Columns = "delegator_email, delegate_email, starts_at, ends_at, delegator_slack_id, delegate_slack_id, set_via, set_at";

    public async Task<DelegationWrite> PutAsync(DelegationRecord d, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var tx = await database.BeginWriteAsync(connection, ct);
        if (database.Provider == StorageProvider.Postgres)
        {
            // One delegation write at a time, so two people cannot make a chain by delegating to each other at once.
            await connection.ExecuteAsync(new CommandDefinition("LOCK TABLE delegations IN SHARE ROW EXCLUSIVE MODE", transaction: tx, cancellationToken: ct));
        }
        static string Overlapping(string column) => $"""
            SELECT {Columns} FROM delegations
            WHERE {column} = @person AND delegator_email <> @delegator AND ends_at > @now AND starts_at < @ends AND ends_at > @starts
            ORDER BY starts_at LIMIT 1
            """;
        var args = new { person = d.DelegateEmail, delegator = d.DelegatorEmail, now = now.ToUnixMicroseconds(), starts = d.StartsAt.ToUnixMicroseconds(), ends = d.EndsAt.ToUnixMicroseconds() };
        var away = await connection.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            Overlapping("delegator_email"), args, tx, cancellationToken: ct));
        if (away is not null)
        {
            await tx.RollbackAsync(ct);
            return new DelegationWrite(false, away.ToModel(), DelegateIsAway: true);
        }
        var standingIn = await connection.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            Overlapping("delegate_email"), args with { person = d.DelegatorEmail }, tx, cancellationToken: ct));
        if (standingIn is not null)
        {
            await tx.RollbackAsync(ct);
            return new DelegationWrite(false, standingIn.ToModel(), DelegateIsAway: false);
        }
        await connection.ExecuteAsync(new CommandDefinition($"""
            INSERT INTO delegations ({Columns})
            VALUES (@DelegatorEmail, @DelegateEmail, @StartsAt, @EndsAt, @DelegatorSlackId, @DelegateSlackId, @SetVia, @SetAt)
            ON CONFLICT (delegator_email) DO UPDATE SET delegate_email = excluded.delegate_email, starts_at = excluded.starts_at,
                ends_at = excluded.ends_at, delegator_slack_id = excluded.delegator_slack_id, delegate_slack_id = excluded.delegate_slack_id,
                set_via = excluded.set_via, set_at = excluded.set_at
            """, Row.From(d), tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return new DelegationWrite(true, null, false);
    }

    public async Task<DelegationRecord?> GetAsync(string delegatorEmail, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM delegations WHERE delegator_email = @email", new { email = Normalize(delegatorEmail) }, cancellationToken: ct));
        return row?.ToModel();
    }

    public async Task<bool> DeleteAsync(string delegatorEmail, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM delegations WHERE delegator_email = @email", new { email = Normalize(delegatorEmail) }, cancellationToken: ct)) > 0;
    }

    public Task<IReadOnlyList<DelegationRecord>> UnendedForDelegateAsync(string delegateEmail, DateTimeOffset now, CancellationToken ct) =>
        ForDelegateAsync(delegateEmail, now, "ends_at > @now ORDER BY starts_at, delegator_email", ct);

    public Task<IReadOnlyList<DelegationRecord>> ActiveForDelegateAsync(string delegateEmail, DateTimeOffset now, CancellationToken ct) =>
        ForDelegateAsync(delegateEmail, now, "starts_at <= @now AND ends_at > @now ORDER BY delegator_email", ct);

    /// <summary>The delegations to a person that meet <paramref name="condition"/> (a fixed SQL text with its order).</summary>
    private async Task<IReadOnlyList<DelegationRecord>> ForDelegateAsync(string delegateEmail, DateTimeOffset now, string condition, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM delegations WHERE delegate_email = @email AND {condition}",
            new { email = Normalize(delegateEmail), now = now.ToUnixMicroseconds() }, cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
    }

    public async Task<IReadOnlyList<DelegationRecord>> ActiveForDelegatorsAsync(IReadOnlyCollection<string> people, DateTimeOffset now, CancellationToken ct)
    {
        if (people.Count == 0)
        {
            return [];
        }
        // Dapper expands a list for SQLite; Npgsql takes the array as one parameter.
        var (emailIn, slackIn) = database.Provider == StorageProvider.Postgres
            ? ("delegator_email = ANY(@emails)", "delegator_slack_id = ANY(@ids)")
            : ("delegator_email IN @emails", "delegator_slack_id IN @ids");
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM delegations WHERE ({emailIn} OR {slackIn}) AND starts_at <= @now AND ends_at > @now ORDER BY delegator_email",
            new { emails = people.Select(Normalize).Distinct().ToArray(), ids = people.Distinct().ToArray(), now = now.ToUnixMicroseconds() },
            cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
    }

    public static string Normalize(string email) => email.Trim().ToLowerInvariant();

    private sealed record Row
    {
        public string DelegatorEmail { get; init; } = "";
        public string DelegateEmail { get; init; } = "";
        public long StartsAt { get; init; }
        public long EndsAt { get; init; }
        public string? DelegatorSlackId { get; init; }
        public string? DelegateSlackId { get; init; }
        public string SetVia { get; init; } = "";
        public long SetAt { get; init; }

        public static Row From(DelegationRecord d) => new()
        {
            DelegatorEmail = Normalize(d.DelegatorEmail),
            DelegateEmail = Normalize(d.DelegateEmail),
            StartsAt = d.StartsAt.ToUnixMicroseconds(),
            EndsAt = d.EndsAt.ToUnixMicroseconds(),
            DelegatorSlackId = d.DelegatorSlackId,
            DelegateSlackId = d.DelegateSlackId,
            SetVia = d.SetVia.ToWire(),
            SetAt = d.SetAt.ToUnixMicroseconds(),
        };

        public DelegationRecord ToModel() => new()
        {
            DelegatorEmail = DelegatorEmail,
            DelegateEmail = DelegateEmail,
            StartsAt = TimeConversions.FromUnixMicroseconds(StartsAt),
            EndsAt = TimeConversions.FromUnixMicroseconds(EndsAt),
            DelegatorSlackId = DelegatorSlackId,
            DelegateSlackId = DelegateSlackId,
            SetVia = WireNames.ParseSurface(SetVia),
            SetAt = TimeConversions.FromUnixMicroseconds(SetAt),
        };
    }
}
