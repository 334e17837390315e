using AgentSentinel.Core.Approvals;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentSentinel.Api.Infrastructure;

/// <summary>RFC 7807 answers with a clear <c>detail</c>.</summary>
public static class Problems
{
    public static ProblemHttpResult BadRequest(string detail, string? field = null) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: "Invalid request",
            extensions: field is null ? null : new Dictionary<string, object?> { ["field"] = field });

    public static ProblemHttpResult NotFound(Guid id) =>
        TypedResults.Problem($"No approval request has the id '{id}'.", statusCode: StatusCodes.Status404NotFound, title: "Not found");

    public static ProblemHttpResult NotFound(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status404NotFound, title: "Not found");

    public static ProblemHttpResult Forbidden(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status403Forbidden, title: "Forbidden");

    public static ProblemHttpResult Status(int status, string title, string detail) =>
        TypedResults.Problem(detail, statusCode: status, title: title);

    /// <summary>The answer to a transition that did not apply: who or what got there first, in the words every
    /// surface uses (<see cref="DecisionTexts"/>).</summary>
    public static ProblemHttpResult ForTransition(TransitionResult result, TransitionKind kind)
    {
        var request = result.Request;
        var detail = DecisionTexts.For(result.Outcome, request, kind, "API") ?? "The request was not changed.";
        switch (result.Outcome)
        {
            case TransitionOutcome.NotFound:
                return Status(StatusCodes.Status404NotFound, "Not found", detail);
            case TransitionOutcome.SelfDecision or TransitionOutcome.DelegatorsOwnRequest or TransitionOutcome.NotAnApprover or TransitionOutcome.UnknownPerson:
                return Forbidden(detail);
            case TransitionOutcome.RecentSignInRequired:
                return TypedResults.Problem(detail, statusCode: StatusCodes.Status403Forbidden, title: "Recent sign-in required",
                    extensions: new Dictionary<string, object?> { ["recent_sign_in_minutes"] = DecisionRule.RecentSignInMinutes(request!) });
        }
        return TypedResults.Problem(detail, statusCode: StatusCodes.Status409Conflict, title: "Conflict",
            extensions: new Dictionary<string, object?>
            {
                ["current_status"] = request!.Status.ToWire(),
                ["decided_by_email"] = request.DecidedByEmail,
                ["decided_by_user_id"] = request.DecidedByUserId,
                ["decided_at"] = request.DecidedAt is { } at ? ApiJson.Format(at) : null,
                ["expires_at"] = ApiJson.Format(request.ExpiresAt),
            });
    }
}
