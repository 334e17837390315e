namespace AgentSentinel.Core.Approvals;

/// <summary>
/// The channel abstraction: a surface that shows requests to people (Slack, Teams, the console's live feed) is told
/// when one is created and after every applied transition, whichever surface caused it. Implementations must return
/// quickly (enqueue a job for slow work) and must not throw for delivery problems.
/// </summary>
public interface IApprovalObserver
{
    Task OnCreatedAsync(ApprovalRequest request, CancellationToken ct);

    Task OnChangedAsync(ApprovalRequest request, TransitionKind transition, Actor actor, CancellationToken ct);

    /// <summary>A reminder or an escalation level was recorded for a request that is still open.</summary>
    Task OnFollowUpAsync(ApprovalRequest request, FollowUp followUp, CancellationToken ct) => Task.CompletedTask;
}

/// <summary>Schedules the expiry of a request at its deadline.</summary>
public interface IExpiryScheduler
{
    void ScheduleExpiry(Guid id, DateTimeOffset deadline);
}

/// <summary>Schedules a request's next reminder or escalation.</summary>
public interface IFollowUpScheduler
{
    void ScheduleFollowUp(Guid id, DateTimeOffset at);
}

/// <summary>Work a surface does once at start-up, after migrations, to catch up on what a stopped process left
/// undone (for example a chat post that was never queued).</summary>
public interface IStartupRecovery
{
    Task RecoverAsync(CancellationToken ct);
}
