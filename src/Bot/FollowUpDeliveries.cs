using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Routing;
using AgentSentinel.Core.Storage;

namespace AgentSentinel.Bot;

/// <summary>What a reminder or an escalation level means on a chat surface, the same on every surface: a reply in the
/// thread of the request's message when there is one, and for a level with a channel there, the request posted to it.</summary>
public static class FollowUpDeliveries
{
    /// <param name="ReplyKey">The delivery key of the thread reply, or null when the request has no message to reply to.</param>
    /// <param name="EscalationChannel">The level's channel on this surface, or null.</param>
    public sealed record Plan(string? ReplyKey, string? EscalationChannel);

    public static async Task<Plan> PlanAsync(IChatMessageStore messages, Surface surface, ApprovalRequest request, FollowUp followUp,
        Func<EscalationLevel, ChannelTarget?> channelOf, CancellationToken ct)
    {
        var threaded = (await messages.ListAsync(request.Id, surface, ct)).Any(m => m.DeliveryKey == DeliveryKeys.Root);
        var replyKey = !threaded ? null
            : followUp.Kind == FollowUpKind.Reminder ? $"reminder:{followUp.Number}" : $"escalated:{followUp.Number}";
        var channel = followUp.Kind == FollowUpKind.Escalation && followUp.Level is { } level ? channelOf(level)?.Channel : null;
        return new Plan(replyKey, channel);
    }
}
