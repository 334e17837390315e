using System.Globalization;
using System.Threading.RateLimiting;
using AgentSentinel.Api.Auth;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Api.WebConsole;
using AgentSentinel.Core.Auth;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.Limits;

/// <summary>The rate limiting policies endpoints name with <c>RequireRateLimiting</c>.</summary>
public static class LimitPolicies
{
    /// <summary>Open live-update streams per console session.</summary>
    public const string EventStreams = "event-streams";
}

public static class LimitsExtensions
{
    /// <summary>The limits' options (validated at start-up), the rate limiting policies and the sign-in throttle.</summary>
    public static IServiceCollection AddAgentSentinelLimits(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<LimitsOptions>().Bind(configuration.GetSection(LimitsOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<LimitsOptions>, LimitsOptionsValidator>();
        services.AddSingleton<SignInThrottle>();
        services.AddSingleton<KeyLimits>();
        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.AddPolicy<string, EventStreamPolicy>(LimitPolicies.EventStreams);
        });
        return services;
    }

    /// <summary>Goes after authorization: API limits count per authenticated key, and only calls that may proceed.</summary>
    public static IApplicationBuilder UseAgentSentinelLimits(this IApplicationBuilder app) => app.UseRateLimiter();

    /// <summary>The 400 for an agent key asking statistics over a window longer than <c>AgentStatsMaxDays</c>, or null.</summary>
    public static ProblemHttpResult? CheckStatsWindow(HttpContext http, DateTimeOffset from, DateTimeOffset to)
    {
        var limits = http.RequestServices.GetRequiredService<IOptionsMonitor<LimitsOptions>>().CurrentValue;
        if (!limits.Enabled || http.User.SeesAll() || to - from <= TimeSpan.FromDays(limits.AgentStatsMaxDays))
        {
            return null;
        }
        return Problems.BadRequest(
            $"An agent key may ask for statistics over at most {limits.AgentStatsMaxDays} days (AgentSentinel:Limits:AgentStatsMaxDays); move from closer to to.",
            "from");
    }

    /// <summary>Answers a refusal: 429, <c>Retry-After</c> in whole seconds (at least 1), and a problem detail.</summary>
    public static async Task WriteTooManyRequestsAsync(HttpContext http, TimeSpan retryAfter, string detail)
    {
        http.Response.Headers.RetryAfter = RetryAfterHeader(retryAfter);
        await http.RequestServices.GetRequiredService<IProblemDetailsService>()
            .WriteProblemAsync(http, StatusCodes.Status429TooManyRequests, "Too many requests", detail);
    }

    /// <summary>A <c>Retry-After</c> value: whole seconds, rounded up, at least 1.</summary>
    public static string RetryAfterHeader(TimeSpan retryAfter) =>
        Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);

    internal static TimeSpan RetryAfterOf(RateLimitLease lease, TimeSpan fallback) =>
        lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) && retryAfter > TimeSpan.Zero ? retryAfter : fallback;

    private abstract class Policy(IOptionsMonitor<LimitsOptions> options) : IRateLimiterPolicy<string>
    {
        protected LimitsOptions Limits => options.CurrentValue;

        public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected =>
            async (context, _) => await WriteTooManyRequestsAsync(context.HttpContext, RetryAfterOf(context.Lease, TimeSpan.FromSeconds(1)), Detail(context.HttpContext));

        public RateLimitPartition<string> GetPartition(HttpContext httpContext) =>
            Limits.Enabled ? Partition(httpContext) : RateLimitPartition.GetNoLimiter("off");

        protected abstract RateLimitPartition<string> Partition(HttpContext http);

        protected abstract string Detail(HttpContext http);
    }

    private sealed class EventStreamPolicy(IOptionsMonitor<LimitsOptions> options) : Policy(options)
    {
        // Partitioned by a hash of the session id: the cookie itself is never kept.
        protected override RateLimitPartition<string> Partition(HttpContext http) =>
            RateLimitPartition.GetConcurrencyLimiter("session:" + ApiKeyFactory.Hash(ConsoleSessions.SessionIdOf(http.Request) ?? ""),
                _ => new ConcurrencyLimiterOptions { PermitLimit = Limits.MaxEventStreamsPerSession, QueueLimit = 0 });

        protected override string Detail(HttpContext http) =>
            $"This console session already has {Limits.MaxEventStreamsPerSession} live-update streams open; close a console tab.";
    }
}
