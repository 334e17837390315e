using System.Text.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Routing;
using AgentSentinel.Core.Storage;
using Hangfire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Bot.Teams;

/// <summary>
/// Posting and updating Teams cards as Hangfire jobs. A card is claimed in the store before it is posted, so a job
/// retried after a recorded post never posts again; 429 reschedules after Retry-After, 5xx and timeouts retry with
/// backoff, and permanent refusals (the bot is not in the team) are recorded without retrying.
/// </summary>
public sealed class TeamsDeliveryJobs(
    IBotConnector connector,
    IChatMessageStore messages,
    IChatConversationStore conversations,
    ApprovalService approvals,
    RuntimeSettings settings,
    IBackgroundJobClient jobs,
    IOptions<AgentSentinelOptions> product,
    TimeProvider time,
    ILogger<TeamsDeliveryJobs> logger)
{
    public static JsonObject CardActivity(AdaptiveCard card) => new()
    {
        ["type"] = "message",
        ["attachments"] = new JsonArray(new JsonObject
        {
            ["contentType"] = CardJson.ContentType,
            ["content"] = JsonSerializer.SerializeToNode(card, CardJson.Options),
        }),
    };

    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600])]
    public Task PostRequestAsync(Guid approvalId, string channel, CancellationToken ct) =>
        PostCardAsync(approvalId, channel, DeliveryKeys.Root, j => j.PostRequestAsync(approvalId, channel, CancellationToken.None), ct);

    /// <summary>The card posted again, with the level's banner, to an escalation level's channel.</summary>
    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600])]
    public Task PostEscalationAsync(Guid approvalId, string channel, int level, CancellationToken ct) =>
        PostCardAsync(approvalId, channel, DeliveryKeys.Escalation(level), j => j.PostEscalationAsync(approvalId, channel, level, CancellationToken.None), ct);

    private async Task PostCardAsync(Guid approvalId, string channel, string deliveryKey,
        System.Linq.Expressions.Expression<Func<TeamsDeliveryJobs, Task>> again, CancellationToken ct)
    {
        var request = await approvals.GetAsync(approvalId, ct);
        if (request is null)
        {
            return;
        }
        var (message, _) = await messages.ClaimAsync(approvalId, Surface.Teams, channel, deliveryKey, time.GetUtcNow(), ct);
        if (message.State != ChatMessageState.Claimed)
        {
            return;
        }
        var target = await conversations.FindByChannelAsync(Surface.Teams, channel, ct) ?? await conversations.LatestTeamAsync(Surface.Teams, ct);
        if (target is null)
        {
            TeamsLog.NoInstallation(logger, channel);
            await messages.RecordErrorAsync(message.Id, "no Teams installation is known for this channel", failed: false, time.GetUtcNow(), ct);
            throw new InvalidOperationException($"No Teams installation is known for channel {channel}.");
        }
        var activity = CardActivity(await BuildAsync(request, deliveryKey, ct));
        var posted = await SendAsync(message, async () =>
        {
            if (target.Kind != "channel" && target.ConversationId == channel)
            {
                var id = await connector.SendAsync(target.ServiceUrl, target.ConversationId, activity, null, ct);
                return (target.ConversationId, id);
            }
            return await connector.CreateChannelConversationAsync(target.ServiceUrl, channel, target.TenantId, activity, ct);
        }, again, ct);
        if (posted is not { } p)
        {
            return;
        }
        await messages.MarkPostedAsync(message.Id, p.ActivityId, null, p.ConversationId, time.GetUtcNow(), ct);
        TeamsLog.Posted(logger, approvalId, channel, p.ActivityId);
        var now = await approvals.GetAsync(approvalId, ct);
        if (now is not null && (now.Version != request.Version || now.Status != request.Status))
        {
            jobs.Enqueue<TeamsDeliveryJobs>(j => j.UpdateRequestAsync(approvalId, CancellationToken.None));
        }
    }

    /// <summary>The request's card as it should look now: the route's copy, or an escalation level's copy with its banner.</summary>
    private async Task<AdaptiveCard> BuildAsync(ApprovalRequest request, string deliveryKey, CancellationToken ct)
    {
        FollowUp? escalation = null;
        if (DeliveryKeys.LevelOf(deliveryKey) is { } level)
        {
            escalation = FollowUpPlan.Escalation(FollowUpPlan.For(request, await settings.RouteOfAsync(request, ct)), level);
        }
        return TeamsCards.RequestCard(request, product.Value.PublicBaseUrl, TeamsCards.RefreshUsers(request.Approvers), escalation: escalation);
    }

    /// <summary>Redraws every posted card of the request from its current state.</summary>
    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600])]
    public async Task UpdateRequestAsync(Guid approvalId, CancellationToken ct)
    {
        var request = await approvals.GetAsync(approvalId, ct);
        if (request is null)
        {
            return;
        }
        foreach (var message in await messages.ListAsync(approvalId, Surface.Teams, ct))
        {
            if (!DeliveryKeys.IsRequestMessage(message.DeliveryKey) || message.State != ChatMessageState.Posted || message.ConversationId is null)
            {
                continue;
            }
            var target = await conversations.FindByChannelAsync(Surface.Teams, message.Channel, ct) ?? await conversations.LatestTeamAsync(Surface.Teams, ct);
            if (target is null)
            {
                continue;
            }
            var activity = CardActivity(await BuildAsync(request, message.DeliveryKey, ct));
            try
            {
                await connector.UpdateAsync(target.ServiceUrl, message.ConversationId, message.MessageId!, activity, ct);
            }
            catch (BotConnectorRateLimitedException e)
            {
                TeamsLog.RateLimited(logger, approvalId, message.Channel, e.RetryAfter);
                jobs.Schedule<TeamsDeliveryJobs>(j => j.UpdateRequestAsync(approvalId, CancellationToken.None), e.RetryAfter);
                return;
            }
            catch (BotConnectorException e) when (e.IsPermanent)
            {
                TeamsLog.DeliveryFailed(logger, approvalId, message.Channel, e.Message);
                continue;
            }
            TeamsLog.Updated(logger, approvalId, message.Channel, request.Status.ToWire());
        }
    }

    /// <summary>A reply in the card's thread (an info request, the agent's answer).</summary>
    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600])]
    public async Task PostReplyAsync(Guid approvalId, string deliveryKey, string text, CancellationToken ct)
    {
        foreach (var root in await messages.ListAsync(approvalId, Surface.Teams, ct))
        {
            if (root.DeliveryKey != DeliveryKeys.Root || root.State == ChatMessageState.Failed)
            {
                continue;
            }
            if (root.State != ChatMessageState.Posted || root.ConversationId is null)
            {
                throw new InvalidOperationException($"The Teams card of {approvalId} in {root.Channel} is not posted yet.");
            }
            var (reply, _) = await messages.ClaimAsync(approvalId, Surface.Teams, root.Channel, deliveryKey, time.GetUtcNow(), ct);
            if (reply.State != ChatMessageState.Claimed)
            {
                continue;
            }
            var target = await conversations.FindByChannelAsync(Surface.Teams, root.Channel, ct) ?? await conversations.LatestTeamAsync(Surface.Teams, ct);
            if (target is null)
            {
                continue;
            }
            var activity = new JsonObject { ["type"] = "message", ["text"] = text, ["textFormat"] = "markdown" };
            var sent = await SendAsync(reply, async () => (root.ConversationId, await connector.SendAsync(target.ServiceUrl, root.ConversationId, activity, root.MessageId, ct)),
                j => j.PostReplyAsync(approvalId, deliveryKey, text, CancellationToken.None), ct);
            if (sent is { } s)
            {
                await messages.MarkPostedAsync(reply.Id, s.ActivityId, root.MessageId, s.ConversationId, time.GetUtcNow(), ct);
            }
        }
    }

    private async Task<(string ConversationId, string ActivityId)?> SendAsync(ChatMessage message, Func<Task<(string, string)>> send,
        System.Linq.Expressions.Expression<Func<TeamsDeliveryJobs, Task>> again, CancellationToken ct)
    {
        try
        {
            return await send();
        }
        catch (BotConnectorRateLimitedException e)
        {
            await messages.RecordErrorAsync(message.Id, e.Message, failed: false, time.GetUtcNow(), ct);
            TeamsLog.RateLimited(logger, message.ApprovalId, message.Channel, e.RetryAfter);
            jobs.Schedule(again, e.RetryAfter);
            return null;
        }
        catch (BotConnectorException e) when (e.IsPermanent)
        {
            await messages.RecordErrorAsync(message.Id, e.Message, failed: true, time.GetUtcNow(), ct);
            TeamsLog.DeliveryFailed(logger, message.ApprovalId, message.Channel, e.Message);
            return null;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or BotConnectorException)
        {
            await messages.RecordErrorAsync(message.Id, e.Message, failed: false, time.GetUtcNow(), CancellationToken.None);
            throw;
        }
    }
}

