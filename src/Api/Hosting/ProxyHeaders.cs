using System.Net;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.Hosting;

/// <summary>The <c>AgentSentinel:Proxy</c> configuration section: the TLS-terminating proxies whose
/// <c>X-Forwarded-For</c>, <c>X-Forwarded-Proto</c> and <c>X-Forwarded-Host</c> headers are believed. Empty (the
/// default): no forwarded header is believed, from anyone.</summary>
public sealed class ProxyOptions
{
    public const string SectionName = "AgentSentinel:Proxy";

    /// <summary>Addresses of the proxies, e.g. <c>10.0.0.5</c>.</summary>
    public List<string> KnownProxies { get; set; } = [];

    /// <summary>Networks of the proxies in CIDR form, e.g. <c>10.0.0.0/24</c>.</summary>
    public List<string> KnownNetworks { get; set; } = [];

    /// <summary>How many proxies in a row are unwrapped (entries of <c>X-Forwarded-For</c> read from the right).</summary>
    public int ForwardLimit { get; set; } = 1;

    public bool Configured => KnownProxies.Count > 0 || KnownNetworks.Count > 0;
}

public sealed class ProxyOptionsValidator : IValidateOptions<ProxyOptions>
{
    public ValidateOptionsResult Validate(string? name, ProxyOptions options)
    {
        const string root = ProxyOptions.SectionName;
        var errors = new List<string>();
        errors.AddRange(options.KnownProxies.Where(p => !IPAddress.TryParse(p, out _))
            .Select(p => $"{root}:KnownProxies: '{p}' is not an IP address."));
        errors.AddRange(options.KnownNetworks.Where(n => !System.Net.IPNetwork.TryParse(n, out _))
            .Select(n => $"{root}:KnownNetworks: '{n}' is not a network in CIDR form (e.g. 10.0.0.0/24)."));
        if (options.ForwardLimit is < 1 or > 10)
        {
            errors.Add($"{root}:ForwardLimit must be from 1 to 10, got {options.ForwardLimit}.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

public static class ProxyHeadersExtensions
{
    public static IServiceCollection AddAgentSentinelProxy(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ProxyOptions>().Bind(configuration.GetSection(ProxyOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ProxyOptions>, ProxyOptionsValidator>();
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<ProxyOptions>>((forwarded, proxy) =>
        {
            // With no proxy listed, no header is read at all (the framework would otherwise trust any sender).
            forwarded.ForwardedHeaders = proxy.Value.Configured
                ? ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto | ForwardedHeaders.XForwardedHost
                : ForwardedHeaders.None;
            forwarded.ForwardLimit = proxy.Value.ForwardLimit;
            // The framework trusts loopback by default; here only what the operator lists is trusted.
            forwarded.KnownProxies.Clear();
            forwarded.KnownIPNetworks.Clear();
            foreach (var address in proxy.Value.KnownProxies)
            {
                forwarded.KnownProxies.Add(IPAddress.Parse(address));
            }
            foreach (var network in proxy.Value.KnownNetworks)
            {
                forwarded.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(network));
            }
        });
        return services;
    }

    /// <summary>Goes first: with known proxies configured, the client address, scheme and host become the ones the
    /// proxy saw (so the console cookie is <c>Secure</c> and <c>__Host-</c> behind a TLS proxy); without, nothing changes.</summary>
    public static IApplicationBuilder UseAgentSentinelProxy(this IApplicationBuilder app) => app.UseForwardedHeaders();
}
