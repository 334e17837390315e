using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.Limits;

/// <summary>The <c>AgentSentinel:Limits</c> configuration section: how much one API key, one console session or one
/// client address may ask of the server. Every refusal is a 429 problem detail with <c>Retry-After</c>.</summary>
public sealed class LimitsOptions
{
    public const string SectionName = "AgentSentinel:Limits";

    /// <summary>Off only for benchmarks and trusted single-tenant set-ups: no caps at all (the statistics window bound too).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Creates (<c>POST /api/v1/approvals</c>) per API key: a token bucket.</summary>
    public TokenBucket Intake { get; set; } = new() { TokenLimit = 120, TokensPerPeriod = 20, ReplenishmentPeriod = TimeSpan.FromSeconds(1) };

    /// <summary>Long polls (<c>GET /api/v1/approvals/{id}/wait</c>) one API key may hold open at once.</summary>
    public int MaxConcurrentWaitsPerKey { get; set; } = 100;

    /// <summary>Live-update streams (<c>GET /console/api/events</c>) one console session may hold open at once.</summary>
    public int MaxEventStreamsPerSession { get; set; } = 5;

    /// <summary>Console sign-in (<c>POST /console/api/session</c>).</summary>
    public SignInLimits SignIn { get; set; } = new();

    /// <summary>The longest window (<c>to - from</c>) an agent key may ask statistics for (<c>/stats</c> and its
    /// trends); a longer one is a 400 naming <c>from</c>. Approver and admin keys are not bound.</summary>
    public int AgentStatsMaxDays { get; set; } = 31;

    public sealed class TokenBucket
    {
        /// <summary>The most tokens the bucket holds: the burst allowed after a quiet spell.</summary>
        public int TokenLimit { get; set; }

        /// <summary>Tokens added every <see cref="ReplenishmentPeriod"/>, up to <see cref="TokenLimit"/>.</summary>
        public int TokensPerPeriod { get; set; }

        public TimeSpan ReplenishmentPeriod { get; set; }

        public TokenBucketRateLimiterOptions ToLimiterOptions() => new()
        {
            TokenLimit = TokenLimit,
            TokensPerPeriod = TokensPerPeriod,
            ReplenishmentPeriod = ReplenishmentPeriod,
            QueueLimit = 0,
            AutoReplenishment = true,
        };
    }

    public sealed class SignInLimits
    {
        /// <summary>Attempts per client address (an IPv6 client counts by its /64).</summary>
        public TokenBucket PerAddress { get; set; } = new() { TokenLimit = 30, TokensPerPeriod = 1, ReplenishmentPeriod = TimeSpan.FromSeconds(2) };

        /// <summary>Attempts from all addresses together.</summary>
        public TokenBucket Total { get; set; } = new() { TokenLimit = 300, TokensPerPeriod = 5, ReplenishmentPeriod = TimeSpan.FromSeconds(1) };

        /// <summary>How many tokens an attempt with an unknown, revoked or agent key takes from both buckets (a
        /// successful one takes 1).</summary>
        public int FailureWeight { get; set; } = 5;
    }
}

public sealed class LimitsOptionsValidator : IValidateOptions<LimitsOptions>
{
    public ValidateOptionsResult Validate(string? name, LimitsOptions options)
    {
        const string root = LimitsOptions.SectionName;
        var errors = new List<string>();
        Bucket(errors, $"{root}:Intake", options.Intake);
        Bucket(errors, $"{root}:SignIn:PerAddress", options.SignIn.PerAddress);
        Bucket(errors, $"{root}:SignIn:Total", options.SignIn.Total);
        if (options.MaxConcurrentWaitsPerKey is < 1 or > 100_000)
        {
            errors.Add($"{root}:MaxConcurrentWaitsPerKey must be from 1 to 100000, got {options.MaxConcurrentWaitsPerKey}.");
        }
        if (options.MaxEventStreamsPerSession is < 1 or > 1000)
        {
            errors.Add($"{root}:MaxEventStreamsPerSession must be from 1 to 1000, got {options.MaxEventStreamsPerSession}.");
        }
        var weightLimit = Math.Min(options.SignIn.PerAddress.TokenLimit, options.SignIn.Total.TokenLimit);
        if (options.SignIn.FailureWeight < 1 || options.SignIn.FailureWeight > Math.Max(1, weightLimit))
        {
            errors.Add($"{root}:SignIn:FailureWeight must be from 1 to the smaller TokenLimit of SignIn:PerAddress and SignIn:Total ({weightLimit}), got {options.SignIn.FailureWeight}.");
        }
        if (options.AgentStatsMaxDays is < 1 or > 3660)
        {
            errors.Add($"{root}:AgentStatsMaxDays must be from 1 to 3660, got {options.AgentStatsMaxDays}.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Bucket(List<string> errors, string path, LimitsOptions.TokenBucket bucket)
    {
        if (bucket.TokenLimit is < 1 or > 1_000_000)
        {
            errors.Add($"{path}:TokenLimit must be from 1 to 1000000, got {bucket.TokenLimit}.");
        }
        if (bucket.TokensPerPeriod < 1 || bucket.TokensPerPeriod > Math.Max(1, bucket.TokenLimit))
        {
            errors.Add($"{path}:TokensPerPeriod must be from 1 to TokenLimit, got {bucket.TokensPerPeriod}.");
        }
        if (bucket.ReplenishmentPeriod < TimeSpan.FromMilliseconds(100) || bucket.ReplenishmentPeriod > TimeSpan.FromHours(1))
        {
            errors.Add($"{path}:ReplenishmentPeriod must be from 00:00:00.1 to 01:00:00, got {bucket.ReplenishmentPeriod}.");
        }
    }
}
