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
        return stored is null
            ? (options.CurrentValue.Policy, 0, "configuration")
            : (JsonSerializer.Deserialize<PolicyOptions>(stored.Value, SettingsJson.Options) ?? new PolicyOptions(), stored.Version, "database");
    }

    public Task<SettingRecord?> SaveRoutesAsync(IReadOnlyList<RouteDefinition> routes, string actor, long? expectedVersion, DateTimeOffset now, CancellationToken ct) =>
        store.PutAsync(RoutesKey, JsonSerializer.Serialize(routes, SettingsJson.Options), actor, expectedVersion, now, ct);

    public Task<SettingRecord?> SavePolicyAsync(PolicyOptions policy, string actor, long? expectedVersion, DateTimeOffset now, CancellationToken ct) =>
        store.PutAsync(PolicyKey, JsonSerializer.Serialize(policy, SettingsJson.Options), actor, expectedVersion, now, ct);
}
