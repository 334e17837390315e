namespace AgentSentinel.Bot.Slack;

/// <summary><c>AgentSentinel:Slack</c>. Slack is on when both the bot token and the signing secret are set.</summary>
public sealed class SlackOptions
{
    public const string SectionName = "AgentSentinel:Slack";

    /// <summary>The bot user OAuth token (<c>xoxb-...</c>).</summary>
    public string? BotToken { get; set; }

    /// <summary>Verifies that inbound requests come from Slack. Without it the Slack endpoints are off.</summary>
    public string? SigningSecret { get; set; }

    public string ApiBaseUrl { get; set; } = "https://slack.com/api/";

    /// <summary>Slack allows about one message per second per channel.</summary>
    public double MinSecondsBetweenPostsPerChannel { get; set; } = 1.0;

    /// <summary>How old a signed request may be.</summary>
    public TimeSpan SignatureTolerance { get; set; } = TimeSpan.FromMinutes(5);

    public bool Enabled => !string.IsNullOrWhiteSpace(BotToken) && !string.IsNullOrWhiteSpace(SigningSecret);
}
