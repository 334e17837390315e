using System.Net;

namespace AgentSentinel.Client;

/// <summary>The base of every exception this library throws on purpose.</summary>
public class AgentSentinelException : Exception
{
    /// <summary>Creates the exception.</summary>
    public AgentSentinelException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public AgentSentinelException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the failure that caused it.</summary>
    public AgentSentinelException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}

/// <summary>The server refused a call (for example 400 bad input, 401 unknown key, 404 unknown id, 409 the request is
/// already final). <see cref="Exception.Message"/> carries the server's explanation.</summary>
public sealed class ApprovalApiException : AgentSentinelException
{
    /// <summary>Creates the exception.</summary>
    public ApprovalApiException(HttpStatusCode statusCode, string? title, string? detail, ApprovalStatus? currentStatus, string? responseBody)
        : base(Describe(statusCode, title, detail))
    {
        StatusCode = statusCode;
        Title = title;
        Detail = detail;
        CurrentStatus = currentStatus;
        ResponseBody = responseBody;
    }

    /// <summary>The HTTP status code of the refusal.</summary>
    public HttpStatusCode StatusCode { get; }

    /// <summary>The problem's title (RFC 7807), when the server sent one.</summary>
    public string? Title { get; }

    /// <summary>The problem's detail sentence, when the server sent one.</summary>
    public string? Detail { get; }

    /// <summary>For a 409: the request's status at the time of the refusal.</summary>
    public ApprovalStatus? CurrentStatus { get; }

    /// <summary>The response body as received.</summary>
    public string? ResponseBody { get; }

    private static string Describe(HttpStatusCode statusCode, string? title, string? detail) =>
        $"The Agent Sentinel server refused the call with {(int)statusCode} {(detail ?? title ?? statusCode.ToString())}";
}

/// <summary>The server could not be reached (or kept failing) after the configured retries
/// (<see cref="ApprovalClientOptions.MaxRetries"/>). When it happens while waiting for a decision,
/// <see cref="ApprovalId"/> says which request to resume with <see cref="ApprovalClient.WaitForDecisionAsync"/>.</summary>
public sealed class AgentSentinelUnavailableException : AgentSentinelException
{
    /// <summary>Creates the exception.</summary>
    public AgentSentinelUnavailableException(string message, Exception? innerException, int attempts, string? approvalId = null, ApprovalResponse? lastKnown = null)
        : base(message, innerException)
    {
        Attempts = attempts;
        ApprovalId = approvalId;
        LastKnown = lastKnown;
    }

    /// <summary>How many attempts were made.</summary>
    public int Attempts { get; }

    /// <summary>The request being waited for, when the failure happened after it was created.</summary>
    public string? ApprovalId { get; }

    /// <summary>The last state the server reported, when there was one.</summary>
    public ApprovalResponse? LastKnown { get; }
}

/// <summary>The client gave up waiting: the server did not report a final state by the request's deadline plus
/// <see cref="ApprovalClientOptions.DeadlineGrace"/>. A server that answers reports
/// <see cref="ApprovalStatus.Expired"/> at the deadline, so this means it could not be heard in time (unreachable,
/// or too slow). Treat it like an expiry: the action must not run.</summary>
public sealed class ApprovalWaitTimeoutException : AgentSentinelException
{
    /// <summary>Creates the exception.</summary>
    public ApprovalWaitTimeoutException(string approvalId, ApprovalResponse? lastKnown, Exception? lastFailure)
        : base($"No final answer for approval {approvalId} by its deadline; the server could not be heard in time.", lastFailure)
    {
        ApprovalId = approvalId;
        LastKnown = lastKnown;
    }

    /// <summary>The request that was being waited for.</summary>
    public string ApprovalId { get; }

    /// <summary>The last state the server reported, when there was one.</summary>
    public ApprovalResponse? LastKnown { get; }
}

/// <summary>A guarded action did not run because it was not approved. The subclasses say why; all carry the
/// <see cref="Response"/>.</summary>
public class ApprovalNotGrantedException : AgentSentinelException
{
    /// <summary>Creates the exception.</summary>
    public ApprovalNotGrantedException(ApprovalResponse response, string? message = null)
        : base(message ?? $"Action '{response?.ActionName}' was not approved (status {response?.Status}).")
    {
        ArgumentNullException.ThrowIfNull(response);
        Response = response;
    }

    /// <summary>The response that decided it.</summary>
    public ApprovalResponse Response { get; }
}

/// <summary>A person rejected the guarded action; the reason is in <see cref="ApprovalResponse.ApproverNotes"/>.</summary>
public sealed class ApprovalRejectedException(ApprovalResponse response)
    : ApprovalNotGrantedException(response, $"Action '{response?.ActionName}' was rejected by {response?.ApproverEmail ?? "an approver"}: {response?.ApproverNotes ?? "no reason given"}");

/// <summary>Nobody decided before the deadline, so the guarded action did not run.</summary>
public sealed class ApprovalExpiredException(ApprovalResponse response)
    : ApprovalNotGrantedException(response, $"Action '{response?.ActionName}' was not approved before its deadline ({response?.ExpiresAt:O}).");

/// <summary>The request was withdrawn before anyone decided, so the guarded action did not run.</summary>
public sealed class ApprovalCancelledException(ApprovalResponse response)
    : ApprovalNotGrantedException(response, $"The approval request for action '{response?.ActionName}' was cancelled.");

/// <summary>An approver asked a question that the guard could not answer (no
/// <see cref="GuardOptions.AnswerInfoRequest"/>), so the request was withdrawn and the action did not run. The question
/// is in <see cref="ApprovalResponse.InfoRequestMessage"/>.</summary>
public sealed class ApprovalInfoRequestedException(ApprovalResponse response)
    : ApprovalNotGrantedException(response, $"An approver asked about action '{response?.ActionName}': {response?.InfoRequestMessage}");
