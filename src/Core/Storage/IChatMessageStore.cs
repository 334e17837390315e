using AgentSentinel.Core.Approvals;

namespace AgentSentinel.Core.Storage;

public enum ChatMessageState
{
    Claimed,
    Posted,
    Failed,
}

/// <summary>How a platform answered a delivery attempt that did not succeed; it decides what the next attempt does.</summary>
public enum DeliveryErrorClass
{
    /// <summary>The platform answered and did not store the message (a 429, a validation error): retry without a lookup.</summary>
    NotDelivered,
    /// <summary>No answer, or one that leaves it unknown whether the message arrived (a timeout, a 5xx, a dropped
    /// connection): look for the earlier post before posting again, where the platform allows.</summary>
    Ambiguous,
    /// <summary>Retrying cannot help (the channel is gone, the bot is not in it, the message is too long).</summary>
    Permanent,
    /// <summary>The platform refused the app's credentials: the surface pauses until they work again.</summary>
    Credentials,
}

/// <summary>A message the server posted, or is about to post, for a request.</summary>
public sealed record ChatMessage
{
    public long Id { get; init; }
    public required Guid ApprovalId { get; init; }
    public required Surface Surface { get; init; }
    /// <summary>The Slack channel id or Teams channel id the message goes to.</summary>
    public required string Channel { get; init; }
    /// <summary><c>root</c> for the request's own message; a reply's own key (such as <c>info_requested:3</c>) otherwise.</summary>
    public required string DeliveryKey { get; init; }
    public ChatMessageState State { get; init; }
    /// <summary>Slack's message <c>ts</c>, or the Teams activity id.</summary>
    public string? MessageId { get; init; }
    public string? ThreadId { get; init; }
    public string? ConversationId { get; init; }
    public int Attempts { get; init; }
    public string? LastError { get; init; }
    public DateTimeOffset ClaimedAt { get; init; }
    public DateTimeOffset? PostedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    /// <summary>How the platform answered the last attempt that did not succeed, if any.</summary>
    public DeliveryErrorClass? ErrorClass { get; init; }
    /// <summary>A thread reply's text (kept so a failed reply can be retried); null for the request's own messages.</summary>
    public string? Body { get; init; }
    /// <summary>The server instance (<see cref="ServerInstance.Id"/>) that made the claim or took it over last; null
    /// for claims made before instances were recorded.</summary>
    public string? ClaimedBy { get; init; }
}

/// <summary>A delivery as administrators list it: the message row and the request's action name.</summary>
public sealed record DeliveryListItem(ChatMessage Message, string ActionName);

public static class DeliveryErrorClasses
{
    public static string ToWire(this DeliveryErrorClass value) => value switch
    {
        DeliveryErrorClass.NotDelivered => "not_delivered",
        DeliveryErrorClass.Ambiguous => "ambiguous",
        DeliveryErrorClass.Permanent => "permanent",
        _ => "credentials",
    };

    public static DeliveryErrorClass? Parse(string? value) => value switch
    {
        "not_delivered" => DeliveryErrorClass.NotDelivered,
        "ambiguous" => DeliveryErrorClass.Ambiguous,
        "permanent" => DeliveryErrorClass.Permanent,
        "credentials" => DeliveryErrorClass.Credentials,
        _ => null,
    };
}

/// <summary>Every delivery key, made here: one delivery per (request, surface, channel, key), so two deliveries that
/// must both happen need keys that differ, and each kind of delivery has a prefix of its own.</summary>
public static class DeliveryKeys
{
    /// <summary>The request's own message or card in its route's channel.</summary>
    public const string Root = "root";

    private const string EscalationPrefix = "escalation:";

