using AgentSentinel.Core.Approvals;
using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>The chat messages posted (or being posted) for each request, one row per delivery, claimed before posting.</summary>
public sealed class ChatMessageStore(Database database, ServerInstance instance) : IChatMessageStore
{
    private const string ChatColumns = """
        id, approval_id, surface, channel, delivery_key, state, message_id, thread_id, conversation_id, attempts,
        last_error, claimed_at, posted_at, updated_at, error_class, body, claimed_by
        """;

    public async Task<(ChatMessage Message, bool Claimed)> ClaimAsync(Guid approvalId, Surface surface, string channel, string deliveryKey, DateTimeOffset now, CancellationToken ct, string? body = null)
    {
        var p = new { approvalId = ApprovalSql.IdText(approvalId), surface = surface.ToWire(), channel, deliveryKey, now = now.ToUnixMicroseconds(), body, instance = instance.Id };
        await using var connection = await database.OpenAsync(ct);
        var inserted = await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO chat_messages (approval_id, surface, channel, delivery_key, state, attempts, claimed_at, updated_at, body, claimed_by)
            VALUES (@approvalId, @surface, @channel, @deliveryKey, 'claimed', 1, @now, @now, @body, @instance)
            ON CONFLICT (approval_id, surface, channel, delivery_key) DO NOTHING
            """, p, cancellationToken: ct));
        if (inserted == 0)
        {
            await connection.ExecuteAsync(new CommandDefinition("""
                UPDATE chat_messages SET attempts = attempts + 1, updated_at = @now
                WHERE approval_id = @approvalId AND surface = @surface AND channel = @channel AND delivery_key = @deliveryKey
                """, p, cancellationToken: ct));
        }
        var row = await connection.QuerySingleAsync<ChatRow>(new CommandDefinition($"""
            SELECT {ChatColumns} FROM chat_messages
            WHERE approval_id = @approvalId AND surface = @surface AND channel = @channel AND delivery_key = @deliveryKey
            """, p, cancellationToken: ct));
        return (row.ToModel(), inserted == 1);
    }

    public async Task<bool> TakeOverAsync(long id, string? from, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var owner = from is null ? "claimed_by IS NULL" : "claimed_by = @from";
        return await connection.ExecuteAsync(new CommandDefinition($"""
            UPDATE chat_messages SET claimed_by = @instance WHERE id = @id AND state = 'claimed' AND {owner}
            """, new { id, from, instance = instance.Id }, cancellationToken: ct)) == 1;
    }

    public async Task<IReadOnlyList<Guid>> ListUnpostedAsync(Surface surface, DateTimeOffset from, DateTimeOffset before, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var ids = await connection.QueryAsync<string>(new CommandDefinition($"""
            SELECT a.id FROM approvals a
            WHERE a.created_at >= @from AND a.created_at < @before AND a.route_name IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM chat_messages m WHERE m.approval_id = a.id AND m.surface = @surface AND m.delivery_key = @root AND m.state <> 'claimed')
              AND (a.status IN {ApprovalSql.OpenStatuses}
                   OR EXISTS (SELECT 1 FROM chat_messages m WHERE m.approval_id = a.id AND m.surface = @surface AND m.delivery_key = @root AND m.state = 'claimed'))
              -- A creation still in the outbox is queued by the dispatcher; queueing it here too would only double the work.
              AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.approval_id = a.id AND o.kind = 'Created' AND o.handled_at IS NULL)
            ORDER BY a.created_at, a.id
            LIMIT @limit
            """, new { from = from.ToUnixMicroseconds(), before = before.ToUnixMicroseconds(), surface = surface.ToWire(), root = DeliveryKeys.Root, limit }, cancellationToken: ct));
        return [.. ids.Select(Guid.Parse)];
    }

    public async Task MarkPostedAsync(long id, string messageId, string? threadId, string? conversationId, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE chat_messages SET state = 'posted', message_id = @messageId, thread_id = @threadId,
                conversation_id = @conversationId, posted_at = @now, updated_at = @now, last_error = NULL
            WHERE id = @id
            """, new { id, messageId, threadId, conversationId, now = now.ToUnixMicroseconds() }, cancellationToken: ct));
    }

    public async Task RecordErrorAsync(long id, string error, DeliveryErrorClass errorClass, bool failed, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE chat_messages SET last_error = @error, error_class = @errorClass, updated_at = @now,
                state = CASE WHEN @failed AND state = 'claimed' THEN 'failed' ELSE state END
            WHERE id = @id
            """, new { id, error = error.Length > 500 ? error[..500] : error, errorClass = errorClass.ToWire(), failed, now = now.ToUnixMicroseconds() }, cancellationToken: ct));
    }

    public async Task<ChatMessage?> GetAsync(long id, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<ChatRow>(new CommandDefinition(
            $"SELECT {ChatColumns} FROM chat_messages WHERE id = @id", new { id }, cancellationToken: ct));
        return row?.ToModel();
    }

    public async Task<IReadOnlyList<DeliveryListItem>> ListDeliveriesAsync(ChatMessageState state, Surface? surface, long? beforeId, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var filter = (surface is null ? "" : " AND m.surface = @surface") + (beforeId is null ? "" : " AND m.id < @beforeId");
        var rows = await connection.QueryAsync<ChatRow>(new CommandDefinition($"""
            SELECT m.id, m.approval_id, m.surface, m.channel, m.delivery_key, m.state, m.message_id, m.thread_id, m.conversation_id,
                   m.attempts, m.last_error, m.claimed_at, m.posted_at, m.updated_at, m.error_class, m.body, m.claimed_by, a.action_name
            FROM chat_messages m JOIN approvals a ON a.id = m.approval_id
            WHERE m.state = @state{filter}
            ORDER BY m.id DESC
            LIMIT @limit
            """, new { state = state.ToString().ToLowerInvariant(), surface = surface?.ToWire(), beforeId, limit }, cancellationToken: ct));
        return [.. rows.Select(r => new DeliveryListItem(r.ToModel(), r.ActionName ?? ""))];
    }

    public async Task<bool> ResetFailedAsync(long id, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        return await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE chat_messages SET state = 'claimed', attempts = 0, claimed_at = @now, updated_at = @now
            WHERE id = @id AND state = 'failed'
            """, new { id, now = now.ToUnixMicroseconds() }, cancellationToken: ct)) == 1;
    }

    public async Task<IReadOnlyList<ChatMessage>> ListAsync(Guid approvalId, Surface surface, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<ChatRow>(new CommandDefinition(
            $"SELECT {ChatColumns} FROM chat_messages WHERE approval_id = @approvalId AND surface = @surface ORDER BY id",
            new { approvalId = ApprovalSql.IdText(approvalId), surface = surface.ToWire() }, cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
    }

    private sealed class ChatRow
    {
        public long Id { get; set; }
        public string ApprovalId { get; set; } = "";
        public string Surface { get; set; } = "";
        public string Channel { get; set; } = "";
        public string DeliveryKey { get; set; } = "";
        public string State { get; set; } = "";
        public string? MessageId { get; set; }
        public string? ThreadId { get; set; }
        public string? ConversationId { get; set; }
        public long Attempts { get; set; }
        public string? LastError { get; set; }
        public long ClaimedAt { get; set; }
        public long? PostedAt { get; set; }
        public long UpdatedAt { get; set; }
        public string? ErrorClass { get; set; }
        public string? Body { get; set; }
        public string? ClaimedBy { get; set; }
        public string? ActionName { get; set; }

        public ChatMessage ToModel() => new()
        {
            Id = Id,
            ApprovalId = Guid.Parse(ApprovalId),
            Surface = WireNames.ParseSurface(Surface),
            Channel = Channel,
            DeliveryKey = DeliveryKey,
            State = Enum.Parse<ChatMessageState>(State, ignoreCase: true),
            MessageId = MessageId,
            ThreadId = ThreadId,
            ConversationId = ConversationId,
            Attempts = (int)Attempts,
            LastError = LastError,
            ClaimedAt = TimeConversions.FromUnixMicroseconds(ClaimedAt),
            PostedAt = TimeConversions.FromUnixMicroseconds(PostedAt),
            UpdatedAt = TimeConversions.FromUnixMicroseconds(UpdatedAt),
            ErrorClass = DeliveryErrorClasses.Parse(ErrorClass),
            Body = Body,
            ClaimedBy = ClaimedBy,
        };
    }
}
