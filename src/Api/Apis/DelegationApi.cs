using System.Globalization;
using System.Security.Claims;
using AgentSentinel.Api.Auth;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Delegation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentSentinel.Api.Apis;

/// <summary>A delegation while away, as the API shows it.</summary>
public sealed record DelegationDto(
    string DelegatorEmail, string DelegateEmail, DateTimeOffset StartsAt, DateTimeOffset EndsAt, bool Active, string SetVia, DateTimeOffset SetAt)
{
    public static DelegationDto From(Delegation d, DateTimeOffset now) =>
        new(d.DelegatorEmail, d.DelegateEmail, d.StartsAt, d.EndsAt, d.IsActiveAt(now), d.SetVia.ToWire(), d.SetAt);
}

/// <summary>Delegations as a list.</summary>
public sealed record DelegationList(IReadOnlyList<DelegationDto> Items);

/// <summary>The caller's own delegation while away (<c>/api/v1/me/delegation</c>), for approver and admin keys and
/// console sessions: the person is the authenticated identity's email, never a field in the body.</summary>
public static class DelegationApi
{
    private static readonly string[] TimestampFormats =
        ["yyyy-MM-dd'T'HH:mm:ss'Z'", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", "yyyy-MM-dd'T'HH:mm:sszzz", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz"];

    public static RouteGroupBuilder MapDelegationApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/me/delegation").WithTags("Delegation").RequireAuthorization(ApiPolicies.Approver);
        api.MapGet("/", GetAsync).WithName("GetMyDelegation").WithSummary("Your delegation while away, if one is running or planned");
        api.MapPut("/", PutAsync).WithName("SetMyDelegation").WithSummary("Name a delegate who decides for you until a date");
        api.MapDelete("/", DeleteAsync).WithName("EndMyDelegation").WithSummary("End your delegation now");
        api.MapGet("/to-me", ToMeAsync).WithName("ListDelegationsToMe").WithSummary("The people who delegated their decisions to you (running or planned)");
        return api;
    }

    public static async Task<Results<Ok<DelegationDto>, ProblemHttpResult>> GetAsync(ClaimsPrincipal user, DelegationService delegations, CancellationToken ct) =>
        await delegations.GetAsync(user.ToActor().Email, ct) is { } d
            ? TypedResults.Ok(DelegationDto.From(d, delegations.Now))
            : Problems.NotFound(DelegationTexts.NotAway);

    /// <summary>Delegations to the caller that have not ended, soonest first: whom they decide for, and when.</summary>
    public static async Task<Ok<DelegationList>> ToMeAsync(ClaimsPrincipal user, DelegationService delegations, CancellationToken ct)
    {
        var now = delegations.Now;
        return TypedResults.Ok(new DelegationList([.. (await delegations.ToDelegateAsync(user.ToActor().Email, ct)).Select(d => DelegationDto.From(d, now))]));
    }

    /// <summary>Body: <c>delegate_email</c> (required), <c>ends_at</c> (required, an ISO 8601 instant with its offset),
    /// <c>starts_at</c> (optional, default now).</summary>
    public static async Task<Results<Ok<DelegationDto>, ProblemHttpResult>> PutAsync(ClaimsPrincipal user, DelegationService delegations, HttpContext http, CancellationToken ct)
    {
        using var body = await JsonBody.ReadAsync(http, allowEmpty: false);
        var delegateEmail = body.Name("delegate_email", 254, required: true)!.Trim();
        var endsAt = Instant(body, "ends_at", required: true)!.Value;
        var startsAt = Instant(body, "starts_at", required: false);
        var (saved, refusal) = await delegations.SetAsync(user.ToActor().Email, new DelegationRequest(delegateEmail, startsAt, endsAt, user.ToActor().Surface), ct);
        if (refusal is not null)
        {
            return refusal.Conflict
                ? TypedResults.Problem(refusal.Message, statusCode: StatusCodes.Status409Conflict, title: "Delegation chain",
                    extensions: new Dictionary<string, object?> { ["field"] = refusal.Field })
                : Problems.BadRequest(refusal.Message, refusal.Field);
        }
        return TypedResults.Ok(DelegationDto.From(saved!, delegations.Now));
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(ClaimsPrincipal user, DelegationService delegations, CancellationToken ct) =>
        await delegations.EndAsync(user.ToActor().Email, ct) ? TypedResults.NoContent() : Problems.NotFound(DelegationTexts.NotAway);

    /// <summary>An instant written strictly as ISO 8601 with its offset (<c>2026-12-24T18:00:00Z</c>); nothing else is guessed.</summary>
    private static DateTimeOffset? Instant(JsonBody body, string field, bool required)
    {
        var text = body.String(field, 40, required);
        if (text is null)
        {
            return null;
        }
        return DateTimeOffset.TryParseExact(text, TimestampFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value)
            ? value
            : throw JsonBody.Invalid(field, $"'{field}' must be an ISO 8601 instant with its offset, such as 2026-12-24T18:00:00Z.");
    }
}
