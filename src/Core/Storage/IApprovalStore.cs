using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Stats;

namespace AgentSentinel.Core.Storage;

/// <summary>Approval requests and their audit trail. Every state change is one conditional statement.</summary>
public interface IApprovalStore
{
    /// <summary>Inserts the request and its <c>created</c> event; with an idempotency key, a second insert for the
    /// same requester and key returns the first request instead. With <paramref name="configVersion"/>, nothing is
    /// stored (<see cref="CreateOutcome.ConfigChanged"/>) unless the stored version of keys and settings is still that one.</summary>
    Task<CreateResult> CreateAsync(ApprovalRequest request, string? requestHash, ApprovalEvent createdEvent, long? configVersion, CancellationToken ct);

    /// <summary>As <see cref="CreateAsync(ApprovalRequest, string?, ApprovalEvent, long?, CancellationToken)"/>, whatever the
    /// configuration version.</summary>
    Task<CreateResult> CreateAsync(ApprovalRequest request, string? requestHash, ApprovalEvent createdEvent, CancellationToken ct) =>
        CreateAsync(request, requestHash, createdEvent, null, ct);

    Task<ApprovalRequest?> GetAsync(Guid id, CancellationToken ct);

    /// <summary>Applies a transition if, and only if, the request is in a state it starts from and (except for
    /// expiry) its deadline has not passed; records the event in the same transaction.</summary>
    Task<TransitionResult> TransitionAsync(TransitionCommand command, CancellationToken ct);

    Task<IReadOnlyList<ApprovalEvent>> GetEventsAsync(Guid id, CancellationToken ct);

    Task AppendEventAsync(ApprovalEvent approvalEvent, CancellationToken ct);

    Task<ApprovalPage> ListAsync(ApprovalQuery query, DateTimeOffset now, CancellationToken ct);

    /// <summary>Ids of open requests whose deadline is at or before <paramref name="now"/>, oldest deadline first.</summary>
    Task<IReadOnlyList<Guid>> ListDueForExpiryAsync(DateTimeOffset now, int limit, CancellationToken ct);

    /// <summary>Expires up to <paramref name="limit"/> open requests past their deadline (oldest deadline first), each with
    /// its <c>expired</c> event and outbox entry, as one transaction on PostgreSQL; a request a decision changed first is
    /// left alone. Returns the requests it expired.</summary>
    Task<IReadOnlyList<ApprovalRequest>> ExpireDueAsync(int limit, CancellationToken ct);

    /// <summary>The earliest deadline of an open request (past or future), from the open-deadline index; null when none is open.</summary>
    Task<DateTimeOffset?> NextDeadlineAsync(CancellationToken ct);

    /// <summary>Records a reminder or an escalation level, once: only if the counter still has the expected value and
    /// the request is open and before its deadline. Appends the event in the same transaction.</summary>
    Task<ApprovalRequest?> AdvanceFollowUpAsync(FollowUpAdvance advance, CancellationToken ct);

    /// <summary>Open requests whose next follow-up is due.</summary>
    Task<IReadOnlyList<Guid>> ListDueFollowUpsAsync(DateTimeOffset now, int limit, CancellationToken ct);

    Task<ApprovalStats> GetStatsAsync(DateTimeOffset from, DateTimeOffset to, DateTimeOffset now, CancellationToken ct);
}

/// <summary>A reminder or escalation level to record: <paramref name="FollowUp"/> is the one being sent (its effects go
/// to the outbox with it), <paramref name="Expected"/> the counter's value it starts from.</summary>
public sealed record FollowUpAdvance(
    Guid Id, FollowUp FollowUp, int Expected, DateTimeOffset? NextFollowUpAt, IReadOnlyList<string>? Approvers, ApprovalEvent Event)
{
    public FollowUpKind Kind => FollowUp.Kind;

    public int Number => FollowUp.Number;
}

public sealed record ApprovalQuery
{
    public ApprovalStatus? Status { get; init; }
    public Priority? Priority { get; init; }
    public RiskLevel? RiskLevel { get; init; }
    public string? AgentId { get; init; }
    public string? ActionName { get; init; }
    /// <summary>Only requests created by this API key; null for all.</summary>
    public string? RequesterKeyId { get; init; }
    /// <summary>Continue after this position of the previous page.</summary>
    public ApprovalCursor? After { get; init; }
    public int Limit { get; init; } = 50;
}

public sealed record ApprovalPage(IReadOnlyList<ApprovalRequest> Items, ApprovalCursor? Next);

/// <summary>A position in the newest-first listing: creation time, then id for requests created in the same microsecond.
/// On the wire it is the opaque text <c>{microseconds}.{id}</c>.</summary>
public readonly record struct ApprovalCursor(DateTimeOffset CreatedAt, Guid Id)
{
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{CreatedAt.ToUnixMicroseconds()}.{Id:N}");

    public static bool TryParse(string? text, out ApprovalCursor cursor)
    {
        cursor = default;
        var dot = text?.IndexOf('.', StringComparison.Ordinal) ?? -1;
        if (dot <= 0
            || !long.TryParse(text.AsSpan(0, dot), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var micros)
            || !Guid.TryParseExact(text.AsSpan(dot + 1), "N", out var id)
            || micros > 253402300799999999)
        {
            return false;
        }
        cursor = new ApprovalCursor(TimeConversions.FromUnixMicroseconds(micros), id);
        return true;
    }
}

public interface IApiKeyStore
{
    Task CreateAsync(ApiKeyRecord key, CancellationToken ct);
    Task<ApiKeyRecord?> FindActiveByHashAsync(string keyHash, CancellationToken ct);
    /// <summary>Keys that are not revoked and carry this email (compared case-insensitively), oldest first.</summary>
    Task<IReadOnlyList<ApiKeyRecord>> FindActiveByEmailAsync(string email, CancellationToken ct);
    Task<IReadOnlyList<ApiKeyRecord>> ListAsync(CancellationToken ct);
    Task<ApiKeyRecord?> GetAsync(string id, CancellationToken ct);
    /// <summary>Marks the key revoked; false when there is no such key or it was revoked already.</summary>
    Task<bool> RevokeAsync(string id, DateTimeOffset at, CancellationToken ct);
    Task<bool> AnyAsync(CancellationToken ct);
}

public sealed record SettingRecord(string Key, string Value, long Version, DateTimeOffset UpdatedAt, string? UpdatedBy);

public sealed record SettingChange(long Id, string Key, long Version, string? ValueBefore, string ValueAfter, DateTimeOffset At, string? Actor);

/// <summary>Run-time settings (routes, policy) as JSON documents with a version and a change history.</summary>
public interface ISettingsStore
{
    Task<SettingRecord?> GetAsync(string key, CancellationToken ct);

    /// <summary>Saves a new value. With <paramref name="expectedVersion"/> the write only happens if the stored
    /// version still equals it (0 = not stored yet); returns the new record, or null when someone else won.</summary>
    Task<SettingRecord?> PutAsync(string key, string value, string? actor, long? expectedVersion, DateTimeOffset now, CancellationToken ct);

    /// <summary>Inserts the value only if the key is absent; true when this call inserted it.</summary>
    Task<bool> TryInsertAsync(string key, string value, string? actor, DateTimeOffset now, CancellationToken ct);

    Task<IReadOnlyList<SettingChange>> GetHistoryAsync(string key, int limit, CancellationToken ct);
}
