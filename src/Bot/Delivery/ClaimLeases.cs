using System.Collections.Concurrent;
using AgentSentinel.Core.Approvals;

namespace AgentSentinel.Bot.Delivery;

/// <summary>The deliveries an attempt of this process is working on right now, by (request, surface, channel, delivery
/// key). An attempt enters before it claims and leaves when it has finished, so a claim of this instance that no lease
/// covers belongs to an attempt that ended without recording anything (the database failed after the claim, say) and
/// may be taken over; one that a lease covers is never touched by a second attempt of this process.</summary>
public sealed class ClaimLeases
{
    private readonly ConcurrentDictionary<(Guid, Surface, string, string), byte> _held = new();

    /// <summary>The lease of the delivery; null when another attempt of this process holds it.</summary>
    public IDisposable? TryEnter(Guid approvalId, Surface surface, string channel, string deliveryKey)
    {
        var key = (approvalId, surface, channel, deliveryKey);
        return _held.TryAdd(key, 0) ? new Lease(_held, key) : null;
    }

    private sealed class Lease(ConcurrentDictionary<(Guid, Surface, string, string), byte> held, (Guid, Surface, string, string) key) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                held.TryRemove(key, out _);
            }
        }
    }
}
