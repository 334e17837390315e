using System.Text.Json;
using System.Text.Json.Serialization;

namespace AgentSentinel.Core.Configuration;

/// <summary>How routes and policy are written in the database and on the admin API: snake_case, unknown
/// fields refused, so a typo is an error rather than a silently ignored setting.</summary>
public static class SettingsJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.Strict,
        MaxDepth = 16,
    };
}
