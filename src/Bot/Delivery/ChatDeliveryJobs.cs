using System.Linq.Expressions;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Storage;
using Hangfire;
using Microsoft.Extensions.Logging;

namespace AgentSentinel.Bot.Delivery;

/// <summary>The retry policy of chat delivery, in one place.</summary>
public static class DeliveryPolicy
{
    private static readonly TimeSpan[] Backoff =
        [.. new[] { 1, 2, 5, 10, 20, 30, 60, 120, 300, 600 }.Select(s => TimeSpan.FromSeconds(s))];

    /// <summary>After this many attempts a delivery is recorded as failed (an administrator can retry it).</summary>
    public const int MaxAttempts = 20;

    /// <summary>How long a claim with no recorded owner (made before claims named their server instance) is presumed
    /// to belong to an attempt that is still running.</summary>
    public static readonly TimeSpan ClaimInFlightWindow = TimeSpan.FromSeconds(30);

    /// <summary>How long the dispatcher waits, on a channel without spacing, for a write that holds the channel's turn
    /// right now before it hands the delivery to a job; on a paced channel it takes only a turn that is free at once,
    /// and it never waits for the channel's pacing.</summary>
    public static readonly TimeSpan DispatcherTurnWait = TimeSpan.FromSeconds(2);

    /// <summary>When an attempt that met a claim in flight tries again.</summary>
    public static readonly TimeSpan InFlightRetry = TimeSpan.FromSeconds(10);

    /// <summary>The wait before attempt <paramref name="attempt"/> + 1: the platform's <c>Retry-After</c> when it gave
    /// one, the backoff otherwise.</summary>
    public static TimeSpan Delay(int attempt, TimeSpan? retryAfter) =>
        retryAfter is { } r && r > TimeSpan.Zero ? r : Backoff[Math.Clamp(attempt - 1, 0, Backoff.Length - 1)];
}

