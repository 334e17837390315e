using System.Threading.Channels;

namespace AgentSentinel.Core.Notifications;

/// <summary>
/// Wakes the long-poll waiters of this process when a request changes. Transitions publish here directly; on
/// PostgreSQL the LISTEN/NOTIFY listener also publishes changes made by other server instances.
/// </summary>
public sealed class ApprovalChangeHub
{
    private readonly Lock _lock = new();
    private readonly Dictionary<Guid, Entry> _entries = [];
    private readonly List<Feed> _feeds = [];

    /// <summary>How many changes a feed holds for a slow reader before it reports "everything may have changed".</summary>
    public const int FeedCapacity = 1024;

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

    /// <summary>Follows every change (a new request, a transition) in this process and, on PostgreSQL, on the other
    /// instances. The reader gets the changed ids; a null means anything may have changed (a missed-notification
    /// recovery, or a reader too slow to keep up), so read everything again.</summary>
    public Feed SubscribeAll()
    {
        var feed = new Feed(this);
        lock (_lock)
        {
            _feeds.Add(feed);
        }
        return feed;
    }

    public int FeedCount
    {
        get
        {
            lock (_lock)
            {
                return _feeds.Count;
            }
        }
    }

    public void Publish(Guid id)
    {
        Entry? entry;
        lock (_lock)
        {
            foreach (var feed in _feeds)
            {
                feed.Write(id);
            }
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
            foreach (var feed in _feeds)
            {
                feed.Write(null);
            }
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

    private void Release(Feed feed)
    {
        lock (_lock)
        {
            _feeds.Remove(feed);
        }
    }

    /// <summary>One reader's view of every change; dispose it to stop following.</summary>
    public sealed class Feed : IDisposable
    {
        private readonly ApprovalChangeHub _hub;
        private readonly Channel<Guid?> _channel = Channel.CreateBounded<Guid?>(
            new BoundedChannelOptions(FeedCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        private bool _overflowed;

        internal Feed(ApprovalChangeHub hub) => _hub = hub;

        public ChannelReader<Guid?> Reader => _channel.Reader;

        /// <summary>Waits for the next changes and returns them without repeats; an empty list means anything may
        /// have changed.</summary>
        public async Task<IReadOnlyList<Guid>> ReadAsync(CancellationToken ct)
        {
            var first = await _channel.Reader.ReadAsync(ct);
            var ids = new List<Guid>();
            var everything = first is null;
            if (first is { } id)
            {
                ids.Add(id);
            }
            while (_channel.Reader.TryRead(out var next))
            {
                if (next is { } more)
                {
                    if (!ids.Contains(more))
                    {
                        ids.Add(more);
                    }
                }
                else
                {
                    everything = true;
                }
            }
            lock (_hub._lock)
            {
                everything |= _overflowed;
                _overflowed = false;
            }
            return everything ? [] : ids;
        }

        internal void Write(Guid? id)
        {
            // Called under the hub's lock; a full feed (TryWrite refuses) is remembered instead of blocking.
            if (!_channel.Writer.TryWrite(id))
            {
                _overflowed = true;
            }
        }

        public void Dispose() => _hub.Release(this);
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
