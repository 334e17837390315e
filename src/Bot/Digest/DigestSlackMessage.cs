using System.Globalization;
using System.Text;
using AgentSentinel.Bot.Slack;
using AgentSentinel.Core.Digest;

namespace AgentSentinel.Bot.Digest;

/// <summary>The weekly digest as a Slack Block Kit message. Every text that came from an agent (action names, agent
/// ids, route names) is escaped; the charts are fixed labels and numbers in code blocks.</summary>
public static class DigestSlackMessage
{
    public const string MetadataEventType = "agentsentinel_digest";
    private const int NameLimit = 80;

    public static SlackMessage Build(WeeklyDigest d, string channel, string? publicBaseUrl)
    {
        var s = d.Summary;
        var blocks = new List<Block>
        {
            new HeaderBlock(TextObject.Plain(SlackText.Plain($"📊 Weekly approvals digest · {d.Week}", BlockKitLimits.HeaderText))) { BlockId = "header" },
            new ContextBlock([TextObject.Markdown(SlackText.Escape(DigestFormat.Dates(d)) + (d.Complete ? "" : " · week in progress, as of " + SlackText.Date(d.AsOf)))]) { BlockId = "dates" },
            new SectionBlock { BlockId = "summary", Text = TextObject.Markdown(Summary(d)) },
            Chart("outcomes", "Outcomes", DigestFormat.Outcomes(s)),
            Chart("by_priority", "By priority", DigestFormat.Counts(d.ByPriority)),
            Chart("by_risk", "By risk", DigestFormat.Counts(d.ByRiskLevel)),
            Chart("by_day", "By day (created)", DigestFormat.Days(d)),
            new SectionBlock { BlockId = "slowest_routes", Text = TextObject.Markdown(SlowestRoutes(d)) },
            new SectionBlock { BlockId = "oldest_pending", Text = TextObject.Markdown(OldestPending(d, publicBaseUrl)) },
            new SectionBlock { BlockId = "change", Text = TextObject.Markdown(Change(d)) },
            new SectionBlock { BlockId = "suggestions", Text = TextObject.Markdown(Suggestions(d)) },
            new ContextBlock([TextObject.Markdown(string.Create(CultureInfo.InvariantCulture,
                $"Requests created in the week, each in its state at {SlackText.Date(d.AsOf)}. Rates are shares of the closed requests; decision time runs from creation to approve or reject."))]) { BlockId = "footer" },
        };
        return new SlackMessage
        {
            Channel = channel,
            Text = string.Create(CultureInfo.InvariantCulture,
                $"Weekly approvals digest {d.Week}: {s.Total} requests, {DigestFormat.Percent(s.ApprovalRate)} approved, median time to decision {DigestFormat.Duration(s.MedianDecisionSeconds)}"),
            Blocks = blocks,
            Metadata = new MessageMetadata(MetadataEventType, new Dictionary<string, string> { ["week"] = d.Week }),
            UnfurlLinks = false,
            UnfurlMedia = false,
        };
    }

    private static string Summary(WeeklyDigest d)
    {
        var s = d.Summary;
        return string.Create(CultureInfo.InvariantCulture,
            $"*{s.Total} requests* this week: *{s.Approved}* approved ({DigestFormat.Percent(s.ApprovalRate)}), *{s.Rejected}* rejected ({DigestFormat.Percent(s.RejectionRate)}), " +
            $"*{s.Expired}* expired ({DigestFormat.Percent(s.ExpiryRate)}), *{s.Cancelled}* cancelled ({DigestFormat.Percent(s.CancellationRate)}), *{s.Open}* still open.\n" +
            $"*Time to decision:* median *{DigestFormat.Duration(s.MedianDecisionSeconds)}* · p90 *{DigestFormat.Duration(s.P90DecisionSeconds)}* ({s.Decided} decided)");
    }

    private static SectionBlock Chart(string id, string title, IReadOnlyList<(string Label, long Count, double? Share)> rows) => new()
    {
        BlockId = id,
        Text = TextObject.Markdown($"*{title}*\n" + SlackText.CodeBlock(string.Join('\n', DigestFormat.BarRows(rows)), BlockKitLimits.SectionText - title.Length - 4)),
    };

    private static string SlowestRoutes(WeeklyDigest d)
    {
        var text = new StringBuilder("*Slowest routes* (median time to decision)");
        if (d.SlowestRoutes.Count == 0)
        {
            return text.Append("\n_Nothing was decided this week._").ToString();
        }
        for (var i = 0; i < d.SlowestRoutes.Count; i++)
        {
            var r = d.SlowestRoutes[i];
            var name = r.Route is null ? "_no route_" : "`" + SlackText.EscapeAndTruncate(r.Route, NameLimit) + "`";
            text.Append(CultureInfo.InvariantCulture, $"\n{i + 1}. {name}: {DigestFormat.Duration(r.MedianDecisionSeconds)} ({r.Decided} decided)");
        }
        return text.ToString();
    }

    private static string OldestPending(WeeklyDigest d, string? publicBaseUrl)
    {
        var text = new StringBuilder().Append(CultureInfo.InvariantCulture, $"*Oldest pending* ({d.PendingTotal} open in total)");
        if (d.OldestPending.Count == 0)
        {
            return text.Append("\n_Nothing is waiting._").ToString();
        }
        foreach (var p in d.OldestPending)
        {
            var action = SlackMessages.RequestUrl(publicBaseUrl, p.Id) is { } url
                ? SlackText.Link(url, Truncate(p.ActionName))
                : SlackText.Code(p.ActionName, NameLimit);
            var agent = p.AgentId is null ? "" : " · agent " + SlackText.Code(p.AgentId, NameLimit);
            text.Append(CultureInfo.InvariantCulture,
                $"\n• {action}{agent} · {DigestFormat.Title(p.Priority)} · waiting {DigestFormat.Duration(p.AgeSeconds)}");
        }
        return text.ToString();
    }

    private static string Truncate(string text) => text.Length <= NameLimit ? text : text[..(NameLimit - 1)] + SlackText.Ellipsis;

    private static string Suggestions(WeeklyDigest d)
    {
        var lines = DigestFormat.Suggestions(d, name => SlackText.Code(name, NameLimit));
        return "*Suggestions* (last 30 days)\n" + (lines.Count == 0 ? "_Nothing to suggest._" : string.Join('\n', lines.Select(l => "• " + l)));
    }

    private static string Change(WeeklyDigest d) =>
        $"*Compared with {d.PreviousWeek.Week}*\n" + string.Join('\n', DigestFormat.Changes(d).Select(c => $"{c.Label}: {c.Value}"));
}
