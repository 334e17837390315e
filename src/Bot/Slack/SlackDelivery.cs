using System.Collections.Concurrent;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Routing;
using AgentSentinel.Core.Storage;
using Hangfire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Bot.Slack;

/// <summary>Spaces posts to one channel (Slack allows about one message per second per channel).</summary>
public sealed class SlackChannelPacer(IOptionsMonitor<SlackOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, (SemaphoreSlim Gate, DateTimeOffset[] Next)> _channels = new();

    public async Task<IDisposable> WaitTurnAsync(string channel, CancellationToken ct)
    {
        var (gate, next) = _channels.GetOrAdd(channel, _ => (new SemaphoreSlim(1, 1), [DateTimeOffset.MinValue]));
        await gate.WaitAsync(ct);
        var wait = next[0] - time.GetUtcNow();
        if (wait > TimeSpan.Zero)
        {
            // Timers count whole milliseconds and may fire up to a millisecond early: round up and add one, so the
            // post never reaches Slack a hair inside the spacing (which Slack answers with a 429).
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Ceiling(wait.TotalMilliseconds) + 1), time, ct);
        }
        return new Turn(gate, next, time, TimeSpan.FromSeconds(options.CurrentValue.MinSecondsBetweenPostsPerChannel));
    }

    private sealed class Turn(SemaphoreSlim gate, DateTimeOffset[] next, TimeProvider time, TimeSpan spacing) : IDisposable
    {
        public void Dispose()
        {
            next[0] = time.GetUtcNow() + spacing;
            gate.Release();
        }
    }
}

