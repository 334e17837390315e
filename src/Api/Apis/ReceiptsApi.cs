using System.Security.Claims;
using AgentSentinel.Api.Auth;
using AgentSentinel.Api.Contracts;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Receipts;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentSentinel.Api.Apis;

/// <summary>Signed approval receipts: a request's receipt, the public keys that verify receipts (JWKS), and the admin's
/// view and rotation of the signing keys.</summary>
public static class ReceiptsApi
{
    public const string JwksPath = "/.well-known/jwks.json";

    public static IEndpointRouteBuilder MapReceiptsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/approvals/{id}/receipt", GetReceiptAsync).WithTags("Approvals").WithName("GetApprovalReceipt")
            .WithSummary("The signed receipt of a final request (409 while it is open)").RequireAuthorization(ApiPolicies.Any);
        // Public keys only, needed by anyone who verifies a receipt: open by design, like any JWKS.
        app.MapGet(JwksPath, JwksAsync).WithTags("Receipts").WithName("GetReceiptKeys")
            .WithSummary("The public keys that verify approval receipts (JWKS)").AllowAnonymous();
        var admin = app.MapGroup("/api/v1/admin/receipt-keys").WithTags("Admin").RequireAuthorization(ApiPolicies.Admin);
        admin.MapGet("/", ListKeysAsync).WithName("ListReceiptKeys").WithSummary("Receipt signing keys (public information only)");
        admin.MapPost("/rotate", RotateAsync).WithName("RotateReceiptKey")
            .WithSummary("Sign new receipts with a new generated key; the old key stays listed");
        return app;
    }

    /// <summary>The receipt of a request the caller may see (agents: their own, as for the request itself).</summary>
    public static async Task<Results<Ok<ReceiptDto>, ProblemHttpResult>> GetReceiptAsync(string id, ClaimsPrincipal user, ApprovalService service, CancellationToken ct)
    {
        var (request, problem) = await ApprovalsApi.LoadAsync(id, user, service, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (request!.Receipt is not { } receipt)
        {
            return TypedResults.Problem(
                $"Approval {request.Id} is {request.Status.ToWire()}: a receipt is issued once it is approved, rejected, expired or cancelled.",
                statusCode: StatusCodes.Status409Conflict, title: "No receipt yet",
                extensions: new Dictionary<string, object?> { ["current_status"] = request.Status.ToWire() });
        }
        return TypedResults.Ok(ReceiptDto.From(request.Id, receipt));
    }

    public static async Task<Ok<JwksDto>> JwksAsync(ReceiptKeyring keys, HttpContext http, CancellationToken ct)
    {
        var list = await keys.ListAsync(ct);
        // Short enough that a verifier meets a rotated key within a minute, even behind a cache.
        http.Response.Headers.CacheControl = "public, max-age=60";
        return TypedResults.Ok(new JwksDto([.. list.Select(JwkDto.From)]));
    }

    public static async Task<Ok<ReceiptKeyListDto>> ListKeysAsync(ReceiptKeyring keys, CancellationToken ct) =>
        TypedResults.Ok(new ReceiptKeyListDto([.. (await keys.ListAsync(ct)).Select(ReceiptKeyDto.From)], keys.IsConfigured));

    public static async Task<Results<Ok<ReceiptKeyDto>, ProblemHttpResult>> RotateAsync(ReceiptKeyring keys, CancellationToken ct)
    {
        try
        {
            return TypedResults.Ok(ReceiptKeyDto.From(await keys.RotateAsync(ct)));
        }
        catch (ReceiptKeyConfiguredException ex)
        {
            return Problems.Status(StatusCodes.Status409Conflict, "Signing key is configured", ex.Message);
        }
    }
}
