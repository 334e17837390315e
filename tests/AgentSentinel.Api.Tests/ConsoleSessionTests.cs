using System.Net.Http.Json;
using System.Text;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Api.Tests;

/// <summary>One host on a clock the tests move, with short console session limits.</summary>
public sealed class ConsoleAppFixture : IAsyncLifetime
{
    public AgentSentinelApp App { get; private set; } = null!;
    public FakeTimeProvider Time { get; } = new(DateTimeOffset.UtcNow);

    public async ValueTask InitializeAsync()
    {
        App = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "console"), Time, settings: new Dictionary<string, string?>
        {
            ["AgentSentinel:Console:SessionIdleTimeout"] = "00:10:00",
            ["AgentSentinel:Console:SessionLifetime"] = "00:30:00",
            ["AgentSentinel:Console:EventsKeepAlive"] = "00:00:15",
        });
        _ = App.Server;
    }

    public async ValueTask DisposeAsync() => await App.DisposeAsync();
}

/// <summary>Console sign-in, sessions, anti-forgery, security headers and the live-update stream, over HTTP.</summary>
public sealed class ConsoleSessionTests(ConsoleAppFixture f) : IClassFixture<ConsoleAppFixture>
{
    private const string Cookie = "agentsentinel_session";
    private static CancellationToken Ct => Http.Ct;

    private sealed record Session(HttpClient Client, string Id, string Csrf) : IDisposable
    {
        public void Dispose() => Client.Dispose();

        public HttpRequestMessage Request(HttpMethod method, string url, object? body = null, string? csrf = null)
        {
            var request = new HttpRequestMessage(method, url);
            if (body is not null)
            {
                request.Content = JsonContent.Create(body);
            }
            if (csrf is not null)
            {
                request.Headers.Add("X-CSRF-Token", csrf);
            }
            return request;
        }
    }

