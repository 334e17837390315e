using System.Text.Json;
using AgentSentinel.Api.Apis;
using AgentSentinel.Api.Auth;
using AgentSentinel.Api.Callbacks;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Api.Limits;
using AgentSentinel.Api.Mcp;
using AgentSentinel.Api.WebConsole;
using AgentSentinel.Bot;
using AgentSentinel.Core;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace AgentSentinel.Api.Hosting;

public static class ApiExtensions
{
    /// <summary>Everything the host needs: core services, storage, jobs, authentication, problem details, OpenAPI.</summary>
    public static WebApplicationBuilder AddAgentSentinel(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddAgentSentinelCore(builder.Configuration);
        services.AddAgentSentinelBots(builder.Configuration);
        services.AddAgentSentinelCallbacks(builder.Configuration);
        var provider = builder.Configuration.GetValue($"{AgentSentinelOptions.SectionName}:Storage:Provider", StorageProvider.Sqlite);
        // Start-up work (migrations) must finish before the job server and the change listener start.
        services.AddSingleton<PendingRecurringJobs>();
        services.AddHostedService<StartupTasks>();
        services.AddInstanceHeartbeat();
        services.AddSingleton<StartupRecovery>();
        services.AddHostedService(sp => sp.GetRequiredService<StartupRecovery>());
        services.AddOutboxDispatcher();
        if (provider == StorageProvider.Postgres)
        {
            services.AddPostgresChangeListener();
        }
        if (builder.Configuration.GetValue($"{AgentSentinelOptions.SectionName}:Jobs:RunServer", true))
        {
            services.AddAgentSentinelJobs();
        }
        else
        {
            services.AddAgentSentinelJobClientOnly();
        }

        services.ConfigureHttpJsonOptions(o => ApiJson.Configure(o.SerializerOptions));
        services.AddProblemDetails(o => o.CustomizeProblemDetails = c =>
        {
            c.ProblemDetails.Instance ??= c.HttpContext.Request.Path;
            c.ProblemDetails.Extensions["trace_id"] = c.HttpContext.TraceIdentifier;
        });
        services.AddProblemJsonForEveryClient();
        services.AddExceptionHandler<ApiExceptionHandler>();
        services.AddAgentSentinelProxy(builder.Configuration);
        services.AddAgentSentinelLimits(builder.Configuration);

        var authentication = services.AddAuthentication(ConsoleSessionAuthenticationHandler.ApiKeyOrSessionScheme)
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddWebConsole(builder.Configuration, authentication);
        services.AddAuthorizationBuilder()
            .AddPolicy(ApiPolicies.Any, p => p.RequireAuthenticatedUser())
            .AddPolicy(ApiPolicies.Agent, p => p.RequireClaim(ApiClaims.Scope, Scopes.Agent, Scopes.Admin))
            .AddPolicy(ApiPolicies.Approver, p => p.RequireClaim(ApiClaims.Scope, Scopes.Approver, Scopes.Admin))
            .AddPolicy(ApiPolicies.Admin, p => p.RequireClaim(ApiClaims.Scope, Scopes.Admin));

        builder.AddAgentSentinelMcp();
        builder.AddAgentSentinelTelemetry();
        services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database", tags: ["ready"]);
        services.AddOpenApi(o => o.AddDocumentTransformer((doc, _, _) =>
        {
            doc.Info.Title = "Agent Sentinel Approval Inbox API";
            doc.Info.Description = "Human-in-the-loop approvals for AI agents. Authenticate with 'Authorization: ApiKey <key>'.";
            doc.Components ??= new OpenApiComponents();
            doc.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            doc.Components.SecuritySchemes["ApiKey"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = "Authorization",
                Description = "'ApiKey <key>' or 'Bearer <key>'. Keys are created by an admin: POST /api/v1/admin/api-keys.",
            };
            doc.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("ApiKey", doc)] = [] }];
            return Task.CompletedTask;
        }));
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 16 * 1024 * 1024);
        return builder;
    }

    public static WebApplication MapAgentSentinel(this WebApplication app)
    {
        // Read from configuration directly: the options' validation belongs to start-up, with its own messages.
        ThreadPoolSizing.Apply(app.Configuration.GetSection("AgentSentinel:Jobs").Get<JobsOptions>() ?? new JobsOptions());
        app.UseAgentSentinelProxy();
        app.UseAgentSentinelMetrics();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseConsoleSecurityHeaders();
        // API keys and settings are cached at the stored configuration version, read once per request from here on
        // (a create checks it in its insert instead).
        app.Use(async (context, next) =>
        {
            using (ConfigVersionAtCommit.BeginRequest(context))
            {
                await next(context);
            }
        });
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAgentSentinelLimits();

        app.MapApprovalsApi();
        app.MapBulkDecisionsApi();
        app.MapSuggestionsApi();
        app.MapGrantsApi();
        app.MapDelegationApi();
        app.MapReassignApi();
        app.MapReceiptsApi();
        app.MapDigestApi();
        app.MapTrendsApi();
        app.MapAdminApi();
        app.MapCallbacksApi();
        app.MapDeliveriesApi();
        app.MapAuditApi();
        app.MapAgentSentinelMcp();
        app.MapWebConsole();
        app.MapJobDashboard();
        app.MapAgentSentinelBots();
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteHealthAsync });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready"), ResponseWriter = WriteHealthAsync });
        app.MapOpenApi();
        app.MapScalarApiReference(o => o.WithTitle("Agent Sentinel Approval Inbox API"));

        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
            var url = addresses?.FirstOrDefault() is { } first ? first.TrimEnd('/') + "/" : "/";
            ApiLog.Started(app.Logger, app.Services.GetRequiredService<Database>().Provider.ToString(), url);
        });
        return app;
    }

    private static Task WriteHealthAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            status = report.Status.ToString().ToLowerInvariant(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString().ToLowerInvariant(), description = e.Value.Description }),
        }));
    }
}
