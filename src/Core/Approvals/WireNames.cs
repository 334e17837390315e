using System.Diagnostics.CodeAnalysis;

namespace AgentSentinel.Core.Approvals;

/// <summary>
/// The lowercase snake_case names used on the wire and in the database for the domain enums.
/// One table per enum, so a rename can never make the API and the store disagree.
/// </summary>
public static class WireNames
{
    private static readonly Dictionary<ApprovalStatus, string> StatusNames = new()
    {
        [ApprovalStatus.Pending] = "pending",
        [ApprovalStatus.InfoRequested] = "info_requested",
        [ApprovalStatus.Approved] = "approved",
        [ApprovalStatus.Rejected] = "rejected",
        [ApprovalStatus.Expired] = "expired",
        [ApprovalStatus.Cancelled] = "cancelled",
    };

    private static readonly Dictionary<string, ApprovalStatus> StatusByName = Invert(StatusNames);
    private static readonly Dictionary<string, Priority> PriorityByName = ByLowerName<Priority>();
    private static readonly Dictionary<string, RiskLevel> RiskByName = ByLowerName<RiskLevel>();
    private static readonly Dictionary<string, Surface> SurfaceByName = ByLowerName<Surface>();

    public static IReadOnlyCollection<string> Statuses => StatusNames.Values;
    public static IReadOnlyCollection<string> Priorities => PriorityByName.Keys;
    public static IReadOnlyCollection<string> RiskLevels => RiskByName.Keys;

    public static string ToWire(this ApprovalStatus status) => StatusNames[status];
    public static string ToWire(this Priority priority) => Lower(priority);
    public static string ToWire(this RiskLevel risk) => Lower(risk);
    public static string ToWire(this Surface surface) => Lower(surface);

    public static bool TryParseStatus(string? value, out ApprovalStatus status) => TryParse(StatusByName, value, out status);
    public static bool TryParsePriority(string? value, out Priority priority) => TryParse(PriorityByName, value, out priority);
    public static bool TryParseRisk(string? value, out RiskLevel risk) => TryParse(RiskByName, value, out risk);
    public static bool TryParseSurface(string? value, out Surface surface) => TryParse(SurfaceByName, value, out surface);

    public static ApprovalStatus ParseStatus(string value) =>
        TryParseStatus(value, out var s) ? s : throw new FormatException($"Unknown approval status '{value}'.");
    public static Priority ParsePriority(string value) =>
        TryParsePriority(value, out var p) ? p : throw new FormatException($"Unknown priority '{value}'.");
    public static RiskLevel ParseRisk(string value) =>
        TryParseRisk(value, out var r) ? r : throw new FormatException($"Unknown risk level '{value}'.");
    public static Surface ParseSurface(string value) =>
        TryParseSurface(value, out var s) ? s : throw new FormatException($"Unknown surface '{value}'.");

    private static string Lower<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();

    private static bool TryParse<T>(Dictionary<string, T> map, string? value, [MaybeNullWhen(false)] out T result)
    {
        if (value is null)
        {
            result = default;
            return false;
        }
        return map.TryGetValue(value.Trim().ToLowerInvariant(), out result);
    }

    private static Dictionary<string, T> ByLowerName<T>() where T : struct, Enum =>
        Enum.GetValues<T>().ToDictionary(Lower, v => v, StringComparer.Ordinal);

    private static Dictionary<TValue, TKey> Invert<TKey, TValue>(Dictionary<TKey, TValue> map)
        where TKey : notnull where TValue : notnull =>
        map.ToDictionary(kv => kv.Value, kv => kv.Key);
}
