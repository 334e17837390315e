using System.Net.Http.Json;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

/// <summary>The Hangfire dashboard at /hangfire: admin console sessions only, read-only.</summary>
public sealed class JobDashboardTests(SqliteAppFixture f) : IClassFixture<SqliteAppFixture>
{
    private const string Cookie = "agentsentinel_session";
    private static CancellationToken Ct => Http.Ct;

    private async Task<HttpClient> SessionAsync(string scope)
    {
        var key = await f.App.CreateKeyAsync($"{scope}-{Guid.NewGuid():N}", [scope], $"{Guid.NewGuid():N}@example.com");
        var client = f.App.Client(null);
        var response = await client.PostAsJsonAsync("/console/api/session", new { api_key = key }, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var id = response.Headers.GetValues("Set-Cookie").Select(v => v.Split(';')[0]).Single(v => v.StartsWith(Cookie + "=", StringComparison.Ordinal))[(Cookie.Length + 1)..];
        client.DefaultRequestHeaders.Add("Cookie", $"{Cookie}={id}");
        return client;
    }

    [Fact]
    public async Task Anonymous_visitors_are_refused()
    {
        using var client = f.App.Client(null);
        var response = await client.GetAsync("/hangfire", Ct);
        await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/hangfire/jobs/failed", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.PostAsync("/hangfire/stats", new FormUrlEncodedContent([new("metrics[]", "enqueued:count")]), Ct)).StatusCode);
    }

    [Fact]
    public async Task An_approver_session_is_refused()
    {
        using var approver = await SessionAsync(Scopes.Approver);
        Assert.Equal(HttpStatusCode.OK, (await approver.GetAsync("/console/api/session", Ct)).StatusCode);
        var response = await approver.GetAsync("/hangfire", Ct);
        Assert.True(response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden, $"got {(int)response.StatusCode}");
        Assert.DoesNotContain("Agent Sentinel jobs", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_admin_api_key_without_a_session_is_refused()
    {
        using var admin = f.App.Client();
        var response = await admin.GetAsync("/hangfire", Ct);
        Assert.True(response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden, $"got {(int)response.StatusCode}");
        Assert.DoesNotContain("Agent Sentinel jobs", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_admin_session_sees_the_dashboard_read_only_until_it_signs_out()
    {
        using var admin = await SessionAsync(Scopes.Admin);
        var page = await admin.GetAsync("/hangfire", Ct);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var html = await page.Content.ReadAsStringAsync(Ct);
        Assert.Contains("Agent Sentinel jobs", html, StringComparison.Ordinal);
        Assert.Contains("href=\"/admin\"", html, StringComparison.Ordinal);

        var recurring = await (await admin.GetAsync("/hangfire/recurring", Ct)).Content.ReadAsStringAsync(Ct);
        Assert.DoesNotContain("js-jobs-list-command", recurring, StringComparison.Ordinal);
        var stats = await admin.PostAsync("/hangfire/stats", new FormUrlEncodedContent([new("metrics[]", "enqueued:count")]), Ct);
        Assert.Equal(HttpStatusCode.OK, stats.StatusCode);
        var command = await admin.PostAsync("/hangfire/recurring/trigger", new FormUrlEncodedContent([new("jobs[]", "weekly-digest")]), Ct);
        Assert.False(command.IsSuccessStatusCode, $"a read-only dashboard ran a command: {(int)command.StatusCode}");

        var csrf = (await (await admin.GetAsync("/console/api/session", Ct)).Json()).Str("csrf_token")!;
        using var signOut = new HttpRequestMessage(HttpMethod.Delete, "/console/api/session");
        signOut.Headers.Add("X-CSRF-Token", csrf);
        Assert.True((await admin.SendAsync(signOut, Ct)).IsSuccessStatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await admin.GetAsync("/hangfire", Ct)).StatusCode);
    }
}
