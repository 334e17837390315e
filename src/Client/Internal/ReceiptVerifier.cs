using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace AgentSentinel.Client.Internal;

/// <summary>Verifies receipts with the server's JWKS: ES256 only, the typed header, a listed key id. The key set is kept
/// and fetched again when a receipt names a key it does not hold (after a rotation).</summary>
internal sealed class ReceiptVerifier(Func<CancellationToken, Task<string>> fetchJwks)
{
    public const string TokenType = "approval-receipt+jwt";

    private volatile IReadOnlyDictionary<string, ECParameters> _keys = new Dictionary<string, ECParameters>();

    /// <summary>The verified claims of <paramref name="token"/>; throws <see cref="ReceiptVerificationException"/> when
    /// it cannot be trusted.</summary>
    public async Task<ApprovalReceipt> VerifyAsync(string approvalId, string token, CancellationToken ct)
    {
        var parts = token.Split('.');
        if (parts.Length != 3)
        {
            throw Refused(approvalId, "it is not a compact JWS (three base64url parts)");
        }
        using var header = Parse(approvalId, parts[0], "header");
        var alg = Text(header.RootElement, "alg");
        if (alg != "ES256")
        {
            throw Refused(approvalId, $"its algorithm is '{alg}', not ES256");
        }
        if (Text(header.RootElement, "typ") != TokenType)
        {
            throw Refused(approvalId, $"its type is not {TokenType}");
        }
        var kid = Text(header.RootElement, "kid") ?? throw Refused(approvalId, "it names no key (kid)");
        if (!_keys.ContainsKey(kid))
        {
            _keys = ParseJwks(await fetchJwks(ct).ConfigureAwait(false));
        }
        if (!_keys.TryGetValue(kid, out var parameters))
        {
            throw Refused(approvalId, $"its key '{kid}' is not listed in the server's /.well-known/jwks.json");
        }
        byte[] signature;
        try
        {
            signature = Base64Url.DecodeFromChars(parts[2]);
        }
        catch (FormatException ex)
        {
            throw Refused(approvalId, "its signature is not base64url", ex);
        }
        using (var key = ECDsa.Create(parameters))
        {
            if (!key.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
            {
                throw Refused(approvalId, $"its signature does not verify with key '{kid}'");
            }
        }
        using var payload = Parse(approvalId, parts[1], "payload");
        var claims = payload.RootElement;
        var grant = claims.TryGetProperty("grant", out var g) && g.ValueKind == JsonValueKind.Object ? g : (JsonElement?)null;
        return new ApprovalReceipt
        {
            Token = token,
            KeyId = kid,
            ApprovalId = Text(claims, "approval_id") ?? throw Refused(approvalId, "it names no approval"),
            ActionName = Text(claims, "action_name") ?? throw Refused(approvalId, "it names no action"),
            AgentId = Text(claims, "agent_id"),
            ActionInputsSha256 = Text(claims, "action_inputs_sha256"),
            Decision = Text(claims, "decision") ?? throw Refused(approvalId, "it states no decision"),
            DecidedBy = Text(claims, "decided_by"),
            DecidedAt = Time(claims, "decided_at"),
            Deadline = Time(claims, "deadline"),
            GrantId = grant is { } gr ? Text(gr, "id") : null,
            GrantedBy = grant is { } gb ? Text(gb, "granted_by") : null,
        };
    }

    private static Dictionary<string, ECParameters> ParseJwks(string json)
    {
        var keys = new Dictionary<string, ECParameters>(StringComparer.Ordinal);
        using var document = JsonDocument.Parse(json);
        if (!document.RootElement.TryGetProperty("keys", out var list) || list.ValueKind != JsonValueKind.Array)
        {
            return keys;
        }
        foreach (var key in list.EnumerateArray())
        {
            if (key.ValueKind != JsonValueKind.Object || Text(key, "kty") != "EC" || Text(key, "crv") != "P-256"
                || Text(key, "kid") is not { } kid || Text(key, "x") is not { } x || Text(key, "y") is not { } y)
            {
                continue;
            }
            try
            {
                keys[kid] = new ECParameters
                {
                    Curve = ECCurve.NamedCurves.nistP256,
                    Q = new ECPoint { X = Base64Url.DecodeFromChars(x), Y = Base64Url.DecodeFromChars(y) },
                };
            }
            catch (FormatException)
            {
                // A key that cannot be read verifies nothing.
            }
        }
        return keys;
    }

    private static JsonDocument Parse(string approvalId, string part, string what)
    {
        try
        {
            return JsonDocument.Parse(Base64Url.DecodeFromChars(part));
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            throw Refused(approvalId, $"its {what} is not base64url JSON", ex);
        }
    }

    private static string? Text(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static DateTimeOffset? Time(JsonElement element, string name) =>
        Text(element, name) is { } text && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var value) ? value : null;

    public static ReceiptVerificationException Refused(string approvalId, string reason, Exception? inner = null) =>
        new(approvalId, $"The receipt of approval {approvalId} is refused: {reason}. The action did not run.", inner);
}
