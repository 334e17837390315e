namespace AgentSentinel.Core.Approvals;

/// <summary>Where an approver handed an open request: a person (an approver identity's email, and their Slack user id
/// when the hand-over came from Slack) or a channel (Slack or Teams), who handed it (on whose behalf) and when.</summary>
public sealed record Reassignment
{
    public string? PersonEmail { get; init; }
    public string? PersonSlackId { get; init; }
    public string? SlackChannel { get; init; }
    public string? TeamsChannel { get; init; }
    public required string By { get; init; }
    public string? OnBehalfOf { get; init; }
    public string? Note { get; init; }
    public required DateTimeOffset At { get; init; }

    /// <summary>The target in plain words: "bob@example.com", "Slack channel C0OPS", "Teams channel 19:...".</summary>
    public string Target => PersonEmail ?? (SlackChannel is not null ? $"Slack channel {SlackChannel}" : $"Teams channel {TeamsChannel}");
}

/// <summary>Why a reassignment was refused that is not a decision refusal: bad input naming a field (400).</summary>
public sealed class ReassignmentException(string field, string message) : Exception(message)
{
    /// <summary>The field of a note that is too long.</summary>
    public const string NoteField = "note";

    public string Field { get; } = field;
}

/// <summary>Reassignment texts, worded once for every surface.</summary>
public static class ReassignmentTexts
{
    public const string NoTarget = "Name exactly one target: a person (to_email) or a channel (slack_channel or teams_channel).";

    /// <summary>A chat surface's form was sent with neither a person nor a channel, or with both.</summary>
    public const string ChooseOne = "Choose one target: a person or a channel; nothing was changed.";

    public const string ChoosePerson = "Choose the person to hand this request to.";

    public const string ChooseChannel = "Choose the channel to hand this request to.";

    public static string NoteTooLong(int max) => $"The note is longer than {max} characters; nothing was changed.";

    /// <summary>A chat user picked as the target whom the platform could not match to an approver identity.</summary>
    public static string UnknownChatUser(string platform, string who, IdentityProblem? problem) => problem == IdentityProblem.LookupFailed
        ? $"{platform} did not tell this server who {who} is in time, so nothing was changed; please try again."
        : NotAnApprover(who);

    public static string NotAnApprover(string email) =>
        $"{email} is not an approver known to this server, so they could not decide it; nothing was changed.";

    public static string Requester(string email) =>
        $"{email} requested this action and cannot decide it, so it cannot go to them; nothing was changed.";

    public static string NotASlackChannel(string channel) =>
        $"'{channel}' is not a Slack channel id (such as C0123ABCD); nothing was changed.";

    public static string UnknownTeamsChannel(string channel) =>
        $"The bot is not in the Teams channel '{channel}' (add it to that team first); nothing was changed.";

    /// <summary>The note on the request's old messages: where it went, who handed it, and why.</summary>
    public static string Handed(Reassignment r) =>
        $"Reassigned to {r.Target} by {Delegation.DelegationTexts.OnBehalfOf(r.By, r.OnBehalfOf)}" + (r.Note is { Length: > 0 } note ? $": {note}" : ".");
}
