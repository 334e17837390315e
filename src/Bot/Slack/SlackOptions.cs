namespace AgentSentinel.Bot.Slack;

/// <summary><c>AgentSentinel:Slack</c>. Slack is on when the bot token is set with a signing secret (inbound HTTP
/// requests), an app-level token (Socket Mode), or both.</summary>
public sealed class SlackOptions
{
    public const string SectionName = "AgentSentinel:Slack";

    /// <summary>The bot user OAuth token (<c>xoxb-...</c>).</summary>
    public string? BotToken { get; set; }

    /// <summary>Verifies that inbound requests come from Slack. Without it the Slack endpoints are off.</summary>
    public string? SigningSecret { get; set; }

    /// <summary>The app-level token (<c>xapp-...</c>, scope <c>connections:write</c>). When set, the server receives
    /// clicks, commands and events over Socket Mode connections and needs no public URL.</summary>
    public string? AppToken { get; set; }

    public string ApiBaseUrl { get; set; } = "https://slack.com/api/";

    /// <summary>Slack allows about one message per second per channel.</summary>
    public double MinSecondsBetweenPostsPerChannel { get; set; } = 1.0;

    /// <summary>How old a signed request may be.</summary>
    public TimeSpan SignatureTolerance { get; set; } = TimeSpan.FromMinutes(5);

    public bool Enabled => !string.IsNullOrWhiteSpace(BotToken) && (!string.IsNullOrWhiteSpace(SigningSecret) || SocketMode);

    /// <summary>Inbound traffic comes over Socket Mode (an app-level token is set).</summary>
    public bool SocketMode => !string.IsNullOrWhiteSpace(AppToken);
}
