using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Bot.Delivery;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Delegation;
using AgentSentinel.Core.Grants;
using AgentSentinel.Core.Routing;
using AgentSentinel.Core.Storage;
using Hangfire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Bot.Teams;

/// <summary>
/// Teams for the delivery engine: posts request cards (a new conversation in the channel), updates them, replies in
/// their threads, and reads the Bot Connector's answers into the engine's classes. The connector offers no way to find
/// a card by what it carries, so an ambiguous answer is followed by a second post (logged as a possible duplicate).
/// </summary>
public sealed class TeamsTransport(
    IBotConnector connector,
    IChatConversationStore conversations,
    BotTokenProvider tokens,
    RuntimeSettings settings,
    GrantService grants,
    DelegationService delegations,
    IOptionsMonitor<TeamsOptions> options,
    IOptions<AgentSentinelOptions> product) : IChatTransport
{
    /// <summary>403 codes that concern one conversation, not the app's credentials.</summary>
    private static readonly HashSet<string> ConversationRefusals = ["BotNotInConversationRoster", "ConversationBlockedByUser"];

    /// <summary>404 codes of an update whose card was deleted.</summary>
    private static readonly HashSet<string> ActivityGone = ["ActivityNotFound", "MessageNotFound"];

    public static JsonObject CardActivity(AdaptiveCard card) => new()
    {
        ["type"] = "message",
        ["attachments"] = new JsonArray(new JsonObject
        {
            ["contentType"] = CardJson.ContentType,
            ["content"] = JsonSerializer.SerializeToNode(card, CardJson.Options),
        }),
    };

    public Surface Surface => Surface.Teams;

    public bool Enabled => options.CurrentValue.Enabled;

    public bool CanFindEarlierPost => false;

    /// <summary>The Bot Connector allows about seven messages a second per conversation.</summary>
    public TimeSpan Spacing => TimeSpan.FromMilliseconds(150);

    public async Task<PostedMessage> PostAsync(ApprovalRequest request, ChatMessage message, CancellationToken ct)
    {
        var target = await TargetAsync(message.Channel, ct);
        var activity = CardActivity(await BuildAsync(request, message.DeliveryKey, ct));
        if (target.Kind != "channel" && target.ConversationId == message.Channel)
        {
            return new PostedMessage(await connector.SendAsync(target.ServiceUrl, target.ConversationId, activity, null, ct), target.ConversationId);
        }
        var (conversationId, activityId) = await connector.CreateChannelConversationAsync(target.ServiceUrl, message.Channel, target.TenantId, activity, ct);
        return new PostedMessage(activityId, conversationId);
    }

    public async Task UpdateAsync(ApprovalRequest request, ChatMessage message, CancellationToken ct)
    {
        var target = await TargetAsync(message.Channel, ct);
        var activity = CardActivity(await BuildAsync(request, message.DeliveryKey, ct));
        await connector.UpdateAsync(target.ServiceUrl, message.ConversationId ?? message.Channel, message.MessageId!, activity, ct);
    }

    public async Task<PostedMessage> ReplyAsync(ChatMessage root, ChatMessage reply, string text, CancellationToken ct)
    {
        var target = await TargetAsync(root.Channel, ct);
        var conversation = root.ConversationId ?? root.Channel;
        var activity = new JsonObject { ["type"] = "message", ["text"] = text, ["textFormat"] = "markdown" };
        return new PostedMessage(await connector.SendAsync(target.ServiceUrl, conversation, activity, root.MessageId, ct), conversation);
    }

    public Task<EarlierPost> FindEarlierPostAsync(ChatMessage message, ChatMessage? root, CancellationToken ct) =>
        Task.FromResult(EarlierPost.Unavailable("the Bot Connector cannot search for earlier posts"));

    public DeliveryFailure? Classify(Exception exception) => ClassifyAnswer(exception);

    /// <summary>The Bot Connector's (and the token endpoint's) answers in the engine's classes.</summary>
    public static DeliveryFailure? ClassifyAnswer(Exception exception) => exception switch
    {
        BotConnectorRateLimitedException r => new(DeliveryErrorClass.NotDelivered, "429 Too Many Requests", r.RetryAfter),
        BotConnectorException { Operation: "token", Status: HttpStatusCode.BadRequest or HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden } t =>
            new(DeliveryErrorClass.Credentials, $"the token endpoint answered {(int)t.Status}"),
        BotConnectorException { Status: HttpStatusCode.Unauthorized } c => new(DeliveryErrorClass.Credentials, Reason(c)),
        BotConnectorException { Status: HttpStatusCode.Forbidden } c when c.Code is null || !ConversationRefusals.Contains(c.Code) =>
            new(DeliveryErrorClass.Credentials, Reason(c)),
        BotConnectorException { Status: HttpStatusCode.NotFound, Operation: "update" } c when c.Code is { } code && ActivityGone.Contains(code) =>
            new(DeliveryErrorClass.Permanent, Reason(c), MessageGone: true),
        BotConnectorException { Status: HttpStatusCode.OK } c => new(DeliveryErrorClass.Ambiguous, Reason(c)),
        BotConnectorException { IsPermanent: true } c => new(DeliveryErrorClass.Permanent, Reason(c)),
        BotConnectorException c => new(DeliveryErrorClass.NotDelivered, Reason(c)),
        HttpRequestException h => new(DeliveryErrorClass.Ambiguous, h.StatusCode is { } status ? $"HTTP {(int)status}" : h.Message),
        TaskCanceledException or TimeoutException => new(DeliveryErrorClass.Ambiguous, "timeout"),
        JsonException => new(DeliveryErrorClass.Ambiguous, "an answer that is not JSON"),
        _ => null,
    };

    private static string Reason(BotConnectorException e) =>
        e.Code is { } code ? $"{(int)e.Status} {code}" : $"{(int)e.Status} {e.Status}";

    /// <summary>A fresh token from the token endpoint: the credentials work again when it issues one.</summary>
    public async Task ProbeAsync(CancellationToken ct)
    {
        tokens.Invalidate();
        await tokens.GetTokenAsync(ct);
    }

    private async Task<ChatConversation> TargetAsync(string channel, CancellationToken ct) =>
        await conversations.FindByChannelAsync(Surface.Teams, channel, ct) ?? await conversations.LatestTeamAsync(Surface.Teams, ct)
            ?? throw new ChatDeliveryException(new DeliveryFailure(DeliveryErrorClass.NotDelivered,
                "no Teams installation is known for this channel: add the bot to its team"));

    /// <summary>The request's card as it should look now: the route's copy, or an escalation level's copy with its
    /// banner, naming the delegates of the people it names who are away now.</summary>
    private async Task<AdaptiveCard> BuildAsync(ApprovalRequest request, string deliveryKey, CancellationToken ct)
    {
        FollowUp? escalation = null;
        if (DeliveryKeys.LevelOf(deliveryKey) is { } level)
        {
            escalation = FollowUpPlan.Escalation(FollowUpPlan.For(request, await settings.RouteOfAsync(request, ct)), level);
        }
        var grant = request is { Status: ApprovalStatus.Approved, GrantId: null } && escalation is null ? await grants.GetBySourceAsync(request.Id, ct) : null;
        var allowance = request.Status == ApprovalStatus.Pending ? await grants.AllowanceAsync(request, ct) : null;
        var away = request.Status.IsOpen() ? await delegations.AwayAsync(request.Approvers.Concat(escalation?.Level?.Mention ?? []), ct) : [];
        var channels = request.Status.IsOpen() ? await TeamsReassign.ChannelChoicesAsync(settings, ct) : null;
        return TeamsCards.RequestCard(request, product.Value.PublicBaseUrl, TeamsCards.RefreshUsers(request.Approvers), escalation: escalation,
            grants: allowance, grant: grant, now: grants.Now, away: away, reassignChannels: channels);
    }
}