/// <summary>
/// The delivery engine: every chat message (a request's message, an escalation level's copy, a thread reply) and every
/// redraw goes through these jobs, on Slack and Teams alike. Each delivery is claimed in <c>chat_messages</c> before it
/// is sent (a retried job never posts twice), paced per channel, sent through the surface's <see cref="IChatTransport"/>,
/// and the platform's answer is classified:
/// <list type="bullet">
/// <item><b>not delivered</b> (a 429, a validation error): tried again after <c>Retry-After</c> or the backoff, with no lookup;</item>
/// <item><b>ambiguous</b> (a timeout, a 5xx, a dropped connection): the next attempt first looks for the earlier post
/// where the platform can, and posts anyway (logging that a duplicate is possible) when the lookup is unavailable;</item>
/// <item><b>permanent</b> (the channel is gone, the bot is not in it, the message is refused): recorded as failed
/// with the platform's reason, listed for administrators, retried only when one asks;</item>
/// <item><b>credentials</b> (the token is revoked or refused): the surface pauses (<see cref="SurfacePause"/>), the
/// job waits with its claim, and delivery resumes by itself once the credentials work again;</item>
/// <item>an update of a deleted message: the current state is posted again and the new message adopted.</item>
/// </list>
/// Failures that are not the platform's answer (the database is down) are left to the job's own retries.
/// <para>The outbox dispatcher carries a delivery out itself (<see cref="PostNowAsync"/>, <see cref="RedrawNowAsync"/>,
/// <see cref="ReplyNowAsync"/>) when the channel has a free turn right now and the surface is not paused, with the
/// same claim, classification and record as the jobs; it hands the delivery to one of these jobs whenever it would
/// have to wait (pacing, a retry after a failure, a pause, a claim in flight). Every attempt on a delivery holds its
/// key in <see cref="ClaimLeases"/> for its duration, and a claim met again is taken over only when no attempt of this
/// process holds it and the instance that made it is gone (<see cref="ServerInstance"/>).</para>
/// </summary>
[AutomaticRetry(Attempts = 10, DelaysInSeconds = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600])]
public sealed class ChatDeliveryJobs(
    IEnumerable<IChatTransport> transports,
    IChatMessageStore messages,
    ApprovalService approvals,
    ChannelPacer pacer,
    SurfacePause pause,
    ClaimLeases leases,
    ServerInstance instance,
    IBackgroundJobClient jobs,
    TimeProvider time,
    ILogger<ChatDeliveryJobs> logger)
{
    /// <summary>Posts a request message (<see cref="DeliveryKeys.Root"/> or an escalation level's key) to a channel.</summary>
    public Task PostAsync(Surface surface, Guid approvalId, string channel, string deliveryKey, CancellationToken ct) =>
        PostAsync(surface, approvalId, channel, deliveryKey, Lane.Job, ct);

    /// <summary>The dispatcher's post: carried out now when the channel has a free turn, else queued as a job.</summary>
    public Task PostNowAsync(Surface surface, Guid approvalId, string channel, string deliveryKey, CancellationToken ct) =>
        PostAsync(surface, approvalId, channel, deliveryKey, Lane.Dispatcher, ct);

    private async Task PostAsync(Surface surface, Guid approvalId, string channel, string deliveryKey, Lane lane, CancellationToken ct)
    {
        var transport = Transport(surface);
        var request = transport.Enabled ? await approvals.GetAsync(approvalId, ct) : null;
        if (request is null)
        {
            return;
        }
        Expression<Func<ChatDeliveryJobs, Task>> again = j => j.PostAsync(surface, approvalId, channel, deliveryKey, CancellationToken.None);
        if (await pause.HoldAsync(transport, ct) is { } hold)
        {
            jobs.Schedule(again, hold);
            return;
        }
        using var lease = leases.TryEnter(approvalId, surface, channel, deliveryKey);
        if (HandedOver(lane, lease, transport, channel, again))
        {
            return;
        }
        var (message, claimed) = await messages.ClaimAsync(approvalId, surface, channel, deliveryKey, time.GetUtcNow(), ct);
        if (!await ReadyToSendAsync(transport, message, claimed, root: null, again, ct)
            || await TurnAsync(lane, transport, channel, message, lease!, again, ct) is not { } turn)
        {
            return;
        }
        PostedMessage posted;
        try
        {
            using (turn)
            {
                posted = await transport.PostAsync(request, message, ct);
            }
        }
        catch (Exception e) when (Classify(transport, e, ct) is { } failure)
        {
            await HandleFailureAsync(transport, message, failure, again);
            return;
        }
        await messages.MarkPostedAsync(message.Id, posted.MessageId, null, posted.ConversationId, time.GetUtcNow(), ct);
        DeliveryLog.Posted(logger, surface.ToWire(), deliveryKey, approvalId, channel, posted.MessageId);
        // The request may have changed while the message was on its way.
        var now = await approvals.GetAsync(approvalId, ct);
        if (now is not null && (now.Version != request.Version || now.Status != request.Status))
        {
            if (lane == Lane.Dispatcher)
            {
                await RedrawAsync(surface, approvalId, 0, lane, ct);
            }
            else
            {
                jobs.Enqueue<ChatDeliveryJobs>(j => j.RedrawAsync(surface, approvalId, 0, CancellationToken.None));
            }
        }
    }

    /// <summary>Redraws every posted request message of the request on the surface from its current state.</summary>
    public Task RedrawAsync(Surface surface, Guid approvalId, int attempt, CancellationToken ct) =>
        RedrawAsync(surface, approvalId, attempt, Lane.Job, ct);

    /// <summary>The dispatcher's redraw: the updates whose channel has a free turn now are sent now; at the first that
    /// has none, the whole redraw is queued as a job (an update can be sent again safely).</summary>
    public Task RedrawNowAsync(Surface surface, Guid approvalId, CancellationToken ct) =>
        RedrawAsync(surface, approvalId, 0, Lane.Dispatcher, ct);

    private async Task RedrawAsync(Surface surface, Guid approvalId, int attempt, Lane lane, CancellationToken ct)
    {
        var transport = Transport(surface);
        var request = transport.Enabled ? await approvals.GetAsync(approvalId, ct) : null;
        if (request is null)
        {
            return;
        }
        if (await pause.HoldAsync(transport, ct) is { } hold)
        {
            jobs.Schedule<ChatDeliveryJobs>(j => j.RedrawAsync(surface, approvalId, attempt, CancellationToken.None), hold);
            return;
        }
        TimeSpan? retry = null;
        foreach (var message in await messages.ListAsync(approvalId, surface, ct))
        {
            // A claim not posted yet is redrawn by its post job, which enqueues a redraw when it sees a newer state.
            if (!DeliveryKeys.IsRequestMessage(message.DeliveryKey) || message.State != ChatMessageState.Posted)
            {
                continue;
            }
            var failure = await TryAsync(transport, message.Channel, lane, () => transport.UpdateAsync(request, message, ct), ct);
            if (failure is { MessageGone: true })
            {
                DeliveryLog.Reposting(logger, surface.ToWire(), approvalId, message.Channel, failure.Reason);
                failure = await TryAsync(transport, message.Channel, lane, async () =>
                {
                    var posted = await transport.PostAsync(request, message, ct);
                    await messages.MarkPostedAsync(message.Id, posted.MessageId, message.ThreadId, posted.ConversationId, time.GetUtcNow(), ct);
                    DeliveryLog.Posted(logger, surface.ToWire(), message.DeliveryKey, approvalId, message.Channel, posted.MessageId);
                }, ct);
            }
            if (failure is null)
            {
                DeliveryLog.Updated(logger, surface.ToWire(), approvalId, message.Channel, request.Status.ToWire());
                continue;
            }
            if (ReferenceEquals(failure, NoTurnNow))
            {
                jobs.Enqueue<ChatDeliveryJobs>(j => j.RedrawAsync(surface, approvalId, attempt, CancellationToken.None));
                return;
            }
            await messages.RecordErrorAsync(message.Id, failure.Reason, failure.Class, failed: false, time.GetUtcNow(), CancellationToken.None);
            if (failure.Class == DeliveryErrorClass.Permanent)
            {
                DeliveryLog.Failed(logger, surface.ToWire(), "update", approvalId, message.Channel, failure.Reason);
                continue;
            }
            if (failure.Class == DeliveryErrorClass.Credentials)
            {
                pause.Pause(surface, failure.Reason);
                retry = await pause.HoldAsync(transport, CancellationToken.None) ?? TimeSpan.FromSeconds(1);
                break;
            }
            // Not delivered or ambiguous: an update can be sent again safely; the whole redraw runs again later.
            if (failure.RetryAfter is { } after)
            {
                pacer.Hold(surface, message.Channel, after);
            }
            retry = DeliveryPolicy.Delay(attempt + 1, failure.RetryAfter);
            DeliveryLog.Retrying(logger, surface.ToWire(), "update", approvalId, message.Channel, failure.Class.ToWire(), failure.Reason, attempt + 1, retry.Value);
            break;
        }
        if (retry is { } delay)
        {
            if (attempt + 1 >= DeliveryPolicy.MaxAttempts)
            {
                DeliveryLog.GaveUp(logger, surface.ToWire(), "redraw", approvalId, attempt + 1, "the platform kept refusing the update");
                return;
            }
            var next = attempt + 1;
            jobs.Schedule<ChatDeliveryJobs>(j => j.RedrawAsync(surface, approvalId, next, CancellationToken.None), delay);
        }
    }

    /// <summary>A reply in the thread of the request's message (a question, the agent's answer, a reminder, an
    /// escalation note). It waits for the request's message to be posted first.</summary>
    public Task ReplyAsync(Surface surface, Guid approvalId, string deliveryKey, string text, int attempt, CancellationToken ct) =>
        ReplyAsync(surface, approvalId, deliveryKey, text, attempt, Lane.Job, ct);

    /// <summary>The dispatcher's thread reply: sent now where the root's channel has a free turn, else queued as a job.</summary>
    public Task ReplyNowAsync(Surface surface, Guid approvalId, string deliveryKey, string text, CancellationToken ct) =>
        ReplyAsync(surface, approvalId, deliveryKey, text, 0, Lane.Dispatcher, ct);

    private async Task ReplyAsync(Surface surface, Guid approvalId, string deliveryKey, string text, int attempt, Lane lane, CancellationToken ct)
    {
        var transport = Transport(surface);
        if (!transport.Enabled)
        {
            return;
        }
        if (await pause.HoldAsync(transport, ct) is { } hold)
        {
            jobs.Schedule<ChatDeliveryJobs>(j => j.ReplyAsync(surface, approvalId, deliveryKey, text, attempt, CancellationToken.None), hold);
            return;
        }
        var rootPending = false;
        foreach (var root in await messages.ListAsync(approvalId, surface, ct))
        {
            if (root.DeliveryKey != DeliveryKeys.Root || root.State == ChatMessageState.Failed)
            {
                continue;
            }
            if (root.State != ChatMessageState.Posted)
            {
                rootPending = true; // the thread does not exist yet
                continue;
            }
            Expression<Func<ChatDeliveryJobs, Task>> again = j => j.ReplyAsync(surface, approvalId, deliveryKey, text, attempt, CancellationToken.None);
            using var lease = leases.TryEnter(approvalId, surface, root.Channel, deliveryKey);
            if (HandedOver(lane, lease, transport, root.Channel, again))
            {
                return; // the job replies in every root's thread where the reply is not posted yet
            }
            var (reply, claimed) = await messages.ClaimAsync(approvalId, surface, root.Channel, deliveryKey, time.GetUtcNow(), ct, body: text);
            if (!await ReadyToSendAsync(transport, reply, claimed, root, again, ct))
            {
                continue;
            }
            if (await TurnAsync(lane, transport, root.Channel, reply, lease!, again, ct) is not { } turn)
            {
                return;
            }
            PostedMessage posted;
            try
            {
                using (turn)
                {
                    posted = await transport.ReplyAsync(root, reply, text, ct);
                }
            }
            catch (Exception e) when (Classify(transport, e, ct) is { } failure)
            {
                await HandleFailureAsync(transport, reply, failure, again);
                continue;
            }
            await messages.MarkPostedAsync(reply.Id, posted.MessageId, root.MessageId, posted.ConversationId, time.GetUtcNow(), ct);
            DeliveryLog.Posted(logger, surface.ToWire(), deliveryKey, approvalId, root.Channel, posted.MessageId);
        }
        if (rootPending)
        {
            var next = attempt + 1;
            if (next >= DeliveryPolicy.MaxAttempts)
            {
                DeliveryLog.GaveUp(logger, surface.ToWire(), deliveryKey, approvalId, next, "the request's message was never posted");
                return;
            }
            jobs.Schedule<ChatDeliveryJobs>(j => j.ReplyAsync(surface, approvalId, deliveryKey, text, next, CancellationToken.None), DeliveryPolicy.Delay(next, null));
        }
    }

    /// <summary>Sends a failed delivery again, as an administrator asked: the claim is reset (attempts from zero)
    /// and its job queued. False when the delivery is not failed.</summary>
    public async Task<bool> RetryFailedAsync(ChatMessage message, string actor, CancellationToken ct)
    {
        if (!await messages.ResetFailedAsync(message.Id, time.GetUtcNow(), ct))
        {
            return false;
        }
        DeliveryLog.RetryRequested(logger, message.Surface.ToWire(), message.Id, message.DeliveryKey, message.ApprovalId, message.Channel, actor);
        var (surface, id, channel, key) = (message.Surface, message.ApprovalId, message.Channel, message.DeliveryKey);
        if (DeliveryKeys.IsRequestMessage(key))
        {
            jobs.Enqueue<ChatDeliveryJobs>(j => j.PostAsync(surface, id, channel, key, CancellationToken.None));
        }
        else
        {
            var text = message.Body ?? "";
            jobs.Enqueue<ChatDeliveryJobs>(j => j.ReplyAsync(surface, id, key, text, 0, CancellationToken.None));
        }
        return true;
    }

    /// <summary>Decides what a claimed delivery needs before it is sent: nothing (a new claim, or a retry after an
    /// answer that said the message was not stored), a search for an earlier post (after an ambiguous answer, or an
    /// attempt that never finished), or waiting (another attempt holds the claim right now). False when it must not
    /// be sent now.</summary>
    private async Task<bool> ReadyToSendAsync(IChatTransport transport, ChatMessage message, bool claimed, ChatMessage? root,
        Expression<Func<ChatDeliveryJobs, Task>> again, CancellationToken ct)
    {
        var surface = transport.Surface.ToWire();
        if (message.State != ChatMessageState.Claimed || claimed)
        {
            return message.State == ChatMessageState.Claimed;
        }
        if (message.Attempts > DeliveryPolicy.MaxAttempts)
        {
            var reason = $"gave up after {message.Attempts - 1} attempts; the last answer: {message.LastError ?? "none"}";
            await messages.RecordErrorAsync(message.Id, reason, message.ErrorClass ?? DeliveryErrorClass.Ambiguous, failed: true, time.GetUtcNow(), ct);
            DeliveryLog.GaveUp(logger, surface, message.DeliveryKey, message.ApprovalId, message.Attempts - 1, message.LastError ?? "none");
            return false;
        }
        if (message.LastError is null && !await TakeOverAsync(message, ct))
        {
            // Another attempt holds it and has not failed: it may be posting right now, and a search could miss that
            // post and send a second one.
            DeliveryLog.ClaimInFlight(logger, surface, message.DeliveryKey, message.ApprovalId, message.Channel);
            jobs.Schedule(again, DeliveryPolicy.InFlightRetry);
            return false;
        }
        if (message.ErrorClass is not (null or DeliveryErrorClass.Ambiguous))
        {
            // The platform answered the last attempt and did not store the message: no lookup.
            return true;
        }
        if (!transport.CanFindEarlierPost)
        {
            DeliveryLog.DuplicatePossible(logger, surface, message.DeliveryKey, message.ApprovalId, message.Channel, $"{transport.Surface} offers no search for earlier posts");
            return true;
        }
        var earlier = await transport.FindEarlierPostAsync(message, root, ct);
        switch (earlier.Outcome)
        {
            case LookupOutcome.Found:
                await messages.MarkPostedAsync(message.Id, earlier.Post!.MessageId, root?.MessageId, earlier.Post.ConversationId, time.GetUtcNow(), ct);
                DeliveryLog.Adopted(logger, surface, message.DeliveryKey, message.ApprovalId, message.Channel, earlier.Post.MessageId);
                if (DeliveryKeys.IsRequestMessage(message.DeliveryKey))
                {
                    var (s, id) = (transport.Surface, message.ApprovalId);
                    jobs.Enqueue<ChatDeliveryJobs>(j => j.RedrawAsync(s, id, 0, CancellationToken.None));
                }
                return false;
            case LookupOutcome.Unavailable:
                DeliveryLog.DuplicatePossible(logger, surface, message.DeliveryKey, message.ApprovalId, message.Channel, earlier.Reason ?? "the lookup failed");
                return true;
            default:
                return true;
        }
    }

    /// <summary>Takes over a claim that no attempt has finished or failed: one of this instance (no other attempt of
    /// this process holds its key, the caller's lease says so), or one of an instance that is gone; a claim with no
    /// recorded owner only once <see cref="DeliveryPolicy.ClaimInFlightWindow"/> has passed. A claim of a live instance
    /// is never taken over. The owner changes in one conditional update, so of two instances only one takes it.</summary>
    private async Task<bool> TakeOverAsync(ChatMessage message, CancellationToken ct)
    {
        if (message.ClaimedBy == instance.Id)
        {
            return true;
        }
        var gone = message.ClaimedBy is { } owner
            ? !await instance.IsAliveAsync(owner, ct)
            : time.GetUtcNow() - message.ClaimedAt >= DeliveryPolicy.ClaimInFlightWindow;
        if (!gone || !await messages.TakeOverAsync(message.Id, message.ClaimedBy, ct))
        {
            return false;
        }
        DeliveryLog.TakenOver(logger, message.Surface.ToWire(), message.DeliveryKey, message.ApprovalId, message.Channel, message.ClaimedBy ?? "unrecorded");
        return true;
    }

    /// <summary>True when this attempt must not claim now; the delivery is then handed on: tried again later when
    /// another attempt of this process holds its key, or, for the dispatcher, queued as a job (which waits for the
    /// channel's turn) when the channel's pacing has no turn free now. The lease is let go first, so the job never
    /// meets it.</summary>
    private bool HandedOver(Lane lane, IDisposable? lease, IChatTransport transport, string channel, Expression<Func<ChatDeliveryJobs, Task>> again)
    {
        if (lease is null)
        {
            jobs.Schedule(again, DeliveryPolicy.InFlightRetry);
            return true;
        }
        if (lane == Lane.Dispatcher && !pacer.IsDue(transport.Surface, channel))
        {
            lease.Dispose();
            jobs.Enqueue(again);
            return true;
        }
        return false;
    }

    /// <summary>The channel's turn for a claimed delivery: a job waits for it; the dispatcher takes it only when it is
    /// free now (on a channel without spacing, waiting at most <see cref="DeliveryPolicy.DispatcherTurnWait"/> for a write in progress). When it is
    /// not, the claim is recorded as not sent (so the job sends it without looking for an earlier post) and handed to
    /// its job; null then.</summary>
    private async Task<IDisposable?> TurnAsync(Lane lane, IChatTransport transport, string channel, ChatMessage message, IDisposable lease,
        Expression<Func<ChatDeliveryJobs, Task>> again, CancellationToken ct)
    {
        if (lane == Lane.Job)
        {
            return await pacer.WaitTurnAsync(transport.Surface, channel, transport.Spacing, ct);
        }
        if (await pacer.TryTurnNowAsync(transport.Surface, channel, transport.Spacing, DeliveryPolicy.DispatcherTurnWait, ct) is { } turn)
        {
            return turn;
        }
        await messages.RecordErrorAsync(message.Id, NoTurnNow.Reason, NoTurnNow.Class, failed: false, time.GetUtcNow(), CancellationToken.None);
        lease.Dispose();
        jobs.Enqueue(again);
        return null;
    }

    /// <summary>Records a failed attempt and decides the next: failed for good, a pause, or another attempt later.</summary>
    private async Task HandleFailureAsync(IChatTransport transport, ChatMessage message, DeliveryFailure failure, Expression<Func<ChatDeliveryJobs, Task>> again)
    {
        var surface = transport.Surface.ToWire();
        var permanent = failure.Class == DeliveryErrorClass.Permanent;
        await messages.RecordErrorAsync(message.Id, failure.Reason, failure.Class, failed: permanent, time.GetUtcNow(), CancellationToken.None);
        switch (failure.Class)
        {
            case DeliveryErrorClass.Permanent:
                DeliveryLog.Failed(logger, surface, message.DeliveryKey, message.ApprovalId, message.Channel, failure.Reason);
                return;
            case DeliveryErrorClass.Credentials:
                pause.Pause(transport.Surface, failure.Reason);
                jobs.Schedule(again, await pause.HoldAsync(transport, CancellationToken.None) ?? TimeSpan.FromSeconds(1));
                return;
            default:
                if (failure.RetryAfter is { } after)
                {
                    pacer.Hold(transport.Surface, message.Channel, after);
                }
                var delay = DeliveryPolicy.Delay(message.Attempts, failure.RetryAfter);
                DeliveryLog.Retrying(logger, surface, message.DeliveryKey, message.ApprovalId, message.Channel, failure.Class.ToWire(), failure.Reason, message.Attempts, delay);
                jobs.Schedule(again, delay);
                return;
        }
    }

    /// <summary>Runs one paced write; null when it went through, the classified failure otherwise, and
    /// <see cref="NoTurnNow"/> when the dispatcher found no free turn on the channel.</summary>
    private async Task<DeliveryFailure?> TryAsync(IChatTransport transport, string channel, Lane lane, Func<Task> write, CancellationToken ct)
    {
        try
        {
            var turn = lane == Lane.Job
                ? await pacer.WaitTurnAsync(transport.Surface, channel, transport.Spacing, ct)
                : await pacer.TryTurnNowAsync(transport.Surface, channel, transport.Spacing, DeliveryPolicy.DispatcherTurnWait, ct);
            if (turn is null)
            {
                return NoTurnNow;
            }
            using (turn)
            {
                await write();
            }
            return null;
        }
        catch (Exception e) when (Classify(transport, e, ct) is { } failure)
        {
            return failure;
        }
    }

    /// <summary>The platform's answer, or null for anything else (a shutdown, a database error).</summary>
    private static DeliveryFailure? Classify(IChatTransport transport, Exception e, CancellationToken ct) =>
        ct.IsCancellationRequested ? null : e is ChatDeliveryException d ? d.Failure : transport.Classify(e);

    /// <summary>Who carries a delivery out: a Hangfire job, which waits for the channel's turn, or the outbox
    /// dispatcher, which never waits for pacing and hands the delivery to a job instead.</summary>
    private enum Lane
    {
        Job,
        Dispatcher,
    }

    private static readonly DeliveryFailure NoTurnNow = new(DeliveryErrorClass.NotDelivered, "not sent yet: the channel had no free turn; queued");

    private IChatTransport Transport(Surface surface) =>
        transports.FirstOrDefault(t => t.Surface == surface) ?? throw new InvalidOperationException($"No chat transport for {surface}.");
}
