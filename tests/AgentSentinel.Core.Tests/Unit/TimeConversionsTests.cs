using System.Globalization;
using AgentSentinel.Core.Storage;

namespace AgentSentinel.Core.Tests.Unit;

public sealed class TimeConversionsTests
{
    private const string WireFormat = "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'";

    [Fact]
    public void The_unix_epoch_is_zero_microseconds()
    {
        Assert.Equal(0, DateTimeOffset.UnixEpoch.ToUnixMicroseconds());
        Assert.Equal(DateTimeOffset.UnixEpoch, TimeConversions.FromUnixMicroseconds(0L));
    }

    [Fact]
    public void A_known_instant_converts_to_its_microseconds()
    {
        var instant = new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero).AddTicks(1_234_560);

        Assert.Equal(1_795_600_800_123_456L, instant.ToUnixMicroseconds());
        Assert.Equal(instant, TimeConversions.FromUnixMicroseconds(1_795_600_800_123_456L));
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    [InlineData(999_999L)]
    [InlineData(1_795_600_800_123_456L)]
    [InlineData(253_402_300_799_999_999L)]
    [InlineData(-1L)]
    [InlineData(-62_135_596_800_000_000L)]
    public void Microseconds_round_trip_exactly(long microseconds)
    {
        Assert.Equal(microseconds, TimeConversions.FromUnixMicroseconds(microseconds).ToUnixMicroseconds());
    }

    [Fact]
    public void An_instant_with_microsecond_precision_round_trips_exactly()
    {
        var instant = new DateTimeOffset(2026, 11, 25, 10, 0, 0, 123, 456, TimeSpan.Zero);

        var back = TimeConversions.FromUnixMicroseconds(instant.ToUnixMicroseconds());

        Assert.Equal(instant.UtcTicks, back.UtcTicks);
        Assert.Equal(TimeSpan.Zero, back.Offset);
    }

    [Fact]
    public void Sub_microsecond_ticks_are_dropped()
    {
        var exact = new DateTimeOffset(2026, 11, 25, 10, 0, 0, 123, 456, TimeSpan.Zero);
        var withTicks = exact.AddTicks(9);

        Assert.Equal(exact.ToUnixMicroseconds(), withTicks.ToUnixMicroseconds());
        Assert.Equal(exact.UtcTicks, withTicks.TruncateToMicroseconds().UtcTicks);
        Assert.NotEqual(withTicks, withTicks.TruncateToMicroseconds());
    }

    [Fact]
    public void Truncation_keeps_an_instant_that_is_already_whole_microseconds()
    {
        var exact = new DateTimeOffset(2026, 11, 25, 10, 0, 0, 123, 456, TimeSpan.Zero);

        Assert.Equal(exact.UtcTicks, exact.TruncateToMicroseconds().UtcTicks);
    }

    [Fact]
    public void Truncation_is_idempotent_and_equals_a_store_round_trip()
    {
        var now = new DateTimeOffset(2026, 3, 1, 8, 30, 15, TimeSpan.Zero).AddTicks(7_654_321);

        var truncated = now.TruncateToMicroseconds();

        Assert.Equal(truncated, truncated.TruncateToMicroseconds());
        Assert.Equal(TimeConversions.FromUnixMicroseconds(now.ToUnixMicroseconds()), truncated);
        Assert.Equal(now.AddTicks(-1), truncated);
    }

    [Fact]
    public void Truncation_loses_nothing_the_wire_format_shows()
    {
        var now = new DateTimeOffset(2026, 3, 1, 8, 30, 15, TimeSpan.Zero).AddTicks(7_654_329);

        Assert.Equal(
            now.UtcDateTime.ToString(WireFormat, CultureInfo.InvariantCulture),
            now.TruncateToMicroseconds().UtcDateTime.ToString(WireFormat, CultureInfo.InvariantCulture));
        Assert.Equal("2026-03-01T08:30:15.765432Z", now.TruncateToMicroseconds().UtcDateTime.ToString(WireFormat, CultureInfo.InvariantCulture));
    }

    [Fact]
    public void The_offset_does_not_change_the_instant_and_results_are_utc()
    {
        var paris = new DateTimeOffset(2026, 11, 25, 11, 0, 0, TimeSpan.FromHours(1));
        var utc = new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);

        Assert.Equal(utc.ToUnixMicroseconds(), paris.ToUnixMicroseconds());
        var back = TimeConversions.FromUnixMicroseconds(paris.ToUnixMicroseconds());
        Assert.Equal(TimeSpan.Zero, back.Offset);
        Assert.Equal(utc.UtcTicks, back.UtcTicks);
        Assert.Equal(TimeSpan.Zero, paris.TruncateToMicroseconds().Offset);
    }

    [Fact]
    public void The_nullable_overload_passes_null_through_and_converts_values()
    {
        Assert.Null(TimeConversions.FromUnixMicroseconds((long?)null));
        Assert.Equal(DateTimeOffset.UnixEpoch.AddTicks(10), TimeConversions.FromUnixMicroseconds((long?)1));
    }

    [Fact]
    public void Microseconds_agree_with_unix_milliseconds()
    {
        var instant = new DateTimeOffset(2031, 7, 4, 23, 59, 59, 999, TimeSpan.Zero);

        Assert.Equal(instant.ToUnixTimeMilliseconds() * 1000, instant.ToUnixMicroseconds());
    }
}
