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

    public bool HasScope(string scope) => Scopes.Contains(scope, StringComparer.Ordinal);
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
