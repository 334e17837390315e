using System.Globalization;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Routing;

namespace AgentSentinel.Core.Grants;

/// <summary>Whether a grant may be offered with the approval of a request, and how long it may last at most; when it
/// may not, <see cref="Refusal"/> says why (worded by <see cref="GrantRules.Refusal"/>).</summary>
public sealed record GrantAllowance(bool Allowed, int MaxMinutes, string? Refusal)
{
    public static GrantAllowance For(RouteDefinition? route, ApprovalRequest request) =>
        GrantRules.Refusal(route, request) is { } refusal
            ? new GrantAllowance(false, 0, refusal)
            : new GrantAllowance(true, GrantRules.MaxMinutes(route), null);
}

/// <summary>The fields of a grant as every surface names them (the API's <c>grant</c> object, the console's form, the
/// Slack modal's blocks and the Teams card's inputs use these names, prefixed as each needs).</summary>
public enum GrantField
{
    Minutes,
    MaxUses,
    MaxTotalCost,
    Match,
}

/// <summary>Why a grant offer is refused: the field at fault and the sentence that says why.</summary>
public sealed record GrantRefusal(GrantField Field, string Message);

/// <summary>Every sentence about grants that a person reads, worded once for every surface (plain text: a surface
/// escapes it for its markup and never rewords it).</summary>
public static class GrantTexts
{
    public const string StandingGrant = "Standing grant";

    public const string ApprovedByGrant = "Approved by grant";

    public const string RevokeConfirm = "The agent's next matching request will wait for a person again.";

    public const string Offer = "Also approve matching requests from this agent for a while (optional; leave the minutes empty for no grant).";

    public const string MatchAction = "Same action name";

    public const string MatchActionAndInputs = "Same action name and the same inputs";

    public const string MinutesMissing = "Give the number of minutes the grant lasts, or leave every grant field empty for no grant.";

    public const string MinutesNotWhole = "The grant's minutes must be a whole number.";

    public const string MaxUsesInvalid = "The grant's use limit must be a whole number, at least 1 (or empty for no limit).";

    public const string MaxTotalCostInvalid = "The grant's cost limit must be a number of dollars, at least 0 (or empty for no limit).";

    public const string MatchInvalid = "The grant must match on the action name ('action') or on the action name and the same inputs ('action_and_inputs').";

    public const string OnlyWithApproval = "A grant can only be given with an approval.";

    public const string NotFound = "This grant does not exist.";

    /// <summary>Who may revoke a grant (see <see cref="GrantService.MayRevoke"/>), as a refusal.</summary>
    public const string NotAllowedToRevoke = "Only the person who gave a grant, or an admin, can revoke it; nothing was changed.";

    public static string MinutesOutOfRange(int maxMinutes, string routeLabel, int asked) =>
        $"The grant may last between 1 and {maxMinutes} minutes on {routeLabel}; {asked} were asked.";

    public static string AlreadyRevoked(Grant? grant) =>
        $"This grant was already revoked by {grant?.RevokedBy ?? "someone"} at {(grant?.RevokedAt is { } at ? DecisionTexts.Utc(at) : "an earlier time")}; nothing was changed.";

    public static string Revoked(Grant grant) =>
        $"The grant given by {grant.GrantedBy} for '{grant.ActionName}' is revoked: the agent's next matching request waits for a person again.";

