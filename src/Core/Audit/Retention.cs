using System.Security.Cryptography;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using Dapper;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Core.Audit;

/// <summary>The <c>AgentSentinel:Retention</c> configuration section.</summary>
public sealed class RetentionOptions
{
    public const string SectionName = "AgentSentinel:Retention";

    /// <summary>Requests decided (approved, rejected, expired, cancelled) more than this many days ago are deleted, with
    /// their events, chat messages, callbacks and finished grants. Unset: nothing is ever deleted.</summary>
    public int? DecidedDays { get; set; }

    /// <summary>A PEM file with the ECDSA P-256 private key that signs retention checkpoints; required with
    /// <see cref="DecidedDays"/>. Give auditors the public key (<c>openssl ec -in key.pem -pubout</c>).</summary>
    public string? SigningKeyFile { get; set; }

    /// <summary>Hangfire cron of the retention job (UTC).</summary>
    public string Cron { get; set; } = "17 3 * * *";
}

public sealed class RetentionOptionsValidator : IValidateOptions<RetentionOptions>
{
    public ValidateOptionsResult Validate(string? name, RetentionOptions options)
    {
        if (options.DecidedDays is null)
        {
            return ValidateOptionsResult.Success;
        }
        if (options.DecidedDays < 1)
        {
            return ValidateOptionsResult.Fail($"AgentSentinel:Retention:DecidedDays must be at least 1 day, got {options.DecidedDays}.");
        }
        if (!CronText.LooksValid(options.Cron))
        {
            return ValidateOptionsResult.Fail($"AgentSentinel:Retention:Cron '{options.Cron}' is not a cron expression (five fields, or six with seconds, e.g. '17 3 * * *').");
        }
        if (string.IsNullOrWhiteSpace(options.SigningKeyFile))
        {
            return ValidateOptionsResult.Fail("AgentSentinel:Retention:SigningKeyFile is required when AgentSentinel:Retention:DecidedDays is set: retention checkpoints are signed.");
        }
        try
        {
            using var key = RetentionSigner.Load(options.SigningKeyFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or CryptographicException)
        {
            return ValidateOptionsResult.Fail($"AgentSentinel:Retention:SigningKeyFile must be a readable PEM file with an ECDSA P-256 private key: {e.Message}");
        }
        return ValidateOptionsResult.Success;
    }
}

public static class RetentionSigner
{
    public static ECDsa Load(string file)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(file));
            if (key.KeySize != 256)
            {
                throw new CryptographicException($"the key has {key.KeySize} bits; a P-256 key is needed");
            }
            _ = key.ExportParameters(includePrivateParameters: true);
            return key;
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }
}

/// <summary>Deletes requests decided longer ago than <see cref="RetentionOptions.DecidedDays"/>. The audit chain can
/// only lose a prefix and still verify, so each run deletes the longest prefix of the chain whose events all belong to
/// requests that may go (a request still open, recent or the source of a live grant stops it there until it may go
/// too), keeps their statistics columns in <c>retired_approvals</c>, and writes a checkpoint signed with the server's
/// key naming the last deleted event's seq and hash: the first remaining event's previous hash.</summary>
public sealed class RetentionService(Database database, AuditStore audit, Notifications.ApprovalChangeHub hub, IOptionsMonitor<RetentionOptions> options, TimeProvider time, ILogger<RetentionService> logger)
{
    public const string RecurringJobId = "audit-retention";

    /// <summary>Requests considered per batch.</summary>
    public const int BatchSize = 500;

    private const string PrefixSql = """
        SELECT approval_id, MIN(seq) AS first_seq, MAX(seq) AS last_seq FROM approval_events
        WHERE seq IS NOT NULL GROUP BY approval_id ORDER BY MIN(seq) LIMIT @limit
        """;

    private const string EligibleSql = """
        SELECT a.id FROM approvals a
        WHERE a.id IN {ids} AND a.status IN ('approved', 'rejected', 'expired', 'cancelled') AND a.decided_at < @cutoff
          AND NOT EXISTS (SELECT 1 FROM approval_events u WHERE u.approval_id = a.id AND u.seq IS NULL)
          AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.source_approval_id = a.id AND g.revoked_at IS NULL AND g.expires_at > @now)
        """;

    private static readonly string[] DeleteSql =
    [
        """
        INSERT INTO retired_approvals (id, created_at, expires_at, decided_at, status, priority, risk_level, route_name)
        SELECT id, created_at, expires_at, decided_at, status, priority, risk_level, route_name FROM approvals WHERE id IN {ids}
        """,
        "DELETE FROM callback_attempts WHERE delivery_id IN (SELECT id FROM callback_deliveries WHERE approval_id IN {ids})",
        "DELETE FROM callback_deliveries WHERE approval_id IN {ids}",
        "DELETE FROM chat_messages WHERE approval_id IN {ids}",
        "DELETE FROM grants WHERE source_approval_id IN {ids}",
        "DELETE FROM approval_votes WHERE approval_id IN {ids}",
        "DELETE FROM approval_events WHERE approval_id IN {ids}",
        "DELETE FROM approvals WHERE id IN {ids}",
    ];

