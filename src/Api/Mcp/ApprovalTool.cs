using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Api.Auth;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace AgentSentinel.Api.Mcp;

/// <summary>One MCP tool: its protocol description (name, JSON schemas, hints) and its handler. Arguments are checked
/// by the REST API's own field readers, so a wrong argument is answered with the same sentence as a wrong body field,
/// as a tool error (<c>isError</c>) the agent can read and correct; nothing a caller sends ends in a protocol crash.</summary>
internal sealed class ApprovalTool : McpServerTool
{
    private readonly Tool _tool;
    private readonly IReadOnlyCollection<string> _arguments;
    private readonly Func<ToolCall, Task<CallToolResult>> _run;

    public ApprovalTool(Tool tool, ToolSchema arguments, Func<ToolCall, Task<CallToolResult>> run)
    {
        _tool = tool;
        _tool.InputSchema = arguments.ToElement();
        _arguments = arguments.Names;
        _run = run;
    }

    public override Tool ProtocolTool => _tool;

    public override IReadOnlyList<object> Metadata => [];

    public override async ValueTask<CallToolResult> InvokeAsync(RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken = default)
    {
        var services = request.Services ?? throw new InvalidOperationException("The MCP request has no service provider.");
        try
        {
            var arguments = request.Params?.Arguments ?? new Dictionary<string, JsonElement>();
            if (arguments.Keys.FirstOrDefault(k => !_arguments.Contains(k)) is { } unknown)
            {
                return Error($"'{Shorten(unknown)}' is not an argument of {_tool.Name}; it takes {string.Join(", ", _arguments)}.");
            }
            using var body = JsonBody.Parse(Serialize(arguments, except: []));
            var call = new ToolCall(body, arguments, AsMcpCaller(request.User), services, request, cancellationToken);
            return await _run(call);
        }
        catch (BodyException ex)
        {
            return Error(ex.Message);
        }
        catch (RequestValidationException ex)
        {
            return Error(ex.Message);
        }
        catch (ToolError ex)
        {
            return Error(ex.Message);
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            if (IsUnavailable(ex, services.GetRequiredService<Database>()))
            {
                return Error("The database is unavailable; try again shortly.");
            }
            ApiLog.McpToolFailed(services.GetRequiredService<ILogger<ApprovalTool>>(), ex, _tool.Name);
            return Error("An unexpected error occurred; it has been logged.");
        }
    }

    /// <summary>The arguments as one compact JSON object with the names in ordinal order (so the same arguments always
    /// give the same text and hash, whatever order a client sends them in), leaving out <paramref name="except"/>.</summary>
    internal static byte[] Serialize(IDictionary<string, JsonElement> arguments, IReadOnlyCollection<string> except)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (name, value) in arguments.Where(a => !except.Contains(a.Key)).OrderBy(a => a.Key, StringComparer.Ordinal))
            {
                writer.WritePropertyName(name);
                value.WriteTo(writer);
            }
            writer.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>The authenticated key, acting from the MCP surface (so the audit trail says <c>mcp</c>).</summary>
    private static ClaimsPrincipal AsMcpCaller(ClaimsPrincipal? user)
    {
        var caller = user?.Clone() ?? new ClaimsPrincipal();
        caller.AddIdentity(new ClaimsIdentity([new Claim(ApiClaims.Surface, Surface.Mcp.ToWire())]));
        return caller;
    }

    public static CallToolResult Error(string text) => new() { IsError = true, Content = [new TextContentBlock { Text = text }] };

    public static CallToolResult Error(ProblemHttpResult problem) =>
        Error(problem.ProblemDetails.Detail ?? problem.ProblemDetails.Title ?? "The call was refused.");

    public static CallToolResult Success(string text, JsonElement structured) =>
        new() { Content = [new TextContentBlock { Text = text }], StructuredContent = structured };

    private static bool IsUnavailable(Exception exception, Database database)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (database.IsUnavailable(e) || e is TimeoutException || e is System.Net.Sockets.SocketException)
            {
                return true;
            }
        }
        return false;
    }

    private static string Shorten(string text) => text.Length > 64 ? text[..64] + "..." : text;
}

/// <summary>A refusal whose message is meant for the agent (answered as a tool error).</summary>
internal sealed class ToolError(string message) : Exception(message);

/// <summary>One tool call: the arguments (read with the REST API's field readers), the caller and its services.</summary>
internal sealed record ToolCall(
    JsonBody Args,
    IDictionary<string, JsonElement> Arguments,
    ClaimsPrincipal User,
    IServiceProvider Services,
    RequestContext<CallToolRequestParams> Request,
    CancellationToken Ct)
{
    public T Service<T>() where T : notnull => Services.GetRequiredService<T>();
}

/// <summary>Builds a tool's input schema (JSON Schema, snake_case names as in the REST API) and knows its names.</summary>
internal sealed class ToolSchema
{
    private readonly JsonObject _properties = [];
    private readonly JsonArray _required = [];
    private readonly List<string> _names = [];

    public IReadOnlyCollection<string> Names => _names;

    public ToolSchema String(string name, string description, int maxLength, bool required = false) =>
        Add(name, required, new JsonObject { ["type"] = "string", ["description"] = description, ["maxLength"] = maxLength, ["minLength"] = required ? 1 : 0 });

    public ToolSchema Integer(string name, string description, int minimum, int maximum, int? defaultValue = null)
    {
        var schema = new JsonObject { ["type"] = "integer", ["description"] = description, ["minimum"] = minimum, ["maximum"] = maximum };
        if (defaultValue is { } d)
        {
            schema["default"] = d;
        }
        return Add(name, false, schema);
    }

    public ToolSchema Number(string name, string description, decimal minimum, decimal maximum) =>
        Add(name, false, new JsonObject { ["type"] = "number", ["description"] = description, ["minimum"] = minimum, ["maximum"] = maximum });

    public ToolSchema Enum(string name, string description, IEnumerable<string> values) =>
        Add(name, false, new JsonObject { ["type"] = "string", ["description"] = description, ["enum"] = new JsonArray([.. values.Select(v => (JsonNode)v)]) });

    public ToolSchema Object(string name, string description) =>
        Add(name, false, new JsonObject { ["type"] = "object", ["description"] = description, ["additionalProperties"] = true });

    public JsonElement ToElement() => JsonSerializer.SerializeToElement(new JsonObject
    {
        ["type"] = "object",
        ["properties"] = _properties.DeepClone(),
        ["required"] = _required.DeepClone(),
        ["additionalProperties"] = false,
    });

    private ToolSchema Add(string name, bool required, JsonObject schema)
    {
        _names.Add(name);
        _properties[name] = schema;
        if (required)
        {
            _required.Add((JsonNode)name);
        }
        return this;
    }
}
