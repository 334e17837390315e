using System.Net;
using System.Net.Sockets;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.Limits;

/// <summary>Throttles console sign-in per client address and in total. Every attempt takes a token from both buckets;
/// an attempt with a key that does not sign in (unknown, revoked, agent only) takes <c>FailureWeight</c> in all, so
/// guessing runs dry long before honest use does.</summary>
public sealed class SignInThrottle : IDisposable
{
    private readonly LimitsOptions _options;
    private readonly PartitionedRateLimiter<string> _perAddress;
    private readonly TokenBucketRateLimiter _total;

    public SignInThrottle(IOptions<LimitsOptions> options)
    {
        _options = options.Value;
        var perAddress = _options.SignIn.PerAddress.ToLimiterOptions();
        _perAddress = PartitionedRateLimiter.Create<string, string>(address =>
            RateLimitPartition.GetTokenBucketLimiter(address, _ => perAddress));
        _total = new TokenBucketRateLimiter(_options.SignIn.Total.ToLimiterOptions());
    }

    /// <summary>Takes a token for an attempt from this client; when one is refused, how long to wait.</summary>
    public TimeSpan? TryEnter(HttpContext http)
    {
        if (!_options.Enabled)
        {
            return null;
        }
        using var own = _perAddress.AttemptAcquire(AddressOf(http));
        if (!own.IsAcquired)
        {
            return LimitsExtensions.RetryAfterOf(own, _options.SignIn.PerAddress.ReplenishmentPeriod);
        }
        using var all = _total.AttemptAcquire();
        return all.IsAcquired ? null : LimitsExtensions.RetryAfterOf(all, _options.SignIn.Total.ReplenishmentPeriod);
    }

    /// <summary>Charges a failed attempt the rest of its weight (as far as the buckets hold).</summary>
    public void Failed(HttpContext http)
    {
        if (!_options.Enabled)
        {
            return;
        }
        var address = AddressOf(http);
        for (var i = 1; i < _options.SignIn.FailureWeight; i++)
        {
            using var own = _perAddress.AttemptAcquire(address);
            using var all = _total.AttemptAcquire();
            if (!own.IsAcquired && !all.IsAcquired)
            {
                break;
            }
        }
    }

    /// <summary>The client's address as the connection (or a known proxy) tells it; an IPv6 client by its /64, since
    /// one host usually holds a whole /64.</summary>
    internal static string AddressOf(HttpContext http)
    {
        var address = http.Connection.RemoteIpAddress;
        if (address is null)
        {
            return "unknown";
        }
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var bytes = address.GetAddressBytes();
            Array.Clear(bytes, 8, 8);
            return new IPAddress(bytes) + "/64";
        }
        return address.ToString();
    }

    public void Dispose()
    {
        _perAddress.Dispose();
        _total.Dispose();
    }
}
