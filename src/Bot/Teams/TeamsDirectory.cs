using System.Text.Json.Nodes;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Bot.Teams;

/// <summary>
/// Who clicked in Teams, as a decider. Only the connector's member lookup counts (never the identity fields of the
/// activity body): the member must belong to an allowed tenant, not be a guest, and have an email that belongs to an
/// active approver identity. A failed or empty lookup refuses the click. Nothing is cached, so a revoked key stops the
/// person at their next click.
/// </summary>
public sealed class TeamsDirectory(IBotConnector connector, IApproverDirectory approvers, Core.Delegation.DelegationService delegations, IOptionsMonitor<TeamsOptions> options, ILogger<TeamsDirectory> logger)
{
    public const string Platform = "Teams";

    public async Task<Decider> DeciderAsync(JsonNode activity, CancellationToken ct)
    {
        var from = activity["from"];
        var userId = TeamsEndpoints.Str(from, "id") ?? "";
        var name = TeamsEndpoints.Str(from, "name") ?? userId;
        var serviceUrl = TeamsEndpoints.Str(activity, "serviceUrl");
        var conversation = TeamsEndpoints.Str(activity["conversation"], "id");
        if (serviceUrl is null || conversation is null || userId.Length == 0)
        {
            return Refuse(name, userId, IdentityProblem.NotAnActiveMember);
        }
        TeamsMember? member;
        try
        {
            member = await connector.GetMemberAsync(serviceUrl, conversation, userId, ct);
        }
        catch (Exception e) when (e is HttpRequestException or BotConnectorException or OperationCanceledException)
        {
            TeamsLog.MemberLookupFailed(logger, e);
            return Decider.Unknown(Surface.Teams, name, userId, IdentityProblem.LookupFailed);
        }
        if (member is null)
        {
            return Refuse(name, userId, IdentityProblem.NotAnActiveMember);
        }
        var platformId = member.AadObjectId ?? member.Id;
        name = member.Name ?? name;
        if (!options.CurrentValue.IsAllowedTenant(member.TenantId))
        {
            return Refuse(name, platformId, IdentityProblem.OtherOrganisation);
        }
        if (string.Equals(member.UserRole, "guest", StringComparison.OrdinalIgnoreCase))
        {
            return Refuse(name, platformId, IdentityProblem.Guest);
        }
        if (string.Equals(member.UserRole, "bot", StringComparison.OrdinalIgnoreCase))
        {
            return Refuse(name, platformId, IdentityProblem.Bot);
        }
        if (string.IsNullOrWhiteSpace(member.Email))
        {
            return Refuse(name, platformId, IdentityProblem.NoVerifiedEmail);
        }
        var identity = await approvers.FindByEmailAsync(member.Email, ct);
        return identity is null
            ? Refuse(name, platformId, IdentityProblem.NoApproverWithEmail)
            : await delegations.WithDelegationsAsync(Decider.Known(identity, Surface.Teams, name, platformId), ct);
    }

    private Decider Refuse(string name, string userId, IdentityProblem problem)
    {
        TeamsLog.UnknownPerson(logger, userId, problem.ToString());
        return Decider.Unknown(Surface.Teams, name, userId, problem);
    }
}
