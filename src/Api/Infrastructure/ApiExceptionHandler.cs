using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Storage;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace AgentSentinel.Api.Infrastructure;

/// <summary>Turns the exceptions that mean "bad request" or "database unavailable" into problem details with the
/// right 4xx or 503; anything else is a 500 whose detail reveals nothing internal.</summary>
public sealed class ApiExceptionHandler(IProblemDetailsService problems, Database database, ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is OperationCanceledException && httpContext.RequestAborted.IsCancellationRequested)
        {
            httpContext.Response.StatusCode = 499; // the client went away; nobody reads the answer
            return true;
        }
        var (status, title, detail, field) = exception switch
        {
            BodyException b => (b.StatusCode, b.StatusCode switch { 403 => "Forbidden", 413 => "Payload too large", 415 => "Unsupported media type", _ => "Invalid request" }, b.Message, b.Field),
            RequestValidationException v => (400, "Invalid request", v.Message, v.Field),
            BadHttpRequestException b => (b.StatusCode, "Invalid request", b.Message, null),
            _ when IsUnavailable(exception) => (503, "Service unavailable", "The database is unavailable; try again shortly.", null),
            _ => (500, "Internal error", "An unexpected error occurred; it has been logged.", (string?)null),
        };
        if (status >= 500)
        {
            ApiLog.UnhandledException(logger, exception, httpContext.Request.Method, httpContext.Request.Path);
        }
        if (status == 503)
        {
            httpContext.Response.Headers.RetryAfter = "2";
        }
        httpContext.Response.StatusCode = status;
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail };
        if (field is not null)
        {
            problem.Extensions["field"] = field;
        }
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = problem, Exception = exception });
    }

    private bool IsUnavailable(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (database.IsUnavailable(e) || e is TimeoutException || e is System.Net.Sockets.SocketException)
            {
                return true;
            }
        }
        return false;
    }
}
