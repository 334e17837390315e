using System.Globalization;
using System.Text.Json;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Storage;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Core.Digest;

/// <summary>
/// Computes the <see cref="WeeklyDigest"/> of an ISO week in the configured time zone from the store.
/// Figures are defined as follows (the JSON endpoint and the chat posts show the same object):
/// <list type="bullet">
/// <item>The week's requests are those created in [Monday 00:00, next Monday 00:00) local time, each counted in the
/// state it had at <c>as_of</c> (the week's end, or now for the week in progress); see <see cref="DigestStore"/>.</item>
/// <item>Rates are shares of the closed requests (approved + rejected + expired + cancelled), rounded to 4 decimals.</item>
/// <item>Decision time is creation to approve or reject, in seconds. Percentile p of the n sorted times x[0..n-1] is
/// x[k] + f * (x[k+1] - x[k]) with h = (n - 1) * p, k = floor(h), f = h - k (linear interpolation between the closest
/// ranks, as numpy's default); the median is p = 0.5. Computed exactly in microseconds, rounded to 3 decimals.</item>
/// </list>
/// </summary>
public sealed class DigestService(DigestStore store, ApprovalStatsStore stats, Stats.SuggestionService suggestions, IOptionsMonitor<DigestOptions> options, TimeProvider time)
{
    public TimeZoneInfo Zone => options.CurrentValue.ResolveTimeZone();

    public DateTimeOffset Now => time.GetUtcNow().TruncateToMicroseconds();

    /// <summary>The week in progress in the configured time zone.</summary>
    public IsoWeek CurrentWeek() => IsoWeek.Containing(Now, Zone);

    /// <summary>A finished week's digest is kept once this long has passed since its end, so decisions committed
    /// around the end of the week (and the expiry sweep of its last minute) are in it.</summary>
    public static readonly TimeSpan KeepAfter = TimeSpan.FromMinutes(10);

    /// <summary>What shapes a digest besides its week: the time zone (and the definitions' version). A kept digest is
    /// used only for the same shape, so changing the time zone computes the week again.</summary>
    private string Shape => $"v1|{options.CurrentValue.TimeZone}";

    /// <summary>The digest of a week that has started (the current one or earlier). A finished week's is computed once
    /// and kept (<c>digest_weeks</c>): its figures are as of the week's end and never change.</summary>
    public async Task<WeeklyDigest> ComputeAsync(IsoWeek week, CancellationToken ct)
    {
        var zone = Zone;
        var now = Now;
        var from = week.Start(zone);
        var to = week.End(zone);
        if (from > now)
        {
            throw new ArgumentOutOfRangeException(nameof(week), $"{week} has not started yet.");
        }
        if (await KeptAsync(from, to, now, ct) is { } kept)
        {
            return kept;
        }
        var computed = await ComputeLiveAsync(week, zone, now, from, to, ct);
        if (now >= to + KeepAfter)
        {
            await store.KeepDigestAsync(from, Shape, week.ToString(), JsonSerializer.Serialize(computed), now, ct);
        }
        return computed;
    }

    /// <summary>The kept digest of the week [<paramref name="from"/>, <paramref name="to"/>), once it may be kept; null
    /// when it is not kept (yet, or for this shape).</summary>
    private async Task<WeeklyDigest?> KeptAsync(DateTimeOffset from, DateTimeOffset to, DateTimeOffset now, CancellationToken ct) =>
        now >= to + KeepAfter && await store.KeptDigestAsync(from, Shape, ct) is { } kept ? JsonSerializer.Deserialize<WeeklyDigest>(kept) : null;

