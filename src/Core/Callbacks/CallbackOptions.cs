using Microsoft.Extensions.Options;

namespace AgentSentinel.Core.Callbacks;

/// <summary><c>AgentSentinel:Callbacks</c>: agent callbacks are on when at least one host is allowed.</summary>
public sealed class CallbackOptions
{
    public const string SectionName = "AgentSentinel:Callbacks";
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

    /// <summary>How long one try may take (connect, send, response headers), on the wall clock.</summary>
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

/// <summary>Refuses to start on a wrong callback setting, with a sentence that names it.</summary>
public sealed class CallbackOptionsValidator : IValidateOptions<CallbackOptions>
{
    public ValidateOptionsResult Validate(string? name, CallbackOptions options)
    {
        const string section = CallbackOptions.SectionName;
        var errors = new List<string>();
        for (var i = 0; i < options.AllowedHosts.Count; i++)
        {
            if (CallbackUrlPolicy.ValidateEntry(options.AllowedHosts[i]) is { } error)
            {
                errors.Add($"{section}:AllowedHosts:{i} {error}.");
            }
        }
        if (options.SigningSecret is { Length: > 0 } secret
            && (secret.Length < CallbackOptions.MinSecretLength || secret.Length > CallbackOptions.MaxSecretLength || secret.Trim() != secret))
        {
            errors.Add($"{section}:SigningSecret must be {CallbackOptions.MinSecretLength} to {CallbackOptions.MaxSecretLength} characters without surrounding spaces (use a random value).");
        }
        if (options.MaxAttempts is < 1 or > 50)
        {
            errors.Add($"{section}:MaxAttempts must be between 1 and 50.");
        }
        if (options.InitialRetryDelay < TimeSpan.FromSeconds(1) || options.InitialRetryDelay > options.MaxRetryDelay)
        {
            errors.Add($"{section}:InitialRetryDelay must be at least 00:00:01 and at most MaxRetryDelay.");
        }
        if (options.MaxRetryDelay > TimeSpan.FromDays(1))
        {
            errors.Add($"{section}:MaxRetryDelay must be at most 1.00:00:00.");
        }
        if (options.Timeout < TimeSpan.FromSeconds(1) || options.Timeout > TimeSpan.FromMinutes(1))
        {
            errors.Add($"{section}:Timeout must be between 00:00:01 and 00:01:00.");
        }
        return errors.Count == 0
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(errors);
    }
}
