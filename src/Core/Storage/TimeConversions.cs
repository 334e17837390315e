namespace AgentSentinel.Core.Storage;

/// <summary>Timestamps are stored as microseconds since the Unix epoch, the precision of the wire format.</summary>
public static class TimeConversions
{
    public static long ToUnixMicroseconds(this DateTimeOffset value) =>
        (value.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMicrosecond;

    public static DateTimeOffset FromUnixMicroseconds(long value) =>
        new(DateTimeOffset.UnixEpoch.UtcTicks + (value * TimeSpan.TicksPerMicrosecond), TimeSpan.Zero);

    public static DateTimeOffset? FromUnixMicroseconds(long? value) => value is { } v ? FromUnixMicroseconds(v) : null;

    /// <summary>Drops sub-microsecond ticks so an in-memory value equals what a round trip through the store gives.</summary>
    public static DateTimeOffset TruncateToMicroseconds(this DateTimeOffset value) => FromUnixMicroseconds(value.ToUnixMicroseconds());
}
