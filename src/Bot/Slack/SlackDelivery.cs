using AgentSentinel.Bot.Delivery;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Delegation;
using AgentSentinel.Core.Grants;
using AgentSentinel.Core.Routing;
using AgentSentinel.Core.Storage;
using Hangfire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Bot.Slack;

/// <summary>
/// Slack for the delivery engine: posts and updates request messages (<c>chat.postMessage</c>, <c>chat.update</c>),
/// replies in their threads, finds an earlier attempt's post by its metadata (<c>conversations.history</c>, and
/// <c>conversations.replies</c> for a reply) and reads Slack's answers into the engine's classes.
/// </summary>
public sealed class SlackTransport(
    ISlackApi slack,
    RuntimeSettings settings,
    GrantService grants,
    DelegationService delegations,
    IOptionsMonitor<SlackOptions> options,
    IOptions<AgentSentinelOptions> product) : IChatTransport
{
    /// <summary>How far before its claim an earlier attempt's post is looked for.</summary>
    private static readonly TimeSpan SearchWindow = TimeSpan.FromMinutes(2);

    public Surface Surface => Surface.Slack;

    public bool Enabled => options.CurrentValue.Enabled;

    public bool CanFindEarlierPost => true;

    public TimeSpan Spacing => TimeSpan.FromSeconds(options.CurrentValue.MinSecondsBetweenPostsPerChannel);

    public async Task<PostedMessage> PostAsync(ApprovalRequest request, ChatMessage message, CancellationToken ct)
    {
        var ts = await slack.PostMessageAsync(await BuildAsync(request, message.Channel, message.DeliveryKey, null, ct), ct);
        return new PostedMessage(ts, message.Channel);
    }

    public async Task UpdateAsync(ApprovalRequest request, ChatMessage message, CancellationToken ct) =>
        await slack.UpdateMessageAsync(await BuildAsync(request, message.Channel, message.DeliveryKey, message.MessageId, ct), ct);

    public async Task<PostedMessage> ReplyAsync(ChatMessage root, ChatMessage reply, string text, CancellationToken ct)
    {
        var ts = await slack.PostMessageAsync(SlackMessages.ThreadReply(root.Channel, root.MessageId!, reply.ApprovalId, reply.DeliveryKey, text), ct);
        return new PostedMessage(ts, root.Channel);
    }

    public async Task<EarlierPost> FindEarlierPostAsync(ChatMessage message, ChatMessage? root, CancellationToken ct)
    {
        try
        {
            var since = message.ClaimedAt - SearchWindow;
            var ts = root?.MessageId is { } thread
                ? await slack.FindReplyAsync(message.Channel, thread, message.ApprovalId, message.DeliveryKey, since, ct)
                : await slack.FindPostedMessageAsync(message.Channel, message.ApprovalId, message.DeliveryKey, since, ct);
            return ts is null ? EarlierPost.NotFound : new EarlierPost(LookupOutcome.Found, new PostedMessage(ts, message.Channel));
        }
        catch (SlackApiException e)
        {
            // not_in_channel (the bot posts through chat:write.public), missing_scope, ratelimited, ...
            return EarlierPost.Unavailable($"{e.Method}: {e.Error}");
        }
        catch (Exception e) when (!ct.IsCancellationRequested && e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
        {
            return EarlierPost.Unavailable(e.Message);
        }
    }

    public DeliveryFailure? Classify(Exception exception) => ClassifyAnswer(exception);

    /// <summary>Slack's answers in the engine's classes (also used for Slack calls outside the engine).</summary>
    public static DeliveryFailure? ClassifyAnswer(Exception exception) => exception switch
    {
        SlackRateLimitedException r => new(DeliveryErrorClass.NotDelivered, "ratelimited", r.RetryAfter),
        SlackApiException { IsCredentials: true } a => new(DeliveryErrorClass.Credentials, a.Error),
        SlackApiException { Error: "message_not_found", Method: "chat.update" } a => new(DeliveryErrorClass.Permanent, a.Error, MessageGone: true),
        SlackApiException { IsPermanent: true } a => new(DeliveryErrorClass.Permanent, a.Error),
        SlackApiException a when SlackApiException.ServerErrors.Contains(a.Error) || a.Error.StartsWith("no ts", StringComparison.Ordinal) =>
            new(DeliveryErrorClass.Ambiguous, a.Error),
        // Any other ok:false is an answer that Slack did not store the message (invalid_arguments and the like).
        SlackApiException a => new(DeliveryErrorClass.NotDelivered, a.Error),
        HttpRequestException h => new(DeliveryErrorClass.Ambiguous, h.StatusCode is { } status ? $"HTTP {(int)status}" : h.Message),
        TaskCanceledException or TimeoutException => new(DeliveryErrorClass.Ambiguous, "timeout"),
        System.Text.Json.JsonException => new(DeliveryErrorClass.Ambiguous, "an answer that is not JSON"),
        _ => null,
    };

    public Task ProbeAsync(CancellationToken ct) => slack.TestAuthAsync(ct);

    /// <summary>The request's message as it should look now: the route's copy, or an escalation level's copy with its
    /// banner, naming the delegates of the people it names who are away now.</summary>
    private async Task<SlackMessage> BuildAsync(ApprovalRequest request, string channel, string deliveryKey, string? ts, CancellationToken ct)
    {
        var route = await settings.RouteOfAsync(request, ct);
        var escalation = DeliveryKeys.LevelOf(deliveryKey) is { } level ? FollowUpPlan.Escalation(FollowUpPlan.For(request, route), level) : null;
        var grant = request is { Status: ApprovalStatus.Approved, GrantId: null } && escalation is null ? await grants.GetBySourceAsync(request.Id, ct) : null;
        var away = request.Status.IsOpen() ? await delegations.AwayAsync(request.Approvers.Concat(escalation?.Level?.Mention ?? []), ct) : [];
        return SlackMessages.RequestMessage(request, channel, route?.Mention, product.Value.PublicBaseUrl, ts, escalation, grant, grants.Now, deliveryKey, away);
    }
}

/// <summary>Slack notes outside the engine: an ephemeral message to one person (only they see it). A 429 waits for
/// its Retry-After; a note that cannot be sent within a few tries is dropped (it is only a courtesy).</summary>
public sealed class SlackDeliveryJobs(ISlackApi slack, IBackgroundJobClient jobs, ILogger<SlackDeliveryJobs> logger)
{
    private const int MaxEphemeralAttempts = 4;

    public Task PostEphemeralAsync(string channel, string user, string text, CancellationToken ct) =>
        PostEphemeralAsync(channel, user, text, 1, ct);

    public async Task PostEphemeralAsync(string channel, string user, string text, int attempt, CancellationToken ct)
    {
        try
        {
            await slack.PostEphemeralAsync(channel, user, text, ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested && SlackTransport.ClassifyAnswer(e) is { } failure)
        {
            if (failure.Class is DeliveryErrorClass.Permanent or DeliveryErrorClass.Credentials || attempt >= MaxEphemeralAttempts)
            {
                SlackLog.EphemeralDropped(logger, channel, failure.Reason);
                return;
            }
            var next = attempt + 1;
            jobs.Schedule<SlackDeliveryJobs>(j => j.PostEphemeralAsync(channel, user, text, next, CancellationToken.None), DeliveryPolicy.Delay(attempt, failure.RetryAfter));
        }
    }
}

/// <summary>Slack as a chat surface. Its post job searches the channel for an earlier post before posting again, so
/// start-up recovery may also retry posts an attempt claimed and never finished.</summary>
public sealed class SlackSurface(IOptionsMonitor<SlackOptions> options, IBackgroundJobClient jobs, ILogger<SlackSurface> logger) : ChatSurface(Surface.Slack, jobs)
{
    public override bool Enabled => options.CurrentValue.Enabled;

    public override bool RetriesUnfinishedClaims => true;

    public override ChannelTarget? ChannelOf(RouteDefinition route) => route.Slack;

    public override ChannelTarget? ChannelOf(EscalationLevel level) => level.Slack;

    public override string InfoRequestedReply(ApprovalRequest request, Actor asker) => SlackMessages.InfoRequestedReply(
        asker.Surface == Surface.Slack && asker.UserId is { } u && SlackIds.IsUserId(u) ? $"<@{u}>" : SlackText.Escape(asker.AuditName),
        request.InfoRequestMessage ?? "");

    public override string InfoProvidedReply(ApprovalRequest request) => SlackMessages.InfoProvidedReply(request.InfoResponse ?? "");

    public override string ReminderReply(ApprovalRequest request, DateTimeOffset now, IReadOnlyList<AwayNotice> away) => SlackMessages.ReminderReply(request, now, away);

    public override string EscalatedReply(ApprovalRequest request, FollowUp escalation, IReadOnlyList<AwayNotice> away) =>
        SlackMessages.EscalatedReply(request, escalation, away);

    public override string ReassignedReply(ApprovalRequest request, Reassignment reassignment) => SlackMessages.ReassignedNote(reassignment);

    public override void LogRecovered(int count) => SlackLog.PostsRecovered(logger, count);
}

/// <summary>
/// Who clicked in Slack, as a decider. A Slack user is a person this server knows only when <c>users.info</c> shows an
/// active, non-guest member of the workspace the click came from, with an email Slack has confirmed, and that email
/// belongs to an active approver identity. Nothing is cached: the user and the identity are looked up at every click,
/// so a revoked key or a deactivated account stops the person at once. When in doubt the person is unknown, with the
/// reason, and decides nothing.
/// </summary>
public sealed class SlackDirectory(ISlackApi slack, IApproverDirectory approvers, DelegationService delegations, ILogger<SlackDirectory> logger)
{
    public const string Platform = "Slack";

    /// <param name="teamId">The workspace the request came from (the payload's <c>team.id</c>, a command's <c>team_id</c>).</param>
    public async Task<Decider> DeciderAsync(string userId, string? teamId, string? fallbackName, CancellationToken ct)
    {
        SlackUser? user;
        try
        {
            user = await slack.GetUserAsync(userId, ct);
        }
        catch (Exception e) when (e is HttpRequestException or SlackApiException or OperationCanceledException)
        {
            SlackLog.UserLookupFailed(logger, e, userId);
            return Decider.Unknown(Surface.Slack, fallbackName ?? userId, userId, IdentityProblem.LookupFailed);
        }
        var name = user?.RealName ?? user?.Name ?? fallbackName ?? userId;
        var problem = user switch
        {
            null => IdentityProblem.NotAnActiveMember,
            { Deleted: true } => IdentityProblem.NotAnActiveMember,
            _ when user.Id != userId => IdentityProblem.NotAnActiveMember,
            { IsBot: true } => IdentityProblem.Bot,
            { IsStranger: true } => IdentityProblem.OtherOrganisation,
            _ when teamId is null || user.TeamId is null || !string.Equals(user.TeamId, teamId, StringComparison.Ordinal) => IdentityProblem.OtherOrganisation,
            { IsGuest: true } => IdentityProblem.Guest,
            { EmailConfirmed: false } => IdentityProblem.NoVerifiedEmail,
            _ when string.IsNullOrWhiteSpace(user.Email) => IdentityProblem.NoVerifiedEmail,
            _ => (IdentityProblem?)null,
        };
        var identity = problem is null ? await approvers.FindByEmailAsync(user!.Email!, ct) : null;
        if (identity is null)
        {
            var refused = problem ?? IdentityProblem.NoApproverWithEmail;
            SlackLog.UnknownPerson(logger, userId, refused.ToString());
            return Decider.Unknown(Surface.Slack, name, userId, refused);
        }
        return await delegations.WithDelegationsAsync(Decider.Known(identity, Surface.Slack, name, userId), ct);
    }
}
