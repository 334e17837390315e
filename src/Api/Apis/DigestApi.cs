using AgentSentinel.Api.Auth;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Core.Digest;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentSentinel.Api.Apis;

/// <summary>The weekly digest as JSON: the same figures the chat posts show, for the console.</summary>
public static class DigestApi
{
    public static RouteGroupBuilder MapDigestApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/approvals").WithTags("Approvals").RequireAuthorization(ApiPolicies.Approver);
        api.MapGet("/digest", GetAsync).WithName("GetWeeklyDigest")
            .WithSummary("The weekly digest of an ISO week (YYYY-Www, default the current week) in the digest's time zone");
        return api;
    }

    public static async Task<Results<Ok<WeeklyDigest>, ProblemHttpResult>> GetAsync(HttpContext http, DigestService digests, CancellationToken ct)
    {
        var query = http.Request.Query["week"];
        var week = digests.CurrentWeek();
        if (query.Count > 1)
        {
            return Problems.BadRequest("week may be given only once.", "week");
        }
        if (query.Count == 1 && digests.Validate(query[0], out week) is { } problem)
        {
            return Problems.BadRequest(problem, "week");
        }
        return TypedResults.Ok(await digests.ComputeAsync(week, ct));
    }
}