    private static Task<HttpResponseMessage> PostSignInAsync(HttpClient client, string key, string? origin = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/console/api/session") { Content = JsonContent.Create(new { api_key = key }) };
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }
        return client.SendAsync(request, Ct);
    }

    private async Task<Session> SignInAsync(string key)
    {
        var client = f.App.Client(null);
        var response = await PostSignInAsync(client, key);
        var json = await response.Json();
        Assert.True(response.StatusCode == HttpStatusCode.OK, json.ToJsonString());
        var id = CookieValue(response)!;
        client.DefaultRequestHeaders.Add("Cookie", $"{Cookie}={id}");
        return new Session(client, id, json.Str("csrf_token")!);
    }

    private static string? CookieValue(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Set-Cookie", out var values)
            ? values.Select(v => v.Split(';')[0]).Where(v => v.StartsWith(Cookie + "=", StringComparison.Ordinal)).Select(v => v[(Cookie.Length + 1)..]).FirstOrDefault()
            : null;

    private Task<string> KeyAsync(string scope, string? email = null) =>
        f.App.CreateKeyAsync($"{scope}-{Guid.NewGuid():N}", [scope], email ?? $"{Guid.NewGuid():N}@example.com");

    [Fact]
    public async Task Signing_in_with_an_approver_key_sets_an_http_only_strict_cookie_and_answers_with_the_csrf_token()
    {
        var key = await KeyAsync(Scopes.Approver, "ann@example.com");
        using var client = f.App.Client(null);
        var response = await PostSignInAsync(client, key, origin: client.BaseAddress!.GetLeftPart(UriPartial.Authority));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var setCookie = Assert.Single(response.Headers.GetValues("Set-Cookie"));
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/", setCookie, StringComparison.OrdinalIgnoreCase);
        var json = await response.Json();
        Assert.Equal("ann@example.com", json.Str("email"));
        Assert.False(json["is_admin"]!.GetValue<bool>());
        Assert.False(string.IsNullOrEmpty(json.Str("csrf_token")));
        Assert.DoesNotContain(key, json.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal(f.Time.GetUtcNow().AddMinutes(10).ToUnixTimeSeconds(), DateTimeOffset.Parse(json.Str("expires_at")!, System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeSeconds());
    }

    [Fact]
    public async Task Sign_in_refuses_agent_keys_unknown_keys_forms_and_other_origins_without_a_cookie()
    {
        using var client = f.App.Client(null);
        var agent = await PostSignInAsync(client, await KeyAsync(Scopes.Agent));
        Assert.Null(CookieValue(agent));
        await agent.AssertProblemAsync(HttpStatusCode.Forbidden, "only the agent scope");

        var unknown = await PostSignInAsync(client, "as_this_key_does_not_exist_0000000000");
        Assert.Null(CookieValue(unknown));
        await unknown.AssertProblemAsync(HttpStatusCode.Unauthorized, "not valid");

        var approverKey = await KeyAsync(Scopes.Approver);
        var form = await client.PostAsync("/console/api/session", new FormUrlEncodedContent([new("api_key", approverKey)]), Ct);
        Assert.Null(CookieValue(form));
        await form.AssertProblemAsync(HttpStatusCode.UnsupportedMediaType);

        var foreign = await PostSignInAsync(client, approverKey, origin: "https://evil.example.com");
        Assert.Null(CookieValue(foreign));
        await foreign.AssertProblemAsync(HttpStatusCode.Forbidden, "console's own pages");

        await (await client.PostRawAsync("/console/api/session", "{}")).AssertProblemAsync(HttpStatusCode.BadRequest, "api_key");
    }

    [Fact]
    public async Task A_state_change_with_the_cookie_needs_the_csrf_token_and_is_recorded_as_made_in_the_console()
    {
        using var agent = f.App.Client(await KeyAsync(Scopes.Agent));
        var id = (await agent.CreateApprovalAsync()).Id();
        using var session = await SignInAsync(await KeyAsync(Scopes.Approver, "carl@example.com"));

        Assert.Equal(HttpStatusCode.OK, (await session.Client.GetAsync($"/api/v1/approvals/{id}", Ct)).StatusCode);
        var missing = await session.Client.SendAsync(session.Request(HttpMethod.Post, $"/api/v1/approvals/{id}/approve", new { notes = "x" }), Ct);
        await missing.AssertProblemAsync(HttpStatusCode.Forbidden, "X-CSRF-Token");
        var wrong = await session.Client.SendAsync(session.Request(HttpMethod.Post, $"/api/v1/approvals/{id}/approve", new { notes = "x" }, csrf: session.Csrf[..^2] + "AA"), Ct);
        await wrong.AssertProblemAsync(HttpStatusCode.Forbidden, "X-CSRF-Token");
        using (var admin = f.App.Client())
        {
            Assert.Equal("pending", (await (await admin.GetAsync($"/api/v1/approvals/{id}", Ct)).Json()).Str("status"));
        }

        var ok = await session.Client.SendAsync(session.Request(HttpMethod.Post, $"/api/v1/approvals/{id}/approve", new { notes = "from the console" }, csrf: session.Csrf), Ct);
        var json = await ok.Json();
        Assert.True(ok.StatusCode == HttpStatusCode.OK, json.ToJsonString());
        Assert.Equal("approved", json.Str("status"));
        Assert.Equal("carl@example.com", json.Str("decided_by_email"));
        Assert.Equal("console", json.Str("decided_via"));
        var detail = await (await session.Client.GetAsync($"/api/v1/approvals/{id}", Ct)).Json();
        var approved = detail["events"]!.AsArray().Single(e => e!.Str("kind") == "approved")!;
        Assert.Equal("console", approved.Str("surface"));
        Assert.Equal("carl@example.com", approved.Str("actor"));
    }

    [Fact]
    public async Task An_api_key_call_needs_no_csrf_token_even_with_a_cookie_beside_it()
    {
        using var agent = f.App.Client(await KeyAsync(Scopes.Agent));
        var id = (await agent.CreateApprovalAsync()).Id();
        using var session = await SignInAsync(await KeyAsync(Scopes.Approver));
        using var keyed = f.App.Client(await KeyAsync(Scopes.Approver, "dora@example.com"));
        keyed.DefaultRequestHeaders.Add("Cookie", $"{Cookie}={session.Id}");
        var response = await keyed.PostJsonAsync($"/api/v1/approvals/{id}/reject", new { reason = "by key" });
        var json = await response.Json();
        Assert.Equal("rejected", json.Str("status"));
        Assert.Equal("api", json.Str("decided_via"));
        Assert.Equal("dora@example.com", json.Str("decided_by_email"));
    }

    [Fact]
    public async Task Signing_out_ends_the_session_and_needs_the_csrf_token()
    {
        using var session = await SignInAsync(await KeyAsync(Scopes.Approver));
        await (await session.Client.SendAsync(session.Request(HttpMethod.Delete, "/console/api/session"), Ct)).AssertProblemAsync(HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.OK, (await session.Client.GetAsync("/console/api/session", Ct)).StatusCode);

        var signOut = await session.Client.SendAsync(session.Request(HttpMethod.Delete, "/console/api/session", csrf: session.Csrf), Ct);
        Assert.Equal(HttpStatusCode.NoContent, signOut.StatusCode);
        Assert.Contains(signOut.Headers.GetValues("Set-Cookie"), v => v.StartsWith(Cookie + "=;", StringComparison.Ordinal));
        await (await session.Client.GetAsync("/console/api/session", Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized, "session has ended");
        await (await session.Client.GetAsync("/api/v1/approvals", Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Revoking_the_key_ends_its_sessions()
    {
        var key = await KeyAsync(Scopes.Approver);
        using var session = await SignInAsync(key);
        Assert.Equal(HttpStatusCode.OK, (await session.Client.GetAsync("/api/v1/approvals", Ct)).StatusCode);
        using var admin = f.App.Client();
        var keys = await (await admin.GetAsync("/api/v1/admin/api-keys", Ct)).Json();
        var keyId = keys.AsArray().Single(k => key.StartsWith(k!.Str("prefix")!, StringComparison.Ordinal) && k!["revoked_at"] is null)!.Str("id");
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/v1/admin/api-keys/{keyId}", Ct)).StatusCode);
        await (await session.Client.GetAsync("/api/v1/approvals", Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized, "session has ended");
    }

    [Fact]
    public async Task Sessions_end_when_idle_too_long_and_at_their_absolute_end()
    {
        using var idle = await SignInAsync(await KeyAsync(Scopes.Approver));
        using var busy = await SignInAsync(await KeyAsync(Scopes.Approver));
        for (var minute = 0; minute < 27; minute += 9)
        {
            f.Time.Advance(TimeSpan.FromMinutes(9));
            Assert.Equal(HttpStatusCode.OK, (await busy.Client.GetAsync("/api/v1/approvals", Ct)).StatusCode);
        }
        // 27 minutes: the idle one passed its 10 idle minutes long ago, the busy one is still in.
        await (await idle.Client.GetAsync("/console/api/session", Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized);
        f.Time.Advance(TimeSpan.FromMinutes(3));
        // 30 minutes: the absolute end, however busy.
        await (await busy.Client.GetAsync("/api/v1/approvals", Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Console_pages_and_files_carry_the_security_headers_and_other_routes_still_work()
    {
        using var anonymous = f.App.Client(null);
        foreach (var path in new[] { "/", "/signin", "/inbox", $"/approvals/{Guid.NewGuid()}", "/stats", "/admin", "/console/assets/app.js", "/console/assets/app.css" })
        {
            var response = await anonymous.GetAsync(path, Ct);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode}");
            Assert.Equal(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
                response.Headers.GetValues("Content-Security-Policy").Single());
            Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
            Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        }
        var page = await anonymous.GetStringAsync("/", Ct);
        Assert.DoesNotContain("<style", page, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("style=", page, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("<script type=\"module\" src=\"/console/assets/app.js\"></script>", page, StringComparison.Ordinal);
        Assert.Equal("text/javascript", (await anonymous.GetAsync("/console/assets/app.js", Ct)).Content.Headers.ContentType?.MediaType);
        await (await anonymous.GetAsync("/console/assets/nothing.js", Ct)).AssertProblemAsync(HttpStatusCode.NotFound);
        var asset = await anonymous.GetAsync("/console/assets/app.js", Ct);
        using var conditional = new HttpRequestMessage(HttpMethod.Get, "/console/assets/app.js");
        conditional.Headers.IfNoneMatch.Add(asset.Headers.ETag!);
        Assert.Equal(HttpStatusCode.NotModified, (await anonymous.SendAsync(conditional, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/scalar/", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health/live", Ct)).StatusCode);
        await (await anonymous.GetAsync("/api/v1/approvals", Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task The_event_stream_needs_a_session()
    {
        using var anonymous = f.App.Client(null);
        await (await anonymous.GetAsync("/console/api/events", Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized);
        using var keyed = f.App.Client(await KeyAsync(Scopes.Approver));
        await (await keyed.GetAsync("/console/api/events", Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized);
        using var forged = f.App.Client(null);
        forged.DefaultRequestHeaders.Add("Cookie", $"{Cookie}=forged-session-id");
        await (await forged.GetAsync("/console/api/events", Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized, "session has ended");
    }

    [Fact]
    public async Task The_event_stream_names_new_and_decided_requests_and_closes_when_the_session_ends()
    {
        using var session = await SignInAsync(await KeyAsync(Scopes.Approver));
        using var response = await session.Client.GetAsync("/console/api/events", HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Ct), Encoding.UTF8);
        Assert.Equal("ready", (await NextEventAsync(reader)).Event);

        using var agent = f.App.Client(await KeyAsync(Scopes.Agent));
        var id = (await agent.CreateApprovalAsync()).Id();
        var created = await NextEventAsync(reader);
        Assert.Equal("changed", created.Event);
        Assert.Contains(id, created.Data, StringComparison.Ordinal);

        using var approver = f.App.Client(await KeyAsync(Scopes.Approver));
        Assert.Equal(HttpStatusCode.OK, (await approver.PostJsonAsync($"/api/v1/approvals/{id}/approve", null)).StatusCode);
        var decided = await NextEventAsync(reader);
        Assert.Equal("changed", decided.Event);
        Assert.Contains(id, decided.Data, StringComparison.Ordinal);

        var signOut = await session.Client.SendAsync(session.Request(HttpMethod.Delete, "/console/api/session", csrf: session.Csrf), Ct);
        Assert.Equal(HttpStatusCode.NoContent, signOut.StatusCode);
        f.Time.Advance(TimeSpan.FromSeconds(15)); // the keep-alive tick checks the session
        Assert.Equal("session-ended", (await NextEventAsync(reader)).Event);
        Assert.Null(await reader.ReadLineAsync(Ct)); // and the stream is closed
    }

    private static async Task<(string Event, string Data)> NextEventAsync(StreamReader reader)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        string? name = null, data = null;
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.Length == 0)
            {
                if (name is not null)
                {
                    return (name, data ?? "");
                }
                continue;
            }
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line["data: ".Length..];
            }
        }
        throw new InvalidOperationException("The event stream closed.");
    }
}
