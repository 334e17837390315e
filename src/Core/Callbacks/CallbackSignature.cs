using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace AgentSentinel.Core.Callbacks;

/// <summary>
/// The signature of a callback, in the header <c>X-AgentSentinel-Signature: t={unix seconds},v2={hex}</c>, where
/// <c>{hex}</c> is the lowercase hex HMAC-SHA256, keyed with the UTF-8 bytes of the signing secret, of the UTF-8 bytes
/// <c>{t}\n{key id}\n{url}\n</c> followed by the raw body: <c>key id</c> is the id of the API key that made the
/// request and <c>url</c> its <c>callback_url</c> as the approval object shows it. Binding both means a body signed
/// for one agent's endpoint does not verify at another's, even when they share the signing secret. Receivers
/// recompute it with their own key id and URL, compare in constant time and refuse old timestamps.
/// </summary>
public static class CallbackSignature
{
    public const string SignatureHeader = "X-AgentSentinel-Signature";
    public const string DeliveryHeader = "X-AgentSentinel-Delivery";
    public const string EventHeader = "X-AgentSentinel-Event";
    public const string AttemptHeader = "X-AgentSentinel-Attempt";
    public const string Version = "v2";

    /// <summary>The header value for a body sent at <paramref name="at"/> to <paramref name="url"/> for a request made by the key <paramref name="keyId"/>.</summary>
    public static string Header(string secret, DateTimeOffset at, string url, string keyId, ReadOnlySpan<byte> body)
    {
        var timestamp = at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return $"t={timestamp},{Version}={Compute(secret, timestamp, url, keyId, body)}";
    }

    /// <summary>The lowercase hex HMAC-SHA256 of <c>{timestamp}\n{keyId}\n{url}\n{body}</c>.</summary>
    public static string Compute(string secret, string timestamp, string url, string keyId, ReadOnlySpan<byte> body)
    {
        if (keyId.Contains('\n', StringComparison.Ordinal) || url.Contains('\n', StringComparison.Ordinal))
        {
            throw new ArgumentException("A key id or URL with a line break cannot be signed unambiguously.");
        }
        var prefix = Encoding.UTF8.GetBytes($"{timestamp}\n{keyId}\n{url}\n");
        var message = new byte[prefix.Length + body.Length];
        prefix.CopyTo(message, 0);
        body.CopyTo(message.AsSpan(prefix.Length));
        return Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), message));
    }

    /// <summary>What a receiver does: parse the header, recompute, compare in constant time, and refuse a timestamp
    /// further than <paramref name="tolerance"/> from <paramref name="now"/>.</summary>
    public static bool Verify(string secret, string? header, string url, string keyId, ReadOnlySpan<byte> body, DateTimeOffset now, TimeSpan tolerance)
    {
        string? timestamp = null;
        string? signature = null;
        foreach (var part in (header ?? "").Split(','))
        {
            var kv = part.Trim().Split('=', 2);
            if (kv.Length != 2)
            {
                return false;
            }
            switch (kv[0])
            {
                case "t":
                    timestamp = kv[1];
                    break;
                case Version:
                    signature = kv[1];
                    break;
            }
        }
        if (timestamp is null || signature is null
            || !long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || Math.Abs(now.ToUnixTimeSeconds() - seconds) > tolerance.TotalSeconds)
        {
            return false;
        }
        if (keyId.Contains('\n', StringComparison.Ordinal) || url.Contains('\n', StringComparison.Ordinal))
        {
            return false;
        }
        var expected = Encoding.ASCII.GetBytes(Compute(secret, timestamp, url, keyId, body));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(signature));
    }

    /// <summary>A new random signing secret for an API key: <c>ascb_</c> and 256 random bits, base64url.</summary>
    public static string NewSecret() =>
        "ascb_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
