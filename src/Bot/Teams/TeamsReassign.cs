using System.Text.Json.Nodes;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AgentSentinel.Bot.Teams;

/// <summary>
/// Reassignment from a Teams card: the card's "Reassign…" card sends a person's email or one of the offered channels,
/// and a note, with the verb <see cref="TeamsCards.Reassign"/> through the same invoke as Approve and Reject. The caller
/// is the decider <see cref="TeamsDirectory"/> found for the invoke, exactly as for a decision, and
/// <see cref="ReassignmentService"/> applies the one rule of every surface. The answer is the card as it now stands,
/// with the outcome or the refusal (the product's own texts) at its top.
/// </summary>
public static class TeamsReassign
{
    private const int MaxChannels = 25;

    /// <summary>The Teams channels routes name (their own and their escalation levels'), as the card offers them:
    /// titled by the route that names them, each once.</summary>
    public static async Task<IReadOnlyList<Choice>> ChannelChoicesAsync(RuntimeSettings settings, CancellationToken ct)
    {
        var (routes, _, _) = await settings.GetRoutesAsync(ct);
        var choices = new List<Choice>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var route in routes)
        {
            var named = new List<(string? Channel, string Title)> { (route.Teams?.Channel, $"Channel of route {route.Name}") };
            named.AddRange(route.Escalation.Select((level, i) => (level.Teams?.Channel, $"Escalation level {i + 1} of route {route.Name}")));
            foreach (var (channel, title) in named)
            {
                if (!string.IsNullOrWhiteSpace(channel) && seen.Add(channel) && choices.Count < MaxChannels)
                {
                    choices.Add(new Choice(title, channel));
                }
            }
        }
        return choices;
    }

    /// <summary>The <c>reassign</c> verb of a card whose request was found and whose caller the directory looked up.</summary>
    internal static async Task<AdaptiveCard> InvokeAsync(IServiceProvider services, ApprovalRequest request, Decider decider, JsonNode? data,
        string? publicBaseUrl, IReadOnlyList<string> refreshUsers, IReadOnlyList<Choice> channels, CancellationToken ct)
    {
        AdaptiveCard Card(ApprovalRequest r, bool withActions, string notice, bool isError) =>
            TeamsCards.RequestCard(r, publicBaseUrl, refreshUsers, withActions: withActions, notice: TeamsText.Escape(notice, 1000), noticeIsError: isError,
                withDetails: DecisionRule.MayDecide(r, decider), reassignChannels: channels);

        if (DecisionRule.Refusal(request, decider) is { } refusal)
        {
            return Card(request, false, DecisionTexts.For(refusal, request, TransitionKind.Approve, TeamsDirectory.Platform, decider.Problem, publicBaseUrl)!, true);
        }
        var email = Text(data, TeamsCards.ReassignEmailInput);
        var channel = Text(data, TeamsCards.ReassignChannelInput);
        if ((email is null) == (channel is null))
        {
            return Card(request, true, ReassignmentTexts.ChooseOne, true);
        }
        if (channel is not null && !channels.Any(c => c.Value == channel))
        {
            // Only the channels the card offers: a crafted invoke cannot name another conversation.
            return Card(request, true, ReassignmentTexts.UnknownTeamsChannel(channel), true);
        }
        TransitionResult result;
        try
        {
            result = await services.GetRequiredService<ReassignmentService>().ReassignAsync(request.Id, decider,
                new ReassignRequest(email, null, channel, Text(data, TeamsCards.ReassignNoteInput)), ct);
        }
        catch (ReassignmentException e)
        {
            return Card(request, true, e.Message, true);
        }
        if (result.Applied)
        {
            var now = result.Request!;
            return Card(now, DecisionRule.Refusal(now, decider) is null, ReassignmentTexts.Handed(now.ReassignedTo!), false);
        }
        var current = result.Request ?? request;
        return Card(current, false, DecisionTexts.For(result.Outcome, current, TransitionKind.Approve, TeamsDirectory.Platform, decider.Problem)!, true);
    }

    private static string? Text(JsonNode? data, string input)
    {
        var text = TeamsEndpoints.Str(data, input)?.Trim();
        return string.IsNullOrEmpty(text) ? null : text;
    }
}
