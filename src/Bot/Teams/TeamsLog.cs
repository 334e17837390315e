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

    [LoggerMessage(3107, LogLevel.Warning, "Queued the Teams card of {Count} open request(s) left unposted by the last stop")]
    public static partial void PostsRecovered(ILogger logger, int count);

    [LoggerMessage(3120, LogLevel.Information, "Teams user {UserId} is not a known approver ({Problem}); nothing was changed")]
    public static partial void UnknownPerson(ILogger logger, string userId, string problem);

    [LoggerMessage(3121, LogLevel.Warning, "Ignored a Teams activity from channel {ChannelId} and tenant {TenantId}: only msteams and allowed tenants are accepted")]
    public static partial void ActivityOutsideAllowed(ILogger logger, string channelId, string tenantId);
}
