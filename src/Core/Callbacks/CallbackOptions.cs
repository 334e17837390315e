namespace AgentSentinel.Core.Callbacks;

/// <summary><c>AgentSentinel:Callbacks</c>: agent callbacks are on when at least one host is allowed.</summary>
public sealed class CallbackOptions
{
    /// <summary>Hosts that <c>callback_url</c> may name: exact host names or IP addresses, or <c>*.example.com</c>
    /// patterns (any subdomain, not the domain itself). Loopback, private and link-local addresses are reached only
    /// through an exact entry.</summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>The HMAC-SHA256 key that signs callbacks, unless the requesting API key has its own.</summary>
    public string? SigningSecret { get; set; }

    /// <summary>Tries per delivery, the first included.</summary>
    public int MaxAttempts { get; set; } = 12;

    /// <summary>The wait after the first failed try; it doubles after each further failure, up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan InitialRetryDelay { get; set; } = TimeSpan.FromSeconds(10);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long one try may take (connect, send, response headers).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    public bool Enabled => AllowedHosts.Count > 0;

    public const int MinSecretLength = 32;
    public const int MaxSecretLength = 256;

    /// <summary>The wait after failed try number <paramref name="attempt"/> (1-based).</summary>
    public TimeSpan RetryDelay(int attempt)
    {
        var factor = Math.Pow(2, Math.Clamp(attempt - 1, 0, 30));
        var delay = InitialRetryDelay.TotalMilliseconds * factor;
        return delay >= MaxRetryDelay.TotalMilliseconds ? MaxRetryDelay : TimeSpan.FromMilliseconds(delay);
    }
}
