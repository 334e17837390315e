using AgentSentinel.Core;
using Microsoft.Extensions.Logging;

namespace AgentSentinel.Bot.Digest;

/// <summary>Weekly digest log messages, source-generated. Event ids 3200-3299.</summary>
internal static partial class DigestLog
{
    [LoggerMessage(3200, LogLevel.Information, "Posted the weekly digest {Week} to {Surface} channel {Channel} as {MessageId}")]
    public static partial void Posted(ILogger logger, string week, string surface, string channel, string messageId);

    [LoggerMessage(3201, LogLevel.Information, "The weekly digest {Week} for {Surface} channel {Channel} is already {State}; not posting again")]
    public static partial void AlreadyHandled(ILogger logger, string week, string surface, string channel, string state);

    [LoggerMessage(3202, LogLevel.Warning, "{Surface} rate-limited the weekly digest {Week} in {Channel}; retrying in {RetryAfter}")]
    public static partial void RateLimited(ILogger logger, string surface, string week, string channel, TimeSpan retryAfter);

    public static void Refused(ILogger logger, string surface, string week, string channel, string error) =>
        RefusedCore(logger, surface, week, ControlCharacters.Escape(channel)!, ControlCharacters.Escape(error)!);

    [LoggerMessage(3203, LogLevel.Error, "{Surface} refused the weekly digest {Week} in {Channel}: {Error}", EventName = "Refused")]
    private static partial void RefusedCore(ILogger logger, string surface, string week, string channel, string error);

    [LoggerMessage(3204, LogLevel.Warning, "Posting the weekly digest {Week} to {Surface} channel {Channel} failed; it will be retried")]
    public static partial void Failed(ILogger logger, Exception exception, string week, string surface, string channel);

    [LoggerMessage(3205, LogLevel.Information, "Found the weekly digest {Week} in Slack channel {Channel} ({Ts}) from an earlier attempt; not posting again")]
    public static partial void Adopted(ILogger logger, string week, string channel, string ts);

    [LoggerMessage(3206, LogLevel.Information, "No digest channel is configured; the weekly digest {Week} was not posted")]
    public static partial void NoChannel(ILogger logger, string week);

    [LoggerMessage(3207, LogLevel.Warning, "The weekly digest {Week} is not over yet; only finished weeks are posted")]
    public static partial void NotFinished(ILogger logger, string week);

    public static void LookupUnavailable(ILogger logger, string week, string channel, string error) =>
        LookupUnavailableCore(logger, week, channel, ControlCharacters.Escape(error)!);

    [LoggerMessage(3208, LogLevel.Warning, "Could not look for an earlier post of the weekly digest {Week} in Slack channel {Channel} ({Error}); posting anyway, so a duplicate is possible", EventName = "LookupUnavailable")]
    private static partial void LookupUnavailableCore(ILogger logger, string week, string channel, string error);
}