/// <summary>Teams as a chat surface. The Bot Connector cannot say whether an earlier attempt's card arrived, so start-up
/// recovery queues only cards that were never queued; an unfinished attempt is left to Hangfire's own retry.</summary>
public sealed class TeamsSurface(IOptionsMonitor<TeamsOptions> options, IBackgroundJobClient jobs, ILogger<TeamsSurface> logger) : ChatSurface(Surface.Teams)
{
    public override bool Enabled => options.CurrentValue.Enabled;

    public override bool RetriesUnfinishedClaims => false;

    public override ChannelTarget? ChannelOf(RouteDefinition route) => route.Teams;

    public override ChannelTarget? ChannelOf(EscalationLevel level) => level.Teams;

    public override void EnqueuePost(Guid approvalId, string channel) =>
        jobs.Enqueue<TeamsDeliveryJobs>(j => j.PostRequestAsync(approvalId, channel, CancellationToken.None));

    public override void EnqueueEscalation(Guid approvalId, string channel, int level) =>
        jobs.Enqueue<TeamsDeliveryJobs>(j => j.PostEscalationAsync(approvalId, channel, level, CancellationToken.None));

    public override void EnqueueRedraw(Guid approvalId) =>
        jobs.Enqueue<TeamsDeliveryJobs>(j => j.UpdateRequestAsync(approvalId, CancellationToken.None));

    public override void EnqueueReply(Guid approvalId, string deliveryKey, string text) =>
        jobs.Enqueue<TeamsDeliveryJobs>(j => j.PostReplyAsync(approvalId, deliveryKey, text, CancellationToken.None));

    public override string InfoRequestedReply(ApprovalRequest request, Actor asker) =>
        $"❓ {TeamsText.Escape(asker.AuditName, 254)} asked the agent: {TeamsText.Escape(request.InfoRequestMessage, 2500)}";

    public override string InfoProvidedReply(ApprovalRequest request) =>
        $"💬 The agent answered: {TeamsText.Escape(request.InfoResponse, 2500)}. The request is pending again.";

    public override string ReminderReply(ApprovalRequest request, DateTimeOffset now) => TeamsCards.ReminderReply(request, now);

    public override string EscalatedReply(ApprovalRequest request, FollowUp escalation) => TeamsCards.EscalatedReply(request, escalation);

    public override void LogRecovered(int count) => TeamsLog.PostsRecovered(logger, count);
}
