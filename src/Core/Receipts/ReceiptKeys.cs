using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace AgentSentinel.Core.Receipts;

/// <summary>The settings of <c>AgentSentinel:Receipts</c>.</summary>
public sealed class ReceiptOptions
{
    /// <summary>A PEM-encoded EC P-256 private key to sign receipts with. When unset, a key is generated once and kept
    /// in the database, so every instance signs with the same key.</summary>
    public string? SigningKey { get; set; }

    /// <summary>Why <paramref name="pem"/> cannot sign receipts; null when it can. Never repeats the key's text.</summary>
    public static string? Problem(string pem)
    {
        try
        {
            using var key = ReceiptSigningKey.ImportPem(pem);
            return null;
        }
        catch (ArgumentException ex)
        {
            return ex.Message;
        }
        catch (CryptographicException)
        {
            return "it is not a PEM-encoded EC private key (-----BEGIN PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY-----).";
        }
    }
}

/// <summary>Where a receipt key comes from.</summary>
public static class ReceiptKeySources
{
    public const string Generated = "generated";
    public const string Configured = "configured";
}

/// <summary>A receipt key as listed: its id, its public half (JWK coordinates) and its life. Never the private half.</summary>
public sealed record ReceiptKeyInfo(string Kid, string X, string Y, string Source, bool Current, DateTimeOffset CreatedAt, DateTimeOffset? RetiredAt);

/// <summary>A receipt key as stored: <see cref="PrivatePem"/> is set for generated keys only.</summary>
public sealed record StoredReceiptKey(string Kid, string X, string Y, string? PrivatePem, string Source, bool Current, DateTimeOffset CreatedAt, DateTimeOffset? RetiredAt)
{
    public ReceiptKeyInfo Info => new(Kid, X, Y, Source, Current, CreatedAt, RetiredAt);
}

/// <summary>An EC P-256 key that signs receipts (ES256), with its key id: the RFC 7638 JWK thumbprint of its public half.</summary>
public sealed class ReceiptSigningKey : IDisposable
{
    private ReceiptSigningKey(ECDsa key)
    {
        Key = key;
        var parameters = key.ExportParameters(false);
        X = Base64Url.EncodeToString(parameters.Q.X);
        Y = Base64Url.EncodeToString(parameters.Q.Y);
        Kid = Thumbprint(X, Y);
    }

    public ECDsa Key { get; }
    public string Kid { get; }
    public string X { get; }
    public string Y { get; }

    public static ReceiptSigningKey Generate() => new(ECDsa.Create(ECCurve.NamedCurves.nistP256));

    /// <summary>Imports a PEM private key; throws <see cref="ArgumentException"/> (without the key's text) when it is
    /// not an EC P-256 private key.</summary>
    public static ReceiptSigningKey ImportPem(string pem)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
            var parameters = key.ExportParameters(false);
            if (parameters.Curve.Oid?.Value != ECCurve.NamedCurves.nistP256.Oid.Value || key.KeySize != 256)
            {
                throw new ArgumentException("it must be a key on the P-256 curve (ES256).");
            }
            // Exporting the private half fails for a public key alone.
            _ = key.ExportParameters(true).D ?? throw new ArgumentException("it holds no private key.");
        }
        catch
        {
            key.Dispose();
            throw;
        }
        return new ReceiptSigningKey(key);
    }

    public string ExportPem() => Key.ExportPkcs8PrivateKeyPem();

    /// <summary>The RFC 7638 thumbprint (SHA-256, base64url) of an EC P-256 public key: the hash of its required members
    /// in lexicographic order, with no whitespace.</summary>
    public static string Thumbprint(string x, string y) =>
        Base64Url.EncodeToString(SHA256.HashData(Encoding.UTF8.GetBytes($$"""{"crv":"P-256","kty":"EC","x":"{{x}}","y":"{{y}}"}""")));

    public void Dispose() => Key.Dispose();
}

/// <summary>Where receipt keys are kept (the database, shared by every instance).</summary>
public interface IReceiptKeyStore
{
    /// <summary>Every key ever used, oldest first.</summary>
    Task<IReadOnlyList<StoredReceiptKey>> ListReceiptKeysAsync(CancellationToken ct);

    /// <summary>The current generated key, or null when there is none yet.</summary>
    Task<StoredReceiptKey?> GetCurrentReceiptKeyAsync(CancellationToken ct);

    /// <summary>Makes <paramref name="key"/> the current generated key unless another instance made one first; returns
    /// the current key either way.</summary>
    Task<StoredReceiptKey> AddCurrentReceiptKeyAsync(StoredReceiptKey key, CancellationToken ct);

    /// <summary>Retires the current generated key (it stays listed) and makes <paramref name="key"/> current, in one
    /// transaction.</summary>
    Task<StoredReceiptKey> RotateReceiptKeyAsync(StoredReceiptKey key, DateTimeOffset now, CancellationToken ct);

    /// <summary>Records the public half of a configured key, once.</summary>
    Task RecordConfiguredReceiptKeyAsync(StoredReceiptKey key, CancellationToken ct);

    /// <summary>Stores <paramref name="receipt"/> on a final request that has none yet; returns the receipt the request
    /// holds afterwards (this one, or one stored first by another caller), or null when the request is not final.</summary>
    Task<string?> SetReceiptAsync(Guid approvalId, string receipt, CancellationToken ct);
}
