using System.Security.Claims;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Api.WebConsole;
using AgentSentinel.Core.Storage;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentSentinel.Api.Auth;

/// <summary>Endpoint metadata: the endpoint's write checks the version of keys and settings itself (see
/// <see cref="ConfigVersion.Unverified"/>), so its request uses this server's cached copies without reading the version
/// first. When the write reports <see cref="Core.Approvals.CreateOutcome.ConfigChanged"/>, the endpoint calls
/// <see cref="ConfigVersionAtCommit.AuthenticateAgainAsync"/> and tries once more.</summary>
public sealed class ConfigVersionCheckedAtCommit
{
    public static readonly ConfigVersionCheckedAtCommit Instance = new();

    private ConfigVersionCheckedAtCommit()
    {
    }
}

public static class ConfigVersionAtCommit
{
    public static RouteHandlerBuilder ChecksConfigVersionAtCommit(this RouteHandlerBuilder endpoint) =>
        endpoint.WithMetadata(ConfigVersionCheckedAtCommit.Instance);

    /// <summary>Opens the request's configuration scope (<see cref="ConfigVersion.BeginRequest"/>): without a version
    /// read when its endpoint checks the version at commit.</summary>
    public static IDisposable BeginRequest(HttpContext context) =>
        ConfigVersion.BeginRequest(context.GetEndpoint()?.Metadata.GetMetadata<ConfigVersionCheckedAtCommit>() is not null);

    /// <summary>Keys or settings changed after the request was authenticated against this server's copies: the version
    /// is read again and the caller authenticated and authorized again with fresh copies (a key revoked meanwhile is
    /// refused here). Null when the caller may go on, as <see cref="HttpContext.User"/>; else the refusal.</summary>
    public static async Task<ProblemHttpResult?> AuthenticateAgainAsync(HttpContext http, string policy)
    {
        var services = http.RequestServices;
        services.GetRequiredService<ConfigVersion>().Refresh();
        var name = ConsoleSessionAuthenticationHandler.SelectScheme(http);
        var scheme = await services.GetRequiredService<IAuthenticationSchemeProvider>().GetSchemeAsync(name)
            ?? throw new InvalidOperationException($"The authentication scheme '{name}' is not registered.");
        // A handler of our own: the request's handler keeps its first answer for the rest of the request.
        var handler = (IAuthenticationHandler)ActivatorUtilities.CreateInstance(services, scheme.HandlerType);
        await handler.InitializeAsync(scheme, http);
        var result = await handler.AuthenticateAsync();
        if (!result.Succeeded || result.Principal is not ClaimsPrincipal user)
        {
            if (name == ApiKeyAuthenticationHandler.SchemeName)
            {
                http.Response.Headers.WWWAuthenticate = "ApiKey, Bearer";
            }
            return Problems.Status(StatusCodes.Status401Unauthorized, "Unauthorized",
                result.Failure?.Message ?? "The credentials of this request are no longer valid.");
        }
        if (!(await services.GetRequiredService<IAuthorizationService>().AuthorizeAsync(user, policy)).Succeeded)
        {
            return Problems.Forbidden("This API key does not have the scope this call needs.");
        }
        http.User = user;
        return null;
    }
}
