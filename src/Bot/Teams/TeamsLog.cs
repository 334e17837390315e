using AgentSentinel.Core;
using Microsoft.Extensions.Logging;

namespace AgentSentinel.Bot.Teams;

/// <summary>Teams log messages, source-generated. Event ids 3100-3199.</summary>
internal static partial class TeamsLog
{
    [LoggerMessage(3100, LogLevel.Warning, "Refused an activity on /api/messages: missing or invalid Bot Framework token")]
    public static partial void Refused(ILogger logger);

    [LoggerMessage(3101, LogLevel.Warning, "Teams member lookup failed; the click is refused")]
    public static partial void MemberLookupFailed(ILogger logger, Exception exception);

    [LoggerMessage(3102, LogLevel.Information, "Posted approval {ApprovalId} to Teams channel {Channel} as {ActivityId}")]
    public static partial void Posted(ILogger logger, Guid approvalId, string channel, string activityId);

    [LoggerMessage(3103, LogLevel.Information, "Updated the Teams card of {ApprovalId} in {Channel} ({Status})")]
    public static partial void Updated(ILogger logger, Guid approvalId, string channel, string status);

    [LoggerMessage(3104, LogLevel.Warning, "Teams rate-limited a card of {ApprovalId} in {Channel}; retrying in {RetryAfter}")]
    public static partial void RateLimited(ILogger logger, Guid approvalId, string channel, TimeSpan retryAfter);

    public static void DeliveryFailed(ILogger logger, Guid approvalId, string channel, string error) =>
        DeliveryFailedCore(logger, approvalId, ControlCharacters.Escape(channel)!, ControlCharacters.Escape(error)!);

    [LoggerMessage(3105, LogLevel.Error, "Teams refused a card of {ApprovalId} in {Channel}: {Error}", EventName = "DeliveryFailed")]
    private static partial void DeliveryFailedCore(ILogger logger, Guid approvalId, string channel, string error);

    [LoggerMessage(3106, LogLevel.Warning, "No Teams installation is known for channel {Channel}; add the bot to its team")]
    public static partial void NoInstallation(ILogger logger, string channel);

    [LoggerMessage(3107, LogLevel.Warning, "Queued the Teams card of {Count} open request(s) left unposted by the last stop")]
    public static partial void PostsRecovered(ILogger logger, int count);

    [LoggerMessage(3120, LogLevel.Information, "Teams user {UserId} is not a known approver ({Problem}); nothing was changed")]
    public static partial void UnknownPerson(ILogger logger, string userId, string problem);

    [LoggerMessage(3121, LogLevel.Warning, "Ignored a Teams activity from channel {ChannelId} and tenant {TenantId}: only msteams and allowed tenants are accepted")]
    public static partial void ActivityOutsideAllowed(ILogger logger, string channelId, string tenantId);
}
