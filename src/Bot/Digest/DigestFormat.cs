using System.Globalization;
using System.Text;
using AgentSentinel.Core.Digest;

namespace AgentSentinel.Bot.Digest;

/// <summary>Numbers, durations, arrows and text bar charts shared by the Slack and Teams digests.</summary>
public static class DigestFormat
{
    public const int BarWidth = 20;
    private static readonly string[] Eighths = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

    /// <summary>A bar of <paramref name="value"/> out of <paramref name="max"/>, <see cref="BarWidth"/> cells at most,
    /// in eighths of a cell; never empty for a value above zero.</summary>
    public static string Bar(long value, long max)
    {
        if (value <= 0 || max <= 0)
        {
            return "";
        }
        var eighths = Math.Max(1, (int)Math.Round((double)value / max * BarWidth * 8));
        return new string('█', eighths / 8) + Eighths[eighths % 8];
    }

    /// <summary>One row per item: a label, its bar, the count and an optional share, aligned for a monospace font.</summary>
    public static IReadOnlyList<string> BarRows(IReadOnlyList<(string Label, long Count, double? Share)> rows)
    {
        var max = rows.Count == 0 ? 0 : rows.Max(r => r.Count);
        var labelWidth = rows.Count == 0 ? 0 : rows.Max(r => r.Label.Length);
        var countWidth = rows.Count == 0 ? 1 : rows.Max(r => r.Count.ToString(CultureInfo.InvariantCulture).Length);
        return [.. rows.Select(r =>
        {
            var line = new StringBuilder()
                .Append(r.Label.PadRight(labelWidth)).Append(' ')
                .Append(Bar(r.Count, max).PadRight(BarWidth)).Append(' ')
                .Append(r.Count.ToString(CultureInfo.InvariantCulture).PadLeft(countWidth));
            if (r.Share is { } share)
            {
                line.Append(' ').Append(Percent(share).PadLeft(6));
            }
            return line.ToString().TrimEnd();
        })];
    }

    public static IReadOnlyList<(string Label, long Count, double? Share)> Outcomes(DigestSummary s) =>
    [
        ("Approved", s.Approved, s.ApprovalRate),
        ("Rejected", s.Rejected, s.RejectionRate),
        ("Expired", s.Expired, s.ExpiryRate),
        ("Cancelled", s.Cancelled, s.CancellationRate),
        ("Open", s.Open, null),
    ];

    public static IReadOnlyList<(string Label, long Count, double? Share)> Counts(IReadOnlyDictionary<string, long> counts) =>
        [.. counts.Select(kv => (Title(kv.Key), kv.Value, (double?)null))];

    public static IReadOnlyList<(string Label, long Count, double? Share)> Days(WeeklyDigest d) =>
        [.. d.ByDay.Select(day => (day.Date.ToString("ddd dd", CultureInfo.InvariantCulture), day.Total, (double?)null))];

    public static string Title(string wire) => CultureInfo.InvariantCulture.TextInfo.ToTitleCase(wire.Replace('_', ' '));

    public static string Percent(double share) => (share * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    /// <summary>A duration for people: <c>45s</c>, <c>12m 30s</c>, <c>3h 05m</c>, <c>2d 4h</c>.</summary>
    public static string Duration(double seconds)
    {
        var sign = seconds < 0 ? "-" : "";
        var t = TimeSpan.FromSeconds(Math.Round(Math.Abs(seconds)));
        var text = t.TotalSeconds < 60 ? $"{t.Seconds}s"
            : t.TotalMinutes < 60 ? $"{t.Minutes}m {t.Seconds:00}s"
            : t.TotalHours < 24 ? $"{(int)t.TotalHours}h {t.Minutes:00}m"
            : $"{(int)t.TotalDays}d {t.Hours}h";
        return sign + text;
    }

    public static string Duration(double? seconds) => seconds is { } s ? Duration(s) : "n/a";

    public static string Arrow(double delta) => delta > 0 ? "▲" : delta < 0 ? "▼" : "▬";

    public static string Signed(long value) => (value > 0 ? "+" : "") + value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A change of a share in percentage points.</summary>
    public static string Points(double delta) => (delta > 0 ? "+" : "") + (delta * 100).ToString("0.0", CultureInfo.InvariantCulture) + " pts";

    public static string SignedDuration(double delta) => (delta > 0 ? "+" : "") + Duration(delta);

    /// <summary>The lines comparing the week with the one before, each with an arrow.</summary>
    public static IReadOnlyList<(string Label, string Value)> Changes(WeeklyDigest d)
    {
        var c = d.Change;
        var rows = new List<(string, string)>
        {
            ("Requests", $"{Arrow(c.Total)} {Signed(c.Total)}" + (c.TotalRatio is { } r ? $" ({(r > 0 ? "+" : "")}{Percent(r)})" : "") + $" vs {d.PreviousWeek.Summary.Total}"),
            ("Approval rate", $"{Arrow(c.ApprovalRate)} {Points(c.ApprovalRate)}"),
            ("Rejection rate", $"{Arrow(c.RejectionRate)} {Points(c.RejectionRate)}"),
            ("Expiry rate", $"{Arrow(c.ExpiryRate)} {Points(c.ExpiryRate)}"),
        };
        rows.Add(("Median decision", c.MedianDecisionSeconds is { } m ? $"{Arrow(m)} {SignedDuration(m)}" : "n/a (no decisions in one of the weeks)"));
        rows.Add(("p90 decision", c.P90DecisionSeconds is { } p ? $"{Arrow(p)} {SignedDuration(p)}" : "n/a"));
        return rows;
    }

    /// <summary>How many suggestions of each kind a chat digest shows.</summary>
    public const int SuggestionLines = 5;

    /// <summary>The digest's suggestions as sentences; <paramref name="escape"/> makes the names safe for the surface.</summary>
    public static IReadOnlyList<string> Suggestions(WeeklyDigest d, Func<string, string> escape)
    {
        var lines = new List<string>();
        if (d.Suggestions is not { } s)
        {
            return lines;
        }
        lines.AddRange(s.Exemptions.Take(SuggestionLines).Select(e => string.Create(CultureInfo.InvariantCulture,
            $"{escape(e.ActionName)} from agent {(e.AgentId is null ? "(none)" : escape(e.AgentId))}: approved {e.Approved} times, never rejected: consider a grant or a policy exemption")));
        lines.AddRange(s.FastApprovals.Where(f => f.Flagged).Take(SuggestionLines).Select(f => string.Create(CultureInfo.InvariantCulture,
            $"{escape(f.Approver)}: {Percent(f.Share)} of {f.Approvals} approvals given under {Core.Stats.SuggestionRules.FastSeconds} s: possible rubber-stamping")));
        return lines;
    }

    public static string Dates(WeeklyDigest d) => string.Create(CultureInfo.InvariantCulture,
        $"{d.ByDay[0].Date:ddd d MMM yyyy} – {d.ByDay[^1].Date:ddd d MMM yyyy} ({d.TimeZone})");
}
