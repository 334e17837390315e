using System.Security.Cryptography;
using System.Text;

namespace AgentSentinel.Core.Auth;

public static class Scopes
{
    public const string Agent = "agent";
    public const string Approver = "approver";
    public const string Admin = "admin";

    public static readonly IReadOnlyList<string> All = [Agent, Approver, Admin];
}

public sealed record ApiKeyRecord
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    /// <summary>The first characters of the key, safe to display so people can tell keys apart.</summary>
    public required string Prefix { get; init; }
    public required string KeyHash { get; init; }
    public required IReadOnlyList<string> Scopes { get; init; }
    public string? Email { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public string? CreatedBy { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }
    /// <summary>The agent ids (or <c>*</c>/<c>?</c> patterns) the key may name at intake, as stored; empty when the
    /// key names none, and then its only agent id is its name (see <see cref="AllowedAgentIds"/>).</summary>
    public IReadOnlyList<string> AgentIds { get; init; } = [];

    public bool HasScope(string scope) => Scopes.Contains(scope, StringComparer.Ordinal);

    /// <summary>The agent ids this key may use: the ones it names, or else its name.</summary>
    public IReadOnlyList<string> AllowedAgentIds => AgentIds.Count > 0 ? AgentIds : [Name];

    /// <summary>True when <paramref name="agentId"/> is one of <see cref="AllowedAgentIds"/> (or matches one of its patterns).</summary>
    public bool MayUseAgentId(string agentId) => AllowedAgentIds.Any(a => AgentIdPatterns.IsPattern(a) ? Glob.IsMatch(a, agentId) : string.Equals(a, agentId, StringComparison.Ordinal));

    /// <summary>The agent id a request gets when it names none: the first allowed id that is not a pattern; null when
    /// every allowed id is a pattern (then the request must name one).</summary>
    public string? DefaultAgentId => AllowedAgentIds.FirstOrDefault(a => !AgentIdPatterns.IsPattern(a));
}

public static class AgentIdPatterns
{
    public const int MaxCount = 50;
    public const int MaxLength = 200;

    public static bool IsPattern(string value) => value.Contains('*', StringComparison.Ordinal) || value.Contains('?', StringComparison.Ordinal);

    /// <summary>Why an agent id or pattern cannot be stored, or null when it can.</summary>
    public static string? Problem(string? value) =>
        string.IsNullOrWhiteSpace(value) || value.Length > MaxLength ? $"agent ids must be 1 to {MaxLength} characters."
        : value.Any(char.IsControl) ? "agent ids must not contain control characters."
        : value.Trim() != value ? "agent ids must not start or end with spaces."
        : null;
}

/// <summary>Makes and hashes API keys. Keys carry 256 random bits, so a single SHA-256 is enough to store them:
/// there is nothing to brute-force that a slow hash would protect.</summary>
public static class ApiKeyFactory
{
    public const string KeyPrefix = "as_";
    public const int DisplayPrefixLength = 10;

    public static string NewKey() => KeyPrefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public static string DisplayPrefix(string key) => key.Length <= DisplayPrefixLength ? key : key[..DisplayPrefixLength];

    /// <summary>Compares a presented key with a configured one in time that does not depend on where they differ.</summary>
    public static bool FixedTimeEquals(string presented, string expected) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), SHA256.HashData(Encoding.UTF8.GetBytes(expected)));

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
