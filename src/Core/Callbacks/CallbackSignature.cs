using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace AgentSentinel.Core.Callbacks;

/// <summary>
/// The signature of a callback: <c>v1=</c> and the lowercase hex HMAC-SHA256, keyed with the signing secret, of
/// <c>{timestamp}.{body}</c>, where the timestamp is the <c>X-AgentSentinel-Timestamp</c> header (Unix seconds) and
/// the body is the raw request body. Receivers recompute it, compare in constant time and refuse old timestamps.
/// </summary>
public static class CallbackSignature
{
    public const string DeliveryHeader = "X-AgentSentinel-Delivery";
    public const string EventHeader = "X-AgentSentinel-Event";
    public const string TimestampHeader = "X-AgentSentinel-Timestamp";
    public const string SignatureHeader = "X-AgentSentinel-Signature";
    public const string AttemptHeader = "X-AgentSentinel-Attempt";
    public const string Version = "v1";

    public static string Timestamp(DateTimeOffset at) => at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);

    public static string Compute(string secret, string timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes(timestamp + ".");
        var message = new byte[prefix.Length + body.Length];
        prefix.CopyTo(message, 0);
        body.CopyTo(message.AsSpan(prefix.Length));
        return Version + "=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), message));
    }

    /// <summary>What a receiver does: recompute, compare in constant time, and refuse a timestamp outside the tolerance.</summary>
    public static bool Verify(string secret, string? timestamp, string? signature, ReadOnlySpan<byte> body, DateTimeOffset now, TimeSpan tolerance)
    {
        if (timestamp is null || signature is null
            || !long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || Math.Abs(now.ToUnixTimeSeconds() - seconds) > tolerance.TotalSeconds)
        {
            return false;
        }
        var expected = Encoding.ASCII.GetBytes(Compute(secret, timestamp, body));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(signature));
    }
}
