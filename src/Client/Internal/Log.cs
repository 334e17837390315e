using Microsoft.Extensions.Logging;

namespace AgentSentinel.Client.Internal;

/// <summary>Every log message of the client, source-generated. Event ids: 4000-4009 transport and waiting,
/// 4010-4019 guarded actions and policy.</summary>
internal static partial class Log
{
    [LoggerMessage(4000, LogLevel.Warning, "Agent Sentinel call {Operation} failed ({Reason}); retry {Attempt} of {MaxRetries} in {DelayMs} ms")]
    public static partial void Retrying(ILogger logger, string operation, string reason, int attempt, int maxRetries, long delayMs);

    [LoggerMessage(4001, LogLevel.Information, "The server at {BaseAddress} has no long-poll wait endpoint; polling every {IntervalMs} ms instead")]
    public static partial void PollingFallback(ILogger logger, Uri baseAddress, long intervalMs);

    [LoggerMessage(4002, LogLevel.Information, "Approval {ApprovalId} withdrawn: the caller stopped waiting")]
    public static partial void Withdrawn(ILogger logger, string approvalId);

    [LoggerMessage(4003, LogLevel.Warning, "Approval {ApprovalId} could not be withdrawn after the caller stopped waiting: {Reason}")]
    public static partial void WithdrawFailed(ILogger logger, string approvalId, string reason);

    [LoggerMessage(4004, LogLevel.Debug, "Approval {ApprovalId} requested for action {ActionName}, deadline {ExpiresAt:O}")]
    public static partial void Created(ILogger logger, string approvalId, string? actionName, DateTimeOffset? expiresAt);

    [LoggerMessage(4005, LogLevel.Debug, "Approval {ApprovalId}: {Status}")]
    public static partial void Answered(ILogger logger, string approvalId, ApprovalStatus status);

    [LoggerMessage(4010, LogLevel.Debug, "Guarded action {ActionName} runs without approval: no rule requires it")]
    public static partial void NotRequired(ILogger logger, string actionName);

    [LoggerMessage(4011, LogLevel.Information, "Guarded action {ActionName} needs approval: {Reasons}")]
    public static partial void Required(ILogger logger, string actionName, string reasons);

    [LoggerMessage(4012, LogLevel.Warning, "The server policy could not be checked for action {ActionName}, so approval is required: {Reason}")]
    public static partial void ServerCheckFailed(ILogger logger, string actionName, string reason);

    [LoggerMessage(4013, LogLevel.Information, "Guarded action {ActionName} was not approved: {Status}")]
    public static partial void NotGranted(ILogger logger, string actionName, ApprovalStatus status);
}
