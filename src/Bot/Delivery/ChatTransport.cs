using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Storage;

namespace AgentSentinel.Bot.Delivery;

/// <summary>A message the platform stored: its id (Slack <c>ts</c>, Teams activity id) and the conversation it is in.</summary>
public sealed record PostedMessage(string MessageId, string? ConversationId);

public enum LookupOutcome
{
    Found,
    NotFound,
    /// <summary>The platform could not be asked (not a member of the channel, a missing scope, rate limited, no
    /// search at all): the engine posts anyway and logs that a duplicate is possible.</summary>
    Unavailable,
}

/// <summary>What a search for an earlier attempt's post found.</summary>
public sealed record EarlierPost(LookupOutcome Outcome, PostedMessage? Post = null, string? Reason = null)
{
    public static EarlierPost NotFound { get; } = new(LookupOutcome.NotFound);

    public static EarlierPost Unavailable(string reason) => new(LookupOutcome.Unavailable, Reason: reason);
}

/// <summary>How the engine reads a platform's answer to a failed call.</summary>
/// <param name="Class">What the answer means for the next attempt.</param>
/// <param name="Reason">The platform's reason (an error code, a status), recorded with the delivery.</param>
/// <param name="RetryAfter">How long the platform asked to wait (a 429's <c>Retry-After</c>).</param>
/// <param name="MessageGone">An update found the message deleted: post the current state again.</param>
public sealed record DeliveryFailure(DeliveryErrorClass Class, string Reason, TimeSpan? RetryAfter = null, bool MessageGone = false);

/// <summary>Thrown by a transport for a failure it has already classified (such as "no Teams installation is known
/// for this channel").</summary>
public sealed class ChatDeliveryException(DeliveryFailure failure) : Exception(failure.Reason)
{
    public DeliveryFailure Failure { get; } = failure;
}

/// <summary>
/// What one chat platform does for the delivery engine: post a request's message, update it, reply in its thread, find
/// an earlier attempt's post where the platform can, read the platform's answers, and check the app's credentials.
/// Claims, pacing, retries, pauses and the record of every attempt belong to <see cref="ChatDeliveryJobs"/>.
/// </summary>
public interface IChatTransport
{
    Surface Surface { get; }

    bool Enabled { get; }

    /// <summary>True when <see cref="FindEarlierPostAsync"/> can search the platform (Slack); false when the platform
    /// offers no way to find a post by what it carries (Teams).</summary>
    bool CanFindEarlierPost { get; }

    /// <summary>The least time between two writes (posts and updates) to one channel.</summary>
    TimeSpan Spacing { get; }

    /// <summary>Posts the request's message (the route's copy, or an escalation level's) as it should look now.</summary>
    Task<PostedMessage> PostAsync(ApprovalRequest request, ChatMessage message, CancellationToken ct);

    /// <summary>Redraws a posted request message from the request's current state.</summary>
    Task UpdateAsync(ApprovalRequest request, ChatMessage message, CancellationToken ct);

    /// <summary>Posts <paramref name="text"/> in the thread of <paramref name="root"/>.</summary>
    Task<PostedMessage> ReplyAsync(ChatMessage root, ChatMessage reply, string text, CancellationToken ct);

    /// <summary>Looks for a post of <paramref name="message"/> made by an earlier attempt whose answer was lost (in the
    /// thread of <paramref name="root"/> for a reply). Never throws for the platform's refusals: they are
    /// <see cref="LookupOutcome.Unavailable"/>.</summary>
    Task<EarlierPost> FindEarlierPostAsync(ChatMessage message, ChatMessage? root, CancellationToken ct);

    /// <summary>The class of a failed call, or null when the exception is not the platform's answer (a database
    /// error, say), which the engine leaves to the job's retries.</summary>
    DeliveryFailure? Classify(Exception exception);

    /// <summary>Checks that the platform accepts the app's credentials now (Slack <c>auth.test</c>, a fresh Bot
    /// Framework token); throws what the platform answered otherwise.</summary>
    Task ProbeAsync(CancellationToken ct);
}
