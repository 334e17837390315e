namespace AgentSentinel.Client;

/// <summary>A receipt whose signature verified with the server's published keys (<c>/.well-known/jwks.json</c>): what
/// the server states about a final request. Only <see cref="Decision"/> <c>approved</c> lets an action run.</summary>
public sealed record ApprovalReceipt
{
    /// <summary>The receipt itself, a compact JWS signed with ES256.</summary>
    public required string Token { get; init; }

    /// <summary>The id of the key that signed it.</summary>
    public required string KeyId { get; init; }

    /// <summary>The request the receipt is about.</summary>
    public required string ApprovalId { get; init; }

    /// <summary>The action that was approved (or not).</summary>
    public required string ActionName { get; init; }

    /// <summary>The agent the request was made for.</summary>
    public string? AgentId { get; init; }

    /// <summary>SHA-256 (lowercase hex) of the RFC 8785 canonical JSON of the request's <c>action_inputs</c>.</summary>
    public string? ActionInputsSha256 { get; init; }

    /// <summary><c>approved</c>, <c>rejected</c>, <c>expired</c> or <c>cancelled</c>.</summary>
    public required string Decision { get; init; }

    /// <summary>Who decided: an email, a key id, or <c>system</c> for an expiry.</summary>
    public string? DecidedBy { get; init; }

    /// <summary>When the request was decided, cancelled or expired.</summary>
    public DateTimeOffset? DecidedAt { get; init; }

    /// <summary>The request's deadline.</summary>
    public DateTimeOffset? Deadline { get; init; }

    /// <summary>The standing grant that approved the request, when one did.</summary>
    public string? GrantId { get; init; }

    /// <summary>Who gave that grant.</summary>
    public string? GrantedBy { get; init; }
}

/// <summary>A receipt could not be trusted, so the guarded action did not run: it is missing, malformed, signed by a key
/// the server does not list, its signature does not verify, or it is about another request or outcome.</summary>
public class ReceiptVerificationException : AgentSentinelException
{
    /// <summary>Creates the exception.</summary>
    public ReceiptVerificationException(string approvalId, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        ApprovalId = approvalId;
    }

    /// <summary>The request whose receipt was refused.</summary>
    public string ApprovalId { get; }
}

/// <summary>The arguments the action was about to run with are not the ones that were approved: their hash differs from
/// the receipt's. The action did not run.</summary>
public sealed class ReceiptArgumentsMismatchException(string approvalId, string approvedHash, string actualHash)
    : ReceiptVerificationException(approvalId,
        $"The arguments of approval {approvalId} changed after they were approved: the receipt approves action_inputs with SHA-256 {approvedHash}, the action was about to run with {actualHash}.")
{
    /// <summary>The hash the receipt approves.</summary>
    public string ApprovedHash { get; } = approvedHash;

    /// <summary>The hash of the arguments the action was about to use.</summary>
    public string ActualHash { get; } = actualHash;
}
