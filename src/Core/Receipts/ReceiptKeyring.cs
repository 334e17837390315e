using System.Collections.Concurrent;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Core.Receipts;

/// <summary>A rotation refused because the signing key comes from configuration.</summary>
public sealed class ReceiptKeyConfiguredException() : Exception(
    "Receipts are signed with the key in AgentSentinel:Receipts:SigningKey: rotate it by configuring a new PEM key (the old key stays listed once it has been used).");

/// <summary>
/// The receipt signing keys of the deployment. The key in <c>AgentSentinel:Receipts:SigningKey</c> signs when it is set
/// (its public half is recorded so that it stays listed after the configuration changes); otherwise the current
/// generated key in the database does, created by the first instance that needs one. Every instance reads the current
/// key from the database, so a rotation on one applies to the next receipt on all of them. Retired keys stay listed.
/// </summary>
public sealed class ReceiptKeyring(IReceiptKeyStore store, IOptionsMonitor<AgentSentinelOptions> options, TimeProvider time, ILogger<ReceiptKeyring> logger)
{
    private readonly ConcurrentDictionary<string, ReceiptSigningKey> _generated = new(StringComparer.Ordinal);
    private readonly Lock _configuredLock = new();
    private (string Pem, ReceiptSigningKey Key)? _configured;
    private string? _recordedKid;

    private string? ConfiguredPem => options.CurrentValue.Receipts.SigningKey is { Length: > 0 } pem && !string.IsNullOrWhiteSpace(pem) ? pem : null;

    /// <summary>True when the signing key comes from configuration (and cannot be rotated from the admin API).</summary>
    public bool IsConfigured => ConfiguredPem is not null;

    /// <summary>The key that signs the next receipt.</summary>
    public async Task<ReceiptSigningKey> CurrentAsync(CancellationToken ct)
    {
        if (ConfiguredPem is { } pem)
        {
            var key = Configured(pem);
            if (_recordedKid != key.Kid)
            {
                await store.RecordConfiguredReceiptKeyAsync(Stored(key, null, ReceiptKeySources.Configured, current: false), ct);
                _recordedKid = key.Kid;
                ReceiptLog.ConfiguredKeyInUse(logger, key.Kid);
            }
            return key;
        }
        var current = await store.GetCurrentReceiptKeyAsync(ct);
        if (current is null)
        {
            using var candidate = ReceiptSigningKey.Generate();
            current = await store.AddCurrentReceiptKeyAsync(Stored(candidate, candidate.ExportPem(), ReceiptKeySources.Generated, current: true), ct);
            if (current.Kid == candidate.Kid)
            {
                ReceiptLog.KeyGenerated(logger, current.Kid);
            }
        }
        return Generated(current);
    }

    /// <summary>Every key that has signed or may sign receipts (the current one first created if needed), with the one
    /// that signs now marked current.</summary>
    public async Task<IReadOnlyList<ReceiptKeyInfo>> ListAsync(CancellationToken ct)
    {
        var signing = await CurrentAsync(ct);
        var keys = await store.ListReceiptKeysAsync(ct);
        return [.. keys.Select(k => k.Info with { Current = k.Kid == signing.Kid })];
    }

    /// <summary>Retires the current generated key and makes a new one current. Refused when the key is configured.</summary>
    public async Task<ReceiptKeyInfo> RotateAsync(CancellationToken ct)
    {
        if (IsConfigured)
        {
            throw new ReceiptKeyConfiguredException();
        }
        using var next = ReceiptSigningKey.Generate();
        var stored = await store.RotateReceiptKeyAsync(Stored(next, next.ExportPem(), ReceiptKeySources.Generated, current: true), time.GetUtcNow(), ct);
        ReceiptLog.KeyRotated(logger, stored.Kid);
        return stored.Info;
    }

    private ReceiptSigningKey Configured(string pem)
    {
        lock (_configuredLock)
        {
            if (_configured is { } cached && cached.Pem == pem)
            {
                return cached.Key;
            }
            // The previous configured key is left to the collector: a receipt may be being signed with it right now.
            var key = ReceiptSigningKey.ImportPem(pem);
            _configured = (pem, key);
            return key;
        }
    }

    private ReceiptSigningKey Generated(StoredReceiptKey stored) =>
        _generated.GetOrAdd(stored.Kid, _ => ReceiptSigningKey.ImportPem(stored.PrivatePem
            ?? throw new InvalidOperationException($"Receipt key {stored.Kid} has no private half in the database.")));

    private StoredReceiptKey Stored(ReceiptSigningKey key, string? pem, string source, bool current) =>
        new(key.Kid, key.X, key.Y, pem, source, current, time.GetUtcNow().TruncateToMicroseconds(), null);
}