    private async Task<WeeklyDigest> ComputeLiveAsync(IsoWeek week, TimeZoneInfo zone, DateTimeOffset now, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var window = new DigestWindow(from, to, to <= now ? to : now);
        var days = Enumerable.Range(0, 8).Select(i => week.Monday.AddDays(i)).ToList();
        var boundaries = days.Select(d => IsoWeek.StartOfDay(d, zone)).ToList();
        // The week in progress is read as of now, which is the stored state the rollups hold, unless a stored time lies
        // after now (a clock set back): then, and for any earlier instant, the requests themselves are read.
        var current = window.AsOf == now && !await store.StoredAfterAsync(now, ct);
        var figures = current ? await FromRollupsAsync(window, boundaries, ct) : await FromRequestsAsync(window, boundaries, ct);
        var summary = figures.Summary;

        var previous = week.Previous;
        var previousWindow = new DigestWindow(previous.Start(zone), previous.End(zone), previous.End(zone));
        // The previous week's summary is the summary of its own digest, kept once computed: the week in progress keeps
        // it on its first read, so only one week is computed from the requests each time.
        var previousSummary = previous.Year < FirstYear ? await SummaryAsync(previousWindow, ct)
            : await KeptAsync(previousWindow.From, previousWindow.To, now, ct) is { } previousDigest ? previousDigest.Summary
            : window.AsOf == now && now >= previousWindow.To + KeepAfter ? (await ComputeAsync(previous, ct)).Summary
            : await SummaryAsync(previousWindow, ct);

        var routes = figures.Routes ?? await store.RouteMediansAsync(window, ct);
        var open = await store.OldestOpenAsync(window.AsOf, DigestOptions.ListSize, current, ct);
        var asOfUs = window.AsOf.ToUnixMicroseconds();

        return new WeeklyDigest
        {
            Week = week.ToString(),
            TimeZone = options.CurrentValue.TimeZone,
            From = from,
            To = to,
            AsOf = window.AsOf,
            Complete = now >= to,
            Summary = summary,
            ByDay = [.. days.Take(7).Select((d, i) => new DigestDay(d, d.DayOfWeek.ToString(), figures.PerDay[i]))],
            ByPriority = Enum.GetValues<Priority>().Select(p => p.ToWire()).ToDictionary(k => k, k => figures.ByPriority.GetValueOrDefault(k)),
            ByRiskLevel = Enum.GetValues<RiskLevel>().Select(r => r.ToWire()).Append(Unspecified).ToDictionary(k => k, k => figures.ByRisk.GetValueOrDefault(k)),
            SlowestRoutes = [.. routes
                .Select(r => new DigestRoute(r.Route, r.Decided, Seconds(r.TwiceMedianMicroseconds / 2d)))
                .OrderByDescending(r => r.MedianDecisionSeconds).ThenByDescending(r => r.Decided).ThenBy(r => r.Route, StringComparer.Ordinal)
                .Take(DigestOptions.ListSize)],
            PendingTotal = figures.PendingTotal ?? await store.CountOpenAsync(window.AsOf, ct),
            OldestPending = [.. open.Select(r => new DigestPendingRequest(
                Guid.Parse(r.Id), r.ActionName, r.AgentId, r.Priority, r.RiskLevel, r.RouteName,
                TimeConversions.FromUnixMicroseconds(r.CreatedAt), TimeConversions.FromUnixMicroseconds(r.ExpiresAt),
                Seconds(asOfUs - r.CreatedAt)))],
            PreviousWeek = new DigestPreviousWeek(previous.ToString(), previousWindow.From, previousWindow.To, previousWindow.AsOf, previousSummary),
            Change = Compare(summary, previousSummary),
            Suggestions = await suggestions.ComputeAsync(window.AsOf, ct),
        };
    }

    /// <summary>The week's summary, requests per day, by priority and by risk level; the open count and the routes'
    /// medians when they came with them.</summary>
    private sealed record Figures(DigestSummary Summary, IReadOnlyList<long> PerDay, IReadOnlyDictionary<string, long> ByPriority,
        IReadOnlyDictionary<string, long> ByRisk, long? PendingTotal = null, IReadOnlyList<DigestRouteMedian>? Routes = null);

