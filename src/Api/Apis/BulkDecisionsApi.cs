using System.Security.Claims;
using System.Text.Json;
using AgentSentinel.Api.Auth;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Core.Approvals;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentSentinel.Api.Apis;

/// <summary>The outcome of one request of a bulk decision. <c>outcome</c> is <c>decided</c>, <c>voted</c> (an approval
/// counted towards a quorum that still needs more; the request stays open), <c>already_decided</c>
/// (decided, cancelled or expired before this decision reached it), <c>not_allowed</c> (the caller may not decide it;
/// <c>reason</c> says why) or <c>not_found</c>; <c>detail</c> is the sentence a single decision would have answered.</summary>
public sealed record BulkDecisionResultDto(
    string Id, string Outcome, string? Reason, string? Status, string? ActionName, string? DecidedByEmail, DateTimeOffset? DecidedAt, string? Detail);

public sealed record BulkDecisionTotalsDto(int Decided, int AlreadyDecided, int NotAllowed, int NotFound, int Voted);

public sealed record BulkDecisionDto(string Decision, IReadOnlyList<BulkDecisionResultDto> Results, BulkDecisionTotalsDto Totals);

/// <summary>Approve or reject several requests with one note or reason (the console inbox's bulk decision). Each
/// request is its own decision through the same service call as a single decision, so every guard applies to it and
/// it gets its own transition, events and effects; the answer reports the outcome of each.</summary>
public static class BulkDecisionsApi
{
    /// <summary>The most requests one submission may decide.</summary>
    public const int MaxRequests = 50;

    public static RouteHandlerBuilder MapBulkDecisionsApi(this IEndpointRouteBuilder app) =>
        app.MapPost("/api/v1/approvals/bulk-decisions", DecideAsync)
            .WithTags("Approvals").WithName("BulkDecide")
            .WithSummary($"Approve or reject up to {MaxRequests} requests with one note or reason; the outcome of each")
            .RequireAuthorization(ApiPolicies.Approver);

    public static async Task<Results<Ok<BulkDecisionDto>, ProblemHttpResult>> DecideAsync(
        ClaimsPrincipal user, ApprovalService service, HttpContext http, CancellationToken ct)
    {
        using var body = await JsonBody.ReadAsync(http, allowEmpty: false);
        var decision = body.Name("decision", 20, required: true)!;
        var (kind, field) = decision switch
        {
            "approve" => (TransitionKind.Approve, "notes"),
            "reject" => (TransitionKind.Reject, "reason"),
            _ => throw JsonBody.Invalid("decision", "decision must be 'approve' or 'reject'."),
        };
        var text = body.String(field, ApprovalsApi.MaxTextLength, required: kind == TransitionKind.Reject);
        if (string.IsNullOrWhiteSpace(text))
        {
            if (kind == TransitionKind.Reject)
            {
                throw JsonBody.Invalid("reason", "A rejection needs a reason.");
            }
            text = null;
        }
        var ids = ReadIds(body);
        var decider = user.ToDecider();
        var results = new List<BulkDecisionResultDto>(ids.Count);
        foreach (var id in ids)
        {
            results.Add(ToDto(id, await service.DecideAsync(id, kind, decider, text, ct), kind));
        }
        var totals = new BulkDecisionTotalsDto(
            results.Count(r => r.Outcome == Outcomes.Decided),
            results.Count(r => r.Outcome == Outcomes.AlreadyDecided),
            results.Count(r => r.Outcome == Outcomes.NotAllowed),
            results.Count(r => r.Outcome == Outcomes.NotFound),
            results.Count(r => r.Outcome == Outcomes.Voted));
        return TypedResults.Ok(new BulkDecisionDto(decision, results, totals));
    }

    /// <summary>The request ids, each once, in the order given: 1 to <see cref="MaxRequests"/> UUIDs. Any malformed id
    /// refuses the whole submission before anything is decided.</summary>
    private static List<Guid> ReadIds(JsonBody body)
    {
        var raw = body.Array("ids", required: true)!;
        if (raw.Count == 0 || raw.Count > MaxRequests)
        {
            throw JsonBody.Invalid("ids", $"ids must list 1 to {MaxRequests} approval ids, got {raw.Count}.");
        }
        var ids = new List<Guid>(raw.Count);
        foreach (var item in raw)
        {
            if (item.ValueKind != JsonValueKind.String || !Guid.TryParse(item.GetString(), out var id))
            {
                var shown = item.ToString();
                throw JsonBody.Invalid("ids", $"'{(shown.Length > 64 ? shown[..64] + "..." : shown)}' is not an approval id (a UUID such as 0193a1b2-...); nothing was decided.");
            }
            if (!ids.Contains(id))
            {
                ids.Add(id);
            }
        }
        return ids;
    }

    private static BulkDecisionResultDto ToDto(Guid id, TransitionResult result, TransitionKind kind)
    {
        var request = result.Request;
        var outcome = result.Outcome switch
        {
            TransitionOutcome.Applied when result.VoteOnly => Outcomes.Voted,
            TransitionOutcome.Applied => Outcomes.Decided,
            TransitionOutcome.NotFound => Outcomes.NotFound,
            TransitionOutcome.WrongState or TransitionOutcome.PastDeadline => Outcomes.AlreadyDecided,
            _ => Outcomes.NotAllowed,
        };
        var reason = outcome == Outcomes.NotAllowed || outcome == Outcomes.AlreadyDecided ? ReasonOf(result.Outcome) : null;
        return new BulkDecisionResultDto(
            id.ToString(), outcome, reason, request?.Status.ToWire(), request?.ActionName, request?.DecidedByEmail, request?.DecidedAt,
            outcome == Outcomes.Voted && QuorumTally.Of(request!) is { } quorum
                ? $"Your approval was counted: {quorum.Summary}."
                : DecisionTexts.For(result.Outcome, request, kind, "console"));
    }

    private static string ReasonOf(TransitionOutcome outcome) => outcome switch
    {
        TransitionOutcome.WrongState => "wrong_state",
        TransitionOutcome.PastDeadline => "past_deadline",
        TransitionOutcome.SelfDecision => "requester",
        TransitionOutcome.NotAnApprover => "not_an_approver",
        TransitionOutcome.UnknownPerson => "unknown_person",
        TransitionOutcome.RecentSignInRequired => "recent_sign_in_required",
        TransitionOutcome.AlreadyVoted => "already_voted",
        _ => "refused",
    };

    private static class Outcomes
    {
        public const string Decided = "decided";
        public const string Voted = "voted";
        public const string AlreadyDecided = "already_decided";
        public const string NotAllowed = "not_allowed";
        public const string NotFound = "not_found";
    }
}
