using System.Security.Claims;
using AgentSentinel.Api.Auth;
using AgentSentinel.Api.Callbacks;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Core.Callbacks;
using AgentSentinel.Core.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentSentinel.Api.Apis;

public sealed record CallbackSecretDto(string KeyId, string CallbackSecret);

public sealed record CallbackAttemptDto(int Attempt, DateTimeOffset At, int? Status, string? Error, int DurationMs);

public sealed record CallbackDeliveryDto(
    string DeliveryId,
    string Event,
    string Url,
    string State,
    int Attempts,
    int? LastStatus,
    string? LastError,
    DateTimeOffset? NextAttemptAt,
    DateTimeOffset CreatedAt,
    DateTimeOffset? DeliveredAt,
    IReadOnlyList<CallbackAttemptDto> Tries);

/// <summary>Admin calls for agent callbacks: the signing secret of an API key, and what happened to a request's callbacks.</summary>
public static class CallbacksApi
{
    public static RouteGroupBuilder MapCallbacksApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/api/v1/admin").WithTags("Administration").RequireAuthorization(ApiPolicies.Admin);
        admin.MapPost("/api-keys/{id}/callback-secret", RotateSecretAsync).WithName("RotateCallbackSecret")
            .WithSummary("Give an API key a new callback signing secret (shown once); its callbacks are signed with it from now on");
        admin.MapDelete("/api-keys/{id}/callback-secret", RemoveSecretAsync).WithName("RemoveCallbackSecret")
            .WithSummary("Remove an API key's own callback signing secret; its callbacks are signed with the configured one");
        admin.MapGet("/approvals/{id}/callbacks", ListDeliveriesAsync).WithName("ListCallbacks")
            .WithSummary("The callbacks of a request, with every try");
        return admin;
    }

    public static async Task<Results<Ok<CallbackSecretDto>, ProblemHttpResult>> RotateSecretAsync(
        string id, ClaimsPrincipal user, ICallbackStore store, ILogger<CallbackSecretDto> logger, CancellationToken ct)
    {
        var secret = CallbackSignature.NewSecret();
        if (id.Length > 64 || !await store.SetKeySecretAsync(id, secret, ct))
        {
            return NoSuchKey(id);
        }
        ApiLog.CallbackSecretChanged(logger, id, "rotated", user.ToActor().AuditName);
        return TypedResults.Ok(new CallbackSecretDto(id, secret));
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> RemoveSecretAsync(
        string id, ClaimsPrincipal user, ICallbackStore store, ILogger<CallbackSecretDto> logger, CancellationToken ct)
    {
        if (id.Length > 64 || !await store.SetKeySecretAsync(id, null, ct))
        {
            return NoSuchKey(id);
        }
        ApiLog.CallbackSecretChanged(logger, id, "removed", user.ToActor().AuditName);
        return TypedResults.NoContent();
    }

    public static async Task<Results<Ok<IReadOnlyList<CallbackDeliveryDto>>, ProblemHttpResult>> ListDeliveriesAsync(
        string id, IApprovalStore approvals, ICallbackStore store, CancellationToken ct)
    {
        if (!Guid.TryParse(id, out var guid))
        {
            return Problems.BadRequest($"'{(id.Length > 64 ? id[..64] + "..." : id)}' is not an approval id (a UUID such as 0193a1b2-...).", "id");
        }
        if (await approvals.GetAsync(guid, ct) is null)
        {
            return Problems.NotFound(guid);
        }
        var result = new List<CallbackDeliveryDto>();
        foreach (var d in await store.ListAsync(guid, ct))
        {
            var tries = await store.ListAttemptsAsync(d.Id, ct);
            result.Add(new CallbackDeliveryDto(d.DeliveryId, d.Event, d.Url, d.State.ToString().ToLowerInvariant(), d.Attempts,
                d.LastStatus, d.LastError, d.State == CallbackState.Pending ? d.NextAttemptAt : null, d.CreatedAt, d.DeliveredAt,
                [.. tries.Select(t => new CallbackAttemptDto(t.Attempt, t.At, t.Status, t.Error, t.DurationMs))]));
        }
        return TypedResults.Ok<IReadOnlyList<CallbackDeliveryDto>>(result);
    }

    private static ProblemHttpResult NoSuchKey(string id) =>
        Problems.NotFound($"No active API key has the id '{(id.Length > 64 ? id[..64] + "..." : id)}'.");
}
