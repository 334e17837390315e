using System.Text.Json;
using AgentSentinel.Core.Policy;
using AgentSentinel.Core.Routing;
using AgentSentinel.Core.Storage;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Core.Configuration;

/// <summary>Routes and policy in force: what an admin stored through the API, else what configuration says.
/// Read from the database on use, so a change made on any server instance applies to the next request.</summary>
public sealed class RuntimeSettings(ISettingsStore store, IOptionsMonitor<AgentSentinelOptions> options)
{
    public const string RoutesKey = "routes";
    public const string PolicyKey = "policy";

    public async Task<(IReadOnlyList<RouteDefinition> Routes, long Version, string Source)> GetRoutesAsync(CancellationToken ct)
    {
        var stored = await store.GetAsync(RoutesKey, ct);
        return stored is null
            ? (options.CurrentValue.Routing.Routes, 0, "configuration")
            : (JsonSerializer.Deserialize<List<RouteDefinition>>(stored.Value, SettingsJson.Options) ?? [], stored.Version, "database");
    }

    public async Task<(PolicyOptions Policy, long Version, string Source)> GetPolicyAsync(CancellationToken ct)
    {
        var stored = await store.GetAsync(PolicyKey, ct);
        if (stored is null)
        {
            return (options.CurrentValue.Policy, 0, "configuration");
        }
        var policy = JsonSerializer.Deserialize<PolicyOptions>(stored.Value, SettingsJson.Options) ?? new PolicyOptions();
        return (WithConfiguredFloors(policy), stored.Version, "database");
    }

    /// <summary>A policy stored (or proposed) without floors (before floors existed, or written without the field) keeps
    /// the configured ones: only an explicit list, even an empty one, replaces them.</summary>
    public PolicyOptions WithConfiguredFloors(PolicyOptions policy)
    {
        policy.Floors ??= options.CurrentValue.Policy.Floors;
        return policy;
    }

    /// <summary>The route a request follows: the snapshot taken when it was made, or (for requests made before
    /// snapshots were kept) the route of that name in the current table.</summary>
    public async Task<RouteDefinition?> RouteOfAsync(Approvals.ApprovalRequest request, CancellationToken ct)
    {
        if (request.RoutePlan is not null || request.RouteName is null)
        {
            return request.RoutePlan;
        }
        var (routes, _, _) = await GetRoutesAsync(ct);
        return routes.FirstOrDefault(r => r.Name == request.RouteName);
    }

    /// <summary>The route whose grant rules apply to a request: the route of its name in the current table, so that an
    /// admin who turns grants off stops them for requests already waiting.</summary>
    public async Task<RouteDefinition?> GrantRouteOfAsync(Approvals.ApprovalRequest request, CancellationToken ct)
    {
        var (routes, _, _) = await GetRoutesAsync(ct);
        return routes.FirstOrDefault(r => r.Name == request.RouteName);
    }

    /// <summary>What a request keeps of its route: a deep copy without the match conditions and approvers (the
    /// request has its own approver list).</summary>
    public static RouteDefinition Snapshot(RouteDefinition route)
    {
        var copy = JsonSerializer.Deserialize<RouteDefinition>(JsonSerializer.Serialize(route, SettingsJson.Options), SettingsJson.Options)!;
        copy.Match = null;
        copy.Approvers = [];
        return copy;
    }

    public Task<SettingRecord?> SaveRoutesAsync(IReadOnlyList<RouteDefinition> routes, string actor, long? expectedVersion, DateTimeOffset now, CancellationToken ct) =>
        store.PutAsync(RoutesKey, JsonSerializer.Serialize(routes, SettingsJson.Options), actor, expectedVersion, now, ct);

    public Task<SettingRecord?> SavePolicyAsync(PolicyOptions policy, string actor, long? expectedVersion, DateTimeOffset now, CancellationToken ct) =>
        store.PutAsync(PolicyKey, JsonSerializer.Serialize(policy, SettingsJson.Options), actor, expectedVersion, now, ct);
}
