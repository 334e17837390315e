using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Routing;
using AgentSentinel.Core.Storage;

namespace AgentSentinel.Bot;

/// <summary>At start-up: queues the post of every open request of the last day that has no posted message on a chat
/// surface, because its post was never queued (the process stopped after storing the request) or, where the surface
/// can find an earlier post, because an attempt claimed it and never finished.</summary>
public abstract class ChatRecovery(
    Surface surface,
    RuntimeSettings settings,
    IChatMessageStore messages,
    ApprovalService approvals,
    TimeProvider time) : IStartupRecovery
{
    private const int Batch = 1000;
    private static readonly TimeSpan Lookback = TimeSpan.FromDays(1);

    protected abstract bool Enabled { get; }

    /// <summary>True when a claim left by an attempt that never finished may be posted again: the surface can find
    /// an earlier post, so a retry never duplicates it. Otherwise only requests with no claim at all are queued.</summary>
    protected abstract bool RetriesUnfinishedClaims { get; }

    protected abstract ChannelTarget? ChannelOf(RouteDefinition route);

    protected abstract void EnqueuePost(Guid approvalId, string channel);

    protected abstract void Recovered(int count);

    public async Task RecoverAsync(CancellationToken ct)
    {
        if (!Enabled)
        {
            return;
        }
        var now = time.GetUtcNow();
        var (routes, _, _) = await settings.GetRoutesAsync(ct);
        var count = 0;
        var from = now - Lookback;
        while (true)
        {
            var ids = await messages.ListUnpostedAsync(surface, from, now, Batch, ct);
            foreach (var id in ids)
            {
                var request = await approvals.GetAsync(id, ct);
                if (request is null)
                {
                    continue;
                }
                from = request.CreatedAt.AddTicks(10); // one microsecond on: the next page starts after this request
                if (routes.FirstOrDefault(r => r.Name == request.RouteName) is not { } route || ChannelOf(route)?.Channel is not { } channel)
                {
                    continue;
                }
                if (!RetriesUnfinishedClaims && (await messages.ListAsync(id, surface, ct)).Any(m => m.DeliveryKey == DeliveryKeys.Root))
                {
                    continue;
                }
                EnqueuePost(id, channel);
                count++;
            }
            if (ids.Count < Batch)
            {
                break;
            }
        }
        if (count > 0)
        {
            Recovered(count);
        }
    }
}