/// <summary>Teams as a chat surface. The Bot Connector cannot say whether an earlier attempt's card arrived, so start-up
/// recovery queues only cards that were never queued; an unfinished attempt is left to Hangfire's own retry.</summary>
public sealed class TeamsSurface(IOptionsMonitor<TeamsOptions> options, IBackgroundJobClient jobs, ILogger<TeamsSurface> logger) : ChatSurface(Surface.Teams, jobs)
{
    public override bool Enabled => options.CurrentValue.Enabled;

    public override bool RetriesUnfinishedClaims => false;

    public override ChannelTarget? ChannelOf(RouteDefinition route) => route.Teams;

    public override ChannelTarget? ChannelOf(EscalationLevel level) => level.Teams;

    public override string InfoRequestedReply(ApprovalRequest request, Actor asker) =>
        $"❓ {TeamsText.Escape(asker.AuditName, 254)} asked the agent: {TeamsText.Escape(request.InfoRequestMessage, 2500)}";

    public override string InfoProvidedReply(ApprovalRequest request) =>
        $"💬 The agent answered: {TeamsText.Escape(request.InfoResponse, 2500)}. The request is pending again.";

    public override string ReminderReply(ApprovalRequest request, DateTimeOffset now, IReadOnlyList<AwayNotice> away) => TeamsCards.ReminderReply(request, now, away);

    public override string EscalatedReply(ApprovalRequest request, FollowUp escalation, IReadOnlyList<AwayNotice> away) =>
        TeamsCards.EscalatedReply(request, escalation, away);

    public override string ReassignedReply(ApprovalRequest request, Reassignment reassignment) => TeamsCards.ReassignedNote(reassignment);

    public override void LogRecovered(int count) => TeamsLog.PostsRecovered(logger, count);
}
