using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests.Callbacks;

/// <summary>One host with callbacks enabled for a few hosts; no job server, and nothing here is ever called.</summary>
public sealed class CallbackIntakeFixture : IAsyncLifetime
{
    public AgentSentinelApp App { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        App = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "intake"), settings: new Dictionary<string, string?>
        {
            ["AgentSentinel:Callbacks:AllowedHosts:0"] = "hooks.example.com",
            ["AgentSentinel:Callbacks:AllowedHosts:1"] = "*.agents.example.org",
            ["AgentSentinel:Callbacks:AllowedHosts:2"] = "192.168.1.20",
            ["AgentSentinel:Callbacks:AllowedHosts:3"] = "localhost",
        });
        _ = App.Server;
    }

    public async ValueTask DisposeAsync() => await App.DisposeAsync();
}

/// <summary>A <c>callback_url</c> the server may not call is refused when the request is made, with a 400 naming the
/// field, and nothing is stored.</summary>
public sealed class CallbackIntakeTests(CallbackIntakeFixture fixture) : IClassFixture<CallbackIntakeFixture>
{
    private static CancellationToken Ct => Http.Ct;

    private async Task<HttpClient> AgentWithSecretAsync()
    {
        using var admin = fixture.App.Client();
        var key = await (await admin.PostJsonAsync("/api/v1/admin/api-keys", new { name = "agent", scopes = new[] { Scopes.Agent } })).Json();
        // No SigningSecret is configured here: the key needs its own.
        Assert.Equal(HttpStatusCode.OK, (await admin.PostJsonAsync($"/api/v1/admin/api-keys/{key.Id()}/callback-secret", null)).StatusCode);
        return fixture.App.Client(key.Str("key"));
    }

    private async Task<int> CountAsync(HttpClient agent) =>
        (await (await agent.GetAsync("/api/v1/approvals?limit=200", Ct)).Json())["items"]!.AsArray().Count;

    [Theory]
    [InlineData("http://127.0.0.1/hook", "not on this server's list")]
    [InlineData("http://127.0.0.1:8080/hook", "not on this server's list")]
    [InlineData("http://2130706433/hook", "not on this server's list")]
    [InlineData("http://169.254.169.254/latest/meta-data/", "not on this server's list")]
    [InlineData("http://[::1]/hook", "not on this server's list")]
    [InlineData("http://[::ffff:127.0.0.1]/hook", "not on this server's list")]
    [InlineData("http://[::ffff:192.168.1.20]/hook", "not on this server's list")]
    [InlineData("http://10.0.0.5/hook", "not on this server's list")]
    [InlineData("http://192.168.1.21/hook", "not on this server's list")]
    [InlineData("http://[fd00::1]/hook", "not on this server's list")]
    [InlineData("http://0.0.0.0/hook", "not on this server's list")]
    [InlineData("http://224.0.0.1/hook", "not on this server's list")]
    [InlineData("https://evil.example.com/hook", "not on this server's list")]
    [InlineData("https://hooks.example.com.evil.net/hook", "not on this server's list")]
    [InlineData("https://agents.example.org/hook", "not on this server's list")]
    [InlineData("http://a.agents.example.org/hook", "must use https")]
    [InlineData("https://user:pw@hooks.example.com/hook", "credentials")]
    [InlineData("https://token@hooks.example.com/hook", "credentials")]
    [InlineData("ftp://hooks.example.com/hook", "absolute https URL")]
    [InlineData("file:///etc/passwd", "absolute https URL")]
    [InlineData("gopher://hooks.example.com:70/_x", "absolute https URL")]
    [InlineData("/relative/hook", "absolute https URL")]
    [InlineData("", "absolute https URL")]
    public async Task A_callback_url_the_server_may_not_call_is_refused_and_nothing_is_stored(string url, string reason)
    {
        using var agent = await AgentWithSecretAsync();
        var before = await CountAsync(agent);
        var response = await agent.PostJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", callback_url = url });
        var problem = await response.Json();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("callback_url", problem.Str("field"));
        Assert.Contains(reason, problem.Str("detail"), StringComparison.Ordinal);
        Assert.Equal(before, await CountAsync(agent));
    }

    [Theory]
    [InlineData("https://hooks.example.com/cb?run=1", "https://hooks.example.com/cb?run=1")]
    [InlineData("http://hooks.example.com/cb", "http://hooks.example.com/cb")]
    [InlineData("https://HOOKS.Example.COM./cb", "https://hooks.example.com./cb")]
    [InlineData("https://a.b.agents.example.org/cb", "https://a.b.agents.example.org/cb")]
    [InlineData("http://192.168.1.20:8080/cb", "http://192.168.1.20:8080/cb")]
    [InlineData("http://localhost:9/cb", "http://localhost:9/cb")]
    public async Task An_allowed_callback_url_is_accepted_and_stored(string url, string stored)
    {
        using var agent = await AgentWithSecretAsync();
        var created = await agent.CreateApprovalAsync(new { action_name = "transfer_funds", callback_url = url });
        Assert.Equal(stored, created.Str("callback_url"));
    }

    [Fact]
    public async Task A_key_without_a_secret_cannot_ask_for_callbacks_when_no_secret_is_configured()
    {
        using var agent = fixture.App.Client(await fixture.App.CreateKeyAsync("agent", [Scopes.Agent]));
        var response = await agent.PostJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", callback_url = "https://hooks.example.com/cb" });
        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "cannot be signed");
        Assert.Equal(0, await CountAsync(agent));
        // Requests without a callback need no secret.
        await agent.CreateApprovalAsync(new { action_name = "transfer_funds", callback_url = (string?)null });
    }
}

/// <summary>With no allowed hosts, callbacks are off and a request that asks for one is refused.</summary>
public sealed class CallbacksDisabledTests(SqliteAppFixture fixture) : IClassFixture<SqliteAppFixture>
{
    [Fact]
    public async Task A_callback_url_is_refused_when_callbacks_are_not_enabled()
    {
        using var agent = fixture.App.Client(await fixture.App.CreateKeyAsync("agent", [Scopes.Agent]));
        var response = await agent.PostJsonAsync("/api/v1/approvals", new { action_name = "transfer_funds", callback_url = "https://hooks.example.com/cb" });
        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "Callbacks are not enabled on this server");
        Assert.Equal("callback_url", (await response.Json()).Str("field"));
        var list = await (await agent.GetAsync("/api/v1/approvals", Http.Ct)).Json();
        Assert.Empty(list["items"]!.AsArray());
        // A null callback_url, as SDKs send when none is set, is no callback at all.
        await agent.CreateApprovalAsync(new { action_name = "transfer_funds", callback_url = (string?)null });
    }
}
