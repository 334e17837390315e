using System.Runtime.InteropServices;
using System.Threading.Channels;
using AgentSentinel.Core.Approvals;

namespace AgentSentinel.Core.Notifications;

/// <summary>
/// Wakes the long-poll waiters of this process when a request changes. Transitions publish here directly, with the
/// state they committed; on PostgreSQL the LISTEN/NOTIFY listener also publishes changes made by other server instances
/// (<see cref="PublishNotified"/>). The notification of a transition made here arrives while this process is still
/// finishing it (issuing the receipt of a decision): such a notification is held until the transition publishes its
/// state (<see cref="BeginChange"/>), so a waiter is answered from that state instead of reading the request again
/// and racing the receipt.
/// </summary>
public sealed class ApprovalChangeHub
{
    private readonly Lock _lock = new();
    private readonly Dictionary<Guid, Entry> _entries = [];
    private readonly List<Feed> _feeds = [];
    private readonly Dictionary<Guid, LocalChange> _changing = [];

    /// <summary>The states of recently final requests, kept from the states transitions publish here (and from reads,
    /// see <see cref="ApprovalService.GetAsync"/>); emptied when notifications may have been missed, and told about
    /// deleted requests (<see cref="Deleted"/>).</summary>
    public FinalStateCache Finals { get; } = new();

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
            return new Subscription(this, id, Hold(_entries, id));
        }
    }

    /// <summary>The entry of <paramref name="id"/> in <paramref name="map"/>, added when missing, with one more holder;
    /// called under the lock.</summary>
    private static T Hold<T>(Dictionary<Guid, T> map, Guid id) where T : Held, new()
    {
        ref var held = ref CollectionsMarshal.GetValueRefOrAddDefault(map, id, out _);
        held ??= new T();
        held.Count++;
        return held;
    }

    /// <summary>One holder fewer of <paramref name="held"/>; the last one removes it from <paramref name="map"/> (when it is
    /// still the entry of <paramref name="id"/>); called under the lock.</summary>
    private static void Drop<T>(Dictionary<Guid, T> map, Guid id, T held) where T : Held
    {
        if (--held.Count == 0 && map.TryGetValue(id, out var current) && current == held)
        {
            map.Remove(id);
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

    public void Publish(Guid id) => Publish(id, null);

    /// <summary>Wakes the watchers of <paramref name="id"/>; <paramref name="state"/> (when given) is the request as the
    /// change committed it, which <see cref="Subscription.State"/> hands to them.</summary>
    public void Publish(Guid id, ApprovalRequest? state)
    {
        if (state is not null)
        {
            Finals.Remember(state);
        }
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
            entry.State = state;
        }
        entry.Signal.TrySetResult();
    }

    /// <summary>A change notified by the database (made here or on another instance). Held while a transition of the
    /// same request is under way here; published when it ends (see <see cref="BeginChange"/>).</summary>
    public void PublishNotified(Guid id)
    {
        lock (_lock)
        {
            if (_changing.TryGetValue(id, out var change))
            {
                change.Notified = true;
                return;
            }
        }
        Publish(id);
    }

    /// <summary>A transition of <paramref name="id"/> starts in this process: database notifications of the request are
    /// held until the returned scope ends. End it with <see cref="ChangeScope.Publish"/> when the transition committed,
    /// or dispose it (it then publishes the held notification, if any).</summary>
    public ChangeScope BeginChange(Guid id)
    {
        lock (_lock)
        {
            Hold(_changing, id);
        }
        return new ChangeScope(this, id);
    }

    private void EndChange(Guid id, bool committed, ApprovalRequest? state)
    {
        bool notified;
        lock (_lock)
        {
            var change = _changing[id];
            notified = change.Notified;
            change.Notified = false;
            Drop(_changing, id, change);
        }
        if (committed || notified)
        {
            Publish(id, committed ? state : null);
        }
    }

    /// <summary>Wakes every waiter, e.g. after a lost database connection may have dropped notifications;
    /// waiters re-read their request and go back to waiting when nothing changed. <see cref="Finals"/> is emptied too,
    /// since a deletion may have been missed.</summary>
    public void PublishAll()
    {
        Finals.Clear();
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

    /// <summary>The requests <paramref name="ids"/> were deleted (data retention, here or on another instance): they
    /// are no longer answered from <see cref="Finals"/>.</summary>
    public void Deleted(IReadOnlyCollection<Guid> ids) => Finals.Forget(ids);

    private void Release(Guid id, Entry entry)
    {
        lock (_lock)
        {
            Drop(_entries, id, entry);
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

    /// <summary>An entry kept while something holds it (<see cref="Hold"/>, <see cref="Drop"/>).</summary>
    internal abstract class Held
    {
        public int Count { get; set; }
    }

    internal sealed class Entry : Held
    {
        public TaskCompletionSource Signal { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public ApprovalRequest? State { get; set; }
    }

    private sealed class LocalChange : Held
    {
        public bool Notified { get; set; }
    }

    /// <summary>A transition under way in this process (see <see cref="BeginChange"/>).</summary>
    public sealed class ChangeScope : IDisposable
    {
        private readonly ApprovalChangeHub _hub;
        private readonly Guid _id;
        private bool _ended;

        internal ChangeScope(ApprovalChangeHub hub, Guid id)
        {
            _hub = hub;
            _id = id;
        }

        /// <summary>The transition committed <paramref name="state"/>: wakes the watchers with it.</summary>
        public void Publish(ApprovalRequest? state)
        {
            if (!_ended)
            {
                _ended = true;
                _hub.EndChange(_id, committed: true, state);
            }
        }

        /// <summary>Ends the scope without a committed change; a notification held meanwhile is published now.</summary>
        public void Dispose()
        {
            if (!_ended)
            {
                _ended = true;
                _hub.EndChange(_id, committed: false, null);
            }
        }
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

        /// <summary>Once <see cref="Changed"/> completed: the request as the change committed it, when the change was
        /// made in this process (null for a notification from the database).</summary>
        public ApprovalRequest? State => _entry.Signal.Task.IsCompleted ? _entry.State : null;

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
