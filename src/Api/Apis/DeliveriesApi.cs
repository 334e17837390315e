using System.Globalization;
using System.Security.Claims;
using AgentSentinel.Api.Auth;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Bot.Delivery;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentSentinel.Api.Apis;

/// <summary>One chat delivery: a request's message, an escalation level's copy or a thread reply, on one surface.</summary>
public sealed record ChatDeliveryDto(
    long Id,
    string ApprovalId,
    string ActionName,
    string Surface,
    string Channel,
    string DeliveryKey,
    string State,
    int Attempts,
    string? LastError,
    string? ErrorClass,
    string? MessageId,
    DateTimeOffset ClaimedAt,
    DateTimeOffset? PostedAt,
    DateTimeOffset UpdatedAt)
{
    public static ChatDeliveryDto From(ChatMessage m, string actionName) => new(
        m.Id, m.ApprovalId.ToString(), actionName, m.Surface.ToWire(), m.Channel, m.DeliveryKey, m.State.ToString().ToLowerInvariant(),
        m.Attempts, m.LastError, m.ErrorClass?.ToWire(), m.MessageId, m.ClaimedAt, m.PostedAt, m.UpdatedAt);
}

public sealed record ChatDeliveryPageDto(IReadOnlyList<ChatDeliveryDto> Items, string? NextCursor);

/// <summary>Chat deliveries for administrators: which messages failed (and why), and a retry of one of them.</summary>
public static class DeliveriesApi
{
    private static readonly string[] States = ["failed", "claimed", "posted"];

    public static RouteGroupBuilder MapDeliveriesApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/api/v1/admin/deliveries").WithTags("Administration").RequireAuthorization(ApiPolicies.Admin);
        admin.MapGet("", ListAsync).WithName("ListChatDeliveries")
            .WithSummary("Chat deliveries in a state (failed by default), newest first: surface, channel, attempts, the platform's last answer");
        admin.MapPost("/{id}/retry", RetryAsync).WithName("RetryChatDelivery")
            .WithSummary("Send a failed chat delivery again; its attempts start from zero");
        return admin;
    }

    public static async Task<Results<Ok<ChatDeliveryPageDto>, ProblemHttpResult>> ListAsync(HttpContext http, IChatMessageStore store, CancellationToken ct)
    {
        var q = http.Request.Query;
        var stateText = q["state"].ToString() is { Length: > 0 } s ? s : "failed";
        if (!States.Contains(stateText, StringComparer.Ordinal))
        {
            return Problems.BadRequest($"state must be one of {string.Join(", ", States)}.", "state");
        }
        var state = Enum.Parse<ChatMessageState>(stateText, ignoreCase: true);
        Surface? surface = null;
        if (q["surface"].ToString() is { Length: > 0 } surfaceText)
        {
            if (!WireNames.TryParseSurface(surfaceText, out var parsed) || parsed is not (Surface.Slack or Surface.Teams))
            {
                return Problems.BadRequest("surface must be slack or teams.", "surface");
            }
            surface = parsed;
        }
        long? before = null;
        if (q["cursor"].ToString() is { Length: > 0 } cursor)
        {
            if (!long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id < 1)
            {
                return Problems.BadRequest("cursor must be the next_cursor value of a previous page.", "cursor");
            }
            before = id;
        }
        var limit = 50;
        if (q["limit"].ToString() is { Length: > 0 } limitText
            && (!int.TryParse(limitText, NumberStyles.Integer, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 200))
        {
            return Problems.BadRequest("limit must be a whole number from 1 to 200.", "limit");
        }
        var rows = await store.ListDeliveriesAsync(state, surface, before, limit + 1, ct);
        var page = rows.Take(limit).Select(r => ChatDeliveryDto.From(r.Message, r.ActionName)).ToList();
        var next = rows.Count > limit ? page[^1].Id.ToString(CultureInfo.InvariantCulture) : null;
        return TypedResults.Ok(new ChatDeliveryPageDto(page, next));
    }

    public static async Task<Results<Accepted<ChatDeliveryDto>, ProblemHttpResult>> RetryAsync(
        string id, ClaimsPrincipal user, IChatMessageStore store, IApprovalStore approvals, ChatDeliveryJobs engine, CancellationToken ct)
    {
        if (!long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var deliveryId) || deliveryId < 1)
        {
            return Problems.BadRequest("That is not a delivery id.", "id");
        }
        var message = await store.GetAsync(deliveryId, ct);
        if (message is null)
        {
            return Problems.NotFound($"No chat delivery has the id {deliveryId}.");
        }
        if (!await engine.RetryFailedAsync(message, user.ToActor().AuditName, ct))
        {
            return Problems.Status(StatusCodes.Status409Conflict, "Conflict",
                $"Only a failed delivery can be retried; this one is {(await store.GetAsync(deliveryId, ct))?.State.ToString().ToLowerInvariant() ?? "gone"}.");
        }
        var retried = (await store.GetAsync(deliveryId, ct))!;
        var request = await approvals.GetAsync(retried.ApprovalId, ct);
        return TypedResults.Accepted($"/api/v1/admin/deliveries?state={retried.State.ToString().ToLowerInvariant()}",
            ChatDeliveryDto.From(retried, request?.ActionName ?? ""));
    }
}
