using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Stats;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentSentinel.Core.Tests.Storage;

public sealed class SqliteStatsRollupTests() : StatsRollupTests(StorageProvider.Sqlite);

public sealed class PostgresStatsRollupTests() : StatsRollupTests(StorageProvider.Postgres);

/// <summary>
/// The statistics, trends and decision-time histogram read from rollups are compared with a plain calculation over
/// the requests the test seeded (what it created and which transitions it applied), for windows that start and end
/// anywhere: on day, hour and five-minute edges, inside hours and five-minute periods, at a half-hour time-zone offset,
/// inside one hour, on no data.
/// </summary>
public abstract class StatsRollupTests(StorageProvider provider) : IAsyncLifetime
{
    // A Monday, 00:00 UTC.
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Now = T0.AddDays(5);
    private static readonly Actor Approver = new("Alice", Surface.Api, "alice@example.com", null, "key-alice");

    private Database _db = null!;
    private ApprovalStore _store = null!;
    private readonly SettableClock _clock = new();
    private readonly List<Seeded> _seeded = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        var storage = await TestStorage.CreateAsync(provider, "stats");
        _db = Database.Create(new StorageOptions { Provider = provider, ConnectionString = storage.ConnectionString });
        await new MigrationRunner(_db, NullLogger<MigrationRunner>.Instance).MigrateAsync(CancellationToken.None);
        _store = new ApprovalStore(_db, _clock);
    }

    public async ValueTask DisposeAsync() => await _db.DisposeAsync();

    /// <summary>What the test knows about a request it stored: its final stored state.</summary>
    private sealed record Seeded(DateTimeOffset Created, DateTimeOffset Expires, string Status, DateTimeOffset? Decided, string Priority, string? Risk, string? Route = null);

    private sealed class SettableClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = T0;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private async Task SeedAsync(int count, int seed, DateTimeOffset start, TimeSpan spread)
    {
        var random = new Random(seed);
        var priorities = Enum.GetValues<Priority>();
        var risks = Enum.GetValues<RiskLevel>();
        for (var i = 0; i < count; i++)
        {
            var created = start.AddTicks((long)(random.NextDouble() * spread.Ticks)).TruncateToMicroseconds();
            // Time to an outcome: 50 ms to about 40 hours, spread evenly on a log scale, at microsecond precision.
            var delay = TimeSpan.FromMicroseconds(Math.Round(50_000 * Math.Pow(2_880_000, random.NextDouble())));
            var roll = random.Next(100);
            var (kind, timeout) = roll switch
            {
                < 30 => (TransitionKind.Approve, delay + TimeSpan.FromHours(1)),
                < 45 => (TransitionKind.Reject, delay + TimeSpan.FromHours(1)),
                < 55 => (TransitionKind.Cancel, delay + TimeSpan.FromHours(1)),
                < 65 => (TransitionKind.Expire, delay),   // expired by the job at the deadline
                < 75 => ((TransitionKind?)null, delay),   // past the deadline, not yet swept: reads as expired
                < 85 => (TransitionKind.RequestInfo, TimeSpan.FromDays(10)),
                _ => ((TransitionKind?)null, TimeSpan.FromDays(10)),
            };
            var priority = priorities[random.Next(priorities.Length)];
            RiskLevel? risk = random.Next(5) == 0 ? null : risks[random.Next(risks.Length)];
            // Two routes and requests no route matched.
            var route = (i % 3) switch { 0 => null, 1 => "payments", _ => "ops" };
            var request = NewRequest(created, timeout, priority, risk) with { RouteName = route };
            var result = await _store.CreateAsync(request, "hash",
                new ApprovalEvent { ApprovalId = request.Id, Kind = EventKinds.Created, At = created, Actor = "agent", Surface = Surface.Api }, Ct);
            Assert.Equal(CreateOutcome.Created, result.Outcome);

            var status = "pending";
            DateTimeOffset? decided = null;
            if (kind is { } k)
            {
                var at = k == TransitionKind.Expire ? request.ExpiresAt : created + delay;
                _clock.Now = at;
                var text = k is TransitionKind.Reject or TransitionKind.RequestInfo ? "why" : null;
                var transition = await _store.TransitionAsync(new TransitionCommand(request.Id, k, k == TransitionKind.Expire ? Actor.System : Approver, text), Ct);
                Assert.Equal(TransitionOutcome.Applied, transition.Outcome);
                status = transition.Request!.Status.ToWire();
                decided = transition.Request.DecidedAt;
            }
            _seeded.Add(new Seeded(created, request.ExpiresAt, status, decided, priority.ToWire(), risk?.ToWire(), route));
        }
    }

    private static ApprovalRequest NewRequest(DateTimeOffset created, TimeSpan timeout, Priority priority, RiskLevel? risk) => new()
    {
        Id = Guid.CreateVersion7(created),
        ActionName = "transfer_funds",
        AgentId = "agent-7",
        RiskLevel = risk,
        Priority = priority,
        CreatedAt = created,
        ExpiresAt = (created + timeout).TruncateToMicroseconds(),
        Status = ApprovalStatus.Pending,
        RequesterKeyId = "key-agent",
        RouteName = "payments",
        Version = 1,
        UpdatedAt = created,
    };

    public static TheoryData<string, string> Windows => new()
    {
        { "-P1D", "P4D" },                         // everything, on day edges
        { "PT1H17M3.000001S", "P2DT5H59M59.999999S" }, // inside hours, across days
        { "PT5H30M", "P1DT5H30M" },                // a day at UTC+05:30
        { "PT10M", "PT50M" },                      // inside one hour
        { "PT3H", "PT7H" },                        // whole hours, no whole day
        { "P1D", "P2D" },                          // exactly one day
        { "-P10D", "-P9D" },                       // nothing
        { "PT7M", "PT1H58M30S" },                  // five-minute periods either side of one hour, edges inside them
        { "PT1H15M", "P1DT2H35M" },                // on five-minute edges, across a day
        { "PT20M0.000001S", "PT24M59.999999S" },   // inside one five-minute period
    };

    private static DateTimeOffset At(string offset) => T0 + System.Xml.XmlConvert.ToTimeSpan(offset);

    [Theory]
    [MemberData(nameof(Windows))]
    public async Task Statistics_from_rollups_equal_a_calculation_over_the_requests(string fromOffset, string toOffset)
    {
        await SeedAsync(240, seed: 13, T0, TimeSpan.FromDays(3));
        // Dense in the first hours, so the five-minute periods and their edges hold several requests each.
        await SeedAsync(120, seed: 13 + 1, T0.AddMinutes(3), TimeSpan.FromHours(2));
        var (from, to) = (At(fromOffset), At(toOffset));
        // Folded seven changes at a time: a backlog is moved in several transactions.
        var exact = new ApprovalStatsStore(_db) { ExactPercentileLimit = long.MaxValue, FoldBatchSize = 7 };

        var stats = await exact.GetStatsAsync(from, to, Now, Ct);

        var inWindow = _seeded.Where(r => r.Created >= from && r.Created < to).ToList();
        string Effective(Seeded r) => r.Status is "pending" or "info_requested" && r.Expires <= Now ? "expired" : r.Status;
        var decided = inWindow.Where(r => r.Status is "approved" or "rejected").Select(r => (r.Decided!.Value - r.Created).Ticks / 10).Order().ToList();
        Assert.Equal(inWindow.Count, stats.Total);
        Assert.Equal(inWindow.Count(r => Effective(r) == "pending"), stats.Pending);
        Assert.Equal(inWindow.Count(r => Effective(r) == "info_requested"), stats.InfoRequested);
        Assert.Equal(inWindow.Count(r => Effective(r) == "approved"), stats.Approved);
        Assert.Equal(inWindow.Count(r => Effective(r) == "rejected"), stats.Rejected);
        Assert.Equal(inWindow.Count(r => Effective(r) == "expired"), stats.Expired);
        Assert.Equal(inWindow.Count(r => Effective(r) == "cancelled"), stats.Cancelled);
        Assert.Equal(_seeded.Count(r => r.Status is "pending" or "info_requested" && r.Expires > Now), stats.PendingTotal);
        Assert.Equal(inWindow.GroupBy(r => r.Priority).ToDictionary(g => g.Key, g => (long)g.Count()), stats.ByPriority);
        Assert.Equal(inWindow.GroupBy(r => r.Risk ?? "unspecified").ToDictionary(g => g.Key, g => (long)g.Count()), stats.ByRiskLevel);
        if (decided.Count == 0)
        {
            Assert.Null(stats.AverageDecisionSeconds);
            Assert.Null(stats.MedianDecisionSeconds);
            return;
        }
        Assert.Equal(Math.Round(decided.Average() / 1_000_000d, 3), stats.AverageDecisionSeconds);
        var (low, high) = (decided[(decided.Count - 1) / 2], decided[decided.Count / 2]);
        Assert.Equal(Math.Round((low + high) / 2d / 1_000_000d, 3), stats.MedianDecisionSeconds);

        // From the histogram: within the width of the fine buckets that hold the middle values.
        var estimated = await new ApprovalStatsStore(_db) { ExactPercentileLimit = 0 }.GetStatsAsync(from, to, Now, Ct);
        Assert.Equal((stats.Total, stats.Approved, stats.Rejected, stats.Expired, stats.AverageDecisionSeconds),
            (estimated.Total, estimated.Approved, estimated.Rejected, estimated.Expired, estimated.AverageDecisionSeconds));
        var tolerance = Math.Max(DocumentedBucketWidth(low), DocumentedBucketWidth(high)) / 1_000_000d + 0.0005;
        Assert.InRange(estimated.MedianDecisionSeconds!.Value, (low + high) / 2d / 1_000_000d - tolerance, (low + high) / 2d / 1_000_000d + tolerance);
    }

    [Theory]
    [MemberData(nameof(Windows))]
    public async Task Medians_from_the_histogram_equal_the_interpolation_worked_out_from_the_requests(string fromOffset, string toOffset)
    {
        await SeedAsync(240, seed: 17, T0, TimeSpan.FromDays(3));
        await SeedAsync(120, seed: 17 + 1, T0.AddMinutes(3), TimeSpan.FromHours(2));
        var (from, to) = (At(fromOffset), At(toOffset));

        var stats = await new ApprovalStatsStore(_db) { ExactPercentileLimit = 0, FoldBatchSize = 7 }.GetStatsAsync(from, to, Now, Ct);

        Assert.Equal(HistogramMedian(DecisionTimes(from, to)), stats.MedianDecisionSeconds);
    }

    public static TheoryData<string, long[]> AwkwardDecisionTimes => new()
    {
        { "one decision", [2_345_678] },
        { "the middle two either side of the 1 s segment edge", [999_999, 1_000_000] },
        { "the middle two in segments far apart, none between", [5_000_000, 30_000_000, 7_200_000_000, 10_800_000_000] },
        { "every value on a segment's lower edge", [0, 1_000_000, 10_000_000, 60_000_000, 300_000_000, 900_000_000, 3_600_000_000] },
        { "a value in the last fine bucket of a segment", [59_999_999, 59_000_000, 60_000_001] },
        { "several in one fine bucket", [1_000, 2_000, 49_999, 3_000, 50_000, 99_999] },
        { "days", [86_400_000_000, 90_000_000_000, 700_000_000_000] },
    };

    [Theory]
    [MemberData(nameof(AwkwardDecisionTimes))]
    public async Task Medians_from_the_histogram_at_awkward_places_equal_the_interpolation_worked_out_from_the_requests(string what, long[] microseconds)
    {
        Assert.NotEmpty(what);
        // Created across two days, inside five-minute periods, so the window's rollups and its edges both hold some.
        for (var i = 0; i < microseconds.Length; i++)
        {
            var created = T0.AddHours(5 + (i * 7)).AddMinutes(3).AddMicroseconds(i * 1_111);
            await SeedDecidedAsync(created, TimeSpan.FromMicroseconds(microseconds[i]), i % 2 == 0 ? TransitionKind.Approve : TransitionKind.Reject);
        }
        var store = new ApprovalStatsStore(_db) { ExactPercentileLimit = 0 };
        foreach (var (from, to) in new[] { (T0, T0.AddDays(5)), (T0.AddHours(5).AddMinutes(3).AddMicroseconds(500), T0.AddDays(4)), (T0.AddDays(-3), T0) })
        {
            var stats = await store.GetStatsAsync(from, to, Now, Ct);
            var expected = HistogramMedian(DecisionTimes(from, to));
            Assert.Equal(expected, stats.MedianDecisionSeconds);
            Assert.Equal(expected is null, DecisionTimes(from, to).Count == 0);
        }
    }

    private async Task SeedDecidedAsync(DateTimeOffset created, TimeSpan delay, TransitionKind kind)
    {
        var request = NewRequest(created, delay + TimeSpan.FromDays(400), Priority.Medium, RiskLevel.Low) with { RouteName = null };
        _clock.Now = created;
        await _store.CreateAsync(request, "hash",
            new ApprovalEvent { ApprovalId = request.Id, Kind = EventKinds.Created, At = created, Actor = "agent", Surface = Surface.Api }, Ct);
        _clock.Now = created + delay;
        var transition = await _store.TransitionAsync(new TransitionCommand(request.Id, kind, Approver, kind == TransitionKind.Reject ? "why" : null), Ct);
        Assert.Equal(TransitionOutcome.Applied, transition.Outcome);
        _seeded.Add(new Seeded(created, request.ExpiresAt, transition.Request!.Status.ToWire(), transition.Request.DecidedAt, "medium", "low"));
    }

    /// <summary>The decision times (microseconds) of the seeded requests created in [from, to), approved or rejected.</summary>
    private List<long> DecisionTimes(DateTimeOffset from, DateTimeOffset to) =>
        [.. _seeded.Where(r => r.Created >= from && r.Created < to && r.Status is "approved" or "rejected").Select(r => (r.Decided!.Value - r.Created).Ticks / 10)];

    /// <summary>The median as docs/benchmarks.md defines it beyond the exact limit, worked out from the values: each of
    /// the middle one or two ranks is placed in its fine bucket (the documented widths from each segment's lower edge)
    /// and interpolated linearly within it; the mean of the two, in seconds to 3 decimals.</summary>
    private static double? HistogramMedian(List<long> values)
    {
        if (values.Count == 0)
        {
            return null;
        }
        var sorted = values.Order().ToList();
        double AtRank(int rank)
        {
            var (lower, upper) = FineBucket(sorted[rank]);
            var below = sorted.Count(v => v < lower);
            var inBucket = sorted.Count(v => v >= lower && v < upper);
            return lower + ((upper - lower) * ((rank - below) + 0.5) / inBucket);
        }
        return Math.Round((AtRank((sorted.Count - 1) / 2) + AtRank(sorted.Count / 2)) / 2 / 1_000_000d, 3);
    }

    /// <summary>The fine bucket [Lower, Upper) of a decision time: the documented width from its segment's lower edge.</summary>
    private static (long Lower, long Upper) FineBucket(long us)
    {
        long[] segments = [0, 1_000_000, 10_000_000, 60_000_000, 300_000_000, 900_000_000, 3_600_000_000, 14_400_000_000, 86_400_000_000, 604_800_000_000];
        var segment = segments.Last(s => s <= us);
        var width = DocumentedBucketWidth(us);
        var lower = segment + ((us - segment) / width * width);
        return (lower, lower + width);
    }

    [Fact]
    public async Task Interval_histograms_read_again_hold_the_decisions_folded_since_and_follow_the_span()
    {
        await SeedAsync(120, seed: 73, T0, TimeSpan.FromDays(3));
        var boundaries = Enumerable.Range(0, 5).Select(d => T0.AddDays(d)).ToList();
        var store = new ApprovalStatsStore(_db);

        AssertHistograms(await store.GetIntervalsAsync(boundaries, Now, Ct), boundaries);
        AssertHistograms(await store.GetIntervalsAsync(boundaries, Now, Ct), boundaries);
        // Decided after the reads: the next read folds it, and its histograms hold it.
        await SeedDecidedAsync(T0.AddHours(30).AddMinutes(1), TimeSpan.FromSeconds(42), TransitionKind.Approve);
        var after = await store.GetIntervalsAsync(boundaries, Now, Ct);
        AssertHistograms(after, boundaries);
        Assert.Equal(DecisionTimes(boundaries[0], boundaries[^1]).Count, after.DecisionTimes.Count);
        // Another span with nothing folded between: its own histograms.
        var shorter = boundaries.Skip(1).Take(2).ToList();
        AssertHistograms(await store.GetIntervalsAsync(shorter, Now, Ct), shorter);
    }

    /// <summary>The span's histograms, in all and per route, locate every rank in the fine bucket of the value at that
    /// rank, past the values under that bucket.</summary>
    private void AssertHistograms(IntervalStats read, IReadOnlyList<DateTimeOffset> boundaries)
    {
        var decided = _seeded.Where(r => r.Created >= boundaries[0] && r.Created < boundaries[^1] && r.Status is "approved" or "rejected").ToList();
        Assert.NotEmpty(decided);
        var expected = decided.GroupBy(r => r.Route ?? "").Select(g => (g.Key, Histogram: read.DecisionTimesByRoute[g.Key], Rows: g.ToList()))
            .Append(("(all)", read.DecisionTimes, decided));
        Assert.Equal(decided.Select(r => r.Route ?? "").Distinct().Order(), read.DecisionTimesByRoute.Keys.Order());
        foreach (var (_, histogram, rows) in expected)
        {
            var sorted = rows.Select(r => (r.Decided!.Value - r.Created).Ticks / 10).Order().ToList();
            Assert.Equal(sorted.Count, histogram.Count);
            for (var rank = 0; rank < sorted.Count; rank++)
            {
                var lower = FineBucket(sorted[rank]).Lower;
                Assert.Equal((lower, (long)sorted.Count(v => v < lower)), histogram.Locate(rank));
            }
        }
    }

    /// <summary>The bucket widths docs/benchmarks.md documents for the decision-time histogram.</summary>
    private static long DocumentedBucketWidth(long us) => us switch
    {
        < 1_000_000 => 50_000,
        < 10_000_000 => 250_000,
        < 60_000_000 => 1_000_000,
        < 300_000_000 => 5_000_000,
        < 900_000_000 => 15_000_000,
        < 3_600_000_000 => 60_000_000,
        < 14_400_000_000 => 300_000_000,
        < 86_400_000_000 => 1_200_000_000,
        < 604_800_000_000 => 3_600_000_000,
        _ => 43_200_000_000,
    };

    [Theory]
    [MemberData(nameof(Windows))]
    public async Task Trends_and_decision_times_from_rollups_equal_a_calculation_over_the_requests(string fromOffset, string toOffset)
    {
        await SeedAsync(240, seed: 29, T0, TimeSpan.FromDays(3));
        // Dense in the first hours, so the five-minute periods and their edges hold several requests each.
        await SeedAsync(120, seed: 29 + 1, T0.AddMinutes(3), TimeSpan.FromHours(2));
        var (from, to) = (At(fromOffset), At(toOffset));
        var store = new ApprovalStatsStore(_db);

        foreach (var bucket in new[] { TimeSpan.FromHours(1), TimeSpan.FromDays(1), TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(7) })
        {
            var series = await store.GetTimeseriesAsync(from, to, bucket, Now, Ct);
            Assert.Equal(ExpectedSeries(from, to, bucket), series);
        }

        var times = await store.GetDecisionTimesAsync(from, to, Ct);
        var decided = _seeded.Where(r => r.Created >= from && r.Created < to && r.Status is "approved" or "rejected").ToList();
        var edges = DecisionTimeBuckets.Edges;
        Assert.Equal(edges.Count + 1, times.Count);
        for (var i = 0; i <= edges.Count; i++)
        {
            var min = TimeSpan.FromSeconds(i == 0 ? 0 : edges[i - 1].UpperSeconds);
            var max = i < edges.Count ? TimeSpan.FromSeconds(edges[i].UpperSeconds) : TimeSpan.MaxValue;
            bool In(Seeded r) => r.Decided!.Value - r.Created >= min && r.Decided.Value - r.Created < max;
            Assert.Equal(decided.Count(r => r.Status == "approved" && In(r)), times[i].Approved);
            Assert.Equal(decided.Count(r => r.Status == "rejected" && In(r)), times[i].Rejected);
        }
    }

    private List<TrendBucket> ExpectedSeries(DateTimeOffset from, DateTimeOffset to, TimeSpan bucket)
    {
        var fromUs = from.ToUnixMicroseconds();
        var bucketUs = bucket.Ticks / 10;
        var origin = fromUs - (((fromUs % bucketUs) + bucketUs) % bucketUs);
        var toUs = to.ToUnixMicroseconds();
        var count = toUs <= origin ? 0 : (int)((toUs - origin + bucketUs - 1) / bucketUs);
        var outcomes = _seeded.Select(Outcome).Where(o => o.At >= from && o.At < to).ToList();
        long Index(DateTimeOffset t) => (t.ToUnixMicroseconds() - origin) / bucketUs;
        return [.. Enumerable.Range(0, count).Select(b => new TrendBucket(
            TimeConversions.FromUnixMicroseconds(origin + (b * bucketUs)),
            _seeded.Count(r => r.Created >= from && r.Created < to && Index(r.Created) == b),
            outcomes.Count(o => o.Kind == "approved" && Index(o.At!.Value) == b),
            outcomes.Count(o => o.Kind == "rejected" && Index(o.At!.Value) == b),
            outcomes.Count(o => o.Kind == "expired" && Index(o.At!.Value) == b),
            outcomes.Count(o => o.Kind == "cancelled" && Index(o.At!.Value) == b)))];
    }

    /// <summary>When and how a request ended: its decision, or its deadline once passed; nothing while open.</summary>
    private static (DateTimeOffset? At, string Kind) Outcome(Seeded r) => r.Status switch
    {
        "pending" or "info_requested" when r.Expires <= Now => (r.Expires, "expired"),
        "pending" or "info_requested" => (null, ""),
        _ => (r.Decided, r.Status),
    };

    [Fact]
    public async Task The_five_minute_level_of_rollups_filled_before_it_existed_is_backfilled_once_with_pending_changes_counted_once()
    {
        await SeedAsync(120, seed: 41, T0.AddMinutes(3), TimeSpan.FromHours(2));
        var (from, to) = (At("PT7M"), At("PT1H58M30S"));
        var before = await new ApprovalStatsStore(_db) { ExactPercentileLimit = long.MaxValue }.GetStatsAsync(from, to, Now, Ct);
        // As a database whose rollups were filled before the five-minute level: no such rows, the backfill queued, and
        // changes not yet folded.
        await using (var connection = await _db.OpenAsync(Ct))
        {
            foreach (var table in new[] { "stats_rollup", "stats_decision_rollup", "stats_event_rollup" })
            {
                await Dapper.SqlMapper.ExecuteAsync(connection, $"DELETE FROM {table} WHERE span = {ApprovalStatsStore.FiveMinutesUs}");
            }
            await Dapper.SqlMapper.ExecuteAsync(connection, "INSERT INTO stats_backfills (name) VALUES ('five_minutes')");
        }
        await SeedAsync(60, seed: 43, T0.AddMinutes(3), TimeSpan.FromHours(2));

        var store = new ApprovalStatsStore(_db) { ExactPercentileLimit = long.MaxValue };
        var after = await store.GetStatsAsync(from, to, Now, Ct);
        var inWindow = _seeded.Where(r => r.Created >= from && r.Created < to).ToList();
        Assert.True(inWindow.Count > before.Total);
        Assert.Equal(inWindow.Count, after.Total);
        Assert.Equal(inWindow.Count(r => r.Status == "approved"), after.Approved);
        Assert.Equal(ExpectedSeries(from, to, TimeSpan.FromMinutes(5)), await store.GetTimeseriesAsync(from, to, TimeSpan.FromMinutes(5), Now, Ct));
        await using (var connection = await _db.OpenAsync(Ct))
        {
            Assert.Equal(0, await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, "SELECT COUNT(*) FROM stats_backfills"));
        }
        // A second read (another store, as after a restart) does not fill it again.
        Assert.Equal(after, await new ApprovalStatsStore(_db) { ExactPercentileLimit = long.MaxValue }.GetStatsAsync(from, to, Now, Ct), new StatsComparer());
    }

    [Fact]
    public async Task The_open_counts_filled_before_they_existed_are_backfilled_once_with_pending_changes_counted_once()
    {
        await SeedAsync(120, seed: 51, T0, TimeSpan.FromDays(3));
        var store = new ApprovalStatsStore(_db);
        await store.FoldAsync(Ct);
        // As a database from before migration 0031: no open counts, the backfill queued, and changes not yet folded.
        await using (var connection = await _db.OpenAsync(Ct))
        {
            await Dapper.SqlMapper.ExecuteAsync(connection, "DELETE FROM stats_open");
            await Dapper.SqlMapper.ExecuteAsync(connection, "INSERT INTO stats_backfills (name) VALUES ('open_counts')");
        }
        await SeedAsync(60, seed: 53, T0, TimeSpan.FromDays(3));
        long ExpectedOpen() => _seeded.Count(r => r.Status is "pending" or "info_requested" && r.Expires > Now);

        var after = await new ApprovalStatsStore(_db).GetStatsAsync(T0, T0.AddDays(4), Now, Ct);
        Assert.Equal(ExpectedOpen(), after.PendingTotal);
        Assert.True(after.PendingTotal > 0);
        // A second store (as after a restart) does not fill it again, and later changes keep it.
        await SeedAsync(30, seed: 57, T0, TimeSpan.FromDays(3));
        var later = await new ApprovalStatsStore(_db).GetStatsAsync(T0, T0.AddDays(4), Now, Ct);
        Assert.Equal(ExpectedOpen(), later.PendingTotal);
        await using (var connection = await _db.OpenAsync(Ct))
        {
            Assert.Equal(0, await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, "SELECT COUNT(*) FROM stats_backfills"));
        }
    }

    [Theory]
    [InlineData(0)]     // days from UTC midnight
    [InlineData(330)]   // days at UTC+05:30
    [InlineData(-75)]   // days at UTC-01:15
    public async Task Interval_counts_and_exact_values_at_every_rank_equal_a_calculation_over_the_requests(int offsetMinutes)
    {
        await SeedAsync(240, seed: 61, T0, TimeSpan.FromDays(3));
        await SeedAsync(120, seed: 67, T0.AddHours(30).AddMinutes(3), TimeSpan.FromHours(2));
        var start = T0.AddMinutes(-offsetMinutes);
        var boundaries = Enumerable.Range(0, 5).Select(d => start.AddDays(d)).ToList();
        var store = new ApprovalStatsStore(_db) { FoldBatchSize = 11 };

        var read = await store.GetIntervalsAsync(boundaries, Now, Ct);

        string Effective(Seeded r) => r.Status is "pending" or "info_requested" && r.Expires <= Now ? "expired" : r.Status;
        Assert.Equal(boundaries.Count - 1, read.Intervals.Count);
        for (var i = 0; i < read.Intervals.Count; i++)
        {
            var inInterval = _seeded.Where(r => r.Created >= boundaries[i] && r.Created < boundaries[i + 1]).ToList();
            var counts = read.Intervals[i];
            Assert.Equal(inInterval.Count, counts.Total);
            foreach (var status in new[] { "pending", "info_requested", "approved", "rejected", "expired", "cancelled" })
            {
                Assert.Equal(inInterval.Count(r => Effective(r) == status), counts.Status(status));
            }
            Assert.Equal(inInterval.GroupBy(r => r.Priority).ToDictionary(g => g.Key, g => (long)g.Count()), counts.ByPriority);
            Assert.Equal(inInterval.GroupBy(r => r.Risk ?? "unspecified").ToDictionary(g => g.Key, g => (long)g.Count()), counts.ByRiskLevel);
        }
        Assert.Equal(_seeded.Count(r => r.Status is "pending" or "info_requested" && r.Expires > Now), read.OpenNow);

        // Every rank's value, read from the decision-time indexes inside the bucket the rollups locate, is the value at
        // that rank of the sorted decision times: of all the requests, and of each route's.
        var window = new Core.Digest.DigestWindow(boundaries[0], boundaries[^1], Now);
        var decided = _seeded.Where(r => r.Created >= window.From && r.Created < window.To && r.Status is "approved" or "rejected").ToList();
        static List<long> Sorted(IEnumerable<Seeded> rows) => [.. rows.Select(r => (r.Decided!.Value - r.Created).Ticks / 10).Order()];
        var expected = new List<(string? Route, List<long> Sorted, FineHistogram Histogram)> { (null, Sorted(decided), read.DecisionTimes) };
        Assert.Equal(["", "ops", "payments"], read.DecisionTimesByRoute.Keys.Order());
        foreach (var (route, histogram) in read.DecisionTimesByRoute)
        {
            expected.Add((route, Sorted(decided.Where(r => (r.Route ?? "") == route)), histogram));
        }
        Assert.True(expected[0].Sorted.Count > 50);
        var digests = new Core.Digest.DigestStore(_db);
        foreach (var (route, sorted, histogram) in expected)
        {
            Assert.Equal(sorted.Count, histogram.Count);
            var reads = Enumerable.Range(0, sorted.Count).Select(rank =>
            {
                var (lower, below) = histogram.Locate(rank);
                return (route, lower, (long)rank - below, 2);
            }).ToList();
            var values = await digests.DecisionTimesFromAsync(window, reads, Ct);
            for (var rank = 0; rank < sorted.Count; rank++)
            {
                Assert.Equal(sorted.Skip(rank).Take(2), values[rank]);
            }
        }
    }

    [Fact]
    public async Task The_digest_reads_the_rollups_only_when_no_stored_time_lies_after_now()
    {
        await SeedAsync(60, seed: 71, T0, TimeSpan.FromDays(2));
        var digests = new Core.Digest.DigestStore(_db);
        var latest = _seeded.Max(r => r.Decided is { } d && d > r.Created ? d : r.Created);

        Assert.False(await digests.StoredAfterAsync(latest, Ct));
        Assert.True(await digests.StoredAfterAsync(latest.AddTicks(-10), Ct));
        Assert.True(await digests.StoredAfterAsync(T0, Ct));
    }

    private sealed class StatsComparer : IEqualityComparer<ApprovalStats>
    {
        public bool Equals(ApprovalStats? x, ApprovalStats? y) =>
            System.Text.Json.JsonSerializer.Serialize(x) == System.Text.Json.JsonSerializer.Serialize(y);

        public int GetHashCode(ApprovalStats obj) => 0;
    }

    [Fact]
    public async Task A_change_after_a_read_is_in_the_next_read_and_an_overdue_request_moves_to_expired_when_swept()
    {
        var store = new ApprovalStatsStore(_db);
        var request = NewRequest(T0.AddHours(2), TimeSpan.FromMinutes(5), Priority.High, RiskLevel.Low);
        await _store.CreateAsync(request, "hash",
            new ApprovalEvent { ApprovalId = request.Id, Kind = EventKinds.Created, At = request.CreatedAt, Actor = "agent", Surface = Surface.Api }, Ct);
        var window = (From: T0, To: T0.AddDays(1));

        var before = await store.GetStatsAsync(window.From, window.To, T0.AddHours(2).AddMinutes(1), Ct);
        Assert.Equal((1, 1, 0), (before.Total, before.Pending, before.Expired));

        var overdue = await store.GetStatsAsync(window.From, window.To, Now, Ct);
        Assert.Equal((1, 0, 1), (overdue.Total, overdue.Pending, overdue.Expired));

        _clock.Now = request.ExpiresAt;
        await _store.TransitionAsync(new TransitionCommand(request.Id, TransitionKind.Expire, Actor.System, null), Ct);
        var swept = await store.GetStatsAsync(window.From, window.To, Now, Ct);
        Assert.Equal((overdue.Total, overdue.Pending, overdue.Expired, overdue.PendingTotal), (swept.Total, swept.Pending, swept.Expired, swept.PendingTotal));
        var series = await store.GetTimeseriesAsync(window.From, window.To, TimeSpan.FromHours(1), Now, Ct);
        Assert.Equal(1, series.Single(b => b.Start == request.ExpiresAt.AddMinutes(-5)).Expired);
    }
}
