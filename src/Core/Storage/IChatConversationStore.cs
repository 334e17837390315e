using AgentSentinel.Core.Approvals;

namespace AgentSentinel.Core.Storage;

/// <summary>A conversation the bot was added to (a team, a group chat, a personal chat) and how to reach it.</summary>
public sealed record ChatConversation
{
    public required Surface Surface { get; init; }
    public required string ConversationId { get; init; }
    /// <summary><c>channel</c>, <c>groupChat</c> or <c>personal</c>.</summary>
    public required string Kind { get; init; }
    public string? ChannelId { get; init; }
    public string? TeamId { get; init; }
    public string? TenantId { get; init; }
    public required string ServiceUrl { get; init; }
    public string? BotId { get; init; }
    public string? UserId { get; init; }
    public DateTimeOffset InstalledAt { get; init; }
    public DateTimeOffset? RemovedAt { get; init; }
}

public interface IChatConversationStore
{
    /// <summary>Inserts or refreshes a conversation (an install, or any activity that shows where the bot is).</summary>
    Task UpsertConversationAsync(ChatConversation conversation, DateTimeOffset now, CancellationToken ct);

    Task MarkRemovedAsync(Surface surface, string conversationId, DateTimeOffset now, CancellationToken ct);

    /// <summary>The conversation for a channel id (the team's own or one of its channels), else the team whose id it is.</summary>
    Task<ChatConversation?> FindByChannelAsync(Surface surface, string channelId, CancellationToken ct);

    /// <summary>The most recently installed team conversation still in place, for channels of installed teams the bot has
    /// not seen a message from yet.</summary>
    Task<ChatConversation?> LatestTeamAsync(Surface surface, CancellationToken ct);
}
