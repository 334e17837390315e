using AgentSentinel.Core.Storage;

namespace AgentSentinel.Core.Stats;

/// <summary>An agent and action that people approved at least <see cref="SuggestionRules.MinApprovals"/> times in the
/// window and never rejected: "consider a grant or a policy exemption". <c>AgentId</c> is null for requests without one.</summary>
public sealed record ExemptionSuggestion(string? AgentId, string ActionName, long Approved, DateTimeOffset LastApprovedAt);

/// <summary>An approver's approvals in the window and how many came less than <see cref="SuggestionRules.FastSeconds"/>
/// after the request appeared to them; <c>Flagged</c> ("possible rubber-stamping") when at least
/// <see cref="SuggestionRules.FlagMinApprovals"/> approvals and a share of at least <see cref="SuggestionRules.FlagShare"/>.</summary>
public sealed record FastApprovalFigure(string Approver, long Approvals, long Fast, double Share, bool Flagged);

/// <summary>Read-only suggestions for the decisions made in [<c>From</c>, <c>To</c>).</summary>
public sealed record Suggestions(
    DateTimeOffset From, DateTimeOffset To, IReadOnlyList<ExemptionSuggestion> Exemptions, IReadOnlyList<FastApprovalFigure> FastApprovals);

/// <summary>
/// The rules of the suggestions, over the decisions (approve or reject) made by people in the last
/// <see cref="WindowDays"/> days; approvals by a standing grant are not people's decisions and are left out.
/// <list type="bullet">
/// <item>Exemptions: (agent id, action name) pairs with at least <see cref="MinApprovals"/> approvals and no rejection.</item>
/// <item>Fast approvals: per approver (email, else API key id), the approvals given less than <see cref="FastSeconds"/>
/// after the request <i>appeared</i> to them. A request appears in Slack or Teams when its first message there was
/// posted (so a decision from Slack is timed from the Slack post, from Teams from the Teams post); in the console and
/// through the API it appears when it is created (the inbox shows it at once). A chat decision on a request whose post
/// was never recorded is timed from creation.</item>
/// </list>
/// </summary>
public static class SuggestionRules
{
    public const int WindowDays = 30;
    public const int MinApprovals = 10;
    public const int FastSeconds = 10;
    public const double FlagShare = 0.5;
    public const int FlagMinApprovals = 5;

    /// <summary>The most pairs and approvers listed.</summary>
    public const int ListSize = 50;
}

/// <summary>Computes <see cref="Suggestions"/> as of an instant.</summary>
public sealed class SuggestionService(SuggestionStore store, TimeProvider time)
{
    public Task<Suggestions> ComputeAsync(CancellationToken ct) => ComputeAsync(time.GetUtcNow().TruncateToMicroseconds(), ct);

    public async Task<Suggestions> ComputeAsync(DateTimeOffset asOf, CancellationToken ct)
    {
        var from = asOf.AddDays(-SuggestionRules.WindowDays);
        var (exemptions, fast) = await store.ReadAsync(from, asOf, SuggestionRules.MinApprovals, SuggestionRules.ListSize, ct);
        var figures = fast
            .Select(f =>
            {
                var share = Math.Round((double)f.Fast / f.Approvals, 4);
                return new FastApprovalFigure(f.Approver, f.Approvals, f.Fast, share,
                    f.Approvals >= SuggestionRules.FlagMinApprovals && share >= SuggestionRules.FlagShare);
            })
            .OrderByDescending(f => f.Flagged).ThenByDescending(f => f.Share).ThenByDescending(f => f.Approvals).ThenBy(f => f.Approver, StringComparer.Ordinal)
            .Take(SuggestionRules.ListSize)
            .ToList();
        return new Suggestions(from, asOf, exemptions, figures);
    }
}
