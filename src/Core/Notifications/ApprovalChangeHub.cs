namespace AgentSentinel.Core.Notifications;

/// <summary>
/// Wakes the long-poll waiters of this process when a request changes. Transitions publish here directly; on
/// PostgreSQL the LISTEN/NOTIFY listener also publishes changes made by other server instances.
/// </summary>
public sealed class ApprovalChangeHub
{
    private readonly Lock _lock = new();
    private readonly Dictionary<Guid, Entry> _entries = [];

    public int WatchedCount
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Watches one request; the subscription's task completes at its next change. Subscribe before
    /// reading the current state, so a change in between is not missed.</summary>
    public Subscription Subscribe(Guid id)
    {
        lock (_lock)
        {
            if (!_entries.TryGetValue(id, out var entry))
            {
                entry = new Entry();
                _entries[id] = entry;
            }
            entry.Count++;
            return new Subscription(this, id, entry);
        }
    }

    public void Publish(Guid id)
    {
        Entry? entry;
        lock (_lock)
        {
            if (!_entries.Remove(id, out entry))
            {
                return;
            }
        }
        entry.Signal.TrySetResult();
    }

    /// <summary>Wakes every waiter, e.g. after a lost database connection may have dropped notifications;
    /// waiters re-read their request and go back to waiting when nothing changed.</summary>
    public void PublishAll()
    {
        List<Entry> all;
        lock (_lock)
        {
            all = [.. _entries.Values];
            _entries.Clear();
        }
        foreach (var entry in all)
        {
            entry.Signal.TrySetResult();
        }
    }

    private void Release(Guid id, Entry entry)
    {
        lock (_lock)
        {
            if (--entry.Count == 0 && _entries.TryGetValue(id, out var current) && current == entry)
            {
                _entries.Remove(id);
            }
        }
    }

    internal sealed class Entry
    {
        public TaskCompletionSource Signal { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Count { get; set; }
    }

    public sealed class Subscription : IDisposable
    {
        private readonly ApprovalChangeHub _hub;
        private readonly Guid _id;
        private readonly Entry _entry;
        private bool _disposed;

        internal Subscription(ApprovalChangeHub hub, Guid id, Entry entry)
        {
            _hub = hub;
            _id = id;
            _entry = entry;
        }

        public Task Changed => _entry.Signal.Task;

        public void Dispose()
        {
            if (!_disposed)
            {
                _disposed = true;
                _hub.Release(_id, _entry);
            }
        }
    }
}
