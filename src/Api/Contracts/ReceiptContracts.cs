using System.Text.Json;
using System.Text.Json.Serialization;
using AgentSentinel.Core.Receipts;

namespace AgentSentinel.Api.Contracts;

/// <summary>The receipt of a final request: the compact JWS, the id of the key that signed it, and its claims (decoded
/// for convenience; verify <c>receipt</c> with the JWKS before trusting them).</summary>
public sealed record ReceiptDto(string ApprovalId, string Receipt, string? Kid, JsonElement Claims)
{
    public static ReceiptDto From(Guid approvalId, string receipt)
    {
        var (kid, claims) = ReceiptToken.Read(receipt);
        return new ReceiptDto(approvalId.ToString(), receipt, kid, claims);
    }
}

/// <summary>One public key of the JWKS (RFC 7517), an EC P-256 key for ES256.</summary>
public sealed record JwkDto(
    [property: JsonPropertyName("kty")] string Kty,
    [property: JsonPropertyName("crv")] string Crv,
    [property: JsonPropertyName("x")] string X,
    [property: JsonPropertyName("y")] string Y,
    [property: JsonPropertyName("kid")] string Kid,
    [property: JsonPropertyName("use")] string Use,
    [property: JsonPropertyName("alg")] string Alg)
{
    public static JwkDto From(ReceiptKeyInfo key) => new("EC", "P-256", key.X, key.Y, key.Kid, "sig", "ES256");
}

public sealed record JwksDto([property: JsonPropertyName("keys")] IReadOnlyList<JwkDto> Keys);

/// <summary>A receipt key as the admin API lists it: never its private half.</summary>
public sealed record ReceiptKeyDto(string Kid, string Source, bool Current, DateTimeOffset CreatedAt, DateTimeOffset? RetiredAt)
{
    public static ReceiptKeyDto From(ReceiptKeyInfo key) => new(key.Kid, key.Source, key.Current, key.CreatedAt, key.RetiredAt);
}

public sealed record ReceiptKeyListDto(IReadOnlyList<ReceiptKeyDto> Keys, bool Configured);
