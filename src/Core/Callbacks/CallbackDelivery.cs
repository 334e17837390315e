using AgentSentinel.Core.Approvals;

namespace AgentSentinel.Core.Callbacks;

public enum CallbackState
{
    Pending,
    Delivered,
    Failed,
}

/// <summary>One callback to an agent: a request's state at one version, posted to its <c>callback_url</c> until the
/// receiver answers 2xx or the tries run out. <see cref="DeliveryId"/> stays the same across tries, so the receiver
/// can drop repeats.</summary>
public sealed record CallbackDelivery
{
    public long Id { get; init; }
    public required Guid ApprovalId { get; init; }
    public required int Version { get; init; }
    /// <summary><c>{approval id}:{version}</c>.</summary>
    public required string DeliveryId { get; init; }
    /// <summary>The status the request reached: <c>approved</c>, <c>rejected</c>, <c>expired</c>, <c>cancelled</c> or <c>info_requested</c>.</summary>
    public required string Event { get; init; }
    public required string Url { get; init; }
    /// <summary>The JSON body, fixed when the delivery is created, so every try sends the same bytes.</summary>
    public required string Body { get; init; }
    public CallbackState State { get; init; }
    /// <summary>Tries started so far.</summary>
    public int Attempts { get; init; }
    public int? LastStatus { get; init; }
    public string? LastError { get; init; }
    public DateTimeOffset? NextAttemptAt { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? DeliveredAt { get; init; }

    public static string DeliveryIdFor(Guid approvalId, int version) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{approvalId}:{version}");

    /// <summary>Agents hear of final states and of questions from approvers.</summary>
    public static bool IsCallbackEvent(ApprovalStatus status) => status.IsTerminal() || status == ApprovalStatus.InfoRequested;
}

/// <summary>One try of a delivery, as recorded.</summary>
public sealed record CallbackAttempt(long DeliveryId, int Attempt, DateTimeOffset At, int? Status, string? Error, int DurationMs);

/// <summary>The event kinds a callback adds to the audit trail.</summary>
public static class CallbackEventKinds
{
    public const string Delivered = "callback_delivered";
    public const string Failed = "callback_failed";
}

/// <summary>A request whose callback should exist but was not created (for the sweep).</summary>
public sealed record MissingCallback(Guid ApprovalId, int Version);

/// <summary>Callback deliveries and their tries, and the per-API-key signing secrets.</summary>
public interface ICallbackStore
{
    /// <summary>Inserts the delivery unless one exists for the same delivery id; returns the new row's id, or null.</summary>
    Task<long?> TryCreateAsync(CallbackDelivery delivery, CancellationToken ct);

    Task<CallbackDelivery?> GetAsync(long id, CancellationToken ct);

    Task<IReadOnlyList<CallbackDelivery>> ListAsync(Guid approvalId, CancellationToken ct);

    /// <summary>Claims try number <paramref name="attempt"/>: true only if the delivery is pending and exactly
    /// <c>attempt - 1</c> tries were started, so a duplicated job never sends the same try twice.</summary>
    Task<bool> TryStartAttemptAsync(long id, int attempt, DateTimeOffset now, DateTimeOffset retryIfStuckAt, CancellationToken ct);

    Task RecordAttemptAsync(CallbackAttempt attempt, CancellationToken ct);

    Task<IReadOnlyList<CallbackAttempt>> ListAttemptsAsync(long id, CancellationToken ct);

    Task MarkDeliveredAsync(long id, int status, DateTimeOffset now, CancellationToken ct);

    Task MarkFailedAsync(long id, int? status, string error, DateTimeOffset now, CancellationToken ct);

    Task ScheduleRetryAsync(long id, int? status, string? error, DateTimeOffset nextAttemptAt, DateTimeOffset now, CancellationToken ct);

    /// <summary>Pending deliveries whose next try was due at or before <paramref name="dueBefore"/> (a new delivery is
    /// due at its creation; a try in progress is due again when it should have ended).</summary>
    Task<IReadOnlyList<CallbackDelivery>> ListOverdueAsync(DateTimeOffset dueBefore, int limit, CancellationToken ct);

    /// <summary>Requests with a callback URL changed in the window whose current state calls for a callback that
    /// was never created (the server stopped between the change and its delivery).</summary>
    Task<IReadOnlyList<MissingCallback>> ListMissingAsync(DateTimeOffset changedFrom, DateTimeOffset changedTo, int limit, CancellationToken ct);

    /// <summary>The signing secret of an API key, or null when it has none (or does not exist).</summary>
    Task<string?> GetKeySecretAsync(string keyId, CancellationToken ct);

    /// <summary>Sets (or, with null, removes) the signing secret of an active API key; false when there is no such key
    /// or it is revoked.</summary>
    Task<bool> SetKeySecretAsync(string keyId, string? secret, CancellationToken ct);

    /// <summary>The ids of the API keys that have their own signing secret.</summary>
    Task<IReadOnlySet<string>> ListKeysWithSecretAsync(CancellationToken ct);
}
