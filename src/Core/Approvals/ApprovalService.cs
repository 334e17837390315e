using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Grants;
using AgentSentinel.Core.Notifications;
using AgentSentinel.Core.Policy;
using AgentSentinel.Core.Routing;
using AgentSentinel.Core.Storage;
using AgentSentinel.Core.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Core.Approvals;

/// <summary>A request that cannot be accepted as given; the API answers it with a 400 naming the field.</summary>
public sealed class RequestValidationException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}

/// <summary>The approval lifecycle: creation with policy and routing, and every transition, whichever surface
/// asks for it. The store makes each change atomic and records its effects in the outbox in the same transaction
/// (<see cref="OutboxDispatcher"/> carries them out); this class adds authorization and in-process wake-ups. What the
/// caller is told depends only on the commit: anything that fails after it is logged, never thrown.</summary>
public sealed class ApprovalService(
    IApprovalStore store,
    IGrantStore grants,
    RuntimeSettings settings,
    ApprovalChangeHub hub,
    Receipts.ReceiptIssuer receipts,
    ProductMetrics metrics,
    OutboxSignal outbox,
    Delegation.DelegationService delegations,
    ConfigVersion config,
    IOptionsMonitor<Audit.RetentionOptions> retention,
    TimeProvider time,
    ILogger<ApprovalService> logger)
{
    /// <summary>How long before data retention could delete a final request its cached state stops being answered
    /// (<see cref="GetAsync"/>): room for the clocks of the instances to differ.</summary>
    public static readonly TimeSpan RetentionMargin = TimeSpan.FromHours(1);

    public DateTimeOffset Now => time.GetUtcNow().TruncateToMicroseconds();

    public async Task<CreateResult> CreateAsync(NewApproval input, Actor requester, CancellationToken ct)
    {
        var (policy, _, _) = await settings.GetPolicyAsync(ct);
        var (routes, _, _) = await settings.GetRoutesAsync(ct);
        // The policy floors come first (see IntakePlanner): the deadline and the route follow the floored values.
        var requestedPriority = input.Priority ?? Priority.Medium;
        var plan = IntakePlanner.Plan(policy, routes, input.ActionName, input.AgentId, requestedPriority, input.RiskLevel);
        var (floored, route) = (plan.Floored, plan.Route);
        var priority = floored.Priority;
        var timeout = input.TimeoutSeconds ?? plan.DefaultTimeoutSeconds;
        if (timeout < policy.MinTimeoutSeconds || timeout > policy.MaxTimeoutSeconds)
        {
            throw new RequestValidationException("timeout_seconds",
                $"timeout_seconds must be between {policy.MinTimeoutSeconds} and {policy.MaxTimeoutSeconds}, got {timeout}.");
        }
        var now = Now;
        var request = new ApprovalRequest
        {
            Id = Guid.CreateVersion7(now),
            ActionName = input.ActionName,
            ActionDescription = input.ActionDescription,
            AgentId = input.AgentId,
            RunId = input.RunId,
            TaskId = input.TaskId,
            MissionId = input.MissionId,
            EstimatedCost = input.EstimatedCost?.Normalize(),
            RiskLevel = floored.RiskLevel,
            Priority = priority,
            ActionInputs = input.ActionInputs,
            Context = input.Context,
            CallbackUrl = input.CallbackUrl,
            CreatedAt = now,
            ExpiresAt = now.AddSeconds(timeout),
            Status = ApprovalStatus.Pending,
            RequesterKeyId = requester.KeyId,
            RequesterEmail = requester.Email,
            RequesterKeyName = requester.KeyId is null ? null : requester.DisplayName,
            IdempotencyKey = input.IdempotencyKey,
            RouteName = route?.Name,
            RoutePlan = route is null ? null : RuntimeSettings.Snapshot(route),
            Approvers = plan.Approvers,
            Version = 1,
            UpdatedAt = now,
        };
        var createdEvent = new ApprovalEvent
        {
            ApprovalId = request.Id,
            Kind = EventKinds.Created,
            At = now,
            Actor = requester.AuditName,
            ActorKeyId = requester.KeyId,
            Surface = requester.Surface,
            Details = CreatedDetails(route, floored, requestedPriority, input.RiskLevel),
        };
        var firstFollowUp = FollowUpPlan.Next(FollowUpPlan.For(request, request.RoutePlan), 0, 0);
        request = request with { FollowUpAt = firstFollowUp?.DueAt };
        // When the request was checked against copies of keys and settings taken at a version it did not read, the
        // insert goes ahead only while that version is still the stored one (ConfigChanged otherwise: nothing stored).
        var result = await CreateByGrantAsync(request, input.RequestHash, createdEvent, route, ct)
            ?? await store.CreateAsync(request, input.RequestHash, createdEvent, ConfigVersion.Unverified, ct);
        if (result.Outcome == CreateOutcome.ConfigChanged)
        {
            return result;
        }
        if (result.Outcome != CreateOutcome.Created)
        {
            return result with { Request = await SettleAsync(result.Request, ct) };
        }
        // Committed: the expiry, the follow-ups, chat and callbacks are in the outbox.
        var created = result.Request;
        AfterCommit(created.Id, "wake-up", () =>
        {
            hub.Publish(created.Id);
            metrics.RequestCreated(created);
            if (created.GrantId is { } grantId)
            {
                GrantLog.ApprovedByGrant(logger, created.Id, grantId, created.DecidedByEmail ?? created.DecidedByKeyId);
                metrics.TransitionApplied(created, TransitionKind.Approve, GrantRules.Granter(created));
            }
            else
            {
                Log.ApprovalCreated(logger, created.Id, created.ActionName, requester.KeyId, created.RouteName, created.ExpiresAt);
            }
        });
        try
        {
            return result with { Request = await SettleAsync(created, ct) };
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            // Past its deadline already (a very short timeout): the expiry job records it; report what was stored.
            Log.AfterCommitFailed(logger, ex, created.Id, "settle");
            return result;
        }
    }

    /// <summary>Runs in-process work that follows a commit (wake-ups, logs); a failure there is logged and changes
    /// nothing the caller is told.</summary>
    private void AfterCommit(Guid id, string step, Action action)
    {
        try
        {
            action();
        }
        catch (Exception ex)
        {
            Log.AfterCommitFailed(logger, ex, id, step);
        }
    }

    /// <summary>The details of the <c>created</c> event: the route, and when a policy floor raised the agent's values,
    /// what it asked for and what applies.</summary>
    private static string? CreatedDetails(RouteDefinition? route, FlooredValues floored, Priority requestedPriority, RiskLevel? requestedRisk)
    {
        var details = new Dictionary<string, object?>();
        if (route is not null)
        {
            details["route"] = route.Name;
        }
        if (floored.Raised)
        {
            details["floor"] = new Dictionary<string, string?>
            {
                ["requested_priority"] = requestedPriority.ToWire(),
                ["priority"] = floored.Priority.ToWire(),
                ["requested_risk_level"] = requestedRisk?.ToWire(),
                ["risk_level"] = floored.RiskLevel?.ToWire(),
            };
        }
        return details.Count == 0 ? null : System.Text.Json.JsonSerializer.Serialize(details);
    }

    /// <summary>Creates the request already approved when a live standing grant matches it (same agent key and agent id,
    /// action, inputs when the grant names them, route, limits); null when none does or grants are not allowed for it.</summary>
    private async Task<CreateResult?> CreateByGrantAsync(ApprovalRequest request, string? requestHash, ApprovalEvent createdEvent, RouteDefinition? route, CancellationToken ct)
    {
        if (request.RequesterKeyId is not { Length: > 0 } agentKey || GrantRules.Refusal(route, request) is not null)
        {
            return null;
        }
        // The grant path writes in a transaction of its own: it needs the version read (and unchanged) first.
        if (!await config.ConfirmAsync(ct))
        {
            return new CreateResult(CreateOutcome.ConfigChanged, request);
        }
        var probe = new GrantProbe(agentKey, request.AgentId, request.ActionName, GrantInputs.Hash(request.ActionInputs), request.RouteName, request.EstimatedCost, request.CreatedAt);
        return await grants.CreateByGrantAsync(request with { FollowUpAt = null }, requestHash, createdEvent, probe, ct);
    }

    /// <summary>The request as callers must see it now; past its deadline it is expired (recorded before it is reported).
    /// A final request (with its receipt) is answered from the change hub's <see cref="ApprovalChangeHub.Finals"/> when
    /// it is there: a final state never changes, and only a deletion by data retention would change the answer, which
    /// the hub is told about (here, and through the change feed from the other instances). A state older than
    /// retention's cut-off less <see cref="RetentionMargin"/> is read again whatever the hub holds.</summary>
    public async Task<ApprovalRequest?> GetAsync(Guid id, CancellationToken ct)
    {
        if (hub.Finals.TryGet(id, out var final) && !MayBeRetired(final))
        {
            return final;
        }
        var generation = hub.Finals.Generation;
        if (await store.GetAsync(id, ct) is not { } request)
        {
            return null;
        }
        request = await SettleAsync(request, ct);
        if (!MayBeRetired(request))
        {
            hub.Finals.Remember(request, generation);
        }
        return request;
    }

    /// <summary>True when data retention, as configured, may delete the final <paramref name="request"/> soon or has
    /// been allowed to already.</summary>
    private bool MayBeRetired(ApprovalRequest request) =>
        retention.CurrentValue.DecidedDays is { } days && request.DecidedAt is { } decidedAt
        && decidedAt < Now.AddDays(-days) + RetentionMargin;

    /// <summary>A page of requests as callers must see them now (see <see cref="GetAsync"/>). A request listed as past
    /// its deadline that a decision committed first is left out of a page filtered on another status.</summary>
    public async Task<ApprovalPage> ListAsync(ApprovalQuery query, CancellationToken ct)
    {
        var page = await store.ListAsync(query, Now, ct);
        var items = new List<ApprovalRequest>(page.Items.Count);
        foreach (var item in page.Items)
        {
            var settled = await SettleAsync(item, ct);
            if (query.Status is not { } status || settled.Status == status)
            {
                items.Add(settled);
            }
        }
        return page with { Items = items };
    }

    /// <summary>True when <paramref name="request"/> (a state just committed) is what a read would report now: open and
    /// before its deadline, or final with its receipt.</summary>
    public bool ReadsAsIs(ApprovalRequest request) =>
        request.IsTerminal ? request.Receipt is not null : Now < request.ExpiresAt;

    /// <summary>What a read may report. An open request past its deadline is never merely reported <c>expired</c>: a
    /// decision may hold the write lock and still commit. The expiry is recorded first (the conditional transition waits
    /// for that lock) and what is then stored is reported, so once a read has said <c>expired</c> no decision can succeed.
    /// Only requests already past their deadline pay for this.
    /// A final request is reported with its receipt (issued now if the server stopped before issuing it).</summary>
    private async Task<ApprovalRequest> SettleAsync(ApprovalRequest request, CancellationToken ct)
    {
        if (!request.IsTerminal && Now >= request.ExpiresAt)
        {
            request = (await ExpireAsync(request.Id, ct)).Request ?? request;
        }
        return await receipts.EnsureAsync(request, ct);
    }

    /// <summary>An approve, reject or request-info by a person, under the one rule of <see cref="DecisionRule"/>:
    /// a known approver identity, not the requester, on the request's approver list when it has one.</summary>
    public Task<TransitionResult> DecideAsync(Guid id, TransitionKind kind, Decider decider, string? text, CancellationToken ct) =>
        DecideAsync(id, kind, decider, text, null, ct);

    /// <summary>As <see cref="DecideAsync(Guid, TransitionKind, Decider, string?, CancellationToken)"/>; an approval may
    /// also give a standing grant (<paramref name="grant"/>), created in the same transaction, when the request's route
    /// allows it (<see cref="GrantRules"/>).</summary>
    public async Task<TransitionResult> DecideAsync(Guid id, TransitionKind kind, Decider decider, string? text, GrantOffer? grant, CancellationToken ct)
    {
        if (kind is not (TransitionKind.Approve or TransitionKind.Reject or TransitionKind.RequestInfo))
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a decision.");
        }
        var current = await store.GetAsync(id, ct);
        if (current is null)
        {
            return new TransitionResult(TransitionOutcome.NotFound, null);
        }
        // Whom the person stands in for is looked up now, whatever the surface found before.
        decider = await delegations.WithDelegationsAsync(decider, ct);
        var standing = DecisionRule.Standing(current, decider, Now);
        if (standing.Refusal is { } refusal)
        {
            return new TransitionResult(refusal, current.AsOf(Now));
        }
        var actor = decider.Actor with { OnBehalfOf = standing.OnBehalfOf?.Identity.Email };
        var command = new TransitionCommand(id, kind, actor, text);
        if (current.RoutePlan?.Quorum is not null && kind is TransitionKind.Approve or TransitionKind.Reject)
        {
            // One vote per person: a delegate's vote counts for the person they stand in for.
            command = command with { Ballot = new Ballot(DecisionRule.Voter(decider, standing.OnBehalfOf)) };
        }
        if (grant is not null)
        {
            command = command with { Grant = await GrantCreationAsync(current, kind, grant, ct) };
        }
        var result = await TransitionAsync(command, ct);
        if (result.Grant is { } created)
        {
            GrantLog.GrantCreated(logger, created.Id, id, created.GrantedBy, created.ExpiresAt);
        }
        return result;
    }

    /// <summary>The grant to create with the approval of <paramref name="request"/>; a grant the route does not allow
    /// is refused, naming the <c>grant</c> field.</summary>
    private async Task<GrantCreation> GrantCreationAsync(ApprovalRequest request, TransitionKind kind, GrantOffer offer, CancellationToken ct)
    {
        if (kind != TransitionKind.Approve)
        {
            throw new RequestValidationException("grant", GrantTexts.OnlyWithApproval);
        }
        if (GrantRules.Check(await settings.GrantRouteOfAsync(request, ct), request, offer) is { } refusal)
        {
            throw new RequestValidationException("grant", refusal.Message);
        }
        var now = Now;
        return new GrantCreation(Guid.CreateVersion7(now), offer, now, now.AddMinutes(offer.Minutes));
    }

    public Task<TransitionResult> CancelAsync(Guid id, Actor actor, CancellationToken ct) =>
        TransitionAsync(new TransitionCommand(id, TransitionKind.Cancel, actor, null), ct);

    public Task<TransitionResult> RespondAsync(Guid id, Actor actor, string response, CancellationToken ct) =>
        TransitionAsync(new TransitionCommand(id, TransitionKind.Respond, actor, response), ct);

    public Task<TransitionResult> ExpireAsync(Guid id, CancellationToken ct) =>
        TransitionAsync(new TransitionCommand(id, TransitionKind.Expire, Actor.System, null), ct);

    /// <summary>Expires what is due, a batch of up to <paramref name="batchSize"/> at a time (one transaction each on
    /// PostgreSQL, see <see cref="IApprovalStore.ExpireDueAsync"/>), and wakes whoever waits on them. Their receipts are
    /// issued by the first read or callback that reports them (<see cref="Receipts.ReceiptIssuer.EnsureAsync"/>), not here.</summary>
    public async Task<int> ExpireDueBatchesAsync(int batchSize, CancellationToken ct)
    {
        var total = 0;
        while (true)
        {
            var expired = await store.ExpireDueAsync(batchSize, ct);
            foreach (var request in expired)
            {
                AfterCommit(request.Id, "wake-up", () =>
                {
                    hub.Publish(request.Id);
                    metrics.TransitionApplied(request, TransitionKind.Expire, Actor.System);
                    Log.TransitionApplied(logger, request.Id, nameof(TransitionKind.Expire), Actor.System.AuditName, Actor.System.Surface.ToWire());
                });
            }
            total += expired.Count;
            if (expired.Count < batchSize)
            {
                return total;
            }
        }
    }

    /// <summary>Expires every open request whose deadline has passed, in bounded batches.</summary>
    public async Task<int> ExpireDueAsync(int batchSize, CancellationToken ct)
    {
        var total = await ExpireDueBatchesAsync(batchSize, ct);
        if (total > 0)
        {
            Log.SweepExpired(logger, total);
        }
        return total;
    }

    /// <summary>Sends what is due of a request's reminders and escalation levels, each once; returns when the next is due.
    /// When several reminders are due at once (the server was down) only the latest is sent; every escalation level
    /// fires, in order. Escalated people join the request's approvers (when it names any).</summary>
    public async Task<DateTimeOffset?> FollowUpAsync(Guid id, CancellationToken ct)
    {
        var request = await store.GetAsync(id, ct);
        var now = Now;
        if (request is null || request.IsTerminal || now >= request.ExpiresAt)
        {
            return null;
        }
        // The plan snapshotted at creation: a later change to the route table does not change who is chased when.
        var plan = FollowUpPlan.For(request, await settings.RouteOfAsync(request, ct));
        var dueReminder = plan.LastOrDefault(f => f.Kind == FollowUpKind.Reminder && f.DueAt <= now && f.Number > request.RemindersSent);
        var dueLevels = plan.Where(f => f.Kind == FollowUpKind.Escalation && f.DueAt <= now && f.Number > request.EscalationLevel).ToList();
        foreach (var followUp in dueLevels.Append(dueReminder).OfType<FollowUp>())
        {
            var reminders = followUp.Kind == FollowUpKind.Reminder ? followUp.Number : request.RemindersSent;
            var level = followUp.Kind == FollowUpKind.Escalation ? followUp.Number : request.EscalationLevel;
            IReadOnlyList<string>? approvers = null;
            if (followUp.Level is { } escalation && request.Approvers.Count > 0)
            {
                approvers = [.. request.Approvers.Union(FollowUpPlan.EscalatedApprovers(escalation), StringComparer.OrdinalIgnoreCase)];
            }
            var details = followUp.Kind == FollowUpKind.Reminder
                ? System.Text.Json.JsonSerializer.Serialize(new { number = followUp.Number, seconds_left = (long)(request.ExpiresAt - now).TotalSeconds })
                : System.Text.Json.JsonSerializer.Serialize(new
                {
                    level = followUp.Number,
                    slack_channel = followUp.Level?.Slack?.Channel,
                    teams_channel = followUp.Level?.Teams?.Channel,
                    mention = followUp.Level?.Mention,
                });
            var updated = await store.AdvanceFollowUpAsync(new FollowUpAdvance(
                id,
                followUp,
                followUp.Kind == FollowUpKind.Reminder ? request.RemindersSent : request.EscalationLevel,
                FollowUpPlan.Next(plan, reminders, level)?.DueAt,
                approvers,
                new ApprovalEvent
                {
                    ApprovalId = id,
                    Kind = followUp.Kind == FollowUpKind.Reminder ? EventKinds.ReminderSent : EventKinds.Escalated,
                    At = now,
                    Actor = Actor.System.AuditName,
                    Surface = Surface.System,
                    Details = details,
                }), ct);
            if (updated is null)
            {
                // Someone else recorded it, or the request was decided meanwhile.
                return null;
            }
            request = updated;
            AfterCommit(id, "wake-up", outbox.Wake);
        }
        return request.FollowUpAt;
    }

    /// <summary>Runs the follow-ups that are due for every open request, one batch of at most
    /// <paramref name="batchSize"/> requests; <paramref name="next"/> is told each request's next follow-up.</summary>
    public async Task<int> FollowUpDueAsync(int batchSize, Action<Guid, DateTimeOffset>? next, CancellationToken ct)
    {
        var count = 0;
        foreach (var id in await store.ListDueFollowUpsAsync(Now, batchSize, ct))
        {
            if (await FollowUpAsync(id, ct) is { } at)
            {
                next?.Invoke(id, at);
            }
            count++;
        }
        return count;
    }

    /// <summary>The receipt of a request that has just become final. The decision is committed whatever happens here: a
    /// receipt that cannot be issued now (the database is briefly unreachable) is issued at the next read instead.</summary>
    private async Task<ApprovalRequest> IssueReceiptAsync(ApprovalRequest request, CancellationToken ct)
    {
        try
        {
            return await receipts.EnsureAsync(request, ct);
        }
        catch (Exception ex)
        {
            // Whatever failed, the decision stands and is answered as committed.
            Receipts.ReceiptLog.ReceiptDeferred(logger, request.Id, ex);
            return request;
        }
    }

    public async Task<TransitionResult> TransitionAsync(TransitionCommand command, CancellationToken ct)
    {
        // The database's notification of this change waits for the state published below (with its receipt), so the
        // waiters of this process are answered from it rather than reading the request again while the receipt is issued.
        using var change = hub.BeginChange(command.Id);
        var result = await store.TransitionAsync(command, ct);
        if (result is { Applied: true, Request.IsTerminal: true })
        {
            result = result with { Request = await IssueReceiptAsync(result.Request!, ct) };
        }
        if (result.Applied)
        {
            // Committed, with its effects in the outbox: waiters and the dispatcher wake through the hub.
            AfterCommit(command.Id, "wake-up", () =>
            {
                change.Publish(result.Request);
                if (result.VoteOnly)
                {
                    Log.VoteCounted(logger, command.Id, command.Actor.AuditName, command.Actor.Surface.ToWire());
                    return;
                }
                metrics.TransitionApplied(result.Request!, command.Kind, command.Actor);
                Log.TransitionApplied(logger, command.Id, command.Kind.ToString(), command.Actor.AuditName, command.Actor.Surface.ToWire());
            });
            return result;
        }
        else if (result.Outcome != TransitionOutcome.NotYetDue)
        {
            Log.TransitionRefused(logger, command.Id, command.Kind.ToString(), result.Outcome.ToString());
        }
        if (result is { Outcome: TransitionOutcome.PastDeadline, Request: { } late })
        {
            // The refusal says "expired": record it before saying so, as a read would.
            result = result with { Request = (await ExpireAsync(command.Id, ct)).Request ?? late };
        }
        return result;
    }
}