/// <summary>
/// Posting and updating Slack messages as Hangfire jobs. Each message is claimed in the store before it is posted, so
/// a retried job never posts twice: when an earlier attempt may have reached Slack (a timeout, a 5xx), the channel is
/// searched for the message's metadata before posting again. A 429 reschedules the job after <c>Retry-After</c>.
/// </summary>
public sealed class SlackDeliveryJobs(
    ISlackApi slack,
    IChatMessageStore messages,
    ApprovalService approvals,
    RuntimeSettings settings,
    SlackChannelPacer pacer,
    IBackgroundJobClient jobs,
    IOptions<AgentSentinelOptions> product,
    TimeProvider time,
    ILogger<SlackDeliveryJobs> logger)
{
    private static readonly TimeSpan SearchWindow = TimeSpan.FromMinutes(2);

    /// <summary>How long a claim is presumed to belong to an attempt that is still running.</summary>
    public static readonly TimeSpan ClaimInFlightWindow = TimeSpan.FromSeconds(30);

    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600])]
    public Task PostRequestAsync(Guid approvalId, string channel, CancellationToken ct) =>
        PostRequestMessageAsync(approvalId, channel, DeliveryKeys.Root, j => j.PostRequestAsync(approvalId, channel, CancellationToken.None), ct);

    /// <summary>The request posted again, with the level's banner and mentions, to an escalation level's channel.</summary>
    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600])]
    public Task PostEscalationAsync(Guid approvalId, string channel, int level, CancellationToken ct) =>
        PostRequestMessageAsync(approvalId, channel, DeliveryKeys.Escalation(level), j => j.PostEscalationAsync(approvalId, channel, level, CancellationToken.None), ct);

    private async Task PostRequestMessageAsync(Guid approvalId, string channel, string deliveryKey,
        System.Linq.Expressions.Expression<Func<SlackDeliveryJobs, Task>> again, CancellationToken ct)
    {
        var request = await approvals.GetAsync(approvalId, ct);
        if (request is null)
        {
            return;
        }
        var (message, claimed) = await messages.ClaimAsync(approvalId, Surface.Slack, channel, deliveryKey, time.GetUtcNow(), ct);
        if (message.State != ChatMessageState.Claimed)
        {
            return;
        }
        if (!claimed && message.LastError is null && time.GetUtcNow() - message.ClaimedAt < ClaimInFlightWindow)
        {
            // Another attempt claimed it moments ago and has not failed: it may be posting right now, and searching
            // the channel could miss that post and send a second one. Let Hangfire run this attempt again later.
            SlackLog.ClaimInFlight(logger, approvalId, channel);
            throw new ChatClaimInFlightException(approvalId, channel);
        }
        if (!claimed && await AdoptEarlierPostAsync(message, ct))
        {
            jobs.Enqueue<SlackDeliveryJobs>(j => j.UpdateRequestAsync(approvalId, CancellationToken.None));
            return;
        }
        var payload = await BuildAsync(request, channel, deliveryKey, null, ct);
        var ts = await SendAsync(message, () => slack.PostMessageAsync(payload, ct), again, ct);
        if (ts is null)
        {
            return;
        }
        await messages.MarkPostedAsync(message.Id, ts, null, channel, time.GetUtcNow(), ct);
        SlackLog.Posted(logger, approvalId, channel, ts);
        // The request may have changed while the message was on its way.
        var now = await approvals.GetAsync(approvalId, ct);
        if (now is not null && (now.Version != request.Version || now.Status != request.Status))
        {
            jobs.Enqueue<SlackDeliveryJobs>(j => j.UpdateRequestAsync(approvalId, CancellationToken.None));
        }
    }

    /// <summary>The request's message as it should look now: the route's copy, or an escalation level's copy with its banner.</summary>
    private async Task<SlackMessage> BuildAsync(ApprovalRequest request, string channel, string deliveryKey, string? ts, CancellationToken ct)
    {
        var route = await settings.RouteOfAsync(request, ct);
        var escalation = DeliveryKeys.LevelOf(deliveryKey) is { } level ? FollowUpPlan.Escalation(FollowUpPlan.For(request, route), level) : null;
        return SlackMessages.RequestMessage(request, channel, route?.Mention, product.Value.PublicBaseUrl, ts, escalation);
    }

    /// <summary>Redraws every posted message of the request from its current state.</summary>
    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600])]
    public async Task UpdateRequestAsync(Guid approvalId, CancellationToken ct)
    {
        var request = await approvals.GetAsync(approvalId, ct);
        if (request is null)
        {
            return;
        }
        foreach (var message in await messages.ListAsync(approvalId, Surface.Slack, ct))
        {
            if (!DeliveryKeys.IsRequestMessage(message.DeliveryKey))
            {
                continue;
            }
            if (message.State == ChatMessageState.Claimed)
            {
                // Not posted yet: the post job enqueues an update when it sees a newer state.
                continue;
            }
            if (message.State != ChatMessageState.Posted)
            {
                continue;
            }
            var payload = await BuildAsync(request, message.Channel, message.DeliveryKey, message.MessageId, ct);
            using (await pacer.WaitTurnAsync(message.Channel, ct))
            {
                try
                {
                    await slack.UpdateMessageAsync(payload, ct);
                }
                catch (SlackRateLimitedException e)
                {
                    jobs.Schedule<SlackDeliveryJobs>(j => j.UpdateRequestAsync(approvalId, CancellationToken.None), e.RetryAfter);
                    return;
                }
                catch (SlackApiException e) when (e.IsPermanent)
                {
                    SlackLog.DeliveryFailed(logger, approvalId, message.Channel, e.Error);
                    continue;
                }
            }
            SlackLog.Updated(logger, approvalId, message.Channel, request.Status.ToWire());
        }
    }

    /// <summary>A reply in the thread of the request's message (an info request, the agent's answer).</summary>
    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600])]
    public async Task PostReplyAsync(Guid approvalId, string deliveryKey, string text, CancellationToken ct)
    {
        foreach (var root in await messages.ListAsync(approvalId, Surface.Slack, ct))
        {
            if (root.DeliveryKey != DeliveryKeys.Root || root.State == ChatMessageState.Failed)
            {
                continue;
            }
            if (root.State != ChatMessageState.Posted)
            {
                // The thread does not exist yet; Hangfire retries this job shortly.
                throw new InvalidOperationException($"The Slack message of {approvalId} in {root.Channel} is not posted yet.");
            }
            var (reply, claimed) = await messages.ClaimAsync(approvalId, Surface.Slack, root.Channel, deliveryKey, time.GetUtcNow(), ct);
            if (reply.State != ChatMessageState.Claimed || (!claimed && await AdoptEarlierPostAsync(reply, ct)))
            {
                continue;
            }
            var payload = SlackMessages.ThreadReply(root.Channel, root.MessageId!, approvalId, deliveryKey, text);
            var ts = await SendAsync(reply, () => slack.PostMessageAsync(payload, ct), j => j.PostReplyAsync(approvalId, deliveryKey, text, CancellationToken.None), ct);
            if (ts is not null)
            {
                await messages.MarkPostedAsync(reply.Id, ts, root.MessageId, root.Channel, time.GetUtcNow(), ct);
            }
        }
    }

    [AutomaticRetry(Attempts = 3, DelaysInSeconds = [1, 5, 15])]
    public Task PostEphemeralAsync(string channel, string user, string text, CancellationToken ct) =>
        slack.PostEphemeralAsync(channel, user, text, ct);

    /// <summary>A claimed message whose earlier attempt may have reached Slack: adopt it if the channel shows it.</summary>
    private async Task<bool> AdoptEarlierPostAsync(ChatMessage message, CancellationToken ct)
    {
        var ts = await slack.FindPostedMessageAsync(message.Channel, message.ApprovalId, message.DeliveryKey, message.ClaimedAt - SearchWindow, ct);
        if (ts is null)
        {
            return false;
        }
        var root = DeliveryKeys.IsRequestMessage(message.DeliveryKey) ? null
            : (await messages.ListAsync(message.ApprovalId, Surface.Slack, ct)).FirstOrDefault(m => m.DeliveryKey == DeliveryKeys.Root && m.Channel == message.Channel)?.MessageId;
        await messages.MarkPostedAsync(message.Id, ts, root, message.Channel, time.GetUtcNow(), ct);
        SlackLog.Adopted(logger, message.ApprovalId, message.Channel, ts);
        return true;
    }

    /// <summary>Sends in the channel's turn. A 429 reschedules the job; a permanent error marks the message failed;
    /// anything else is recorded and thrown so Hangfire retries.</summary>
    private async Task<string?> SendAsync(ChatMessage message, Func<Task<string>> send, System.Linq.Expressions.Expression<Func<SlackDeliveryJobs, Task>> again, CancellationToken ct)
    {
        using var turn = await pacer.WaitTurnAsync(message.Channel, ct);
        try
        {
            return await send();
        }
        catch (SlackRateLimitedException e)
        {
            await messages.RecordErrorAsync(message.Id, e.Message, failed: false, time.GetUtcNow(), ct);
            jobs.Schedule(again, e.RetryAfter);
            SlackLog.RateLimited(logger, message.ApprovalId, message.Channel, e.RetryAfter);
            return null;
        }
        catch (SlackApiException e) when (e.IsPermanent)
        {
            await messages.RecordErrorAsync(message.Id, e.Message, failed: true, time.GetUtcNow(), ct);
            SlackLog.DeliveryFailed(logger, message.ApprovalId, message.Channel, e.Error);
            return null;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or SlackApiException)
        {
            await messages.RecordErrorAsync(message.Id, e.Message, failed: false, time.GetUtcNow(), CancellationToken.None);
            throw;
        }
    }
}