    /// <summary>PostgreSQL: a notification per request about to be deleted (sent at the commit), so the other
    /// instances drop them from their caches of final states.</summary>
    private const string DeletedNotifySql = $$"""
        SELECT count(*) FROM (SELECT pg_notify('{{PostgresDatabase.ChangeChannel}}', '{{PostgresDatabase.DeletedPrefix}}' || id) FROM approvals WHERE id IN {ids}) notified
        """;

    /// <summary>An <c>IN</c> list of parameters (<c>(@i0, @i1, …)</c>), the same text on PostgreSQL and SQLite.</summary>
    private static (DynamicParameters Parameters, string List) InList(IReadOnlyList<string> values)
    {
        var parameters = new DynamicParameters();
        for (var i = 0; i < values.Count; i++)
        {
            parameters.Add($"i{i}", values[i]);
        }
        return (parameters, "(" + string.Join(", ", values.Select((_, i) => $"@i{i}")) + ")");
    }

    private sealed class PrefixRow
    {
        public string ApprovalId { get; init; } = "";
        public long FirstSeq { get; init; }
        public long LastSeq { get; init; }
    }

    /// <summary>Runs retention to the end; returns how many requests were deleted.</summary>
    public async Task<int> RunAsync(CancellationToken ct)
    {
        var settings = options.CurrentValue;
        if (settings.DecidedDays is not { } days)
        {
            return 0;
        }
        using var key = RetentionSigner.Load(settings.SigningKeyFile!);
        await audit.SealAsync(ct);
        var total = 0;
        while (true)
        {
            var deleted = await RetireBatchAsync(days, key, ct);
            total += deleted;
            if (deleted == 0)
            {
                break;
            }
        }
        if (total > 0)
        {
            Log.RetentionDeleted(logger, total, days);
        }
        return total;
    }

    private async Task<int> RetireBatchAsync(int days, ECDsa key, CancellationToken ct)
    {
        var now = time.GetUtcNow().TruncateToMicroseconds();
        var cutoff = now.AddDays(-days);
        await using var connection = await database.OpenAsync(ct);
        await using var tx = await database.BeginWriteAsync(connection, ct);
        await audit.LockChainAsync(connection, tx, ct);
        var prefix = (await connection.QueryAsync<PrefixRow>(new CommandDefinition(PrefixSql, new { limit = BatchSize + 1 }, tx, cancellationToken: ct))).ToList();
        if (prefix.Count == 0)
        {
            return 0;
        }
        var (candidates, candidateList) = InList([.. prefix.Take(BatchSize).Select(p => p.ApprovalId)]);
        candidates.Add("cutoff", cutoff.ToUnixMicroseconds());
        candidates.Add("now", now.ToUnixMicroseconds());
        var eligible = (await connection.QueryAsync<string>(new CommandDefinition(EligibleSql.Replace("{ids}", candidateList, StringComparison.Ordinal),
            candidates, tx, cancellationToken: ct))).ToHashSet(StringComparer.Ordinal);

        // The longest run of eligible requests from the chain's start whose events no other request's events interleave.
        var (cut, lastSeq, highest) = (-1, 0L, 0L);
        for (var i = 0; i < Math.Min(prefix.Count, BatchSize) && eligible.Contains(prefix[i].ApprovalId); i++)
        {
            highest = Math.Max(highest, prefix[i].LastSeq);
            var next = i + 1 < prefix.Count ? prefix[i + 1] : null;
            if (next is null ? prefix.Count <= BatchSize : highest < next.FirstSeq)
            {
                (cut, lastSeq) = (i, highest);
            }
        }
        if (cut < 0)
        {
            return 0;
        }
        string[] ids = [.. prefix.Take(cut + 1).Select(p => p.ApprovalId)];
        var (idParameters, idList) = InList(ids);
        var hash = await connection.ExecuteScalarAsync<string>(new CommandDefinition("SELECT hash FROM approval_events WHERE seq = @seq", new { seq = lastSeq }, tx, cancellationToken: ct));
        var events = await connection.ExecuteScalarAsync<long>(new CommandDefinition($"SELECT COUNT(*) FROM approval_events WHERE approval_id IN {idList}", idParameters, tx, cancellationToken: ct));
        // The checkpoint first: the events' trigger lets only events a checkpoint covers be deleted.
        var at = AuditChain.FormatTime(now);
        var signature = Convert.ToBase64String(key.SignData(System.Text.Encoding.UTF8.GetBytes(AuditChain.CheckpointText(lastSeq, hash!, at, ids.Length, events)), HashAlgorithmName.SHA256));
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO audit_checkpoints (seq, hash, at, deleted_requests, deleted_events, key_id, signature)
            VALUES (@seq, @hash, @at, @requests, @events, @keyId, @signature)
            """, new { seq = lastSeq, hash, at = now.ToUnixMicroseconds(), requests = (long)ids.Length, events, keyId = AuditChain.KeyId(key), signature }, tx, cancellationToken: ct));
        IEnumerable<string> statements = database is PostgresDatabase ? [DeletedNotifySql, .. DeleteSql] : DeleteSql;
        foreach (var sql in statements)
        {
            await connection.ExecuteAsync(new CommandDefinition(sql.Replace("{ids}", idList, StringComparison.Ordinal), idParameters, tx, cancellationToken: ct));
        }
        await tx.CommitAsync(ct);
        hub.Deleted([.. ids.Select(Guid.Parse)]);
        return ids.Length;
    }
}
