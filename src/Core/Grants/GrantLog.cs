using Microsoft.Extensions.Logging;

namespace AgentSentinel.Core.Grants;

/// <summary>Log messages of standing grants (event ids 1150-1159, in the lifecycle range of the core).</summary>
internal static partial class GrantLog
{
    [LoggerMessage(1150, LogLevel.Information, "Approval {ApprovalId} approved at intake by grant {GrantId} given by {GrantedBy}")]
    public static partial void ApprovedByGrant(ILogger logger, Guid approvalId, Guid grantId, string? grantedBy);

    [LoggerMessage(1151, LogLevel.Information, "Grant {GrantId} created with the approval of {ApprovalId} by {GrantedBy}, until {ExpiresAt:O}")]
    public static partial void GrantCreated(ILogger logger, Guid grantId, Guid approvalId, string grantedBy, DateTimeOffset expiresAt);

    [LoggerMessage(1152, LogLevel.Information, "Grant {GrantId} revoked by {RevokedBy}")]
    public static partial void GrantRevoked(ILogger logger, Guid grantId, string revokedBy);
}
