using System.Security.Claims;
using System.Threading.RateLimiting;
using AgentSentinel.Api.Auth;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.Limits;

/// <summary>What one API key may ask at once, whichever surface it asks through: creates per key (a token bucket) and
/// open waits per key (a concurrency limit). The REST endpoints and the MCP tools take their permits here, so a key
/// cannot double its budget by switching between them. Partitions are keyed by the key's id, never by the key.</summary>
public sealed class KeyLimits : IDisposable
{
    private readonly LimitsOptions _options;
    private readonly PartitionedRateLimiter<string> _intake;
    private readonly PartitionedRateLimiter<string> _waits;

    public KeyLimits(IOptions<LimitsOptions> options)
    {
        _options = options.Value;
        var intake = _options.Intake.ToLimiterOptions();
        var waits = new ConcurrencyLimiterOptions { PermitLimit = _options.MaxConcurrentWaitsPerKey, QueueLimit = 0 };
        _intake = PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetTokenBucketLimiter(key, _ => intake));
        _waits = PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetConcurrencyLimiter(key, _ => waits));
    }

    /// <summary>Takes one create from the caller's bucket: null when it may create, otherwise the refusal.</summary>
    public Refusal? TryCreate(ClaimsPrincipal user)
    {
        if (!_options.Enabled)
        {
            return null;
        }
        using var lease = _intake.AttemptAcquire(user.KeyId());
        if (lease.IsAcquired)
        {
            return null;
        }
        var retryAfter = LimitsExtensions.RetryAfterOf(lease, _options.Intake.ReplenishmentPeriod);
        return new Refusal(retryAfter,
            $"This API key creates requests faster than allowed ({_options.Intake.TokenLimit} at once, then {_options.Intake.TokensPerPeriod} every {_options.Intake.ReplenishmentPeriod}); try again in {LimitsExtensions.RetryAfterHeader(retryAfter)} s.");
    }

    /// <summary>Takes a permit for one open wait, held until the returned lease is disposed; a refusal when the key
    /// already holds as many as it may.</summary>
    public (IDisposable? Permit, Refusal? Refused) TryWait(ClaimsPrincipal user)
    {
        if (!_options.Enabled)
        {
            return (null, null);
        }
        var lease = _waits.AttemptAcquire(user.KeyId());
        if (lease.IsAcquired)
        {
            return (lease, null);
        }
        lease.Dispose();
        return (null, new Refusal(TimeSpan.FromSeconds(1),
            $"This API key already holds {_options.MaxConcurrentWaitsPerKey} wait calls open; poll, or wait for one of them to answer."));
    }

    public void Dispose()
    {
        _intake.Dispose();
        _waits.Dispose();
    }

    /// <summary>A refused call: how long to wait before trying again, and the sentence that says why.</summary>
    public sealed record Refusal(TimeSpan RetryAfter, string Detail);
}

/// <summary>Puts a REST endpoint under one of <see cref="KeyLimits"/>' limits; a refusal is a 429 problem detail with
/// <c>Retry-After</c>. Runs after authorization, so only calls that may proceed count.</summary>
internal static class KeyLimitFilters
{
    public static RouteHandlerBuilder RequireCreateLimit(this RouteHandlerBuilder endpoint) =>
        endpoint.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            if (http.RequestServices.GetRequiredService<KeyLimits>().TryCreate(http.User) is { } refused)
            {
                await LimitsExtensions.WriteTooManyRequestsAsync(http, refused.RetryAfter, refused.Detail);
                return Results.Empty;
            }
            return await next(context);
        });

    public static RouteHandlerBuilder RequireWaitLimit(this RouteHandlerBuilder endpoint) =>
        endpoint.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var (permit, refused) = http.RequestServices.GetRequiredService<KeyLimits>().TryWait(http.User);
            if (refused is not null)
            {
                await LimitsExtensions.WriteTooManyRequestsAsync(http, refused.RetryAfter, refused.Detail);
                return Results.Empty;
            }
            using (permit)
            {
                return await next(context);
            }
        });
}
