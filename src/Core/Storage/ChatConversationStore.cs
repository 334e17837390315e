using AgentSentinel.Core.Approvals;
using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>The conversations the bot was added to, per surface.</summary>
public sealed class ChatConversationStore(Database database) : IChatConversationStore
{
    private const string ConversationColumns =
        "surface, conversation_id, kind, channel_id, team_id, tenant_id, service_url, bot_id, user_id, installed_at, removed_at";

    public async Task UpsertConversationAsync(ChatConversation c, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO chat_conversations (surface, conversation_id, kind, channel_id, team_id, tenant_id, service_url, bot_id, user_id, installed_at, updated_at)
            VALUES (@surface, @ConversationId, @Kind, @ChannelId, @TeamId, @TenantId, @ServiceUrl, @BotId, @UserId, @now, @now)
            ON CONFLICT (surface, conversation_id) DO UPDATE SET
                service_url = excluded.service_url,
                kind = excluded.kind,
                channel_id = COALESCE(excluded.channel_id, chat_conversations.channel_id),
                team_id = COALESCE(excluded.team_id, chat_conversations.team_id),
                tenant_id = COALESCE(excluded.tenant_id, chat_conversations.tenant_id),
                bot_id = COALESCE(excluded.bot_id, chat_conversations.bot_id),
                user_id = COALESCE(excluded.user_id, chat_conversations.user_id),
                updated_at = excluded.updated_at,
                removed_at = NULL
            """, new
        {
            surface = c.Surface.ToWire(),
            c.ConversationId,
            c.Kind,
            c.ChannelId,
            c.TeamId,
            c.TenantId,
            c.ServiceUrl,
            c.BotId,
            c.UserId,
            now = now.ToUnixMicroseconds(),
        }, cancellationToken: ct));
    }

    public async Task MarkRemovedAsync(Surface surface, string conversationId, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE chat_conversations SET removed_at = @now, updated_at = @now WHERE surface = @surface AND (conversation_id = @conversationId OR team_id = @conversationId)",
            new { surface = surface.ToWire(), conversationId, now = now.ToUnixMicroseconds() }, cancellationToken: ct));
    }

    public async Task<ChatConversation?> FindByChannelAsync(Surface surface, string channelId, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QueryFirstOrDefaultAsync<ConversationRow>(new CommandDefinition($"""
            SELECT {ConversationColumns} FROM chat_conversations
            WHERE surface = @surface AND removed_at IS NULL AND (channel_id = @channelId OR team_id = @channelId OR conversation_id = @channelId)
            ORDER BY CASE WHEN channel_id = @channelId THEN 0 WHEN conversation_id = @channelId THEN 1 ELSE 2 END, installed_at DESC
            LIMIT 1
            """, new { surface = surface.ToWire(), channelId }, cancellationToken: ct));
        return row?.ToModel();
    }

    public async Task<ChatConversation?> LatestTeamAsync(Surface surface, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QueryFirstOrDefaultAsync<ConversationRow>(new CommandDefinition($"""
            SELECT {ConversationColumns} FROM chat_conversations
            WHERE surface = @surface AND removed_at IS NULL AND kind = 'channel' AND team_id IS NOT NULL
            ORDER BY installed_at DESC LIMIT 1
            """, new { surface = surface.ToWire() }, cancellationToken: ct));
        return row?.ToModel();
    }

    private sealed class ConversationRow
    {
        public string Surface { get; set; } = "";
        public string ConversationId { get; set; } = "";
        public string Kind { get; set; } = "";
        public string? ChannelId { get; set; }
        public string? TeamId { get; set; }
        public string? TenantId { get; set; }
        public string ServiceUrl { get; set; } = "";
        public string? BotId { get; set; }
        public string? UserId { get; set; }
        public long InstalledAt { get; set; }
        public long? RemovedAt { get; set; }

        public ChatConversation ToModel() => new()
        {
            Surface = WireNames.ParseSurface(Surface),
            ConversationId = ConversationId,
            Kind = Kind,
            ChannelId = ChannelId,
            TeamId = TeamId,
            TenantId = TenantId,
            ServiceUrl = ServiceUrl,
            BotId = BotId,
            UserId = UserId,
            InstalledAt = TimeConversions.FromUnixMicroseconds(InstalledAt),
            RemovedAt = TimeConversions.FromUnixMicroseconds(RemovedAt),
        };
    }
}
