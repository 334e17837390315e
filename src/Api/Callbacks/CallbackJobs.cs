using System.Text.Json;
using AgentSentinel.Api.Contracts;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Callbacks;
using AgentSentinel.Core.Receipts;
using AgentSentinel.Core.Storage;
using Hangfire;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.Callbacks;

/// <summary>Creates the callback of a request at one version (once: the store refuses a second one) and hands it to
/// the job server. The body is the poll object of the agent API, serialized exactly as <c>/poll</c> answers it.</summary>
public sealed class CallbackOutbox(
    ICallbackStore store,
    IBackgroundJobClient jobs,
    IOptionsMonitor<CallbackOptions> options,
    IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json,
    TimeProvider time,
    ILogger<CallbackOutbox> logger)
{
    /// <summary>The new delivery's row id, or null when the request calls for none or it exists already.</summary>
    public async Task<long?> CreateAsync(ApprovalRequest request, CancellationToken ct)
    {
        if (request.CallbackUrl is null || !CallbackDelivery.IsCallbackEvent(request.Status) || !options.CurrentValue.Enabled)
        {
            return null;
        }
        var id = await store.TryCreateAsync(new CallbackDelivery
        {
            ApprovalId = request.Id,
            Version = request.Version,
            DeliveryId = CallbackDelivery.DeliveryIdFor(request.Id, request.Version),
            Event = request.Status.ToWire(),
            Url = request.CallbackUrl,
            Body = Body(request),
            CreatedAt = time.GetUtcNow().TruncateToMicroseconds(),
        }, ct);
        if (id is { } created)
        {
            jobs.Enqueue<CallbackJobs>(j => j.DeliverAsync(created, 1, CancellationToken.None));
            ApiLog.CallbackCreated(logger, request.Id, CallbackDelivery.DeliveryIdFor(request.Id, request.Version), request.Status.ToWire());
        }
        return id;
    }

    /// <summary>The poll object as the agent API writes it.</summary>
    public string Body(ApprovalRequest request) => JsonSerializer.Serialize(PollDto.From(request), json.Value.SerializerOptions);
}

/// <summary>Agents hear of final states and of questions: after each such transition (as the outbox entry recorded
/// it) a callback is created and queued. A database error here fails the outbox entry, which is tried again later; a
/// callback exists once per version, so a second try never creates a second one.</summary>
public sealed class CallbackNotifier(CallbackOutbox outbox, ReceiptIssuer receipts) : IApprovalObserver
{
    public Task OnCreatedAsync(ApprovalRequest request, CancellationToken ct) => Task.CompletedTask;

    /// <summary>A final request's callback carries its receipt, like <c>/poll</c>: the one stored with the request
    /// (issued here if the decision's own attempt could not).</summary>
    public async Task OnChangedAsync(ApprovalRequest request, TransitionKind transition, Actor actor, CancellationToken ct)
    {
        // A vote that left a quorum request open changes nothing the agent waits for.
        if (request.CallbackUrl is null || !CallbackDelivery.IsCallbackEvent(request.Status) || (transition == TransitionKind.Approve && !request.IsTerminal))
        {
            return;
        }
        await outbox.CreateAsync(await receipts.EnsureAsync(request, ct), ct);
    }
}