    /// <summary>What a grant approves, in one line: "matching requests (same action name and inputs) until ..., at most 3
    /// times, up to $50 in total".</summary>
    public static string Scope(Grant grant) =>
        $"requests of '{grant.ActionName}' from this agent"
        + (grant.Match == GrantMatch.ActionAndInputs ? " with the same inputs" : "")
        + $" until {DecisionTexts.Utc(grant.ExpiresAt)}"
        + (grant.MaxUses is { } uses ? $", at most {uses} time{(uses == 1 ? "" : "s")}" : "")
        + (grant.MaxTotalCost is { } cost ? $", up to ${cost.ToString("#,0.00####", CultureInfo.InvariantCulture)} in total" : "");

    /// <summary>A grant that no longer approves anything, and why; null while it is active.</summary>
    public static string? Ended(Grant grant, DateTimeOffset now) => grant.StateAt(now) switch
    {
        "revoked" => $"Revoked by {grant.RevokedBy ?? "someone"} at {DecisionTexts.Utc(grant.RevokedAt!.Value)}.",
        "expired" => $"Expired at {DecisionTexts.Utc(grant.ExpiresAt)}.",
        "used_up" => "Used up: it approved as many requests as it allowed.",
        "spent" => "Spent: it approved as much estimated cost as it allowed.",
        _ => null,
    };
}

/// <summary>A grant as a form gives it (the Slack modal, the Teams card): text fields, every one empty for no grant.
/// Numbers are read in the invariant culture; the match is <c>action</c> or <c>action_and_inputs</c> (the default).</summary>
public static class GrantForm
{
    public const string MatchAction = "action";
    public const string MatchActionAndInputs = "action_and_inputs";

    /// <summary>The offer the fields give (null for none), or the refusal of the first field at fault.</summary>
    public static (GrantOffer? Offer, GrantRefusal? Refusal) Read(string? minutes, string? maxUses, string? maxTotalCost, string? match)
    {
        minutes = minutes?.Trim();
        maxUses = maxUses?.Trim();
        maxTotalCost = maxTotalCost?.Trim();
        if (string.IsNullOrEmpty(minutes))
        {
            return string.IsNullOrEmpty(maxUses) && string.IsNullOrEmpty(maxTotalCost)
                ? (null, null)
                : (null, new GrantRefusal(GrantField.Minutes, GrantTexts.MinutesMissing));
        }
        if (!int.TryParse(minutes, NumberStyles.None, CultureInfo.InvariantCulture, out var length))
        {
            return (null, new GrantRefusal(GrantField.Minutes, GrantTexts.MinutesNotWhole));
        }
        int? uses = null;
        if (!string.IsNullOrEmpty(maxUses))
        {
            if (!int.TryParse(maxUses, NumberStyles.None, CultureInfo.InvariantCulture, out var u))
            {
                return (null, new GrantRefusal(GrantField.MaxUses, GrantTexts.MaxUsesInvalid));
            }
            uses = u;
        }
        decimal? cost = null;
        if (!string.IsNullOrEmpty(maxTotalCost))
        {
            if (!decimal.TryParse(maxTotalCost.TrimStart('$'), NumberStyles.AllowDecimalPoint | NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out var c))
            {
                return (null, new GrantRefusal(GrantField.MaxTotalCost, GrantTexts.MaxTotalCostInvalid));
            }
            cost = c;
        }
        GrantMatch? kind = string.IsNullOrWhiteSpace(match) ? GrantMatch.ActionAndInputs : ParseMatch(match.Trim());
        if (kind is null)
        {
            return (null, new GrantRefusal(GrantField.Match, GrantTexts.MatchInvalid));
        }
        return (new GrantOffer(length, uses, cost, kind.Value), null);
    }

    /// <summary>The field's name in the API's <c>grant</c> object; forms prefix it (<c>grant_minutes</c>).</summary>
    public static string FieldName(GrantField field) => field switch
    {
        GrantField.Minutes => "minutes",
        GrantField.MaxUses => "max_uses",
        GrantField.MaxTotalCost => "max_total_cost",
        _ => "match",
    };

    public static GrantMatch? ParseMatch(string? match) => match switch
    {
        MatchAction => GrantMatch.Action,
        MatchActionAndInputs => GrantMatch.ActionAndInputs,
        _ => null,
    };

    public static string MatchName(GrantMatch match) => match == GrantMatch.Action ? MatchAction : MatchActionAndInputs;
}
