using System.Globalization;
using AgentSentinel.Bot.Teams;
using AgentSentinel.Core.Digest;

namespace AgentSentinel.Bot.Digest;

/// <summary>The weekly digest as an Adaptive Card 1.5 (no actions). Agent-supplied text (action names, agent ids,
/// route names) goes through <see cref="TeamsText.Escape"/>; charts are monospace text blocks, one per bar, with no-break spaces so the columns stay aligned.</summary>
public static class DigestTeamsCard
{
    private const int NameLimit = 80;

    public static AdaptiveCard Build(WeeklyDigest d, string? publicBaseUrl)
    {
        var s = d.Summary;
        var body = new List<CardElement>
        {
            new Container(
            [
                new TextBlock($"📊 Weekly approvals digest · {d.Week}") { Id = "title", Size = "Large", Weight = "Bolder", Wrap = true },
                new TextBlock(TeamsText.Escape(DigestFormat.Dates(d)) + (d.Complete ? "" : " · week in progress, as of " + Utc(d.AsOf)))
                    { Id = "dates", IsSubtle = true, Wrap = true, Spacing = "None" },
            ]) { Id = "header", Style = "emphasis", Bleed = true },
            new TextBlock(string.Create(CultureInfo.InvariantCulture,
                $"**{s.Total} requests** this week · median time to decision **{DigestFormat.Duration(s.MedianDecisionSeconds)}** · p90 **{DigestFormat.Duration(s.P90DecisionSeconds)}**"))
                { Id = "summary", Wrap = true },
            new FactSet(
            [
                new("Approved", Share(s.Approved, s.ApprovalRate)),
                new("Rejected", Share(s.Rejected, s.RejectionRate)),
                new("Expired", Share(s.Expired, s.ExpiryRate)),
                new("Cancelled", Share(s.Cancelled, s.CancellationRate)),
                new("Still open", s.Open.ToString(CultureInfo.InvariantCulture)),
                new("Decided", s.Decided.ToString(CultureInfo.InvariantCulture)),
            ]) { Id = "counts" },
            Chart("outcomes", "Outcomes", DigestFormat.Outcomes(s)),
            Chart("by_priority", "By priority", DigestFormat.Counts(d.ByPriority)),
            Chart("by_risk", "By risk", DigestFormat.Counts(d.ByRiskLevel)),
            Chart("by_day", "By day (created)", DigestFormat.Days(d)),
            Heading("slowest_routes_title", "Slowest routes (median time to decision)"),
        };
        body.Add(d.SlowestRoutes.Count == 0
            ? new TextBlock("Nothing was decided this week.") { Id = "slowest_routes", IsSubtle = true, Wrap = true }
            : new FactSet([.. d.SlowestRoutes.Select(r => new Fact(
                r.Route is null ? "(no route)" : TeamsText.Escape(r.Route, NameLimit),
                string.Create(CultureInfo.InvariantCulture, $"{DigestFormat.Duration(r.MedianDecisionSeconds)} ({r.Decided} decided)")))]) { Id = "slowest_routes" });

        body.Add(Heading("oldest_pending_title", string.Create(CultureInfo.InvariantCulture, $"Oldest pending ({d.PendingTotal} open in total)")));
        if (d.OldestPending.Count == 0)
        {
            body.Add(new TextBlock("Nothing is waiting.") { Id = "oldest_pending", IsSubtle = true, Wrap = true });
        }
        for (var i = 0; i < d.OldestPending.Count; i++)
        {
            var p = d.OldestPending[i];
            var name = TeamsText.Escape(p.ActionName, NameLimit);
            var action = string.IsNullOrWhiteSpace(publicBaseUrl) ? name : $"[{name}]({publicBaseUrl.TrimEnd('/')}/approvals/{p.Id})";
            var agent = p.AgentId is null ? "" : " · agent " + TeamsText.Escape(p.AgentId, NameLimit);
            body.Add(new TextBlock($"• {action}{agent} · {DigestFormat.Title(p.Priority)} · waiting {DigestFormat.Duration(p.AgeSeconds)}")
                { Id = $"pending_{i}", Wrap = true, Spacing = "Small" });
        }

        body.Add(Heading("change_title", $"Compared with {d.PreviousWeek.Week}"));
        body.Add(new FactSet([.. DigestFormat.Changes(d).Select(c => new Fact(c.Label, c.Value))]) { Id = "change" });

        body.Add(Heading("suggestions_title", "Suggestions (last 30 days)"));
        var suggestions = DigestFormat.Suggestions(d, name => TeamsText.Escape(name, NameLimit));
        body.Add(suggestions.Count == 0
            ? new TextBlock("Nothing to suggest.") { Id = "suggestions", IsSubtle = true, Wrap = true }
            : new TextBlock(string.Join("\n\n", suggestions.Select(l => "• " + l))) { Id = "suggestions", Wrap = true });
        return new AdaptiveCard { Body = body, Msteams = new CardMsTeams("Full") };
    }

    private static string Share(long count, double rate) => string.Create(CultureInfo.InvariantCulture, $"{count} ({DigestFormat.Percent(rate)})");

    private static string Utc(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);

    private static TextBlock Heading(string id, string text) => new(text) { Id = id, Weight = "Bolder", Wrap = true, Spacing = "Medium" };

    private static Container Chart(string id, string title, IReadOnlyList<(string Label, long Count, double? Share)> rows) =>
        new([Heading(id + "_title", title), .. DigestFormat.BarRows(rows).Select(line => new TextBlock(line.Replace(' ', '\u00A0')) { FontType = "Monospace", Spacing = "None", Wrap = false })])
            { Id = id };
}
