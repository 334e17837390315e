using System.Security.Claims;
using AgentSentinel.Api.Auth;
using AgentSentinel.Api.Contracts;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Core.Approvals;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentSentinel.Api.Apis;

/// <summary>Reassignment of an open request (<c>POST /api/v1/approvals/{id}/reassign</c>) by someone who may decide it.</summary>
public static class ReassignApi
{
    public static RouteHandlerBuilder MapReassignApi(this IEndpointRouteBuilder app) =>
        app.MapPost("/api/v1/approvals/{id}/reassign", ReassignAsync).WithTags("Approvals").WithName("Reassign")
            .WithSummary("Hand an open request to another approver or to a Slack or Teams channel").RequireAuthorization(ApiPolicies.Approver);

    /// <summary>Body: exactly one of <c>to_email</c>, <c>slack_channel</c>, <c>teams_channel</c>; <c>note</c> optional.</summary>
    public static async Task<Results<Ok<ApprovalDto>, ProblemHttpResult>> ReassignAsync(string id, ClaimsPrincipal user, ReassignmentService service, HttpContext http, CancellationToken ct)
    {
        if (!Guid.TryParse(id, out var guid))
        {
            return Problems.BadRequest($"'{(id.Length > 64 ? id[..64] + "..." : id)}' is not an approval id (a UUID such as 0193a1b2-...).", "id");
        }
        using var body = await JsonBody.ReadAsync(http, allowEmpty: false);
        var target = new ReassignRequest(
            body.Name("to_email", 254),
            body.Name("slack_channel", 30),
            body.Name("teams_channel", 300),
            body.String("note", ReassignmentService.MaxNoteLength));
        TransitionResult result;
        try
        {
            result = await service.ReassignAsync(guid, user.ToDecider(), target, ct);
        }
        catch (ReassignmentException e)
        {
            return Problems.BadRequest(e.Message, e.Field);
        }
        return result.Applied ? TypedResults.Ok(ApprovalDto.From(result.Request!)) : Problems.ForTransition(result, TransitionKind.Approve);
    }
}
