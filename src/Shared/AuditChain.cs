using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace AgentSentinel;

/// <summary>The audit chain's hashing, compiled into the server and into the offline verifier so both compute it
/// alike. An event's hash is the lowercase hex SHA-256 of the UTF-8 text
/// <c>prev_hash|f1|f2|…</c>, where the fields are seq, id, approval_id, kind, at (ISO-8601, six fractional digits, Z),
/// actor, actor_key_id, surface and details, each written as <c>~</c> when null and as <c>{length}:{value}</c>
/// otherwise (length in UTF-8 bytes), so no value can be confused with another. The first event's previous hash is
/// <see cref="Genesis"/>; after a retention run the first remaining event's previous hash is the signed checkpoint's.</summary>
internal static class AuditChain
{
    public static readonly string Genesis = new('0', 64);

    public const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'";

    public static string FormatTime(DateTimeOffset at) => at.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture);

    public static string EventHash(string previousHash, long seq, long id, string approvalId, string kind, string at,
        string? actor, string? actorKeyId, string surface, string? details)
    {
        var text = new StringBuilder(previousHash);
        foreach (var field in new[] { seq.ToString(CultureInfo.InvariantCulture), id.ToString(CultureInfo.InvariantCulture), approvalId, kind, at, actor, actorKeyId, surface, details })
        {
            text.Append('|');
            if (field is null)
            {
                text.Append('~');
            }
            else
            {
                text.Append(Encoding.UTF8.GetByteCount(field).ToString(CultureInfo.InvariantCulture)).Append(':').Append(field);
            }
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>The text a checkpoint's signature covers.</summary>
    public static string CheckpointText(long seq, string hash, string at, long deletedRequests, long deletedEvents) =>
        string.Create(CultureInfo.InvariantCulture, $"agentsentinel-audit-checkpoint|{seq}|{hash}|{at}|{deletedRequests}|{deletedEvents}");

    /// <summary>A short id of a public key: the first 16 hex digits of the SHA-256 of its SubjectPublicKeyInfo.</summary>
    public static string KeyId(ECDsa key) => Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo()))[..16];
}