/// <summary>
/// Callback delivery as Hangfire jobs. Try number N of a delivery is claimed in the store before it is sent (only if
/// exactly N-1 tries were started), so a duplicated job never sends the same try twice. A failed try schedules the
/// next one after the backoff of <see cref="CallbackOptions"/>, measured on the injected clock; a job that runs before
/// its try is due comes back at the due time. Every try is recorded; the outcome is added to the request's trail.
/// </summary>
public sealed class CallbackJobs(
    ICallbackStore store,
    IApprovalStore approvals,
    CallbackOutbox outbox,
    CallbackSender sender,
    IBackgroundJobClient jobs,
    IOptionsMonitor<CallbackOptions> options,
    TimeProvider time,
    ILogger<CallbackJobs> logger)
{
    public const string SweepJobId = "callback-sweep";
    public const int SweepBatchSize = 500;

    /// <summary>How overdue a delivery must be before the sweep queues it again (its own job normally runs first).</summary>
    public static readonly TimeSpan SweepGrace = TimeSpan.FromMinutes(1);

    /// <summary>How far back the sweep looks for transitions whose callback was never created.</summary>
    public static readonly TimeSpan MissingLookback = TimeSpan.FromDays(2);

    private static readonly TimeSpan MinimumDelay = TimeSpan.FromMilliseconds(200);

    // Retries are this class's own schedule, recorded in the store; Hangfire must not add its own.
    [AutomaticRetry(Attempts = 0)]
    public async Task DeliverAsync(long deliveryId, int attempt, CancellationToken ct)
    {
        var delivery = await store.GetAsync(deliveryId, ct);
        if (delivery is null || delivery.State != CallbackState.Pending || delivery.Attempts >= attempt)
        {
            return; // done, or this try ran already
        }
        var settings = options.CurrentValue;
        var now = time.GetUtcNow().TruncateToMicroseconds();
        if (delivery.NextAttemptAt is { } due && due > now)
        {
            Schedule(deliveryId, attempt, due);
            return;
        }
        if (attempt > settings.MaxAttempts)
        {
            // The last try was started but never finished (the server stopped during it).
            await FailAsync(delivery, delivery.Attempts, null, "The last try did not finish.", now, ct);
            return;
        }
        if (!await store.TryStartAttemptAsync(deliveryId, attempt, now, now + settings.Timeout + SweepGrace, ct))
        {
            return;
        }
        var request = await approvals.GetAsync(delivery.ApprovalId, ct);
        var secret = await SecretAsync(request?.RequesterKeyId, settings, ct);
        CallbackSendResult result;
        if (secret is null)
        {
            result = new CallbackSendResult(null, "Refused: no signing secret (neither the requesting API key's own nor AgentSentinel:Callbacks:SigningSecret).", Refused: true, TimeSpan.Zero);
        }
        else
        {
            result = await sender.SendAsync(delivery, attempt, secret, request?.RequesterKeyId ?? "", now, ct);
        }
        var finished = time.GetUtcNow().TruncateToMicroseconds();
        await store.RecordAttemptAsync(new CallbackAttempt(deliveryId, attempt, now, result.Status, result.Error, (int)result.Duration.TotalMilliseconds), CancellationToken.None);
        if (result.Succeeded)
        {
            await store.MarkDeliveredAsync(deliveryId, result.Status!.Value, finished, CancellationToken.None);
            await AppendEventAsync(delivery, CallbackEventKinds.Delivered, attempt, result.Status, null, finished);
            ApiLog.CallbackDelivered(logger, delivery.ApprovalId, delivery.DeliveryId, attempt, result.Status.Value);
        }
        else if (result.Refused || attempt >= settings.MaxAttempts)
        {
            await FailAsync(delivery, attempt, result.Status, result.Error ?? "Failed.", finished, CancellationToken.None);
        }
        else
        {
            var next = finished + settings.RetryDelay(attempt);
            await store.ScheduleRetryAsync(deliveryId, result.Status, result.Error, next, finished, CancellationToken.None);
            Schedule(deliveryId, attempt + 1, next);
            ApiLog.CallbackRetryScheduled(logger, delivery.ApprovalId, delivery.DeliveryId, attempt, result.Status, next);
        }
    }

    /// <summary>Queues again what is overdue (lost jobs: the embedded job storage does not survive a restart), and
    /// creates callbacks for transitions whose callback was never created (the server stopped in between).</summary>
    [AutomaticRetry(Attempts = 3)]
    [DisableConcurrentExecution(timeoutInSeconds: 60)]
    public async Task<int> SweepAsync(CancellationToken ct)
    {
        if (!options.CurrentValue.Enabled)
        {
            return 0;
        }
        var now = time.GetUtcNow();
        var count = 0;
        foreach (var missing in await store.ListMissingAsync(now - MissingLookback, now - SweepGrace, SweepBatchSize, ct))
        {
            var request = await approvals.GetAsync(missing.ApprovalId, ct);
            // Only the version that is still current can be rendered as it was.
            if (request is not null && request.Version == missing.Version && await outbox.CreateAsync(request, ct) is not null)
            {
                count++;
            }
        }
        foreach (var delivery in await store.ListOverdueAsync(now - SweepGrace, SweepBatchSize, ct))
        {
            jobs.Enqueue<CallbackJobs>(j => j.DeliverAsync(delivery.Id, delivery.Attempts + 1, CancellationToken.None));
            count++;
        }
        if (count > 0)
        {
            ApiLog.CallbackSweep(logger, count);
        }
        return count;
    }

    private async Task<string?> SecretAsync(string? keyId, CallbackOptions settings, CancellationToken ct)
    {
        var own = keyId is null ? null : await store.GetKeySecretAsync(keyId, ct);
        return own ?? (string.IsNullOrEmpty(settings.SigningSecret) ? null : settings.SigningSecret);
    }

    private async Task FailAsync(CallbackDelivery delivery, int attempts, int? status, string error, DateTimeOffset now, CancellationToken ct)
    {
        await store.MarkFailedAsync(delivery.Id, status, error, now, ct);
        await AppendEventAsync(delivery, CallbackEventKinds.Failed, attempts, status, error, now);
        ApiLog.CallbackFailed(logger, delivery.ApprovalId, delivery.DeliveryId, attempts, error);
    }

    private Task AppendEventAsync(CallbackDelivery delivery, string kind, int attempts, int? status, string? error, DateTimeOffset at) =>
        approvals.AppendEventAsync(new ApprovalEvent
        {
            ApprovalId = delivery.ApprovalId,
            Kind = kind,
            At = at,
            Actor = Actor.System.AuditName,
            Surface = Surface.System,
            Details = JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["delivery_id"] = delivery.DeliveryId,
                ["event"] = delivery.Event,
                ["attempts"] = attempts,
                ["status"] = status,
                ["error"] = error,
            }),
        }, CancellationToken.None);

    private void Schedule(long deliveryId, int attempt, DateTimeOffset at)
    {
        var delay = at - time.GetUtcNow();
        jobs.Schedule<CallbackJobs>(j => j.DeliverAsync(deliveryId, attempt, CancellationToken.None), delay < MinimumDelay ? MinimumDelay : delay);
    }
}
