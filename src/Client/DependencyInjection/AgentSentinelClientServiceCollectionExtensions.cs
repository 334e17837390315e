using AgentSentinel.Client;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Agent Sentinel client with dependency injection.</summary>
public static class AgentSentinelClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="ApprovalClient"/> (over a named <see cref="HttpClient"/> from <see cref="IHttpClientFactory"/>),
    /// <see cref="PolicyEngine"/>, <see cref="ActionGuard"/> and <see cref="IApprovalHandler"/> (the server, unless
    /// <see cref="AgentSentinelClientBuilder.UseApprovalHandler{THandler}"/> replaces it), all as singletons.
    /// <code>
    /// services.AddAgentSentinelClient(o =>
    /// {
    ///     o.BaseAddress = new Uri("http://localhost:5000/");
    ///     o.ApiKey = configuration["AgentSentinel:ApiKey"];
    ///     o.AgentId = "billing-agent";
    /// });
    /// </code>
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options; they are validated when the client is first resolved.</param>
    public static AgentSentinelClientBuilder AddAgentSentinelClient(this IServiceCollection services, Action<ApprovalClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<ApprovalClientOptions>().Configure(configure);
        // The client times every call itself (the long poll is longer than HttpClient's default would allow).
        var http = services.AddHttpClient(ApprovalClient.HttpClientName, client => client.Timeout = Timeout.InfiniteTimeSpan);
        services.TryAddSingleton(sp => new ApprovalClient(
            sp.GetRequiredService<IOptions<ApprovalClientOptions>>().Value,
            sp.GetRequiredService<IHttpClientFactory>(),
            sp.GetService<ILogger<ApprovalClient>>(),
            sp.GetService<TimeProvider>()));
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<ApprovalClientOptions>>().Value;
            var server = options.Policy.UseServerPolicy && options.BaseAddress is not null ? sp.GetRequiredService<ApprovalClient>() : null;
            return new PolicyEngine(options.Policy, server, sp.GetService<ILogger<PolicyEngine>>());
        });
        services.TryAddSingleton<IApprovalHandler>(sp => sp.GetRequiredService<ApprovalClient>());
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<ApprovalClientOptions>>().Value;
            return new ActionGuard(
                sp.GetRequiredService<IApprovalHandler>(),
                sp.GetRequiredService<PolicyEngine>(),
                options.BaseAddress is not null ? sp.GetRequiredService<ApprovalClient>() : null,
                sp.GetService<ILogger<ActionGuard>>());
        });
        return new AgentSentinelClientBuilder(services, http);
    }
}

/// <summary>Further configuration of the Agent Sentinel client registration.</summary>
public sealed class AgentSentinelClientBuilder
{
    internal AgentSentinelClientBuilder(IServiceCollection services, IHttpClientBuilder httpClient)
    {
        Services = services;
        HttpClient = httpClient;
    }

    /// <summary>The service collection.</summary>
    public IServiceCollection Services { get; }

    /// <summary>The named <see cref="System.Net.Http.HttpClient"/> the client uses: add message handlers or change the
    /// primary handler here (the client already retries transient failures itself).</summary>
    public IHttpClientBuilder HttpClient { get; }

    /// <summary>Sends guarded actions' approval requests to <typeparamref name="THandler"/> (your own UI) instead of
    /// the server, like the Python SDK's <c>HumanApprovalHandler.set_approval_handler</c>. Set
    /// <see cref="ApprovalPolicy.UseServerPolicy"/> to <see langword="false"/> if there is no server to ask.</summary>
    public AgentSentinelClientBuilder UseApprovalHandler<THandler>()
        where THandler : class, IApprovalHandler
    {
        Services.Replace(ServiceDescriptor.Singleton<IApprovalHandler, THandler>());
        return this;
    }

    /// <summary>Sends guarded actions' approval requests to <paramref name="handler"/> instead of the server.</summary>
    public AgentSentinelClientBuilder UseApprovalHandler(IApprovalHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Services.Replace(ServiceDescriptor.Singleton(handler));
        return this;
    }
}
