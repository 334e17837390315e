using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Routing;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Core.Digest;

/// <summary><c>AgentSentinel:Digest</c>: the weekly statistics digest for managers.</summary>
public sealed class DigestOptions
{
    public const string SectionName = "AgentSentinel:Digest";

    /// <summary>When the digest is posted (Hangfire cron, five fields, or six with seconds), in <see cref="TimeZone"/>.</summary>
    public string Cron { get; set; } = "0 9 * * 1";

    /// <summary>An IANA (or Windows) time zone id: weeks run from Monday 00:00 to Monday 00:00 in it, and the cron
    /// is read in it.</summary>
    public string TimeZone { get; set; } = "UTC";

    /// <summary>The Slack channel id the digest is posted to; none means no Slack digest.</summary>
    public ChannelTarget? Slack { get; set; }

    /// <summary>The Teams channel id the digest is posted to; none means no Teams digest.</summary>
    public ChannelTarget? Teams { get; set; }

    /// <summary>How many routes and pending requests the digest lists.</summary>
    public const int ListSize = 5;

    /// <summary>The configured zone; the validator has made sure it exists before anything asks.</summary>
    public TimeZoneInfo ResolveTimeZone() =>
        TimeZoneInfo.TryFindSystemTimeZoneById(TimeZone, out var zone)
            ? zone
            : throw new InvalidOperationException($"{SectionName}:TimeZone '{TimeZone}' is not a known time zone.");

    public string? SlackChannel => string.IsNullOrWhiteSpace(Slack?.Channel) ? null : Slack.Channel.Trim();

    public string? TeamsChannel => string.IsNullOrWhiteSpace(Teams?.Channel) ? null : Teams.Channel.Trim();
}

/// <summary>Refuses to start with a digest schedule that cannot run, naming the setting.</summary>
public sealed class DigestOptionsValidator : IValidateOptions<DigestOptions>
{
    public ValidateOptionsResult Validate(string? name, DigestOptions options)
    {
        var errors = new List<string>();
        const string section = DigestOptions.SectionName;
        if (string.IsNullOrWhiteSpace(options.TimeZone) || !TimeZoneInfo.TryFindSystemTimeZoneById(options.TimeZone, out _))
        {
            errors.Add($"{section}:TimeZone '{options.TimeZone}' is not a known time zone id (use an IANA id such as Europe/Berlin, or UTC).");
        }
        if (!CronText.LooksValid(options.Cron))
        {
            errors.Add($"{section}:Cron '{options.Cron}' is not a cron expression (five fields, or six with seconds, e.g. '0 9 * * 1').");
        }
        // The channels follow the same rules as a route's.
        var asRoute = new RouteDefinition { Name = "digest", Slack = options.Slack, Teams = options.Teams };
        errors.AddRange(RouteTable.Validate([asRoute]).Select(e => e
            .Replace("routes[0].slack.channel", $"{section}:Slack:Channel", StringComparison.Ordinal)
            .Replace("routes[0].teams.channel", $"{section}:Teams:Channel", StringComparison.Ordinal)));
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
