using AgentSentinel.Bot.Delivery;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Delegation;
using AgentSentinel.Core.Grants;
using AgentSentinel.Core.Routing;
using AgentSentinel.Core.Storage;
using Hangfire;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Bot;

/// <summary>What differs between chat surfaces (Slack, Teams): whether the surface is on, which route channel it uses
/// and the wording of its thread replies. <see cref="ChatNotifier"/> and <see cref="ChatRecovery"/> do the rest the
/// same way for every surface, and every delivery they queue is a job of the one engine, <see cref="ChatDeliveryJobs"/>.</summary>
public abstract class ChatSurface(Surface surface, IBackgroundJobClient jobs)
{
    public Surface Surface => surface;

    public abstract bool Enabled { get; }

    /// <summary>True when a claim left by an attempt that never finished may be posted again because the surface can
    /// find an earlier post, so a retry never duplicates it.</summary>
    public abstract bool RetriesUnfinishedClaims { get; }

    public abstract ChannelTarget? ChannelOf(RouteDefinition route);

    public abstract ChannelTarget? ChannelOf(EscalationLevel level);

    public void EnqueuePost(Guid approvalId, string channel, string deliveryKey = DeliveryKeys.Root) =>
        jobs.Enqueue<ChatDeliveryJobs>(j => j.PostAsync(surface, approvalId, channel, deliveryKey, CancellationToken.None));

    public void EnqueueRedraw(Guid approvalId) =>
        jobs.Enqueue<ChatDeliveryJobs>(j => j.RedrawAsync(surface, approvalId, 0, CancellationToken.None));

    public void EnqueueReply(Guid approvalId, string deliveryKey, string text) =>
        jobs.Enqueue<ChatDeliveryJobs>(j => j.ReplyAsync(surface, approvalId, deliveryKey, text, 0, CancellationToken.None));

    public abstract string InfoRequestedReply(ApprovalRequest request, Actor asker);

    public abstract string InfoProvidedReply(ApprovalRequest request);

    /// <param name="away">The request's approvers who are away now, with their delegates.</param>
    public abstract string ReminderReply(ApprovalRequest request, DateTimeOffset now, IReadOnlyList<AwayNotice> away);

    /// <param name="away">The level's people who are away now, with their delegates.</param>
    public abstract string EscalatedReply(ApprovalRequest request, FollowUp escalation, IReadOnlyList<AwayNotice> away);

    public abstract string ReassignedReply(ApprovalRequest request, Reassignment reassignment);

    public abstract void LogRecovered(int count);
}

/// <summary>Tells a chat surface about every request and change: posts on creation to the route's channel, redraws
/// the messages after any transition from any surface, replies in the thread for questions, answers, reminders and
/// escalations, and posts the request to each escalation level's channel. Reminders and escalation notes name the
/// delegate of each person they name who is away when the note is made. The outbox dispatcher calls it; with <see cref="JobsOptions.ChatFromDispatcher"/> on (the default) the
/// dispatcher carries each delivery out itself when the channel has a free turn now, and queues its job otherwise.</summary>
public sealed class ChatNotifier(ChatSurface chat, RuntimeSettings settings, IChatMessageStore messages, DelegationService delegations,
    ChatDeliveryJobs engine, IOptions<AgentSentinelOptions> options, TimeProvider time)
    : IApprovalObserver
{
    private readonly bool _now = options.Value.Jobs.ChatFromDispatcher;

    private Task PostAsync(Guid approvalId, string channel, string deliveryKey, CancellationToken ct)
    {
        if (_now)
        {
            return engine.PostNowAsync(chat.Surface, approvalId, channel, deliveryKey, ct);
        }
        chat.EnqueuePost(approvalId, channel, deliveryKey);
        return Task.CompletedTask;
    }

    private Task RedrawAsync(Guid approvalId, CancellationToken ct)
    {
        if (_now)
        {
            return engine.RedrawNowAsync(chat.Surface, approvalId, ct);
        }
        chat.EnqueueRedraw(approvalId);
        return Task.CompletedTask;
    }

    private Task ReplyAsync(Guid approvalId, string deliveryKey, string text, CancellationToken ct)
    {
        if (_now)
        {
            return engine.ReplyNowAsync(chat.Surface, approvalId, deliveryKey, text, ct);
        }
        chat.EnqueueReply(approvalId, deliveryKey, text);
        return Task.CompletedTask;
    }

    public async Task OnCreatedAsync(ApprovalRequest request, CancellationToken ct)
    {
        if (!chat.Enabled || request.RouteName is null)
        {
            return;
        }
        if (await settings.RouteOfAsync(request, ct) is { } route && chat.ChannelOf(route)?.Channel is { } channel)
        {
            await PostAsync(request.Id, channel, DeliveryKeys.Root, ct);
        }
    }

    public async Task OnChangedAsync(ApprovalRequest request, TransitionKind transition, Actor actor, CancellationToken ct)
    {
        if (!chat.Enabled || (await messages.ListAsync(request.Id, chat.Surface, ct)).Count == 0)
        {
            return;
        }
        await RedrawAsync(request.Id, ct);
        var reply = transition switch
        {
            TransitionKind.RequestInfo => chat.InfoRequestedReply(request, actor),
            TransitionKind.Respond => chat.InfoProvidedReply(request),
            _ => null,
        };
        if (reply is not null)
        {
            await ReplyAsync(request.Id, DeliveryKeys.TransitionReply(transition, request.Version), reply, ct);
        }
    }

    /// <summary>A reminder is a reply in the thread of the request's message, when there is one; an escalation level
    /// posts the request to the level's channel on this surface and notes it in the thread.</summary>
    public async Task OnFollowUpAsync(ApprovalRequest request, FollowUp followUp, CancellationToken ct)
    {
        if (!chat.Enabled)
        {
            return;
        }
        if (followUp.Kind == FollowUpKind.Reassignment)
        {
            await OnReassignedAsync(request, followUp, ct);
            return;
        }
        if (followUp.Kind == FollowUpKind.Escalation && followUp.Level is { } level && chat.ChannelOf(level)?.Channel is { } channel)
        {
            await PostAsync(request.Id, channel, DeliveryKeys.Escalation(followUp.Number), ct);
        }
        if ((await messages.ListAsync(request.Id, chat.Surface, ct)).Any(m => m.DeliveryKey == DeliveryKeys.Root))
        {
            var away = await delegations.AwayAsync(request.Approvers.Concat(followUp.Level?.Mention ?? []), ct);
            var (key, text) = followUp.Kind == FollowUpKind.Reminder
                ? (DeliveryKeys.Reminder(followUp.Number), chat.ReminderReply(request, time.GetUtcNow(), away))
                : (DeliveryKeys.Escalated(followUp.Number), chat.EscalatedReply(request, followUp, away));
            await ReplyAsync(request.Id, key, text, ct);
        }
    }

    /// <summary>A reassignment posts the request where it went on this surface (a channel, or a Slack person's direct
    /// messages), redraws the old messages with where it went, and notes it in their thread.</summary>
    private async Task OnReassignedAsync(ApprovalRequest request, FollowUp followUp, CancellationToken ct)
    {
        var existing = await messages.ListAsync(request.Id, chat.Surface, ct);
        if (followUp.Level is { } target && chat.ChannelOf(target)?.Channel is { } channel)
        {
            await PostAsync(request.Id, channel, DeliveryKeys.Reassigned(followUp.Number), ct);
        }
        if (existing.Count > 0)
        {
            await RedrawAsync(request.Id, ct);
        }
        if (followUp.Reassignment is { } handed && existing.Any(m => m.DeliveryKey == DeliveryKeys.Root))
        {
            await ReplyAsync(request.Id, DeliveryKeys.ReassignedNote(followUp.Number), chat.ReassignedReply(request, handed), ct);
        }
    }
}

