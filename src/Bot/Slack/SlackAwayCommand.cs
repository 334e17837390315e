using System.Globalization;
using System.Text.RegularExpressions;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Delegation;

namespace AgentSentinel.Bot.Slack;

/// <summary>
/// <c>/approvals away until 2026-12-24 delegate @bob</c> and <c>/approvals back</c>: a person sets or ends their
/// delegation from Slack. The date is read strictly (<c>yyyy-MM-dd</c>) and the delegation runs until the end of that
/// day in UTC. The delegate must be mentioned, so Slack sends their user id (the command escapes users); both people are
/// looked up in Slack and must be approver identities. The answer is an ephemeral confirmation or a clear error.
/// </summary>
public static partial class SlackAwayCommand
{
    public const string Usage =
        "To delegate your decisions while you are away: `/approvals away until 2026-12-24 delegate @someone` (until the end of that day, UTC). "
        + "To end it: `/approvals back`. To see your own: `/approvals away`.";

    [GeneratedRegex(@"^away\s+until\s+(?<date>\S+)\s+delegate\s+(?<who>\S+)$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex AwayPattern();

    [GeneratedRegex(@"^<@(?<id>[UW][A-Z0-9]{2,29})(\|[^>]*)?>$", RegexOptions.CultureInvariant)]
    private static partial Regex MentionPattern();

    /// <summary>Whether the command's text asks for delegation (<c>away</c> or <c>back</c>).</summary>
    public static bool Handles(string text)
    {
        var word = text.Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.ToLowerInvariant();
        return word is "away" or "back";
    }

    /// <summary>What the person asked: a delegation, or null with the error to show.</summary>
    public static (string? DelegateUserId, DateTimeOffset? EndsAt, string? Error) Parse(string text)
    {
        var match = AwayPattern().Match(text.Trim());
        if (!match.Success)
        {
            return (null, null, "I could not read that. " + Usage);
        }
        if (!DateTime.TryParseExact(match.Groups["date"].Value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
        {
            return (null, null, $"'{SlackText.Escape(match.Groups["date"].Value)}' is not a date written as yyyy-MM-dd (such as 2026-12-24). " + Usage);
        }
        var mention = MentionPattern().Match(match.Groups["who"].Value);
        if (!mention.Success)
        {
            return (null, null, $"Mention the person who decides for you (such as @bob) so that Slack tells me who they are; '{SlackText.Escape(match.Groups["who"].Value)}' is not a mention.");
        }
        var endsAt = new DateTimeOffset(DateTime.SpecifyKind(date, DateTimeKind.Utc)).AddDays(1);
        return (mention.Groups["id"].Value, endsAt, null);
    }

    /// <summary>Runs the command for <paramref name="person"/> (a known Slack decider) and returns the ephemeral text.</summary>
    public static async Task<string> RunAsync(string text, Decider person, string? teamId, SlackDirectory directory, DelegationService delegations, CancellationToken ct)
    {
        var words = text.Trim();
        if (words.Equals("back", StringComparison.OrdinalIgnoreCase))
        {
            return await delegations.EndAsync(person.Identity?.Email, ct) ? DelegationTexts.Ended : DelegationTexts.NotAway;
        }
        if (words.Equals("away", StringComparison.OrdinalIgnoreCase))
        {
            return await delegations.GetAsync(person.Identity?.Email, ct) is { } current ? Describe(current) : DelegationTexts.NotAway + " " + Usage;
        }
        var (delegateUserId, endsAt, error) = Parse(words);
        if (error is not null)
        {
            return error;
        }
        var delegateDecider = await directory.DeciderAsync(delegateUserId!, teamId, null, ct);
        if (delegateDecider.Identity?.Email is not { } delegateEmail)
        {
            return $"<@{delegateUserId}> cannot decide for you: " + DecisionTexts.UnknownPerson(SlackDirectory.Platform, delegateDecider.Problem)
                .Replace("You are not", "they are not", StringComparison.Ordinal).Replace("so nothing was changed", "so nothing was set", StringComparison.Ordinal)
                .Replace("your ", "their ", StringComparison.Ordinal);
        }
        var (saved, refusal) = await delegations.SetAsync(person.Identity?.Email,
            new DelegationRequest(delegateEmail, null, endsAt!.Value, Surface.Slack, person.PlatformUserId, delegateUserId), ct);
        return refusal is not null ? refusal.Message : Describe(saved!);
    }

    private static string Describe(Delegation d) =>
        DelegationTexts.Saved(d) + (d.DelegateSlackId is { } id ? $" (<@{id}>)" : "");
}