    /// <summary>The request's message or card posted to the channel of escalation level <paramref name="level"/>.</summary>
    public static string Escalation(int level) => EscalationPrefix + level.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The escalation level a key names, or null for any other key.</summary>
    public static int? LevelOf(string key) =>
        key.StartsWith(EscalationPrefix, StringComparison.Ordinal)
        && int.TryParse(key.AsSpan(EscalationPrefix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var level)
            ? level : null;

    private const string ReassignedPrefix = "reassigned:";

    /// <summary>The request's message or card posted where a reassignment (made at <paramref name="version"/>) sent it.</summary>
    public static string Reassigned(int version) => ReassignedPrefix + version.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private const string ReassignedNotePrefix = "reassigned-note:";

    /// <summary>The note in the old messages' thread that says where a reassignment (made at <paramref name="version"/>)
    /// sent the request. A key of its own: when the request goes to the channel its message is already in, the note
    /// and the new message are two deliveries to one channel, neither standing in for the other.</summary>
    public static string ReassignedNote(int version) => ReassignedNotePrefix + version.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The thread reply that says a reminder (number <paramref name="number"/>) is due.</summary>
    public static string Reminder(int number) => "reminder:" + number.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The thread note of escalation follow-up <paramref name="number"/> (its copy in the level's channel is
    /// <see cref="Escalation"/>).</summary>
    public static string Escalated(int number) => "escalated:" + number.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The thread reply a transition made at <paramref name="version"/> posts (an info request, the agent's answer).</summary>
    public static string TransitionReply(TransitionKind transition, int version) =>
        transition.ToString().ToLowerInvariant() + ":" + version.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Messages that show the request itself (and are redrawn when it changes), as opposed to thread replies.</summary>
    public static bool IsRequestMessage(string key) => key == Root || LevelOf(key) is not null || key.StartsWith(ReassignedPrefix, StringComparison.Ordinal);
}

/// <summary>Deduplicated chat delivery: claim a (request, surface, channel, key) once, then record what was posted.</summary>
public interface IChatMessageStore
{
    /// <summary>Claims the delivery for this server instance, or returns the existing claim; <c>Claimed</c> is true
    /// only for the first caller. Every call counts an attempt. <paramref name="body"/> (a reply's text) is stored with a new claim.</summary>
    Task<(ChatMessage Message, bool Claimed)> ClaimAsync(Guid approvalId, Surface surface, string channel, string deliveryKey, DateTimeOffset now, CancellationToken ct, string? body = null);

    /// <summary>Makes this server instance the claim's owner, if it is still a claim owned by <paramref name="from"/>
    /// (null: no recorded owner); false when another attempt got there first or it was posted or failed meanwhile.</summary>
    Task<bool> TakeOverAsync(long id, string? from, CancellationToken ct);

    /// <summary>Records the post (or, for a message posted again after it was deleted, its new id).</summary>
    Task MarkPostedAsync(long id, string messageId, string? threadId, string? conversationId, DateTimeOffset now, CancellationToken ct);

    /// <summary>Records an attempt's error and how the platform answered; <paramref name="failed"/> turns a claim into a
    /// failed delivery (a posted message stays posted).</summary>
    Task RecordErrorAsync(long id, string error, DeliveryErrorClass errorClass, bool failed, DateTimeOffset now, CancellationToken ct);

    Task<ChatMessage?> GetAsync(long id, CancellationToken ct);

    /// <summary>Deliveries in a state (any surface, or one), newest first, before the id <paramref name="beforeId"/>.</summary>
    Task<IReadOnlyList<DeliveryListItem>> ListDeliveriesAsync(ChatMessageState state, Surface? surface, long? beforeId, int limit, CancellationToken ct);

    /// <summary>Turns a failed delivery back into a claim with no attempts, for a retry an administrator asked for;
    /// false when it is not failed (any more).</summary>
    Task<bool> ResetFailedAsync(long id, DateTimeOffset now, CancellationToken ct);

    Task<IReadOnlyList<ChatMessage>> ListAsync(Guid approvalId, Surface surface, CancellationToken ct);

    /// <summary>Requests with a route, created in [<paramref name="from"/>, <paramref name="before"/>), whose request
    /// message on this surface is not posted: open ones never attempted (the surface was not configured when they were
    /// made), and open or decided ones claimed by an attempt that has not finished (its process may have stopped
    /// mid-post; a request decided or expired meanwhile is posted showing its outcome). Oldest first. A request whose
    /// creation is still in the outbox is left out: the outbox dispatcher queues its post.</summary>
    Task<IReadOnlyList<Guid>> ListUnpostedAsync(Surface surface, DateTimeOffset from, DateTimeOffset before, int limit, CancellationToken ct);
}
