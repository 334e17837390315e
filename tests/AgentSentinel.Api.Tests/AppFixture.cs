global using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

/// <summary>One running host and database per test class; each test makes its own requests and keys.</summary>
public abstract class AppFixture(StorageProvider provider) : IAsyncLifetime
{
    public AgentSentinelApp App { get; private set; } = null!;
    public StorageProvider Provider => provider;

    public async ValueTask InitializeAsync()
    {
        App = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "api"));
        _ = App.Server; // start now, so a broken start fails here and not in a test
    }

    public async ValueTask DisposeAsync() => await App.DisposeAsync();
}

public sealed class SqliteAppFixture() : AppFixture(StorageProvider.Sqlite);

public sealed class PostgresAppFixture() : AppFixture(StorageProvider.Postgres);

public static class Http
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static async Task<JsonNode> Json(this HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!;

    public static async Task<JsonNode> CreateApprovalAsync(this HttpClient client, object? body = null, HttpStatusCode expected = HttpStatusCode.Created)
    {
        var response = await client.PostAsJsonAsync("/api/v1/approvals", body ?? new { action_name = "transfer_funds", timeout_seconds = 300 }, Ct);
        var json = await response.Json();
        Assert.True(response.StatusCode == expected, $"Expected {expected}, got {(int)response.StatusCode}: {json.ToJsonString()}");
        return json;
    }

    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient client, string url, object? body) =>
        body is null
            ? client.PostAsync(url, null, Ct)
            : client.PostAsJsonAsync(url, body, Ct);

    public static Task<HttpResponseMessage> PostRawAsync(this HttpClient client, string url, string body, string contentType = "application/json") =>
        client.PostAsync(url, new StringContent(body, System.Text.Encoding.UTF8, contentType), Ct);

    public static string Id(this JsonNode node) => node["id"]!.GetValue<string>();

    public static string? Str(this JsonNode node, string name) => node[name]?.GetValue<string>();

    public static async Task AssertProblemAsync(this HttpResponseMessage response, HttpStatusCode status, string? detailContains = null)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == status, $"Expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var doc = JsonDocument.Parse(text);
        Assert.Equal((int)status, doc.RootElement.GetProperty("status").GetInt32());
        if (detailContains is not null)
        {
            Assert.Contains(detailContains, doc.RootElement.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
        }
    }
}
