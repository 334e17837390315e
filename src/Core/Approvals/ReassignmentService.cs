using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Notifications;
using AgentSentinel.Core.Storage;

namespace AgentSentinel.Core.Approvals;

/// <summary>What an approver asks for when handing a request on: exactly one of a person (email, with their Slack user
/// id when the surface knows it) or a channel (Slack or Teams), and an optional note.</summary>
public sealed record ReassignRequest(string? PersonEmail, string? SlackChannel, string? TeamsChannel, string? Note, string? PersonSlackId = null);

/// <summary>
/// Reassignment: someone who may decide an open request (<see cref="DecisionRule"/>, delegations included) hands it to
/// another person, who must be an approver identity and not its requester, and then becomes its one approver, or to a
/// channel, where it is posted. The change, its <c>reassigned</c> event and the outbox entry that posts it there (and
/// notes on the old messages where it went) are one transaction (<see cref="ReassignmentStore"/>).
/// </summary>
public sealed class ReassignmentService(
    IApprovalStore approvals,
    ReassignmentStore store,
    Delegation.DelegationService delegations,
    IApproverDirectory directory,
    IChatConversationStore conversations,
    ApprovalChangeHub hub,
    TimeProvider time)
{
    public const int MaxNoteLength = 2000;

    /// <summary>Applied with the request as it now is, or refused (the request's state as judged, for a refusal of
    /// state). Bad targets throw <see cref="ReassignmentException"/>.</summary>
    public async Task<TransitionResult> ReassignAsync(Guid id, Decider decider, ReassignRequest target, CancellationToken ct)
    {
        var targets = new[] { target.PersonEmail, target.SlackChannel, target.TeamsChannel }.Count(t => !string.IsNullOrWhiteSpace(t));
        if (targets != 1)
        {
            throw new ReassignmentException("to_email", ReassignmentTexts.NoTarget);
        }
        if (target.Note is { Length: > MaxNoteLength })
        {
            throw new ReassignmentException(ReassignmentException.NoteField, ReassignmentTexts.NoteTooLong(MaxNoteLength));
        }
        var current = await approvals.GetAsync(id, ct);
        if (current is null)
        {
            return new TransitionResult(TransitionOutcome.NotFound, null);
        }
        var now = time.GetUtcNow().TruncateToMicroseconds();
        decider = await delegations.WithDelegationsAsync(decider, ct);
        var standing = DecisionRule.Standing(current, decider, now);
        if (standing.Refusal is { } refusal)
        {
            return new TransitionResult(refusal, current.AsOf(now));
        }
        if (!current.Status.IsOpen() || now >= current.ExpiresAt)
        {
            return new TransitionResult(TransitionRules.Explain(TransitionKind.Approve, current, now), current.AsOf(now));
        }
        var handed = await TargetAsync(current, target, ct) with
        {
            By = decider.Actor.AuditName,
            OnBehalfOf = standing.OnBehalfOf?.Identity.Email,
            Note = string.IsNullOrWhiteSpace(target.Note) ? null : target.Note.Trim(),
            At = now,
        };
        var actor = decider.Actor with { OnBehalfOf = handed.OnBehalfOf };
        var changed = await store.ReassignAsync(id, handed, actor, ct);
        if (changed is null)
        {
            var latest = await approvals.GetAsync(id, ct) ?? current;
            var at = time.GetUtcNow();
            return new TransitionResult(TransitionRules.Explain(TransitionKind.Approve, latest, at), latest.AsOf(at));
        }
        hub.Publish(id);
        return new TransitionResult(TransitionOutcome.Applied, changed);
    }

    private async Task<Reassignment> TargetAsync(ApprovalRequest request, ReassignRequest target, CancellationToken ct)
    {
        if (!string.IsNullOrWhiteSpace(target.PersonEmail))
        {
            var email = target.PersonEmail.Trim();
            var identity = await directory.FindByEmailAsync(email, ct) ?? throw new ReassignmentException("to_email", ReassignmentTexts.NotAnApprover(email));
            var person = Decider.Known(identity, Surface.Api);
            if (DecisionRule.IsRequester(request, person.Actor))
            {
                throw new ReassignmentException("to_email", ReassignmentTexts.Requester(identity.Email ?? email));
            }
            return new Reassignment { PersonEmail = identity.Email ?? email, PersonSlackId = target.PersonSlackId, By = "", At = default };
        }
        if (!string.IsNullOrWhiteSpace(target.SlackChannel))
        {
            var channel = target.SlackChannel.Trim();
            if (channel.Length is < 3 or > 30 || channel[0] is not ('C' or 'G') || !channel.All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c)))
            {
                throw new ReassignmentException("slack_channel", ReassignmentTexts.NotASlackChannel(channel));
            }
            return new Reassignment { SlackChannel = channel, By = "", At = default };
        }
        var teams = target.TeamsChannel!.Trim();
        if (await conversations.FindByChannelAsync(Surface.Teams, teams, ct) is null)
        {
            throw new ReassignmentException("teams_channel", ReassignmentTexts.UnknownTeamsChannel(teams));
        }
        return new Reassignment { TeamsChannel = teams, By = "", At = default };
    }
}
