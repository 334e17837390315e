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

    /// <summary>How often the live-update stream sends a keep-alive and checks that its session is still valid.</summary>
    public TimeSpan EventsKeepAlive { get; set; } = TimeSpan.FromSeconds(15);
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
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
