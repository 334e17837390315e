using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Core.Receipts;

/// <summary>
/// Issues the signed receipt of a final request: once, when it reaches its final state (or at the first read after,
/// when the server stopped in between), stored with the request and never changed. Every final state has one, since a
/// receipt states the outcome; only a receipt whose <c>decision</c> is <c>approved</c> lets an action run.
/// </summary>
public sealed class ReceiptIssuer(ReceiptKeyring keyring, IReceiptKeyStore store, IApprovalStore approvals, IOptionsMonitor<AgentSentinelOptions> options, TimeProvider time)
{
    /// <summary>The issuer (<c>iss</c>) of this deployment's receipts: its public base URL, or <c>agent-sentinel</c>.</summary>
    public string Issuer => options.CurrentValue.PublicBaseUrl is { Length: > 0 } url ? url.TrimEnd('/') : "agent-sentinel";

    /// <summary><paramref name="request"/> with its receipt, issued and stored now if it is final and has none yet.</summary>
    public async Task<ApprovalRequest> EnsureAsync(ApprovalRequest request, CancellationToken ct)
    {
        if (!request.IsTerminal || request.Receipt is not null)
        {
            return request;
        }
        var key = await keyring.CurrentAsync(ct);
        var token = ReceiptToken.Sign(await ClaimsAsync(request, ct), key);
        var stored = await store.SetReceiptAsync(request.Id, token, ct);
        return stored is null ? request : request with { Receipt = stored };
    }

    /// <summary>What the receipt of the final request <paramref name="request"/> states.</summary>
    public async Task<ReceiptClaims> ClaimsAsync(ApprovalRequest request, CancellationToken ct)
    {
        string? decidedBy = request.DecidedByEmail ?? request.DecidedByKeyId ?? request.DecidedByUserId;
        var decidedByKeyId = request.DecidedByKeyId;
        if (request.Status == ApprovalStatus.Expired)
        {
            decidedBy = Actor.System.AuditName;
        }
        else if (request.Status == ApprovalStatus.Cancelled)
        {
            // The row records when and where; the trail records who.
            var cancelled = (await approvals.GetEventsAsync(request.Id, ct)).LastOrDefault(e => e.Kind == EventKinds.Cancelled);
            decidedBy = cancelled?.Actor;
            decidedByKeyId = cancelled?.ActorKeyId;
        }
        // Inputs stored before intake refused what has no canonical form hash to nothing: nothing can match them.
        var inputsHash = ActionInputsHash.Problem(request.ActionInputs) is null ? ActionInputsHash.Of(request.ActionInputs) : null;
        return new ReceiptClaims
        {
            Issuer = Issuer,
            Subject = request.Id.ToString(),
            IssuedAt = time.GetUtcNow().ToUnixTimeSeconds(),
            ApprovalId = request.Id.ToString(),
            ActionName = request.ActionName,
            AgentId = request.AgentId,
            ActionInputsSha256 = inputsHash,
            Decision = request.Status.ToWire(),
            DecidedBy = decidedBy,
            DecidedByKeyId = decidedByKeyId,
            DecidedVia = request.DecidedVia?.ToWire() ?? (request.Status == ApprovalStatus.Expired ? Surface.System.ToWire() : null),
            DecidedAt = request.DecidedAt is { } at ? ReceiptClaims.Timestamp(at) : null,
            Deadline = ReceiptClaims.Timestamp(request.ExpiresAt),
            Grant = request.GrantId is { } grant ? new ReceiptGrant(grant.ToString(), request.DecidedByEmail ?? request.DecidedByKeyId) : null,
        };
    }
}
