using Microsoft.Extensions.Logging;

namespace AgentSentinel.Core.Receipts;

/// <summary>Log messages of approval receipts (event ids 1160-1169, in the lifecycle range of the core). Key ids only:
/// a private key is never logged.</summary>
internal static partial class ReceiptLog
{
    [LoggerMessage(1160, LogLevel.Information, "Generated receipt signing key {Kid} (kept in the database)")]
    public static partial void KeyGenerated(ILogger logger, string kid);

    [LoggerMessage(1161, LogLevel.Information, "Receipt signing key rotated; the new key is {Kid}, the old one stays listed")]
    public static partial void KeyRotated(ILogger logger, string kid);

    [LoggerMessage(1162, LogLevel.Information, "Signing receipts with the configured key {Kid}")]
    public static partial void ConfiguredKeyInUse(ILogger logger, string kid);

    [LoggerMessage(1163, LogLevel.Warning, "Receipt for approval {ApprovalId} not issued now; it is issued when the request is next read")]
    public static partial void ReceiptDeferred(ILogger logger, Guid approvalId, Exception exception);
}
