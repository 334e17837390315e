namespace AgentSentinel.Bot;

/// <summary>
/// Marks an endpoint that chat platforms call and that verifies each request itself (Slack's signing secret, Bot
/// Framework tokens) instead of through an authorization policy: API keys cannot be used there.
/// </summary>
/// <param name="Mechanism">How requests are verified, for documentation and tests.</param>
public sealed record VerifiedByPlatformMetadata(string Mechanism);
