using AgentSentinel.Bot.Delivery;
using AgentSentinel.Bot.Digest;
using AgentSentinel.Bot.Slack;
using AgentSentinel.Bot.Teams;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Grants;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Bot;

public static class BotServiceCollectionExtensions
{
    /// <summary>The chat surfaces: Slack (on when its bot token and a signing secret or an app-level token are
    /// configured) and Teams.</summary>
    public static IServiceCollection AddAgentSentinelBots(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<SlackOptions>().Bind(configuration.GetSection(SlackOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<SlackOptions>, SlackOptionsValidator>();
        services.AddSingleton<SlackRateLimits>();
        services.AddHttpClient<ISlackApi, SlackApiClient>(c => c.Timeout = TimeSpan.FromSeconds(10));
        services.AddSingleton<SlackDirectory>();
        services.AddTransient<SlackDeliveryJobs>();
        services.AddTransient<IChatTransport, SlackTransport>();
        AddChatSurface<SlackSurface>(services);
        AddSlackSocketMode(services, configuration);

        services.AddOptions<TeamsOptions>().Bind(configuration.GetSection(TeamsOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TeamsOptions>, TeamsOptionsValidator>();
        services.AddHttpClient("BotFrameworkMetadata", c => c.Timeout = TimeSpan.FromSeconds(10));
        services.AddSingleton<BotFrameworkAuth>();
        services.AddSingleton<TeamsDirectory>();
        services.AddHttpClient(nameof(BotTokenProvider), c => c.Timeout = TimeSpan.FromSeconds(10));
        // One token cache for the process: every connector call shares it.
        services.AddSingleton(sp => new BotTokenProvider(
            sp.GetRequiredService<IHttpClientFactory>().CreateClient(nameof(BotTokenProvider)),
            sp.GetRequiredService<IOptionsMonitor<TeamsOptions>>(),
            sp.GetRequiredService<TimeProvider>()));
        services.AddHttpClient<IBotConnector, BotConnectorClient>(c => c.Timeout = TimeSpan.FromSeconds(15));
        services.AddTransient<IChatTransport, TeamsTransport>();
        AddChatSurface<TeamsSurface>(services);

        // The delivery engine: one job class for both surfaces, per-channel pacing, and the credentials pause that
        // readiness reports.
        services.AddSingleton<ChannelPacer>();
        services.AddSingleton<SurfacePause>();
        services.AddSingleton<ClaimLeases>();
        services.AddTransient<ChatDeliveryJobs>();
        services.AddHealthChecks().AddCheck<ChatDeliveryHealthCheck>("chat-delivery", tags: ["ready"]);

        services.AddTransient<DigestJobs>();
        return services;
    }

    /// <summary>Slack Socket Mode (on with an app-level token): the connection service, and its readiness check.</summary>
    private static void AddSlackSocketMode(IServiceCollection services, IConfiguration configuration)
    {
        services.AddHttpClient(SlackSocketModeService.HttpClientName, c => c.Timeout = TimeSpan.FromSeconds(10));
        services.AddSingleton<SlackEnvelopeHandler>();
        services.AddSingleton<SlackSocketModeStatus>();
        services.AddHostedService<SlackSocketModeService>();
        if (!string.IsNullOrWhiteSpace(configuration[$"{SlackOptions.SectionName}:{nameof(SlackOptions.AppToken)}"]))
        {
            services.AddHealthChecks().AddCheck<SlackSocketModeHealthCheck>("slack_socket_mode", tags: ["ready"]);
        }
    }

    /// <summary>A surface's notifier (posts, redraws, replies) and its start-up recovery.</summary>
    private static void AddChatSurface<TSurface>(IServiceCollection services) where TSurface : ChatSurface
    {
        services.AddSingleton<TSurface>();
        services.AddSingleton<ChatSurface>(sp => sp.GetRequiredService<TSurface>());
        services.AddSingleton<IApprovalObserver>(sp => ActivatorUtilities.CreateInstance<ChatNotifier>(sp, sp.GetRequiredService<TSurface>()));
        services.AddSingleton<IGrantObserver>(sp => ActivatorUtilities.CreateInstance<ChatGrantNotifier>(sp, sp.GetRequiredService<TSurface>()));
        services.AddSingleton<IStartupRecovery>(sp => ActivatorUtilities.CreateInstance<ChatRecovery>(sp, sp.GetRequiredService<TSurface>()));
    }

    public static IEndpointRouteBuilder MapAgentSentinelBots(this IEndpointRouteBuilder app) => app.MapSlackEndpoints().MapTeamsEndpoints();
}

public sealed class SlackOptionsValidator : IValidateOptions<SlackOptions>
{
    public ValidateOptionsResult Validate(string? name, SlackOptions options)
    {
        var errors = new List<string>();
        if (!Uri.TryCreate(options.ApiBaseUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            errors.Add($"{SlackOptions.SectionName}:ApiBaseUrl must be an absolute http(s) URL, got '{options.ApiBaseUrl}'.");
        }
        if (!string.IsNullOrWhiteSpace(options.BotToken) && string.IsNullOrWhiteSpace(options.SigningSecret) && !options.SocketMode)
        {
            errors.Add($"{SlackOptions.SectionName}:SigningSecret (or {SlackOptions.SectionName}:AppToken for Socket Mode) is required when {SlackOptions.SectionName}:BotToken is set (it verifies that clicks come from Slack).");
        }
        if ((!string.IsNullOrWhiteSpace(options.SigningSecret) || options.SocketMode) && string.IsNullOrWhiteSpace(options.BotToken))
        {
            errors.Add($"{SlackOptions.SectionName}:BotToken is required when {SlackOptions.SectionName}:{(options.SocketMode ? "AppToken" : "SigningSecret")} is set.");
        }
        if (options.SocketMode && !options.AppToken!.StartsWith("xapp-", StringComparison.Ordinal))
        {
            // The value is a secret: name the setting, never echo it.
            errors.Add($"{SlackOptions.SectionName}:AppToken must be an app-level token starting with 'xapp-' (Basic Information -> App-Level Tokens, scope connections:write).");
        }
        if (options.MinSecondsBetweenPostsPerChannel is < 0 or > 60)
        {
            errors.Add($"{SlackOptions.SectionName}:MinSecondsBetweenPostsPerChannel must be between 0 and 60.");
        }
        if (options.SignatureTolerance <= TimeSpan.Zero || options.SignatureTolerance > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{SlackOptions.SectionName}:SignatureTolerance must be more than 0 and at most 00:05:00.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

public sealed class TeamsOptionsValidator : IValidateOptions<TeamsOptions>
{
    public ValidateOptionsResult Validate(string? name, TeamsOptions options)
    {
        var errors = new List<string>();
        var section = TeamsOptions.SectionName;
        if (!string.IsNullOrWhiteSpace(options.AppId) && string.IsNullOrWhiteSpace(options.AppPassword))
        {
            errors.Add($"{section}:AppPassword is required when {section}:AppId is set (outbound calls authenticate with it).");
        }
        if (!string.IsNullOrWhiteSpace(options.AppId) && options.EffectiveAllowedTenants.Count == 0)
        {
            errors.Add($"{section}:AllowedTenants must name at least one Microsoft Entra tenant id (or set {section}:TenantId) when {section}:AppId is set: "
                + "only members of allowed tenants may decide.");
        }
        if (options.AllowedTenants.Any(string.IsNullOrWhiteSpace))
        {
            errors.Add($"{section}:AllowedTenants must not contain empty entries.");
        }
        CheckUrl(errors, $"{section}:OpenIdMetadataUrl", options.OpenIdMetadataUrl);
        if (!string.IsNullOrWhiteSpace(options.TokenUrl))
        {
            CheckUrl(errors, $"{section}:TokenUrl", options.TokenUrl);
        }
        if (options.ClockSkew < TimeSpan.Zero || options.ClockSkew > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{section}:ClockSkew must be between 00:00:00 and 00:10:00.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>https, or plain http only to this machine (a local test server).</summary>
    private static void CheckUrl(List<string> errors, string key, string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !(uri.Scheme == "https" || (uri.Scheme == "http" && uri.IsLoopback)))
        {
            errors.Add($"{key} must be an absolute https URL (plain http is accepted only for loopback), got '{url}'.");
        }
    }
}
