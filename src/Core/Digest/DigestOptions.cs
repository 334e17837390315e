using AgentSentinel.Core.Routing;

namespace AgentSentinel.Core.Digest;

/// <summary><c>AgentSentinel:Digest</c>: the weekly statistics digest for managers.</summary>
public sealed class DigestOptions
{
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

    public TimeZoneInfo ResolveTimeZone() =>
        TimeZoneInfo.TryFindSystemTimeZoneById(TimeZone, out var zone) ? zone : TimeZoneInfo.Utc;
}
