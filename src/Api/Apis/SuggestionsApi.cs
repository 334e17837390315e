using AgentSentinel.Api.Auth;
using AgentSentinel.Core.Stats;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentSentinel.Api.Apis;

/// <summary>The rules the suggestions were computed with (see <see cref="SuggestionRules"/>).</summary>
public sealed record SuggestionRulesDto(int WindowDays, int MinApprovals, int FastSeconds, double FlagShare, int FlagMinApprovals);

public sealed record SuggestionsDto(
    DateTimeOffset From, DateTimeOffset To, SuggestionRulesDto Rules, IReadOnlyList<ExemptionSuggestion> Exemptions, IReadOnlyList<FastApprovalFigure> FastApprovals);

/// <summary>Read-only suggestions over the last 30 days of decisions: agent and action pairs always approved (consider a
/// grant or a policy exemption), and approvers who approve very fast (possible rubber-stamping).</summary>
public static class SuggestionsApi
{
    public static RouteHandlerBuilder MapSuggestionsApi(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/v1/approvals/suggestions", GetAsync)
            .WithTags("Approvals").WithName("GetSuggestions")
            .WithSummary("Agent and action pairs approved often and never rejected, and each approver's share of very fast approvals (last 30 days)")
            .RequireAuthorization(ApiPolicies.Approver);

    public static async Task<Ok<SuggestionsDto>> GetAsync(SuggestionService suggestions, CancellationToken ct)
    {
        var s = await suggestions.ComputeAsync(ct);
        return TypedResults.Ok(new SuggestionsDto(s.From, s.To, Rules, s.Exemptions, s.FastApprovals));
    }

    internal static readonly SuggestionRulesDto Rules = new(
        SuggestionRules.WindowDays, SuggestionRules.MinApprovals, SuggestionRules.FastSeconds, SuggestionRules.FlagShare, SuggestionRules.FlagMinApprovals);
}
