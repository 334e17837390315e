using AgentSentinel.Core;
using Microsoft.Extensions.Logging;

namespace AgentSentinel.Bot.Slack;

/// <summary>Slack log messages, source-generated. Event ids 3000-3099 (Socket Mode: 3050-3069).</summary>
internal static partial class SlackLog
{
    public static void Refused(ILogger logger, string path, string reason) =>
        RefusedCore(logger, ControlCharacters.Escape(path)!, ControlCharacters.Escape(reason)!);

    [LoggerMessage(3005, LogLevel.Warning, "Refused a Slack request to {Path}: {Reason}", EventName = "Refused")]
    private static partial void RefusedCore(ILogger logger, string path, string reason);

    public static void ClickFailed(ILogger logger, Exception exception, string approvalId) =>
        ClickFailedCore(logger, exception, ControlCharacters.Escape(approvalId)!);

    [LoggerMessage(3006, LogLevel.Warning, "Slack call failed while handling a click on {ApprovalId}", EventName = "ClickFailed")]
    private static partial void ClickFailedCore(ILogger logger, Exception exception, string approvalId);

    public static void ModalFailed(ILogger logger, Exception exception, string approvalId) =>
        ModalFailedCore(logger, exception, ControlCharacters.Escape(approvalId)!);

    [LoggerMessage(3059, LogLevel.Warning, "Slack did not open the modal of a click on {ApprovalId}", EventName = "ModalFailed")]
    private static partial void ModalFailedCore(ILogger logger, Exception exception, string approvalId);

    [LoggerMessage(3007, LogLevel.Warning, "Queued the Slack message of {Count} open request(s) left unposted by the last stop")]
    public static partial void PostsRecovered(ILogger logger, int count);

    public static void EphemeralDropped(ILogger logger, string channel, string reason) =>
        EphemeralDroppedCore(logger, channel, ControlCharacters.Escape(reason)!);

    [LoggerMessage(3009, LogLevel.Warning, "Dropped an ephemeral Slack note in {Channel}: {Reason}", EventName = "EphemeralDropped")]
    private static partial void EphemeralDroppedCore(ILogger logger, string channel, string reason);

    [LoggerMessage(3020, LogLevel.Warning, "Slack users.info failed for {UserId}; the click is refused")]
    public static partial void UserLookupFailed(ILogger logger, Exception exception, string userId);

    [LoggerMessage(3021, LogLevel.Information, "Slack user {UserId} is not a known approver ({Problem}); nothing was changed")]
    public static partial void UnknownPerson(ILogger logger, string userId, string problem);

    // ---- Socket Mode: 3050-3069. Neither the app token nor the socket URL (it carries a ticket) is ever logged. ----

    [LoggerMessage(3050, LogLevel.Information, "Slack Socket Mode connection {Connection} is open")]
    public static partial void SocketConnected(ILogger logger, int connection);

    [LoggerMessage(3051, LogLevel.Warning, "Slack Socket Mode is not connected: {Problem}; retrying in {RetryIn}")]
    public static partial void SocketNotConnected(ILogger logger, string problem, TimeSpan retryIn);

    [LoggerMessage(3052, LogLevel.Information, "Slack asked Socket Mode connection {Connection} to reconnect ({Reason}); opening a new connection before closing it")]
    public static partial void SocketDisconnectRequested(ILogger logger, int connection, string reason);

    [LoggerMessage(3053, LogLevel.Information, "Slack delivered envelope {EnvelopeId} ({Type}) again (retry attempt {RetryAttempt}); acknowledging it with the first answer, not handling it twice")]
    public static partial void EnvelopeRepeated(ILogger logger, string envelopeId, string type, string retryAttempt);

    [LoggerMessage(3054, LogLevel.Warning, "Envelope {EnvelopeId} ({Type}) was not handled within {Deadline}; acknowledged without an answer")]
    public static partial void EnvelopeSlow(ILogger logger, string envelopeId, string type, TimeSpan deadline);

    [LoggerMessage(3055, LogLevel.Error, "Handling Socket Mode envelope {EnvelopeId} ({Type}) failed; acknowledged without an answer")]
    public static partial void EnvelopeFailed(ILogger logger, Exception exception, string envelopeId, string type);

    [LoggerMessage(3056, LogLevel.Warning, "Could not acknowledge envelope {EnvelopeId}: Socket Mode connection {Connection} is closed; Slack will deliver it again")]
    public static partial void AckFailed(ILogger logger, string envelopeId, int connection);

    [LoggerMessage(3057, LogLevel.Warning, "Socket Mode envelope {EnvelopeId} ({Type}) was refused with {StatusCode}")]
    public static partial void EnvelopeRefused(ILogger logger, string envelopeId, string type, int statusCode);

    [LoggerMessage(3058, LogLevel.Warning, "Ignored Socket Mode envelope {EnvelopeId} of unknown type {Type}")]
    public static partial void EnvelopeUnknown(ILogger logger, string envelopeId, string type);
}
