using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using AgentSentinel.Core.Approvals;

namespace AgentSentinel.Core.Notifications;

/// <summary>
/// The last states of recently final requests (approved, rejected, expired, cancelled, with their receipts), so a poll
/// or wait for one is answered without reading it again: a final state never changes. Only its deletion (data
/// retention) changes the answer, to "not found": <see cref="Forget"/> drops the deleted ids here and, through the change
/// feed, on the other instances, and <see cref="Clear"/> drops everything when deletions may have been missed (a lost
/// change-feed connection). A state read from the database is only kept when nothing was forgotten since the read
/// started, so a read racing a deletion cannot put the deleted request back. Bounded: past
/// <see cref="Capacity"/> the oldest entries go first.
/// </summary>
public sealed class FinalStateCache(int capacity = FinalStateCache.DefaultCapacity)
{
    /// <summary>About 4,000 small requests; a large one (long inputs) holds more, but the count stays bounded.</summary>
    public const int DefaultCapacity = 4096;

    private readonly ConcurrentDictionary<Guid, ApprovalRequest> _states = new();
    private readonly Queue<Guid> _order = new();
    private readonly Lock _lock = new();
    private long _forgets;

    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "At least one entry.");

    public int Count => _states.Count;

    /// <summary>Taken before a read whose result may be kept (<see cref="Remember(ApprovalRequest, long)"/>).</summary>
    public long Generation => Interlocked.Read(ref _forgets);

    public bool TryGet(Guid id, [MaybeNullWhen(false)] out ApprovalRequest state) => _states.TryGetValue(id, out state);

    /// <summary>Keeps <paramref name="state"/> when it is final with its receipt: a state a transition of this process
    /// has just committed (it cannot have been deleted yet).</summary>
    public void Remember(ApprovalRequest state) => Remember(state, null);

    /// <summary>Keeps <paramref name="state"/>, read after <see cref="Generation"/> was <paramref name="generation"/>,
    /// when it is final with its receipt and nothing was forgotten since.</summary>
    public void Remember(ApprovalRequest state, long generation) => Remember(state, (long?)generation);

    private void Remember(ApprovalRequest state, long? generation)
    {
        if (!state.IsTerminal || state.Receipt is null || _states.ContainsKey(state.Id))
        {
            return;
        }
        lock (_lock)
        {
            if ((generation is { } read && read != _forgets) || !_states.TryAdd(state.Id, state))
            {
                return;
            }
            _order.Enqueue(state.Id);
            while (_order.Count > Capacity)
            {
                _states.TryRemove(_order.Dequeue(), out _);
            }
        }
    }

    /// <summary>The requests <paramref name="ids"/> are deleted: they are not answered from here again.</summary>
    public void Forget(IEnumerable<Guid> ids)
    {
        lock (_lock)
        {
            Interlocked.Increment(ref _forgets);
            foreach (var id in ids)
            {
                _states.TryRemove(id, out _);
            }
        }
    }

    /// <summary>Drops every entry (deletions may have been missed).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            Interlocked.Increment(ref _forgets);
            _states.Clear();
            _order.Clear();
        }
    }
}