/// <summary>Thrown (so that Hangfire retries later) when a message was claimed moments ago by another attempt.</summary>
public sealed class ChatClaimInFlightException(Guid approvalId, string channel)
    : Exception($"The Slack message of {approvalId} in {channel} was claimed moments ago by another attempt.");

/// <summary>Slack as a chat surface. Its post job searches the channel for an earlier post before posting again, so
/// start-up recovery may also retry posts an attempt claimed and never finished.</summary>
public sealed class SlackSurface(IOptionsMonitor<SlackOptions> options, IBackgroundJobClient jobs, ILogger<SlackSurface> logger) : ChatSurface(Surface.Slack)
{
    public override bool Enabled => options.CurrentValue.Enabled;

    public override bool RetriesUnfinishedClaims => true;

    public override ChannelTarget? ChannelOf(RouteDefinition route) => route.Slack;

    public override ChannelTarget? ChannelOf(EscalationLevel level) => level.Slack;

    public override void EnqueuePost(Guid approvalId, string channel) =>
        jobs.Enqueue<SlackDeliveryJobs>(j => j.PostRequestAsync(approvalId, channel, CancellationToken.None));

    public override void EnqueueEscalation(Guid approvalId, string channel, int level) =>
        jobs.Enqueue<SlackDeliveryJobs>(j => j.PostEscalationAsync(approvalId, channel, level, CancellationToken.None));

    public override void EnqueueRedraw(Guid approvalId) =>
        jobs.Enqueue<SlackDeliveryJobs>(j => j.UpdateRequestAsync(approvalId, CancellationToken.None));

    public override void EnqueueReply(Guid approvalId, string deliveryKey, string text) =>
        jobs.Enqueue<SlackDeliveryJobs>(j => j.PostReplyAsync(approvalId, deliveryKey, text, CancellationToken.None));

    public override string InfoRequestedReply(ApprovalRequest request, Actor asker) => SlackMessages.InfoRequestedReply(
        asker.Surface == Surface.Slack && asker.UserId is { } u && SlackIds.IsUserId(u) ? $"<@{u}>" : SlackText.Escape(asker.AuditName),
        request.InfoRequestMessage ?? "");

    public override string InfoProvidedReply(ApprovalRequest request) => SlackMessages.InfoProvidedReply(request.InfoResponse ?? "");

    public override string ReminderReply(ApprovalRequest request, DateTimeOffset now) => SlackMessages.ReminderReply(request, now);

    public override string EscalatedReply(ApprovalRequest request, FollowUp escalation) => SlackMessages.EscalatedReply(request, escalation);

    public override void LogRecovered(int count) => SlackLog.PostsRecovered(logger, count);
}

/// <summary>
/// Who clicked in Slack, as a decider. A Slack user is a person this server knows only when <c>users.info</c> shows an
/// active, non-guest member of the workspace the click came from, with an email Slack has confirmed, and that email
/// belongs to an active approver identity. Nothing is cached: the user and the identity are looked up at every click,
/// so a revoked key or a deactivated account stops the person at once. When in doubt the person is unknown, with the
/// reason, and decides nothing.
/// </summary>
public sealed class SlackDirectory(ISlackApi slack, IApproverDirectory approvers, ILogger<SlackDirectory> logger)
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
        return Decider.Known(identity, Surface.Slack, name, userId);
    }
}
