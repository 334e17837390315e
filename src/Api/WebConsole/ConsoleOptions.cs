using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.WebConsole;

/// <summary>The <c>AgentSentinel:Console</c> configuration section: web console sessions and live updates.</summary>
public sealed class ConsoleOptions
{
    public const string SectionName = "AgentSentinel:Console";

    /// <summary>A session ends after this long without a request (sliding expiry).</summary>
    public TimeSpan SessionIdleTimeout { get; set; } = TimeSpan.FromHours(8);

    /// <summary>A session ends this long after sign-in, however active (absolute expiry).</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How long the live-update stream may stay silent before it sends a keep-alive comment.</summary>
    public TimeSpan EventsKeepAlive { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often the live-update stream checks that its session is still valid (not signed out, not
    /// expired, its key not revoked), on the clock, however busy the stream is.</summary>
    public TimeSpan EventsSessionCheck { get; set; } = TimeSpan.FromSeconds(5);
}

public sealed class ConsoleOptionsValidator : IValidateOptions<ConsoleOptions>
{
    public ValidateOptionsResult Validate(string? name, ConsoleOptions options)
    {
        var errors = new List<string>();
        if (options.SessionIdleTimeout < TimeSpan.FromMinutes(1) || options.SessionIdleTimeout > TimeSpan.FromDays(30))
        {
            errors.Add($"{ConsoleOptions.SectionName}:SessionIdleTimeout must be from 00:01:00 to 30.00:00:00, got {options.SessionIdleTimeout}.");
        }
        if (options.SessionLifetime < options.SessionIdleTimeout || options.SessionLifetime > TimeSpan.FromDays(90))
        {
            errors.Add($"{ConsoleOptions.SectionName}:SessionLifetime must be at least SessionIdleTimeout and at most 90.00:00:00, got {options.SessionLifetime}.");
        }
        if (options.EventsKeepAlive < TimeSpan.FromSeconds(1) || options.EventsKeepAlive > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{ConsoleOptions.SectionName}:EventsKeepAlive must be from 00:00:01 to 00:05:00, got {options.EventsKeepAlive}.");
        }
        if (options.EventsSessionCheck < TimeSpan.FromSeconds(1) || options.EventsSessionCheck > TimeSpan.FromMinutes(1))
        {
            errors.Add($"{ConsoleOptions.SectionName}:EventsSessionCheck must be from 00:00:01 to 00:01:00, got {options.EventsSessionCheck}.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
