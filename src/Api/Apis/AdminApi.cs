using System.Security.Claims;
using System.Text.Json;
using System.Text.RegularExpressions;
using AgentSentinel.Api.Auth;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Callbacks;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Policy;
using AgentSentinel.Core.Routing;
using AgentSentinel.Core.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentSentinel.Api.Apis;

/// <param name="AgentIds">The agent ids an agent key may use at intake (its name when it names none); empty for keys
/// without the agent scope.</param>
public sealed record CreatedApiKeyDto(string Id, string Key, string Name, string Prefix, IReadOnlyList<string> Scopes, string? Email, DateTimeOffset CreatedAt, IReadOnlyList<string> AgentIds);

public sealed record ApiKeyDto(string Id, string Name, string Prefix, IReadOnlyList<string> Scopes, string? Email, DateTimeOffset CreatedAt, string? CreatedBy, DateTimeOffset? RevokedAt, bool HasCallbackSecret, IReadOnlyList<string> AgentIds)
{
    public static ApiKeyDto From(ApiKeyRecord k, bool hasCallbackSecret) =>
        new(k.Id, k.Name, k.Prefix, k.Scopes, k.Email, k.CreatedAt, k.CreatedBy, k.RevokedAt, hasCallbackSecret, AgentIdsOf(k));

    /// <summary>What an agent key may claim as <c>agent_id</c>; nothing for other keys.</summary>
    public static IReadOnlyList<string> AgentIdsOf(ApiKeyRecord k) => k.HasScope(Core.Auth.Scopes.Agent) ? k.AllowedAgentIds : [];
}

public sealed record RoutesDocument(IReadOnlyList<RouteDefinition> Routes, long Version, string Source);

public sealed record PolicyDocument(PolicyOptions Policy, long Version, string Source);

public sealed record SettingChangeDto(long Version, DateTimeOffset At, string? Actor, JsonElement? Before, JsonElement After);

/// <summary>API keys, routes and policy; admin scope only. Every change is recorded with who made it.</summary>
public static partial class AdminApi
{
    public static RouteGroupBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/api/v1/admin").WithTags("Administration").RequireAuthorization(ApiPolicies.Admin);

        admin.MapPost("/api-keys", CreateKeyAsync).WithName("CreateApiKey").WithSummary("Create an API key (shown once)");
        admin.MapGet("/api-keys", ListKeysAsync).WithName("ListApiKeys").WithSummary("List API keys (never the keys themselves)");
        admin.MapDelete("/api-keys/{id}", RevokeKeyAsync).WithName("RevokeApiKey").WithSummary("Revoke an API key; it stops working at once");

        admin.MapGet("/routes", GetRoutesAsync).WithName("GetRoutes").WithSummary("The routes in force");
        admin.MapPut("/routes", PutRoutesAsync).WithName("PutRoutes").WithSummary("Replace the routes");
        admin.MapGet("/routes/history", (ISettingsStore store, CancellationToken ct) => HistoryAsync(store, RuntimeSettings.RoutesKey, ct))
            .WithName("GetRoutesHistory").WithSummary("Past route changes, newest first");

