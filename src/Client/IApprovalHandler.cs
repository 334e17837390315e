namespace AgentSentinel.Client;

/// <summary>
/// Gets a human decision for a request. <see cref="ApprovalClient"/> is the implementation that asks the Agent Sentinel
/// server; implement this interface to send approvals to your own UI instead (a chat tool, a ticket system), and give it
/// to <see cref="ActionGuard"/> (or register it with <c>AddAgentSentinelClient(...).UseApprovalHandler&lt;T&gt;()</c>).
/// </summary>
/// <example>
/// <code>
/// public sealed class TicketApprovalHandler(TicketSystem tickets) : IApprovalHandler
/// {
///     public async Task&lt;ApprovalResponse&gt; RequestApprovalAsync(ApprovalRequest request, CancellationToken cancellationToken)
///     {
///         var ticket = await tickets.OpenAsync(request.ActionName, request.Description, cancellationToken);
///         var decision = await tickets.WaitForDecisionAsync(ticket, request.Timeout, cancellationToken);
///         return new ApprovalResponse
///         {
///             ApprovalId = ticket.Id,
///             Status = decision.Approved ? ApprovalStatus.Approved : ApprovalStatus.Rejected,
///             ApproverEmail = decision.ApproverEmail,
///             ApproverNotes = decision.Notes,
///             DecidedAt = decision.At,
///         };
///     }
/// }
/// </code>
/// </example>
public interface IApprovalHandler
{
    /// <summary>Asks for a decision and returns when there is one (or when the request can no longer be approved).
    /// Only a response whose status is <see cref="ApprovalStatus.Approved"/> lets a guarded action run.</summary>
    /// <param name="request">What to approve. <see cref="ApprovalRequest.IdempotencyKey"/> is always set when an
    /// <see cref="ActionGuard"/> calls the handler, so it can serve as the request's id.</param>
    /// <param name="cancellationToken">Cancelled when the caller stops waiting.</param>
    Task<ApprovalResponse> RequestApprovalAsync(ApprovalRequest request, CancellationToken cancellationToken);
}
