using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.Infrastructure;

/// <summary>The last problem-details writer: when no other writer accepts the client's <c>Accept</c> header
/// (<c>text/html</c>, <c>text/event-stream</c>, <c>text/plain</c>), the problem is still written as
/// <c>application/problem+json</c>, so a refusal keeps its status instead of becoming a 500.</summary>
public sealed class ProblemJsonFallbackWriter(IOptions<JsonOptions> json, IOptions<ProblemDetailsOptions> options) : IProblemDetailsWriter
{
    public const string ContentType = "application/problem+json";

    public bool CanWrite(ProblemDetailsContext context) => true;

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var http = context.HttpContext;
        var problem = context.ProblemDetails;
        problem.Status ??= http.Response.StatusCode;
        problem.Title ??= ReasonPhrases.GetReasonPhrase(problem.Status.Value);
        options.Value.CustomizeProblemDetails?.Invoke(context);
        return new ValueTask(http.Response.WriteAsJsonAsync(problem, problem.GetType(), json.Value.SerializerOptions, ContentType, http.RequestAborted));
    }
}

public static class ProblemDetailsExtensions
{
    /// <summary>Registers <see cref="ProblemJsonFallbackWriter"/> after the framework's writer; call after <c>AddProblemDetails</c>.</summary>
    public static IServiceCollection AddProblemJsonForEveryClient(this IServiceCollection services) =>
        services.AddSingleton<IProblemDetailsWriter, ProblemJsonFallbackWriter>();
}
