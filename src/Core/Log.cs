using Microsoft.Extensions.Logging;

namespace AgentSentinel.Core;

/// <summary>Every log message of the core, source-generated. Event ids: 1000-1099 storage, 1100-1199 lifecycle,
/// 1200-1299 jobs, 1300-1399 notifications.</summary>
internal static partial class Log
{
    [LoggerMessage(1000, LogLevel.Information, "Applied migration {Version} {Name} on {Provider}")]
    public static partial void MigrationApplied(ILogger logger, int version, string name, string provider);

    public static void ApprovalCreated(ILogger logger, Guid approvalId, string actionName, string? keyId, string? route, DateTimeOffset expiresAt) =>
        ApprovalCreatedCore(logger, approvalId, ControlCharacters.Escape(actionName)!, keyId, ControlCharacters.Escape(route), expiresAt);

    [LoggerMessage(1100, LogLevel.Information, "Approval {ApprovalId} created for action {ActionName} by key {KeyId}, route {Route}, expires at {ExpiresAt:O}", EventName = "ApprovalCreated")]
    private static partial void ApprovalCreatedCore(ILogger logger, Guid approvalId, string actionName, string? keyId, string? route, DateTimeOffset expiresAt);

    public static void TransitionApplied(ILogger logger, Guid approvalId, string transition, string actor, string surface) =>
        TransitionAppliedCore(logger, approvalId, transition, ControlCharacters.Escape(actor)!, surface);

    [LoggerMessage(1101, LogLevel.Information, "Approval {ApprovalId}: {Transition} by {Actor} via {Surface}", EventName = "TransitionApplied")]
    private static partial void TransitionAppliedCore(ILogger logger, Guid approvalId, string transition, string actor, string surface);

    [LoggerMessage(1102, LogLevel.Information, "Approval {ApprovalId}: {Transition} refused ({Outcome})")]
    public static partial void TransitionRefused(ILogger logger, Guid approvalId, string transition, string outcome);

    [LoggerMessage(1103, LogLevel.Error, "Approval {ApprovalId}: {Step} failed after the change was committed; the change stands and its effects are in the outbox")]
    public static partial void AfterCommitFailed(ILogger logger, Exception exception, Guid approvalId, string step);

    public static void VoteCounted(ILogger logger, Guid approvalId, string actor, string surface) =>
        VoteCountedCore(logger, approvalId, ControlCharacters.Escape(actor)!, surface);

    [LoggerMessage(1110, LogLevel.Information, "Approval {ApprovalId}: approval by {Actor} via {Surface} counted towards its quorum; still open", EventName = "VoteCounted")]
    private static partial void VoteCountedCore(ILogger logger, Guid approvalId, string actor, string surface);

    [LoggerMessage(1200, LogLevel.Information, "Expired {Count} overdue approval request(s)")]
    public static partial void SweepExpired(ILogger logger, int count);

    [LoggerMessage(1202, LogLevel.Debug, "Expiry job for {ApprovalId} ran {Early} before the deadline; rescheduled")]
    public static partial void ExpiryEarly(ILogger logger, Guid approvalId, TimeSpan early);

    [LoggerMessage(1203, LogLevel.Warning, "Outbox entry {EntryId} ({Kind} of approval {ApprovalId}) failed on attempt {Attempt}; tried again at {DueAt:O}")]
    public static partial void OutboxEntryFailed(ILogger logger, Exception exception, long entryId, Guid approvalId, string kind, int attempt, DateTimeOffset dueAt);

    [LoggerMessage(1205, LogLevel.Debug, "Outbox batch of {Count} entries: claimed in {ClaimMs:F1} ms, handled in {HandleMs:F1} ms, marked in {MarkMs:F1} ms")]
    public static partial void OutboxBatch(ILogger logger, int count, double claimMs, double handleMs, double markMs);

    [LoggerMessage(1206, LogLevel.Debug, "Deadline job started {Late} after the deadline {Deadline:O} it was scheduled for (negative: before it)")]
    public static partial void DeadlineJobStarted(ILogger logger, TimeSpan late, DateTimeOffset deadline);

    [LoggerMessage(1207, LogLevel.Debug, "Deadline pass expired {Count} request(s) in {Ms:F1} ms; it started {Late} after the deadline it waited for")]
    public static partial void DeadlinePass(ILogger logger, int count, double ms, TimeSpan late);

    [LoggerMessage(1208, LogLevel.Warning, "Deadline pass failed; a new deadline job is due at {RetryAt:O}")]
    public static partial void DeadlinePassFailed(ILogger logger, Exception exception, DateTimeOffset retryAt);

    [LoggerMessage(1204, LogLevel.Warning, "Outbox dispatch failed; the entries stay and are taken at the next wake-up or sweep")]
    public static partial void OutboxDispatchFailed(ILogger logger, Exception exception);

    [LoggerMessage(1209, LogLevel.Warning, "Could not record this server's heartbeat; another instance takes over its chat claims once the last heartbeat is {DeadAfter} old")]
    public static partial void HeartbeatFailed(ILogger logger, Exception exception, TimeSpan deadAfter);

    [LoggerMessage(1300, LogLevel.Information, "Listening for approval changes from other server instances")]
    public static partial void ChangeListenerConnected(ILogger logger);

    [LoggerMessage(1301, LogLevel.Warning, "Change listener lost its database connection; reconnecting")]
    public static partial void ChangeListenerFailed(ILogger logger, Exception exception);

    [LoggerMessage(1350, LogLevel.Information, "Sealed {Count} event(s) into the audit chain")]
    public static partial void AuditSealed(ILogger logger, int count);

    [LoggerMessage(1351, LogLevel.Information, "Retention deleted {Count} request(s) decided more than {Days} day(s) ago; a signed checkpoint anchors the audit chain")]
    public static partial void RetentionDeleted(ILogger logger, int count, int days);
}
