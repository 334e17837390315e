using System.Security.Claims;
using AgentSentinel.Api.Auth;
using AgentSentinel.Api.Contracts;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Grants;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentSentinel.Api.Apis;

/// <summary>Standing grants given with approvals: listed for approvers and admins, revoked by the person who gave them
/// or an admin. A revocation applies to the next request on every instance.</summary>
public static class GrantsApi
{
    private const int MaxListed = 500;

    public static RouteGroupBuilder MapGrantsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/grants").WithTags("Grants").RequireAuthorization(ApiPolicies.Approver);
        api.MapGet("/", ListAsync).WithName("ListGrants").WithSummary("Standing grants, newest first (active ones unless state=all)");
        api.MapGet("/{id}", GetAsync).WithName("GetGrant").WithSummary("One standing grant");
        api.MapGet("/allowance/{approvalId}", AllowanceAsync).WithName("GetGrantAllowance")
            .WithSummary("Whether approving a request may also give a grant, and its longest length in minutes");
        api.MapPost("/{id}/revoke", RevokeAsync).WithName("RevokeGrant").WithSummary("Revoke a standing grant (its giver or an admin)");
        return api;
    }

    public static async Task<Results<Ok<GrantListDto>, ProblemHttpResult>> ListAsync(HttpContext http, GrantService grants, CancellationToken ct)
    {
        var state = http.Request.Query["state"].ToString();
        if (state is not ("" or "active" or "all"))
        {
            return Problems.BadRequest("state must be 'active' (the default) or 'all'.", "state");
        }
        var list = await grants.ListAsync(activeOnly: state != "all", MaxListed, ct);
        var now = grants.Now;
        return TypedResults.Ok(new GrantListDto([.. list.Select(g => GrantDto.From(g, now))]));
    }

    public static async Task<Results<Ok<GrantDto>, ProblemHttpResult>> GetAsync(string id, GrantService grants, CancellationToken ct)
    {
        if (!Guid.TryParse(id, out var guid))
        {
            return MalformedId(id);
        }
        return await grants.GetAsync(guid, ct) is { } grant
            ? TypedResults.Ok(GrantDto.From(grant, grants.Now))
            : Problems.NotFound($"No grant has the id '{guid}'.");
    }

    public static async Task<Results<Ok<GrantDto>, ProblemHttpResult>> RevokeAsync(
        string id, ClaimsPrincipal user, GrantService grants, HttpContext http, CancellationToken ct)
    {
        using var body = await JsonBody.ReadAsync(http, allowEmpty: true);
        if (!Guid.TryParse(id, out var guid))
        {
            return MalformedId(id);
        }
        var result = await grants.RevokeAsync(guid, user.ToDecider(), ct);
        return result.Outcome switch
        {
            RevokeOutcome.Revoked => TypedResults.Ok(GrantDto.From(result.Grant!, grants.Now)),
            RevokeOutcome.NotFound => Problems.NotFound($"No grant has the id '{guid}'."),
            RevokeOutcome.NotAllowed => Problems.Forbidden(GrantTexts.NotAllowedToRevoke),
            _ => Problems.Status(StatusCodes.Status409Conflict, "Conflict", GrantTexts.AlreadyRevoked(result.Grant)),
        };
    }

    /// <summary>What the approve form of a request may offer: <c>allowed</c>, <c>max_minutes</c>, and <c>reason</c> when
    /// no grant may be given (the same rule and wording as the approval itself).</summary>
    public static async Task<Results<Ok<GrantAllowanceDto>, ProblemHttpResult>> AllowanceAsync(
        string approvalId, ApprovalService approvals, GrantService grants, CancellationToken ct)
    {
        if (!Guid.TryParse(approvalId, out var guid))
        {
            return Problems.BadRequest($"'{(approvalId.Length > 64 ? approvalId[..64] + "..." : approvalId)}' is not an approval id (a UUID).", "approvalId");
        }
        if (await approvals.GetAsync(guid, ct) is not { } request)
        {
            return Problems.NotFound(DecisionTexts.NotFound);
        }
        var allowance = await grants.AllowanceAsync(request, ct);
        return TypedResults.Ok(new GrantAllowanceDto(allowance.Allowed, allowance.Allowed ? allowance.MaxMinutes : null, allowance.Refusal));
    }

    /// <summary>The <c>grant</c> of an approve body, or null; a malformed one is a 400 naming <c>grant</c>.</summary>
    public static GrantOffer? ReadOffer(JsonBody body)
    {
        var offer = body.Deserialize<GrantOfferBody>("grant", SettingsJson.Options);
        if (offer is null)
        {
            return null;
        }
        if (offer.Minutes is not { } minutes)
        {
            throw JsonBody.Invalid("grant", "'grant.minutes' is required: how many minutes the grant lasts.");
        }
        var match = offer.Match is null ? GrantMatch.ActionAndInputs
            : GrantForm.ParseMatch(offer.Match) ?? throw JsonBody.Invalid("grant", GrantTexts.MatchInvalid);
        return new GrantOffer(minutes, offer.MaxUses, offer.MaxTotalCost, match);
    }

    private static ProblemHttpResult MalformedId(string id) =>
        Problems.BadRequest($"'{(id.Length > 64 ? id[..64] + "..." : id)}' is not a grant id (a UUID).", "id");
}