    /// <summary>The figures as of now from the statistics rollups (each day a window of them), and the exact median, 90th
    /// percentile and routes' medians read from the decision-time indexes within the fine bucket the rollups say holds
    /// each rank.</summary>
    private async Task<Figures> FromRollupsAsync(DigestWindow window, IReadOnlyList<DateTimeOffset> boundaries, CancellationToken ct)
    {
        var s = await stats.GetIntervalsAsync(boundaries, window.AsOf, ct);
        long Sum(string status) => s.Intervals.Sum(i => i.Status(status));
        var c = new DigestCounts(s.Intervals.Sum(i => i.Total), Sum("approved"), Sum("rejected"), Sum("expired"), Sum("cancelled"));
        var decided = c.Approved + c.Rejected;
        Dictionary<string, long> Merge(Func<IntervalCounts, IReadOnlyDictionary<string, long>> pick) =>
            s.Intervals.SelectMany(i => pick(i)).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Sum(kv => kv.Value));

        // One round trip for every exact value: the week's median and 90th percentile, and each route's middle one or two.
        var ranks = decided > 0 ? new[] { Rank(decided, 1, 2), Rank(decided, 9, 10) } : [];
        var routes = s.DecisionTimesByRoute.Select(kv => (Route: kv.Key, N: kv.Value.Count, Histogram: kv.Value)).ToList();
        var reads = ranks.Select(r => Read(null, s.DecisionTimes, r.Rank, r.Take))
            .Concat(routes.Select(r => Read(r.Route, r.Histogram, (r.N - 1) / 2, r.N % 2 == 0 ? 2 : 1))).ToList();
        var values = await store.DecisionTimesFromAsync(window, reads, ct);
        double? median = decided > 0 ? Interpolate(values[0], ranks[0].Fraction) : null;
        double? p90 = decided > 0 ? Interpolate(values[1], ranks[1].Fraction) : null;
        var routeMedians = routes.Select((r, i) => (Route: r.Route, r.N, Values: values[ranks.Length + i]))
            .Select(r => new DigestRouteMedian(r.Route.Length == 0 ? null : r.Route, r.N, r.Values.Count == 1 ? 2 * r.Values[0] : r.Values.Sum()))
            .ToList();
        return new Figures(Summarize(c, median, p90), [.. s.Intervals.Select(i => i.Total)], Merge(i => i.ByPriority), Merge(i => i.ByRiskLevel),
            s.OpenNow, routeMedians);
    }

    /// <summary>The read of the value at a rank (and the one after it, with <paramref name="take"/> 2): from the lower
    /// edge of the fine bucket that holds it, past the values below it.</summary>
    private static (string? Route, long Lower, long Skip, int Take) Read(string? route, FineHistogram histogram, long rank, int take)
    {
        var (lower, below) = histogram.Locate(rank);
        return (route, lower, rank - below, take);
    }

    /// <summary>The figures at <c>AsOf</c> from the requests themselves.</summary>
    private async Task<Figures> FromRequestsAsync(DigestWindow window, IReadOnlyList<DateTimeOffset> boundaries, CancellationToken ct)
    {
        var summary = await SummaryAsync(window, ct);
        var perDay = await store.CountByIntervalAsync(boundaries, ct);
        var (byPriority, byRisk) = await store.CountByPriorityAndRiskAsync(window, ct);
        return new Figures(summary, perDay, byPriority, byRisk);
    }

    public const string Unspecified = "unspecified";

    /// <summary>Timestamps are kept from the Unix epoch on; no earlier week can hold a request.</summary>
    public const int FirstYear = 1970;

    private async Task<DigestSummary> SummaryAsync(DigestWindow window, CancellationToken ct)
    {
        var c = await store.CountAsync(window, ct);
        var decided = c.Approved + c.Rejected;
        return Summarize(c, await PercentileAsync(window, decided, 1, 2, ct), await PercentileAsync(window, decided, 9, 10, ct));
    }

    private static DigestSummary Summarize(DigestCounts c, double? median, double? p90)
    {
        var decided = c.Approved + c.Rejected;
        var closed = decided + c.Expired + c.Cancelled;
        return new DigestSummary
        {
            Total = c.Total,
            Approved = c.Approved,
            Rejected = c.Rejected,
            Expired = c.Expired,
            Cancelled = c.Cancelled,
            Open = c.Total - closed,
            Decided = decided,
            ApprovalRate = Rate(c.Approved, closed),
            RejectionRate = Rate(c.Rejected, closed),
            ExpiryRate = Rate(c.Expired, closed),
            CancellationRate = Rate(c.Cancelled, closed),
            MedianDecisionSeconds = median,
            P90DecisionSeconds = p90,
        };
    }

    /// <summary>Where percentile <paramref name="numerator"/>/<paramref name="denominator"/> of <paramref name="n"/>
    /// sorted values lies: the 0-based rank, how many values to read from it (the next one too unless it is the last),
    /// and the fraction to interpolate; computed in integers so no rounding moves the rank.</summary>
    private static (long Rank, int Take, double Fraction) Rank(long n, long numerator, long denominator)
    {
        var scaled = (n - 1) * numerator;
        var rank = scaled / denominator;
        return (rank, rank + 1 < n ? 2 : 1, (double)(scaled % denominator) / denominator);
    }

    /// <summary>Linear interpolation between the values at the rank and the one after it, in seconds.</summary>
    private static double Interpolate(IReadOnlyList<long> values, double fraction) =>
        Seconds(values.Count == 1 ? values[0] : values[0] + (fraction * (values[1] - values[0])));

    /// <summary>Percentile <paramref name="numerator"/>/<paramref name="denominator"/> of the decision times by linear
    /// interpolation between the closest ranks, sorting the window's decided requests.</summary>
    private async Task<double?> PercentileAsync(DigestWindow window, long n, long numerator, long denominator, CancellationToken ct)
    {
        if (n == 0)
        {
            return null;
        }
        var (rank, _, fraction) = Rank(n, numerator, denominator);
        return Interpolate(await store.DecisionTimesAtRankAsync(window, rank, n, ct), fraction);
    }

    private static double Seconds(double microseconds) => Math.Round(microseconds / 1_000_000d, 3);

    private static double Rate(long count, long closed) => closed == 0 ? 0 : Math.Round((double)count / closed, 4);

    private static DigestChange Compare(DigestSummary now, DigestSummary before) => new()
    {
        Total = now.Total - before.Total,
        TotalRatio = before.Total == 0 ? null : Math.Round((double)(now.Total - before.Total) / before.Total, 4),
        Approved = now.Approved - before.Approved,
        Rejected = now.Rejected - before.Rejected,
        Expired = now.Expired - before.Expired,
        Cancelled = now.Cancelled - before.Cancelled,
        ApprovalRate = Math.Round(now.ApprovalRate - before.ApprovalRate, 4),
        RejectionRate = Math.Round(now.RejectionRate - before.RejectionRate, 4),
        ExpiryRate = Math.Round(now.ExpiryRate - before.ExpiryRate, 4),
        CancellationRate = Math.Round(now.CancellationRate - before.CancellationRate, 4),
        MedianDecisionSeconds = now.MedianDecisionSeconds is { } a && before.MedianDecisionSeconds is { } b ? Math.Round(a - b, 3) : null,
        P90DecisionSeconds = now.P90DecisionSeconds is { } c && before.P90DecisionSeconds is { } d ? Math.Round(c - d, 3) : null,
    };

    /// <summary>Parses <c>YYYY-Www</c>; null with a reason when the text is not a week this server can report on.</summary>
    public string? Validate(string? text, out IsoWeek week)
    {
        if (!IsoWeek.TryParse(text, out week))
        {
            return string.Create(CultureInfo.InvariantCulture, $"week must be an ISO week such as {CurrentWeek()} (YYYY-Www, weeks 01 to 52 or 53).");
        }
        if (week.Year < FirstYear)
        {
            return $"week {week} is out of range: digests start in {FirstYear}.";
        }
        if (week.Start(Zone) > Now)
        {
            return $"week {week} has not started yet; the current week is {CurrentWeek()}.";
        }
        return null;
    }
}