        admin.MapGet("/policy", GetPolicyAsync).WithName("GetPolicy").WithSummary("The policy in force");
        admin.MapPut("/policy", PutPolicyAsync).WithName("PutPolicy").WithSummary("Replace the policy");
        admin.MapGet("/policy/history", (ISettingsStore store, CancellationToken ct) => HistoryAsync(store, RuntimeSettings.PolicyKey, ct))
            .WithName("GetPolicyHistory").WithSummary("Past policy changes, newest first");
        admin.MapPost("/policy/simulate", SimulateAsync).WithName("SimulatePolicy")
            .WithSummary("How the requests of the last N days would have been treated under candidate policy and/or routes (nothing is stored)");
        return admin;
    }

    public static async Task<Results<Created<CreatedApiKeyDto>, ProblemHttpResult>> CreateKeyAsync(
        HttpContext http, ClaimsPrincipal user, IApiKeyStore keys, TimeProvider time, ILogger<ApiKeyDto> logger, CancellationToken ct)
    {
        using var body = await JsonBody.ReadAsync(http, allowEmpty: false);
        var name = body.Name("name", 100, required: true)!.Trim();
        var email = body.Name("email", 254)?.Trim();
        if (email is not null && !EmailPattern().IsMatch(email))
        {
            return Problems.BadRequest($"'{email}' is not an email address.", "email");
        }
        var scopes = ReadScopes(http, body);
        if (email is null && scopes.Contains(Scopes.Approver))
        {
            // An approver key is a person: chat users are matched to it by email, and decisions are recorded under it.
            return Problems.BadRequest("email is required for a key with the approver scope: it is the person who decides with it "
                + "(and how their Slack or Teams account is recognised).", "email");
        }
        var agentIds = ReadAgentIds(body, scopes);
        var key = ApiKeyFactory.NewKey();
        var record = new ApiKeyRecord
        {
            Id = Guid.CreateVersion7(time.GetUtcNow()).ToString(),
            Name = name,
            Prefix = ApiKeyFactory.DisplayPrefix(key),
            KeyHash = ApiKeyFactory.Hash(key),
            Scopes = scopes,
            Email = email,
            CreatedAt = time.GetUtcNow().TruncateToMicroseconds(),
            CreatedBy = user.ToActor().AuditName,
            AgentIds = agentIds,
        };
        await keys.CreateAsync(record, ct);
        ApiLog.ApiKeyCreated(logger, record.Id, record.Name, string.Join(' ', scopes), record.CreatedBy);
        return TypedResults.Created($"/api/v1/admin/api-keys/{record.Id}",
            new CreatedApiKeyDto(record.Id, key, record.Name, record.Prefix, record.Scopes, record.Email, record.CreatedAt, ApiKeyDto.AgentIdsOf(record)));
    }

    /// <summary>The optional <c>agent_ids</c>: exact ids or <c>*</c>/<c>?</c> patterns, only on keys with the agent scope.</summary>
    private static List<string> ReadAgentIds(JsonBody body, List<string> scopes)
    {
        var raw = body.Array("agent_ids");
        if (raw is null || raw.Count == 0)
        {
            return [];
        }
        if (!scopes.Contains(Scopes.Agent))
        {
            throw JsonBody.Invalid("agent_ids", "agent_ids applies only to keys with the agent scope.");
        }
        if (raw.Count > AgentIdPatterns.MaxCount)
        {
            throw JsonBody.Invalid("agent_ids", $"agent_ids may name at most {AgentIdPatterns.MaxCount} ids or patterns.");
        }
        var ids = new List<string>();
        foreach (var item in raw)
        {
            var id = item.ValueKind == JsonValueKind.String ? item.GetString() : null;
            if (id is null)
            {
                throw JsonBody.Invalid("agent_ids", "agent_ids must be a list of strings.");
            }
            if (AgentIdPatterns.Problem(id) is { } problem)
            {
                throw JsonBody.Invalid("agent_ids", problem);
            }
            if (!ids.Contains(id, StringComparer.Ordinal))
            {
                ids.Add(id);
            }
        }
        return ids;
    }

    private static List<string> ReadScopes(HttpContext http, JsonBody body)
    {
        _ = http;
        var raw = body.Array("scopes", required: true)!;
        var scopes = new List<string>();
        foreach (var item in raw)
        {
            if (item.ValueKind != JsonValueKind.String || !Scopes.All.Contains(item.GetString()!))
            {
                throw JsonBody.Invalid("scopes", $"scopes must be a non-empty list of {string.Join(", ", Scopes.All)}.");
            }
            if (!scopes.Contains(item.GetString()!))
            {
                scopes.Add(item.GetString()!);
            }
        }
        return scopes.Count > 0 ? scopes : throw JsonBody.Invalid("scopes", $"scopes must be a non-empty list of {string.Join(", ", Scopes.All)}.");
    }

    public static async Task<Ok<IReadOnlyList<ApiKeyDto>>> ListKeysAsync(IApiKeyStore keys, ICallbackStore callbacks, CancellationToken ct)
    {
        var withSecret = await callbacks.ListKeysWithSecretAsync(ct);
        return TypedResults.Ok<IReadOnlyList<ApiKeyDto>>([.. (await keys.ListAsync(ct)).Select(k => ApiKeyDto.From(k, withSecret.Contains(k.Id)))]);
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> RevokeKeyAsync(
        string id, ClaimsPrincipal user, IApiKeyStore keys, TimeProvider time, ILogger<ApiKeyDto> logger, CancellationToken ct)
    {
        if (id.Length > 64)
        {
            return Problems.BadRequest("That is not an API key id.", "id");
        }
        var existing = await keys.GetAsync(id, ct);
        if (existing is null)
        {
            return Problems.NotFound($"No API key has the id '{id}'.");
        }
        if (existing.RevokedAt is null && await keys.RevokeAsync(id, time.GetUtcNow(), ct))
        {
            ApiLog.ApiKeyRevoked(logger, id, user.ToActor().AuditName);
        }
        return TypedResults.NoContent();
    }

    public static async Task<Ok<RoutesDocument>> GetRoutesAsync(RuntimeSettings settings, HttpContext http, CancellationToken ct)
    {
        var (routes, version, source) = await settings.GetRoutesAsync(ct);
        http.Response.Headers.ETag = $"\"{version}\"";
        return TypedResults.Ok(new RoutesDocument(routes, version, source));
    }

    public static Task<Results<Ok<RoutesDocument>, ProblemHttpResult>> PutRoutesAsync(
        HttpContext http, ClaimsPrincipal user, RuntimeSettings settings, TimeProvider time, ILogger<RoutesDocument> logger, CancellationToken ct) =>
        PutSettingAsync<List<RouteDefinition>, RoutesDocument>(http, user, logger, "routes", "The routes are not valid.",
            "The routes were changed by someone else since you read them (If-Match does not match); read them again and retry.",
            RouteTable.Validate, (routes, actor, expected) => settings.SaveRoutesAsync(routes, actor, expected, time.GetUtcNow(), ct),
            (routes, version) => new RoutesDocument(routes, version, "database"));

    public static async Task<Ok<PolicyDocument>> GetPolicyAsync(RuntimeSettings settings, HttpContext http, CancellationToken ct)
    {
        var (policy, version, source) = await settings.GetPolicyAsync(ct);
        http.Response.Headers.ETag = $"\"{version}\"";
        return TypedResults.Ok(new PolicyDocument(policy, version, source));
    }

    public static Task<Results<Ok<PolicyDocument>, ProblemHttpResult>> PutPolicyAsync(
        HttpContext http, ClaimsPrincipal user, RuntimeSettings settings, TimeProvider time, ILogger<PolicyDocument> logger, CancellationToken ct) =>
        PutSettingAsync<PolicyOptions, PolicyDocument>(http, user, logger, "policy", "The policy is not valid.",
            "The policy was changed by someone else since you read it (If-Match does not match); read it again and retry.",
            PolicyEvaluator.Validate, (policy, actor, expected) => settings.SavePolicyAsync(policy, actor, expected, time.GetUtcNow(), ct),
            (policy, version) => new PolicyDocument(policy, version, "database"));

    /// <summary>Replaces a versioned setting: reads and validates the body, saves it if <c>If-Match</c> (when given)
    /// names the current version, and answers with the saved document and its ETag.</summary>
    private static async Task<Results<Ok<TDocument>, ProblemHttpResult>> PutSettingAsync<TValue, TDocument>(
        HttpContext http, ClaimsPrincipal user, ILogger logger, string field, string invalid, string conflict,
        Func<TValue, IReadOnlyList<string>> validate, Func<TValue, string, long?, Task<SettingRecord?>> save, Func<TValue, long, TDocument> document)
        where TValue : class
    {
        using var body = await JsonBody.ReadAsync(http, allowEmpty: false);
        var value = body.Deserialize<TValue>(field, SettingsJson.Options, required: true)!;
        var errors = validate(value);
        if (errors.Count > 0)
        {
            return ValidationProblem(invalid, errors);
        }
        var actor = user.ToActor().AuditName;
        var saved = await save(value, actor, ExpectedVersion(http));
        if (saved is null)
        {
            return Problems.Status(StatusCodes.Status412PreconditionFailed, "Precondition failed", conflict);
        }
        ApiLog.SettingChanged(logger, saved.Key, saved.Version, actor);
        http.Response.Headers.ETag = $"\"{saved.Version}\"";
        return TypedResults.Ok(document(value, saved.Version));
    }

    private static async Task<Ok<IReadOnlyList<SettingChangeDto>>> HistoryAsync(ISettingsStore store, string key, CancellationToken ct)
    {
        var changes = await store.GetHistoryAsync(key, 100, ct);
        return TypedResults.Ok<IReadOnlyList<SettingChangeDto>>([.. changes.Select(c => new SettingChangeDto(
            c.Version, c.At, c.Actor,
            c.ValueBefore is null ? null : JsonDocument.Parse(c.ValueBefore).RootElement.Clone(),
            JsonDocument.Parse(c.ValueAfter).RootElement.Clone()))]);
    }

    /// <summary>The version named by an <c>If-Match: "N"</c> header, if any.</summary>
    private static long? ExpectedVersion(HttpContext http)
    {
        var header = http.Request.Headers.IfMatch.ToString().Trim();
        if (header.Length == 0 || header == "*")
        {
            return null;
        }
        return long.TryParse(header.Trim('"').Replace("W/", "", StringComparison.Ordinal).Trim('"'), out var v)
            ? v
            : throw new BodyException(StatusCodes.Status400BadRequest, "If-Match must be the ETag of a previous GET, such as \"3\".", "If-Match");
    }

    private static ProblemHttpResult ValidationProblem(string detail, IReadOnlyList<string> errors) =>
        TypedResults.Problem(detail + " " + string.Join(" ", errors), statusCode: StatusCodes.Status400BadRequest, title: "Invalid configuration",
            extensions: new Dictionary<string, object?> { ["errors"] = errors });

    [GeneratedRegex(@"^[^@\s]+@[^@\s]+$")]
    private static partial Regex EmailPattern();
}
