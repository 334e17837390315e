using System.Reflection;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace AgentSentinel.Api.Tests;

/// <summary>Guards the surface: every API endpoint is named and authorized, and every public async method in the
/// product takes a CancellationToken.</summary>
public sealed class ConventionTests
{
    [Fact]
    public async Task Every_api_endpoint_has_a_name_and_requires_authorization()
    {
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "conventions"));
        _ = app.Server;
        var endpoints = app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.StartsWith("/api/", StringComparison.Ordinal) == true)
            .ToList();
        Assert.True(endpoints.Count >= 20, $"only {endpoints.Count} API endpoints found");
        Assert.All(endpoints, e =>
        {
            Assert.True(e.Metadata.GetMetadata<IEndpointNameMetadata>() is not null, $"{e.DisplayName} has no name");
            // Chat platform webhooks verify every request themselves (and have their own 401 tests); the rest need a policy.
            Assert.True(e.Metadata.GetOrderedMetadata<IAuthorizeData>().Any(a => a.Policy is not null)
                || e.Metadata.GetMetadata<Bot.VerifiedByPlatformMetadata>() is not null, $"{e.DisplayName} is not authorized");
            Assert.Null(e.Metadata.GetMetadata<IAllowAnonymous>());
        });
    }

    [Fact]
    public async Task Every_mcp_endpoint_requires_an_agent_api_key()
    {
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "conventions"));
        _ = app.Server;
        var endpoints = app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.StartsWith(Mcp.McpExtensions.Path, StringComparison.Ordinal) == true)
            .ToList();
        Assert.NotEmpty(endpoints);
        Assert.All(endpoints, e =>
        {
            var authorize = e.Metadata.GetOrderedMetadata<IAuthorizeData>();
            Assert.Contains(authorize, a => a.Policy == Auth.ApiPolicies.Agent);
            // API keys only: a console session cookie never reaches the tools.
            Assert.Equal([Auth.ApiKeyAuthenticationHandler.SchemeName], authorize.Where(a => a.AuthenticationSchemes is not null).Select(a => a.AuthenticationSchemes));
            Assert.Null(e.Metadata.GetMetadata<IAllowAnonymous>());
        });
    }

    [Fact]
    public async Task Every_console_endpoint_is_named_and_authorized_or_anonymous_by_design()
    {
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "conventions"));
        _ = app.Server;
        var endpoints = app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<WebConsole.ConsoleEndpointMetadata>() is not null || e.RoutePattern.RawText?.StartsWith("/console/", StringComparison.Ordinal) == true)
            .ToList();
        Assert.True(endpoints.Count >= 10, $"only {endpoints.Count} console endpoints found");
        Assert.All(endpoints, e =>
        {
            Assert.True(e.Metadata.GetMetadata<IEndpointNameMetadata>() is not null, $"{e.DisplayName} has no name");
            var anonymous = e.Metadata.GetMetadata<IAllowAnonymous>() is not null;
            var byDesign = e.Metadata.GetMetadata<WebConsole.AnonymousByDesignMetadata>();
            Assert.True(anonymous == (byDesign is not null), $"{e.DisplayName}: anonymous endpoints, and only they, say why");
            Assert.True(anonymous || e.Metadata.GetOrderedMetadata<IAuthorizeData>().Any(a => a.Policy is not null), $"{e.DisplayName} is not authorized");
        });
        // Only the sign-in calls (key, identity provider, which of them are offered, the provider sign-out link), the page
        // shell and the console's files are open; every other console call needs a session.
        var open = endpoints.Where(e => e.Metadata.GetMetadata<IAllowAnonymous>() is not null)
            .Select(e => $"{string.Join(",", e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [])} {e.RoutePattern.RawText}")
            .Order(StringComparer.Ordinal).ToList();
        Assert.Equal(
            ["GET /", "GET /admin", "GET /approvals/{id}", "GET /away", "GET /console/api/sign-in-options", "GET /console/assets/{name}", "GET /console/oidc/signin",
                "GET /console/oidc/signout", "GET /grants", "GET /inbox", "GET /signin", "GET /stats", "POST /console/api/session"],
            open);
    }

    [Fact]
    public void Every_public_async_method_of_core_bot_and_api_takes_a_cancellation_token()
    {
        var assemblies = new[] { typeof(Core.Approvals.ApprovalService).Assembly, typeof(Bot.VerifiedByPlatformMetadata).Assembly, typeof(Apis.ApprovalsApi).Assembly };
        var offenders = assemblies.SelectMany(a => a.GetTypes())
            .Where(t => t.IsPublic || t.IsNestedPublic)
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(m => typeof(Task).IsAssignableFrom(m.ReturnType) || m.ReturnType.Name.StartsWith("ValueTask", StringComparison.Ordinal))
            .Where(m => !m.IsSpecialName && m.Name is not ("DisposeAsync" or "InitializeAsync"))
            // Framework-shaped signatures whose token comes from elsewhere.
            .Where(m => !m.GetParameters().Any(p => p.ParameterType == typeof(CancellationToken) || p.ParameterType == typeof(HttpContext)))
            .Where(m => m.DeclaringType!.GetInterfaces().All(i => !i.Namespace!.StartsWith("Microsoft", StringComparison.Ordinal) || i.GetMethod(m.Name) is null))
            .Select(m => $"{m.DeclaringType!.Name}.{m.Name}")
            .ToList();
        Assert.Empty(offenders);
    }
}
