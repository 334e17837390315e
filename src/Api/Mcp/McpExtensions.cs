using AgentSentinel.Api.Auth;
using AgentSentinel.Core.Configuration;
using Microsoft.AspNetCore.Authorization;
using ModelContextProtocol.Protocol;

namespace AgentSentinel.Api.Mcp;

/// <summary>The MCP endpoint: any MCP-capable agent asks a person before acting through tools at <c>/mcp</c>
/// (Streamable HTTP), authenticated with its agent API key like the REST API.</summary>
public static class McpExtensions
{
    public const string Path = "/mcp";
    public const string EnabledSetting = $"{AgentSentinelOptions.SectionName}:Mcp:Enabled";

    public static WebApplicationBuilder AddAgentSentinelMcp(this WebApplicationBuilder builder)
    {
        if (!builder.Configuration.GetValue(EnabledSetting, true))
        {
            return builder;
        }
        builder.Services.AddMcpServer(o =>
            {
                o.ServerInfo = new Implementation
                {
                    Name = "agent-sentinel",
                    Title = "Agent Sentinel Approval Inbox",
                    Version = typeof(McpExtensions).Assembly.GetName().Version?.ToString() ?? "1.0.0",
                };
                o.ServerInstructions = ApprovalTools.Instructions;
            })
            // Stateless: every call is served by whichever instance receives it (no session affinity behind a load
            // balancer); waits are woken on every instance by the same change notifications as the REST long poll.
            .WithHttpTransport(o => o.Stateless = true)
            .WithTools(ApprovalTools.Create());
        return builder;
    }

    public static WebApplication MapAgentSentinelMcp(this WebApplication app)
    {
        if (!app.Configuration.GetValue(EnabledSetting, true))
        {
            return app;
        }
        // Agent API keys only (never a console session cookie): no key or a wrong one is a 401 problem detail before
        // any MCP message is read, a key without the agent or admin scope a 403. MCP is not part of the REST reference.
        app.MapMcp(Path)
            .RequireAuthorization(ApiPolicies.Agent)
            .WithMetadata(new AuthorizeAttribute { AuthenticationSchemes = ApiKeyAuthenticationHandler.SchemeName })
            .ExcludeFromDescription();
        return app;
    }
}
