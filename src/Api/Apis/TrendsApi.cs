using AgentSentinel.Api.Auth;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Api.Limits;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Stats;
using AgentSentinel.Core.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentSentinel.Api.Apis;

public sealed record TrendBucketDto(DateTimeOffset Start, long Created, long Approved, long Rejected, long Expired, long Cancelled);

public sealed record TimeseriesDto(DateTimeOffset From, DateTimeOffset To, string Bucket, IReadOnlyList<TrendBucketDto> Buckets);

public sealed record DecisionTimeBucketDto(string Label, long MinSeconds, long? MaxSeconds, long Approved, long Rejected, long Total);

public sealed record DecisionTimesDto(DateTimeOffset From, DateTimeOffset To, long Decided, IReadOnlyList<DecisionTimeBucketDto> Buckets);

/// <summary>Trends for the statistics page: outcomes over time and how long decisions take.</summary>
public static class TrendsApi
{
    private const int MaxBuckets = 1000;

    public static RouteGroupBuilder MapTrendsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/approvals/stats").WithTags("Approvals").RequireAuthorization(ApiPolicies.Any);
        api.MapGet("/timeseries", TimeseriesAsync).WithName("GetApprovalTimeseries")
            .WithSummary("Requests created and outcomes reached per day or hour (UTC buckets)");
        api.MapGet("/decision-times", DecisionTimesAsync).WithName("GetDecisionTimes")
            .WithSummary("How long approve and reject decisions took, as a histogram");
        return api;
    }

    public static async Task<Results<Ok<TimeseriesDto>, ProblemHttpResult>> TimeseriesAsync(
        HttpContext http, ITrendStore trends, ApprovalService service, CancellationToken ct)
    {
        var (from, to, problem) = Window(http, service.Now);
        if (problem is not null)
        {
            return problem;
        }
        var bucketName = http.Request.Query["bucket"].ToString();
        TimeSpan bucket;
        switch (bucketName)
        {
            case "" or "day":
                (bucketName, bucket) = ("day", TimeSpan.FromDays(1));
                break;
            case "hour":
                bucket = TimeSpan.FromHours(1);
                break;
            default:
                return Problems.BadRequest("bucket must be 'day' or 'hour'.", "bucket");
        }
        if ((to - from) / bucket > MaxBuckets - 1)
        {
            return Problems.BadRequest($"The window holds more than {MaxBuckets} buckets of one {bucketName}; narrow it or use a longer bucket.", "from");
        }
        var buckets = await trends.GetTimeseriesAsync(from, to, bucket, service.Now, ct);
        return TypedResults.Ok(new TimeseriesDto(from, to, bucketName,
            [.. buckets.Select(b => new TrendBucketDto(b.Start, b.Created, b.Approved, b.Rejected, b.Expired, b.Cancelled))]));
    }

    public static async Task<Results<Ok<DecisionTimesDto>, ProblemHttpResult>> DecisionTimesAsync(
        HttpContext http, ITrendStore trends, ApprovalService service, CancellationToken ct)
    {
        var (from, to, problem) = Window(http, service.Now);
        if (problem is not null)
        {
            return problem;
        }
        var buckets = await trends.GetDecisionTimesAsync(from, to, ct);
        return TypedResults.Ok(new DecisionTimesDto(from, to, buckets.Sum(b => b.Total),
            [.. buckets.Select(b => new DecisionTimeBucketDto(b.Label, b.MinSeconds, b.MaxSeconds, b.Approved, b.Rejected, b.Total))]));
    }

    /// <summary>The window [from, to): the last 30 days by default, as for the statistics endpoint.</summary>
    private static (DateTimeOffset From, DateTimeOffset To, ProblemHttpResult? Problem) Window(HttpContext http, DateTimeOffset now)
    {
        var q = http.Request.Query;
        if (!ApprovalsApi.TryTimestamp(q["to"].ToString(), now, out var to) || !ApprovalsApi.TryTimestamp(q["from"].ToString(), to.AddDays(-30), out var from))
        {
            return (default, default, Problems.BadRequest("from and to must be ISO-8601 timestamps, e.g. 2026-11-25T00:00:00Z.", "from"));
        }
        if (from > to)
        {
            return (default, default, Problems.BadRequest("from must not be after to.", "from"));
        }
        return (from, to, LimitsExtensions.CheckStatsWindow(http, from, to));
    }
}
