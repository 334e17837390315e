namespace AgentSentinel.Client.Internal;

/// <summary>The lowercase names the server uses on the wire.</summary>
internal static class WireNames
{
    public static string ToWire(this Priority priority) => priority switch
    {
        Priority.Critical => "critical",
        Priority.High => "high",
        Priority.Medium => "medium",
        Priority.Low => "low",
        _ => throw new ArgumentOutOfRangeException(nameof(priority), priority, "Unknown priority."),
    };

    public static string ToWire(this RiskLevel risk) => risk switch
    {
        RiskLevel.Critical => "critical",
        RiskLevel.High => "high",
        RiskLevel.Medium => "medium",
        RiskLevel.Low => "low",
        RiskLevel.Minimal => "minimal",
        _ => throw new ArgumentOutOfRangeException(nameof(risk), risk, "Unknown risk level."),
    };

    public static string ToWire(this ApprovalStatus status) => status switch
    {
        ApprovalStatus.Pending => "pending",
        ApprovalStatus.InfoRequested => "info_requested",
        ApprovalStatus.Approved => "approved",
        ApprovalStatus.Rejected => "rejected",
        ApprovalStatus.Expired => "expired",
        ApprovalStatus.Cancelled => "cancelled",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "Unknown status."),
    };

    public static bool TryParseStatus(string? value, out ApprovalStatus status)
    {
        switch (value)
        {
            case "pending":
                status = ApprovalStatus.Pending;
                return true;
            case "info_requested":
                status = ApprovalStatus.InfoRequested;
                return true;
            case "approved":
                status = ApprovalStatus.Approved;
                return true;
            case "rejected":
                status = ApprovalStatus.Rejected;
                return true;
            case "expired":
                status = ApprovalStatus.Expired;
                return true;
            case "cancelled":
                status = ApprovalStatus.Cancelled;
                return true;
            default:
                status = default;
                return false;
        }
    }
}
