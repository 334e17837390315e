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

    /// <summary>The answer to a transition that did not apply: who or what got there first.</summary>
    public static ProblemHttpResult ForTransition(TransitionResult result, TransitionKind kind)
    {
        var request = result.Request;
        var action = kind switch
        {
            TransitionKind.Approve => "approved",
            TransitionKind.Reject => "rejected",
            TransitionKind.RequestInfo => "asked for more information",
            TransitionKind.Respond => "answered",
            TransitionKind.Cancel => "cancelled",
            _ => "changed",
        };
        switch (result.Outcome)
        {
            case TransitionOutcome.NotFound:
                return Status(StatusCodes.Status404NotFound, "Not found", "No approval request has that id.");
            case TransitionOutcome.SelfDecision:
                return Forbidden("The identity that requested an approval cannot decide it.");
            case TransitionOutcome.NotAnApprover:
                return Forbidden("You are not one of the approvers of this request.");
        }
        var status = request!.Status;
        var detail = result.Outcome == TransitionOutcome.PastDeadline || status == ApprovalStatus.Expired
            ? $"The request cannot be {action}: its deadline passed at {ApiJson.Format(request.ExpiresAt)} and it is expired."
            : status switch
            {
                ApprovalStatus.Approved or ApprovalStatus.Rejected =>
                    $"The request cannot be {action}: it was already {status.ToWire()} by {request.DecidedByEmail ?? request.DecidedByUserId ?? "someone"} at {ApiJson.Format(request.DecidedAt!.Value)}.",
                ApprovalStatus.Cancelled => $"The request cannot be {action}: it was cancelled at {ApiJson.Format(request.DecidedAt!.Value)}.",
                ApprovalStatus.InfoRequested => $"The request cannot be {action}: it is waiting for the agent to answer a question.",
                ApprovalStatus.Pending => $"The request cannot be {action}: it is pending and not waiting for information.",
                _ => $"The request cannot be {action} in status '{status.ToWire()}'.",
            };
        return TypedResults.Problem(detail, statusCode: StatusCodes.Status409Conflict, title: "Conflict",
            extensions: new Dictionary<string, object?>
            {
                ["current_status"] = status.ToWire(),
                ["decided_by_email"] = request.DecidedByEmail,
                ["decided_by_user_id"] = request.DecidedByUserId,
                ["decided_at"] = request.DecidedAt is { } at ? ApiJson.Format(at) : null,
                ["expires_at"] = ApiJson.Format(request.ExpiresAt),
            });
    }
}