/// <summary>A revoked grant: the message of the approval that gave it is redrawn (its Revoke button goes), by a job
/// (the revocation is not an outbox entry). Apart from <see cref="ChatNotifier"/> because the delivery engine's
/// transports depend on the grant service, which tells this observer.</summary>
public sealed class ChatGrantNotifier(ChatSurface chat, IChatMessageStore messages) : IGrantObserver
{
    public async Task OnGrantRevokedAsync(Grant grant, CancellationToken ct)
    {
        if (chat.Enabled && (await messages.ListAsync(grant.SourceApprovalId, chat.Surface, ct)).Count > 0)
        {
            chat.EnqueueRedraw(grant.SourceApprovalId);
        }
    }
}

/// <summary>After start-up: queues the post of every request of the last day that has no posted message on a chat
/// surface, because it is open and its post was never queued (the surface was configured after it was made) or, where
/// the surface can find an earlier post, because an attempt claimed it and never finished (a killed process's attempt,
/// or its job, which the job storage runs again only once it gives up on that process), whether or not the request was
/// decided or expired since. The queued job takes over a claim of a process that is gone at once; a claim of a live
/// instance is left to it.</summary>
public sealed class ChatRecovery(
    ChatSurface chat,
    RuntimeSettings settings,
    IChatMessageStore messages,
    ApprovalService approvals,
    TimeProvider time) : IStartupRecovery
{
    private const int Batch = 1000;
    private static readonly TimeSpan Lookback = TimeSpan.FromDays(1);

    public async Task RecoverAsync(CancellationToken ct)
    {
        if (!chat.Enabled)
        {
            return;
        }
        var now = time.GetUtcNow();
        var count = 0;
        var from = now - Lookback;
        while (true)
        {
            var ids = await messages.ListUnpostedAsync(chat.Surface, from, now, Batch, ct);
            foreach (var id in ids)
            {
                var request = await approvals.GetAsync(id, ct);
                if (request is null)
                {
                    continue;
                }
                from = request.CreatedAt.AddTicks(10); // one microsecond on: the next page starts after this request
                if (await settings.RouteOfAsync(request, ct) is not { } route || chat.ChannelOf(route)?.Channel is not { } channel)
                {
                    continue;
                }
                if (!chat.RetriesUnfinishedClaims && (await messages.ListAsync(id, chat.Surface, ct)).Any(m => m.DeliveryKey == DeliveryKeys.Root))
                {
                    continue;
                }
                chat.EnqueuePost(id, channel);
                count++;
            }
            if (ids.Count < Batch)
            {
                break;
            }
        }
        if (count > 0)
        {
            chat.LogRecovered(count);
        }
    }
}
