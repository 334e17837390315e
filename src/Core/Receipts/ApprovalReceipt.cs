using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace AgentSentinel.Core.Receipts;

/// <summary>The grant that approved a request, as its receipt names it.</summary>
public sealed record ReceiptGrant(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("granted_by")] string? GrantedBy);

/// <summary>
/// What a receipt states (the JWS payload). Every member is always present, null when it does not apply. Timestamps are
/// the API's UTC ISO-8601 with six fractional digits; <c>iat</c> is a JWT NumericDate. <c>action_inputs_sha256</c> is
/// the lowercase hex SHA-256 of the RFC 8785 canonical JSON of the request's <c>action_inputs</c> (of <c>null</c> when
/// it had none).
/// </summary>
public sealed record ReceiptClaims
{
    /// <summary>The value of <c>typ</c> in every receipt's header.</summary>
    public const string TokenType = "approval-receipt+jwt";

    [JsonPropertyName("iss")] public required string Issuer { get; init; }
    [JsonPropertyName("sub")] public required string Subject { get; init; }
    [JsonPropertyName("iat")] public required long IssuedAt { get; init; }
    [JsonPropertyName("approval_id")] public required string ApprovalId { get; init; }
    [JsonPropertyName("action_name")] public required string ActionName { get; init; }
    [JsonPropertyName("agent_id")] public string? AgentId { get; init; }
    [JsonPropertyName("action_inputs_sha256")] public string? ActionInputsSha256 { get; init; }
    /// <summary><c>approved</c>, <c>rejected</c>, <c>expired</c> or <c>cancelled</c>: only <c>approved</c> lets an action run.</summary>
    [JsonPropertyName("decision")] public required string Decision { get; init; }
    [JsonPropertyName("decided_by")] public string? DecidedBy { get; init; }
    [JsonPropertyName("decided_by_key_id")] public string? DecidedByKeyId { get; init; }
    [JsonPropertyName("decided_via")] public string? DecidedVia { get; init; }
    [JsonPropertyName("decided_at")] public string? DecidedAt { get; init; }
    [JsonPropertyName("deadline")] public required string Deadline { get; init; }
    [JsonPropertyName("grant")] public ReceiptGrant? Grant { get; init; }

    public static string Timestamp(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
}

/// <summary>Receipts as compact JWS (RFC 7515) signed with ES256: <c>base64url(header).base64url(payload).base64url(r||s)</c>.</summary>
public static class ReceiptToken
{
    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    public static string Sign(ReceiptClaims claims, ReceiptSigningKey key)
    {
        var header = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string>
        {
            ["alg"] = "ES256",
            ["typ"] = ReceiptClaims.TokenType,
            ["kid"] = key.Kid,
        });
        var signingInput = Base64Url.EncodeToString(header) + "." + Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(claims, Json));
        var signature = key.Key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return signingInput + "." + Base64Url.EncodeToString(signature);
    }

    /// <summary>The header's <c>kid</c> and the payload of a receipt this server issued (not verified: for display).</summary>
    public static (string? Kid, JsonElement Claims) Read(string receipt)
    {
        var parts = receipt.Split('.');
        using var header = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[0]));
        using var payload = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[1]));
        var kid = header.RootElement.TryGetProperty("kid", out var k) ? k.GetString() : null;
        return (kid, payload.RootElement.Clone());
    }
}

/// <summary>The hash that binds a receipt (and a grant for the same inputs) to a request's arguments: SHA-256, lowercase
/// hex, of the RFC 8785 canonical JSON of <c>action_inputs</c>; a request without inputs hashes the literal <c>null</c>.</summary>
public static class ActionInputsHash
{
    /// <summary>The hash of <paramref name="actionInputs"/> (JSON text, or null); throws <see cref="ArgumentException"/>
    /// when it has no canonical form.</summary>
    public static string Of(string? actionInputs)
    {
        try
        {
            return Jcs.Sha256Hex(actionInputs);
        }
        catch (JcsException ex)
        {
            throw new ArgumentException(ex.Message, nameof(actionInputs), ex);
        }
    }

    /// <summary>Why <paramref name="actionInputs"/> cannot be hashed (RFC 8785 needs I-JSON: numbers within the range of
    /// an IEEE 754 double, no name given twice, well-formed strings); null when it can.</summary>
    public static string? Problem(string? actionInputs)
    {
        try
        {
            _ = Jcs.Sha256Hex(actionInputs);
            return null;
        }
        catch (JcsException ex)
        {
            return ex.Message;
        }
    }
}
