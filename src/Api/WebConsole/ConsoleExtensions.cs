using AgentSentinel.Api.Auth;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Storage;
using Microsoft.AspNetCore.Authentication;

namespace AgentSentinel.Api.WebConsole;

public static class ConsoleExtensions
{
    /// <summary>Sessions, the session authentication scheme and its authorization policy.</summary>
    public static IServiceCollection AddWebConsole(this IServiceCollection services, IConfiguration configuration, AuthenticationBuilder authentication)
    {
        services.AddOptions<ConsoleOptions>().Bind(configuration.GetSection(ConsoleOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<ConsoleOptions>, ConsoleOptionsValidator>();
        services.AddSingleton<IConsoleSessionStore, ConsoleSessionStore>();
        services.AddSingleton<ConsoleSessions>();
        authentication
            .AddScheme<AuthenticationSchemeOptions, ConsoleSessionAuthenticationHandler>(ConsoleSessionAuthenticationHandler.SchemeName, null)
            .AddPolicyScheme(ConsoleSessionAuthenticationHandler.ApiKeyOrSessionScheme, "API key or console session",
                o => o.ForwardDefaultSelector = ConsoleSessionAuthenticationHandler.SelectScheme);
        services.AddOidcSignIn(configuration, authentication);
        services.AddAuthorizationBuilder().AddPolicy(ConsoleApi.SessionPolicy, p => p
            .AddAuthenticationSchemes(ConsoleSessionAuthenticationHandler.SchemeName)
            .RequireClaim(ApiClaims.Scope, Scopes.Approver, Scopes.Admin));
        return services;
    }

    public static IEndpointRouteBuilder MapWebConsole(this IEndpointRouteBuilder app)
    {
        app.MapConsolePages();
        app.MapConsoleApi().WithMetadata(ConsoleEndpointMetadata.Instance);
        app.MapOidcSignIn();
        return app;
    }
}
