using AgentSentinel.Core.Approvals;

namespace AgentSentinel.Core.Storage;

/// <summary>What an outbox entry records: a request was created, a transition was applied, or a follow-up (reminder or
/// escalation level) was recorded.</summary>
public enum OutboxKind
{
    Created,
    Changed,
    FollowUp,
}

/// <summary>One committed change whose effects are still to be carried out, with the request as that change left it
/// and the W3C trace context of the call that made the change.</summary>
public sealed record OutboxEntry(
    long Id,
    OutboxKind Kind,
    ApprovalRequest Request,
    TransitionKind? Transition,
    Actor? Actor,
    FollowUp? FollowUp,
    int Attempts,
    string? TraceParent = null);

/// <summary>The transactional outbox. Entries are written by <see cref="IApprovalStore"/> and <see cref="IGrantStore"/>
/// in the transaction of the change itself; the dispatcher claims them, carries out their effects and marks them handled.</summary>
public interface IOutboxStore
{
    /// <summary>Claims up to <paramref name="limit"/> entries that are due and not claimed by anyone else (or whose claim
    /// ran out at <paramref name="now"/>), oldest first, until <paramref name="claimUntil"/>. On PostgreSQL two instances
    /// never claim the same entry (<c>FOR UPDATE SKIP LOCKED</c>); SQLite has a single writer.</summary>
    Task<IReadOnlyList<OutboxEntry>> ClaimAsync(DateTimeOffset now, DateTimeOffset claimUntil, int limit, CancellationToken ct);

    /// <summary>Marks claimed entries handled: their effects are jobs now.</summary>
    Task MarkHandledAsync(IReadOnlyCollection<long> ids, DateTimeOffset now, CancellationToken ct);

    /// <summary>Releases a claimed entry whose effects failed, to be tried again at <paramref name="dueAt"/>.</summary>
    Task RetryLaterAsync(long id, DateTimeOffset dueAt, string error, CancellationToken ct);

    /// <summary>Deletes up to <paramref name="limit"/> entries handled before <paramref name="before"/>; returns how many.</summary>
    Task<int> PurgeHandledAsync(DateTimeOffset before, int limit, CancellationToken ct);

    /// <summary>How many entries are not handled yet (due or not).</summary>
    Task<int> CountUnhandledAsync(CancellationToken ct);
}
