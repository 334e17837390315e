using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

/// <summary>The console behind a TLS-terminating proxy (forwarded headers only from known proxies, a Secure
/// <c>__Host-</c> cookie), sign-in throttling per client address and in total, the anti-forgery check whatever other
/// headers say, and event streams that end soon after their session does. Hosts run on Kestrel on loopback, so the
/// client address is a real one.</summary>
public sealed class ConsoleHardeningTests
{
    private const string Cookie = "agentsentinel_session";
    private static CancellationToken Ct => Http.Ct;

    private static async Task<(AgentSentinelApp App, HttpClient Client)> StartAsync(string name, Dictionary<string, string?>? settings = null)
    {
        var app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, name), settings: settings);
        var address = app.StartOnLoopback();
        var client = new HttpClient(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
        return (app, client);
    }

    private static HttpRequestMessage SignIn(string key, string? forwardedFor = null, string? forwardedProto = null, string? forwardedHost = null, string? origin = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/console/api/session") { Content = JsonContent.Create(new { api_key = key }) };
        Add(request, "X-Forwarded-For", forwardedFor);
        Add(request, "X-Forwarded-Proto", forwardedProto);
        Add(request, "X-Forwarded-Host", forwardedHost);
        Add(request, "Origin", origin);
        return request;
    }

    private static void Add(HttpRequestMessage request, string header, string? value)
    {
        if (value is not null)
        {
            request.Headers.Add(header, value);
        }
    }

    private static string SetCookie(HttpResponseMessage response) => Assert.Single(response.Headers.GetValues("Set-Cookie"));

    // ---- Forwarded headers and the cookie --------------------------------------------------------------------------

    public static TheoryData<string, string[], string[]> UntrustedProxies => new()
    {
        { "no proxy configured", [], [] },
        { "another address is the proxy", ["10.9.8.7"], [] },
        { "another network is the proxies'", [], ["10.0.0.0/8"] },
    };

    [Theory]
    [MemberData(nameof(UntrustedProxies))]
    public async Task A_forwarded_proto_from_an_address_that_is_not_a_known_proxy_is_ignored(string because, string[] proxies, string[] networks)
    {
        var settings = new Dictionary<string, string?>();
        for (var i = 0; i < proxies.Length; i++)
        {
            settings[$"AgentSentinel:Proxy:KnownProxies:{i}"] = proxies[i];
        }
        for (var i = 0; i < networks.Length; i++)
        {
            settings[$"AgentSentinel:Proxy:KnownNetworks:{i}"] = networks[i];
        }
        var (app, client) = await StartAsync("proxy-untrusted", settings);
        await using var _ = app;
        using var __ = client;
        var key = await app.CreateKeyAsync("ann", [Scopes.Approver], "ann@example.com");

        var response = await client.SendAsync(SignIn(key, forwardedProto: "https", forwardedHost: "approvals.example.com"), Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, because);
        var cookie = SetCookie(response);
        Assert.StartsWith(Cookie + "=", cookie, StringComparison.Ordinal);
        Assert.DoesNotContain("secure", cookie, StringComparison.OrdinalIgnoreCase);

        // The forged host does not make a foreign origin look like ours either.
        var foreign = await client.SendAsync(SignIn(key, forwardedProto: "https", forwardedHost: "approvals.example.com", origin: "https://approvals.example.com"), Ct);
        await foreign.AssertProblemAsync(HttpStatusCode.Forbidden, "console's own pages");
    }

    [Theory]
    [InlineData("127.0.0.1", null)]
    [InlineData(null, "127.0.0.0/8")]
    public async Task Behind_a_known_tls_proxy_the_cookie_is_secure_and_host_prefixed(string? proxy, string? network)
    {
        var settings = new Dictionary<string, string?>();
        if (proxy is not null)
        {
            settings["AgentSentinel:Proxy:KnownProxies:0"] = proxy;
        }
        if (network is not null)
        {
            settings["AgentSentinel:Proxy:KnownNetworks:0"] = network;
        }
        var (app, client) = await StartAsync("proxy-known", settings);
        await using var _ = app;
        using var __ = client;
        var key = await app.CreateKeyAsync("bea", [Scopes.Approver], "bea@example.com");

        // The browser is on https://approvals.example.com; the proxy forwards over plain HTTP.
        var response = await client.SendAsync(SignIn(key, forwardedFor: "203.0.113.9", forwardedProto: "https", forwardedHost: "approvals.example.com",
            origin: "https://approvals.example.com"), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var cookie = SetCookie(response);
        Assert.StartsWith("__Host-" + Cookie + "=", cookie, StringComparison.Ordinal);
        var attributes = cookie.Split(';').Skip(1).Select(a => a.Trim().ToLowerInvariant()).ToList();
        Assert.Contains("secure", attributes);
        Assert.Contains("path=/", attributes);
        Assert.Contains("httponly", attributes);
        Assert.DoesNotContain(attributes, a => a.StartsWith("domain", StringComparison.Ordinal));
        var pair = cookie.Split(';')[0];
        var sessionId = pair[(pair.IndexOf('=', StringComparison.Ordinal) + 1)..];

        // Over HTTPS only the __Host- cookie is read; the same id under the plain name is not a session.
        using var viaProxy = new HttpRequestMessage(HttpMethod.Get, "/console/api/session");
        viaProxy.Headers.Add("X-Forwarded-Proto", "https");
        viaProxy.Headers.Add("Cookie", pair);
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(viaProxy, Ct)).StatusCode);
        using var plainName = new HttpRequestMessage(HttpMethod.Get, "/console/api/session");
        plainName.Headers.Add("X-Forwarded-Proto", "https");
        plainName.Headers.Add("Cookie", $"{Cookie}={sessionId}");
        await (await client.SendAsync(plainName, Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    // ---- Sign-in throttling -------------------------------------------------------------------------------------

    [Fact]
    public async Task Sign_in_is_throttled_per_client_address_and_in_total_and_failed_attempts_weigh_more()
    {
        var (app, client) = await StartAsync("signin-throttle", new Dictionary<string, string?>
        {
            ["AgentSentinel:Proxy:KnownProxies:0"] = "127.0.0.1",
            ["AgentSentinel:Limits:SignIn:PerAddress:TokenLimit"] = "6",
            ["AgentSentinel:Limits:SignIn:PerAddress:TokensPerPeriod"] = "1",
            ["AgentSentinel:Limits:SignIn:PerAddress:ReplenishmentPeriod"] = "00:01:00",
            ["AgentSentinel:Limits:SignIn:Total:TokenLimit"] = "12",
            ["AgentSentinel:Limits:SignIn:Total:TokensPerPeriod"] = "1",
            ["AgentSentinel:Limits:SignIn:Total:ReplenishmentPeriod"] = "00:01:00",
            ["AgentSentinel:Limits:SignIn:FailureWeight"] = "3",
        });
        await using var _ = app;
        using var __ = client;
        var key = await app.CreateKeyAsync("cid", [Scopes.Approver], "cid@example.com");
        const string unknown = "as_this_key_does_not_exist_0000000000";

        // Two failures from one address take 2 x 3 of its 6 tokens: even the right key is then refused there.
        await (await client.SendAsync(SignIn(unknown, forwardedFor: "203.0.113.1"), Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized);
        await (await client.SendAsync(SignIn(unknown, forwardedFor: "203.0.113.1"), Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized);
        var refused = await client.SendAsync(SignIn(key, forwardedFor: "203.0.113.1"), Ct);
        await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests, "sign-in attempts");
        Assert.InRange(int.Parse(refused.Headers.GetValues("Retry-After").Single(), CultureInfo.InvariantCulture), 1, 60);

        // Another address is not affected.
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(SignIn(key, forwardedFor: "203.0.113.2"), Ct)).StatusCode);

        // Failures spread over addresses drain the total (12 - 6 - 1 - 3 - 3 = 0): a new address is refused too.
        await (await client.SendAsync(SignIn(unknown, forwardedFor: "203.0.113.3"), Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized);
        await (await client.SendAsync(SignIn(unknown, forwardedFor: "203.0.113.4"), Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized);
        var total = await client.SendAsync(SignIn(key, forwardedFor: "203.0.113.5"), Ct);
        await total.AssertProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.True(total.Headers.Contains("Retry-After"));
    }

    // ---- Anti-forgery -------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("Basic", "Zm9vOmJhcg==")]
    [InlineData("Negotiate", "abc")]
    [InlineData("ApiKey", "as_not_a_real_key_0000000000000000000")]
    public async Task A_state_change_with_the_cookie_needs_the_csrf_token_whatever_authorization_header_comes_beside_it(string scheme, string value)
    {
        var (app, client) = await StartAsync("csrf");
        await using var _ = app;
        using var __ = client;
        var key = await app.CreateKeyAsync("dee", [Scopes.Approver], "dee@example.com");
        var signIn = await client.SendAsync(SignIn(key), Ct);
        var cookie = SetCookie(signIn).Split(';')[0];

        // Sign-out names the cookie scheme explicitly: the Authorization header must not let it skip the check.
        using (var signOut = new HttpRequestMessage(HttpMethod.Delete, "/console/api/session"))
        {
            signOut.Headers.Add("Cookie", cookie);
            signOut.Headers.TryAddWithoutValidation("Authorization", $"{scheme} {value}");
            await (await client.SendAsync(signOut, Ct)).AssertProblemAsync(HttpStatusCode.Forbidden, "X-CSRF-Token");
        }
        using (var still = new HttpRequestMessage(HttpMethod.Get, "/console/api/session"))
        {
            still.Headers.Add("Cookie", cookie);
            Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(still, Ct)).StatusCode);
        }
    }

    [Fact]
    public async Task A_state_change_with_the_cookie_and_an_unusual_content_type_still_needs_the_csrf_token()
    {
        var (app, client) = await StartAsync("csrf-content-type");
        await using var _ = app;
        using var __ = client;
        using var agent = app.Client(await app.CreateKeyAsync("agent", [Scopes.Agent]));
        var id = (await agent.CreateApprovalAsync()).Id();
        var signIn = await client.SendAsync(SignIn(await app.CreateKeyAsync("eve", [Scopes.Approver], "eve@example.com")), Ct);
        var cookie = SetCookie(signIn).Split(';')[0];

        foreach (var contentType in new[] { "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x" })
        {
            using var approve = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/approvals/{id}/approve") { Content = new StringContent("{}", Encoding.UTF8) };
            approve.Content.Headers.Remove("Content-Type");
            approve.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            approve.Headers.Add("Cookie", cookie);
            await (await client.SendAsync(approve, Ct)).AssertProblemAsync(HttpStatusCode.Forbidden, "X-CSRF-Token");
        }
        using var admin = app.Client();
        Assert.Equal("pending", (await (await admin.GetAsync($"/api/v1/approvals/{id}", Ct)).Json()).Str("status"));
    }

    // ---- Event streams end with their session -------------------------------------------------------------------

    [Theory]
    [InlineData("key revoked")]
    [InlineData("signed out elsewhere")]
    public async Task An_event_stream_ends_within_seconds_of_its_sessions_end_while_changes_keep_flowing(string how)
    {
        var (app, client) = await StartAsync("events-revoked", new Dictionary<string, string?>
        {
            // Keep-alives would come only after 1 s of silence: the flowing changes never leave one.
            ["AgentSentinel:Console:EventsKeepAlive"] = "00:00:01",
            ["AgentSentinel:Console:EventsSessionCheck"] = "00:00:01",
        });
        await using var _ = app;
        using var __ = client;
        var key = await app.CreateKeyAsync("fay", [Scopes.Approver], "fay@example.com");
        var signIn = await client.SendAsync(SignIn(key), Ct);
        var csrf = (await signIn.Json()).Str("csrf_token")!;
        var cookie = SetCookie(signIn).Split(';')[0];

        using var open = new HttpRequestMessage(HttpMethod.Get, "/console/api/events");
        open.Headers.Add("Cookie", cookie);
        using var stream = await client.SendAsync(open, HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync(Ct), Encoding.UTF8);
        Assert.Equal("ready", await NextEventAsync(reader));

        // Another agent creates a request every 100 ms for as long as the test runs (at most 30 s).
        using var agent = app.Client(await app.CreateKeyAsync("busy agent", [Scopes.Agent]));
        using var stopCreating = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        stopCreating.CancelAfter(TimeSpan.FromSeconds(30));
        var creating = Task.Run(async () =>
        {
            var created = 0;
            while (!stopCreating.IsCancellationRequested)
            {
                try
                {
                    await agent.PostAsJsonAsync("/api/v1/approvals", new { action_name = "tick", timeout_seconds = 300 }, stopCreating.Token);
                    created++;
                    await Task.Delay(100, stopCreating.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            return created;
        }, Ct);
        Assert.Equal("changed", await NextEventAsync(reader));

        using var admin = app.Client();
        if (how == "key revoked")
        {
            var keys = await (await admin.GetAsync("/api/v1/admin/api-keys", Ct)).Json();
            var keyId = keys.AsArray().Single(k => key.StartsWith(k!.Str("prefix")!, StringComparison.Ordinal))!.Str("id");
            Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/v1/admin/api-keys/{keyId}", Ct)).StatusCode);
        }
        else
        {
            using var signOut = new HttpRequestMessage(HttpMethod.Delete, "/console/api/session");
            signOut.Headers.Add("Cookie", cookie);
            signOut.Headers.Add("X-CSRF-Token", csrf);
            Assert.Equal(HttpStatusCode.NoContent, (await client.SendAsync(signOut, Ct)).StatusCode);
        }
        var ended = DateTime.UtcNow;

        string? last = null;
        var changedAfter = 0;
        while (DateTime.UtcNow - ended < TimeSpan.FromSeconds(8))
        {
            last = await NextEventAsync(reader);
            if (last is null or "session-ended")
            {
                break;
            }
            changedAfter += last == "changed" ? 1 : 0;
        }
        await stopCreating.CancelAsync();
        var createdTotal = await creating;
        Assert.True(last == "session-ended", $"the stream went on for 8 s after the session ended ({changedAfter} changes sent meanwhile, {createdTotal} created)");
        Assert.True(DateTime.UtcNow - ended < TimeSpan.FromSeconds(5), $"the stream ended {(DateTime.UtcNow - ended).TotalSeconds:0.0} s after the session");
        Assert.Null(await reader.ReadLineAsync(Ct));
    }

    /// <summary>The next event's name (comments and data are skipped), or null when the stream closes.</summary>
    private static async Task<string?> NextEventAsync(StreamReader reader)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        string? name = null;
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.Length == 0 && name is not null)
            {
                return name;
            }
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line["event: ".Length..];
            }
        }
        return null;
    }
}
