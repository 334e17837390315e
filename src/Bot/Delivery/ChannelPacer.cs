using System.Collections.Concurrent;
using AgentSentinel.Core.Approvals;

namespace AgentSentinel.Bot.Delivery;

/// <summary>Spaces the writes (posts and updates alike) to one channel of one surface: Slack allows about one message
/// per second per channel. A 429 holds the channel back for its <c>Retry-After</c>.</summary>
public sealed class ChannelPacer(TimeProvider time)
{
    private readonly ConcurrentDictionary<(Surface, string), Slot> _channels = new();

    private sealed class Slot
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);
        public DateTimeOffset Next { get; set; } = DateTimeOffset.MinValue;

        public bool IsDue(TimeProvider time)
        {
            lock (this)
            {
                return Next <= time.GetUtcNow();
            }
        }
    }

    /// <summary>Waits for the channel's turn; disposing the turn starts the spacing before the next write.</summary>
    public async Task<IDisposable> WaitTurnAsync(Surface surface, string channel, TimeSpan spacing, CancellationToken ct)
    {
        var slot = _channels.GetOrAdd((surface, channel), _ => new Slot());
        await slot.Gate.WaitAsync(ct);
        try
        {
            var wait = slot.Next - time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                // Timers count whole milliseconds and may fire up to a millisecond early: round up and add one, so the
                // write never reaches the platform a hair inside the spacing (which Slack answers with a 429).
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Ceiling(wait.TotalMilliseconds) + 1), time, ct);
            }
        }
        catch
        {
            slot.Gate.Release();
            throw;
        }
        return new Turn(slot, time, spacing);
    }

    /// <summary>True when the spacing since the channel's last write (or a <c>Retry-After</c>) has passed.</summary>
    public bool IsDue(Surface surface, string channel) =>
        !_channels.TryGetValue((surface, channel), out var slot) || slot.IsDue(time);

    /// <summary>The channel's turn if it can be had without sleeping on the pacing: the spacing since the last write
    /// (or a <c>Retry-After</c>) has passed, and the turn is free now or, on a channel without spacing, the write holding
    /// it finishes within <paramref name="maxWait"/>. On a paced channel a held turn is never waited for: once its holder
    /// writes, the next turn is a spacing away, so the wait could only end in a job anyway. Null otherwise: the caller
    /// hands the write to a job that waits.</summary>
    public async Task<IDisposable?> TryTurnNowAsync(Surface surface, string channel, TimeSpan spacing, TimeSpan maxWait, CancellationToken ct)
    {
        var slot = _channels.GetOrAdd((surface, channel), _ => new Slot());
        if (!slot.IsDue(time))
        {
            return null;
        }
        if (spacing > TimeSpan.Zero)
        {
            if (!slot.Gate.Wait(0, CancellationToken.None))
            {
                return null;
            }
            if (!slot.IsDue(time))
            {
                slot.Gate.Release();
                return null;
            }
            return new Turn(slot, time, spacing);
        }
        using (var bounded = new CancellationTokenSource(maxWait, time))
        using (var either = CancellationTokenSource.CreateLinkedTokenSource(bounded.Token, ct))
        {
            try
            {
                await slot.Gate.WaitAsync(either.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return null; // the holder is waiting for its turn, or its write is slow
            }
        }
        if (!slot.IsDue(time))
        {
            slot.Gate.Release();
            return null;
        }
        return new Turn(slot, time, spacing);
    }

    /// <summary>No write to the channel before <paramref name="delay"/> from now (the platform said so).</summary>
    public void Hold(Surface surface, string channel, TimeSpan delay)
    {
        var slot = _channels.GetOrAdd((surface, channel), _ => new Slot());
        var until = time.GetUtcNow() + delay;
        lock (slot)
        {
            if (until > slot.Next)
            {
                slot.Next = until;
            }
        }
    }

    private sealed class Turn(Slot slot, TimeProvider time, TimeSpan spacing) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1)
            {
                return;
            }
            lock (slot)
            {
                var next = time.GetUtcNow() + spacing;
                if (next > slot.Next)
                {
                    slot.Next = next;
                }
            }
            slot.Gate.Release();
        }
    }
}
