using System.Globalization;
using System.Text.RegularExpressions;

namespace AgentSentinel.Core.Digest;

/// <summary>An ISO 8601 week (<c>2026-W48</c>): Monday to Sunday, week 1 holding the year's first Thursday.</summary>
public readonly partial record struct IsoWeek
{
    public IsoWeek(int year, int week)
    {
        if (year is < 1 or > 9998 || week < 1 || week > ISOWeek.GetWeeksInYear(year))
        {
            throw new ArgumentOutOfRangeException(nameof(week), $"{year}-W{week:00} is not an ISO week.");
        }
        Year = year;
        Week = week;
    }

    public int Year { get; }
    public int Week { get; }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Year:0000}-W{Week:00}");

    public static bool TryParse(string? text, out IsoWeek week)
    {
        week = default;
        var match = text is null ? null : Pattern().Match(text);
        if (match is not { Success: true })
        {
            return false;
        }
        var year = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        var number = int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
        if (year < 1 || year > 9998 || number < 1 || number > ISOWeek.GetWeeksInYear(year))
        {
            return false;
        }
        week = new IsoWeek(year, number);
        return true;
    }

    /// <summary>The Monday of the week.</summary>
    public DateOnly Monday => DateOnly.FromDateTime(ISOWeek.ToDateTime(Year, Week, DayOfWeek.Monday));

    public IsoWeek Previous => Of(Monday.AddDays(-7));

    public static IsoWeek Of(DateOnly date)
    {
        var dt = date.ToDateTime(TimeOnly.MinValue);
        return new IsoWeek(ISOWeek.GetYear(dt), ISOWeek.GetWeekOfYear(dt));
    }

    /// <summary>The week that contains the instant, in the time zone.</summary>
    public static IsoWeek Containing(DateTimeOffset instant, TimeZoneInfo zone) =>
        Of(DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(instant, zone).DateTime));

    /// <summary>The instant the week starts: Monday 00:00 in the time zone (or the first valid local time after it).</summary>
    public DateTimeOffset Start(TimeZoneInfo zone) => StartOfDay(Monday, zone);

    /// <summary>The instant the week ends (exclusive): the next Monday 00:00 in the time zone.</summary>
    public DateTimeOffset End(TimeZoneInfo zone) => StartOfDay(Monday.AddDays(7), zone);

    /// <summary>The first instant of a local date in the zone. When midnight does not exist there (a clock change at
    /// midnight), the day starts when the clocks do.</summary>
    public static DateTimeOffset StartOfDay(DateOnly date, TimeZoneInfo zone)
    {
        var local = date.ToDateTime(TimeOnly.MinValue, DateTimeKind.Unspecified);
        while (zone.IsInvalidTime(local))
        {
            local = local.AddMinutes(15);
        }
        // An ambiguous midnight (clocks went back over it) starts at its first occurrence, the larger offset.
        var offset = zone.IsAmbiguousTime(local) ? zone.GetAmbiguousTimeOffsets(local).Max() : zone.GetUtcOffset(local);
        return new DateTimeOffset(local, offset).ToUniversalTime();
    }

    [GeneratedRegex(@"^(\d{4})-W(\d{2})$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
