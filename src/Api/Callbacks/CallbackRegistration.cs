using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Callbacks;
using AgentSentinel.Core.Storage;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.Callbacks;

/// <summary>Registration of agent callbacks.</summary>
public static class CallbackServiceCollectionExtensions
{
    public static IServiceCollection AddAgentSentinelCallbacks(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<CallbackOptions>().Bind(configuration.GetSection(CallbackOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<CallbackOptions>, CallbackOptionsValidator>();
        services.AddSingleton<ICallbackStore, CallbackStore>();
        services.AddSingleton<CallbackSender>();
        services.AddSingleton<CallbackOutbox>();
        services.AddTransient<CallbackJobs>();
        services.AddSingleton<IApprovalObserver, CallbackNotifier>();
        return services;
    }
}
