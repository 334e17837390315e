using AgentSentinel.Core;
using Microsoft.Extensions.Logging;

namespace AgentSentinel.Bot.Delivery;

/// <summary>Delivery engine log messages, source-generated. Event ids 3300-3399. The platforms' reasons are external
/// text: their control characters are escaped.</summary>
internal static partial class DeliveryLog
{
    [LoggerMessage(3300, LogLevel.Information, "Posted the {Surface} message {DeliveryKey} of {ApprovalId} to {Channel} as {MessageId}")]
    public static partial void Posted(ILogger logger, string surface, string deliveryKey, Guid approvalId, string channel, string messageId);

    [LoggerMessage(3301, LogLevel.Information, "Updated the {Surface} message of {ApprovalId} in {Channel} ({Status})")]
    public static partial void Updated(ILogger logger, string surface, Guid approvalId, string channel, string status);

    public static void Retrying(ILogger logger, string surface, string deliveryKey, Guid approvalId, string channel, string errorClass, string reason, int attempt, TimeSpan delay) =>
        RetryingCore(logger, surface, deliveryKey, approvalId, channel, errorClass, ControlCharacters.Escape(reason)!, attempt, delay);

    [LoggerMessage(3302, LogLevel.Warning, "{Surface} did not take the message {DeliveryKey} of {ApprovalId} in {Channel} ({ErrorClass}: {Reason}); attempt {Attempt}, trying again in {Delay}", EventName = "Retrying")]
    private static partial void RetryingCore(ILogger logger, string surface, string deliveryKey, Guid approvalId, string channel, string errorClass, string reason, int attempt, TimeSpan delay);

    public static void Failed(ILogger logger, string surface, string deliveryKey, Guid approvalId, string channel, string reason) =>
        FailedCore(logger, surface, deliveryKey, approvalId, channel, ControlCharacters.Escape(reason)!);

    [LoggerMessage(3303, LogLevel.Error, "{Surface} refused the message {DeliveryKey} of {ApprovalId} in {Channel} for good: {Reason}", EventName = "Failed")]
    private static partial void FailedCore(ILogger logger, string surface, string deliveryKey, Guid approvalId, string channel, string reason);

    [LoggerMessage(3304, LogLevel.Information, "Found the {Surface} message {DeliveryKey} of {ApprovalId} in {Channel} ({MessageId}) from an earlier attempt; not posting again")]
    public static partial void Adopted(ILogger logger, string surface, string deliveryKey, Guid approvalId, string channel, string messageId);

    public static void DuplicatePossible(ILogger logger, string surface, string deliveryKey, Guid approvalId, string channel, string reason) =>
        DuplicatePossibleCore(logger, surface, deliveryKey, approvalId, channel, ControlCharacters.Escape(reason)!);

    [LoggerMessage(3305, LogLevel.Warning, "Could not look for an earlier post of the {Surface} message {DeliveryKey} of {ApprovalId} in {Channel} ({Reason}); posting anyway, so a duplicate is possible", EventName = "DuplicatePossible")]
    private static partial void DuplicatePossibleCore(ILogger logger, string surface, string deliveryKey, Guid approvalId, string channel, string reason);

    [LoggerMessage(3306, LogLevel.Information, "The {Surface} message {DeliveryKey} of {ApprovalId} in {Channel} was claimed moments ago by another attempt; trying again later")]
    public static partial void ClaimInFlight(ILogger logger, string surface, string deliveryKey, Guid approvalId, string channel);

    public static void Reposting(ILogger logger, string surface, Guid approvalId, string channel, string reason) =>
        RepostingCore(logger, surface, approvalId, channel, ControlCharacters.Escape(reason)!);

    [LoggerMessage(3307, LogLevel.Warning, "The {Surface} message of {ApprovalId} in {Channel} was deleted ({Reason}); posting its current state again", EventName = "Reposting")]
    private static partial void RepostingCore(ILogger logger, string surface, Guid approvalId, string channel, string reason);

    public static void Paused(ILogger logger, string surface, string reason) =>
        PausedCore(logger, surface, ControlCharacters.Escape(reason)!);

    [LoggerMessage(3308, LogLevel.Error, "{Surface} refused the app's credentials ({Reason}); delivery is paused until they work again, and nothing queued is lost", EventName = "Paused")]
    private static partial void PausedCore(ILogger logger, string surface, string reason);

    [LoggerMessage(3309, LogLevel.Warning, "{Surface} accepts the app's credentials again after {PausedFor}; delivery resumes")]
    public static partial void Resumed(ILogger logger, string surface, TimeSpan pausedFor);

    public static void GaveUp(ILogger logger, string surface, string what, Guid approvalId, int attempts, string reason) =>
        GaveUpCore(logger, surface, what, approvalId, attempts, ControlCharacters.Escape(reason)!);

    [LoggerMessage(3310, LogLevel.Error, "Gave up the {Surface} {What} of {ApprovalId} after {Attempts} attempts: {Reason}", EventName = "GaveUp")]
    private static partial void GaveUpCore(ILogger logger, string surface, string what, Guid approvalId, int attempts, string reason);

    [LoggerMessage(3311, LogLevel.Warning, "Retrying the failed {Surface} delivery {DeliveryId} ({DeliveryKey} of {ApprovalId} in {Channel}) as {Actor} asked")]
    public static partial void RetryRequested(ILogger logger, string surface, long deliveryId, string deliveryKey, Guid approvalId, string channel, string actor);

    [LoggerMessage(3312, LogLevel.Information, "Took over the {Surface} claim {DeliveryKey} of {ApprovalId} in {Channel} from server instance {Owner}, which is gone")]
    public static partial void TakenOver(ILogger logger, string surface, string deliveryKey, Guid approvalId, string channel, string owner);
}
