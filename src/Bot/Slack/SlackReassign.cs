using System.Text.Json.Nodes;
using AgentSentinel.Core.Approvals;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentSentinel.Bot.Slack;

/// <summary>
/// Reassignment from Slack: the "…" menu of a request's message opens a modal with a person or a channel picker and a
/// note; its submission goes through <see cref="ReassignmentService"/>, the one rule every surface uses. The clicker is
/// looked up as for a decision (<see cref="SlackDirectory"/>), and so is a picked person: a Slack user counts as an
/// approver only through the email Slack has confirmed for them. Refusals are the product's own texts, privately at the
/// click and as field errors on the modal at the submit.
/// </summary>
internal static class SlackReassign
{
    /// <summary>An option of the menu was chosen: check the person and the request, then open the modal.</summary>
    public static async Task OpenAsync(HttpContext http, JsonNode payload, JsonNode? action, string userId, string? triggerId, Action<string> tell)
    {
        var services = http.RequestServices;
        var value = SlackEndpoints.Str(action?["selected_option"], "value") ?? "";
        var toChannel = value.StartsWith(SlackActions.ReassignChannelOption, StringComparison.Ordinal);
        var prefix = toChannel ? SlackActions.ReassignChannelOption : SlackActions.ReassignPersonOption;
        if (triggerId is null || !value.StartsWith(prefix, StringComparison.Ordinal) || !Guid.TryParse(value.AsSpan(prefix.Length), out var approvalId))
        {
            return;
        }
        try
        {
            // Slack's trigger is valid for 3 seconds: keep the lookups well inside that.
            using var budget = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
            budget.CancelAfter(TimeSpan.FromSeconds(2.5));
            // The same checks as a decision's button: reassigning needs the standing to decide.
            if (await SlackEndpoints.ClickCheckAsync(services, payload, userId, approvalId, TransitionKind.Approve, tell, budget.Token) is not { } request)
            {
                return;
            }
            await SlackEndpoints.OpenModalAsync(services, triggerId, SlackMessages.ReassignModal(request, toChannel), approvalId, tell, budget.Token);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or SlackApiException)
        {
            SlackLog.ClickFailed(services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(SlackEndpoints)), e, approvalId.ToString());
            tell(DecisionTexts.UnknownPerson(SlackDirectory.Platform, IdentityProblem.LookupFailed));
        }
    }

    /// <summary>The modal's submit: the clicker and the picked person are looked up again, then the service decides.
    /// An empty answer closes the modal; a refusal keeps it open with the reason under the field it concerns.</summary>
    public static async Task SubmitAsync(HttpContext http, JsonNode payload, bool toChannel)
    {
        var services = http.RequestServices;
        var view = payload["view"];
        var userId = SlackEndpoints.Str(payload["user"], "id");
        if (userId is null || !Guid.TryParse(SlackEndpoints.Str(view, "private_metadata"), out var approvalId))
        {
            http.Response.StatusCode = StatusCodes.Status200OK;
            return;
        }
        var directory = services.GetRequiredService<SlackDirectory>();
        var team = SlackEndpoints.TeamOf(payload);
        var decider = await directory.DeciderAsync(userId, team, SlackEndpoints.Str(payload["user"], "name"), http.RequestAborted);
        if (!decider.IsKnown)
        {
            await SlackEndpoints.Errors(http, DecisionTexts.UnknownPerson(SlackDirectory.Platform, decider.Problem), SlackActions.ReassignTargetBlock);
            return;
        }
        var values = view?["state"]?["values"];
        var picked = values?[SlackActions.ReassignTargetBlock]?[SlackActions.ReassignTarget];
        var target = SlackEndpoints.Str(picked, toChannel ? "selected_conversation" : "selected_user");
        var note = SlackEndpoints.Str(values?[SlackActions.ReassignNoteBlock]?[SlackActions.TextInput], "value");
        if (string.IsNullOrWhiteSpace(target))
        {
            await SlackEndpoints.Errors(http, toChannel ? ReassignmentTexts.ChooseChannel : ReassignmentTexts.ChoosePerson, SlackActions.ReassignTargetBlock);
            return;
        }
        ReassignRequest handOver;
        if (toChannel)
        {
            handOver = new ReassignRequest(null, target, null, note);
        }
        else
        {
            var person = await directory.DeciderAsync(target, team, null, http.RequestAborted);
            if (person.Identity?.Email is not { } email)
            {
                await SlackEndpoints.Errors(http, ReassignmentTexts.UnknownChatUser(SlackDirectory.Platform, person.DisplayName, person.Problem), SlackActions.ReassignTargetBlock);
                return;
            }
            handOver = new ReassignRequest(email, null, null, note, PersonSlackId: target);
        }
        TransitionResult result;
        try
        {
            result = await services.GetRequiredService<ReassignmentService>().ReassignAsync(approvalId, decider, handOver, http.RequestAborted);
        }
        catch (ReassignmentException e)
        {
            await SlackEndpoints.Errors(http, e.Message, e.Field == ReassignmentException.NoteField ? SlackActions.ReassignNoteBlock : SlackActions.ReassignTargetBlock);
            return;
        }
        if (result.Applied)
        {
            http.Response.StatusCode = StatusCodes.Status200OK;
            return;
        }
        await SlackEndpoints.Errors(http, DecisionTexts.For(result.Outcome, result.Request, TransitionKind.Approve, SlackDirectory.Platform, decider.Problem)!,
            SlackActions.ReassignTargetBlock);
    }
}
