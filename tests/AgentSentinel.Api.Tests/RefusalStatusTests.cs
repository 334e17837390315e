using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

/// <summary>A host with a tiny intake bucket and one event stream per session, and the keys, requests and sessions
/// that each refusal needs.</summary>
public sealed class RefusalFixture : IAsyncLifetime
{
    public AgentSentinelApp App { get; private set; } = null!;
    public string AgentKey { get; private set; } = "";
    public string ThrottledKey { get; private set; } = "";
    public string CancelledId { get; private set; } = "";
    public string LiveCookie { get; private set; } = "";
    public string EndedCookie { get; private set; } = "";
    public string BusyCookie { get; private set; } = "";
    private HttpClient? _busy;
    private HttpResponseMessage? _busyStream;

    public async ValueTask InitializeAsync()
    {
        App = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "refusals"), settings: new Dictionary<string, string?>
        {
            ["AgentSentinel:Limits:Intake:TokenLimit"] = "2",
            ["AgentSentinel:Limits:Intake:TokensPerPeriod"] = "1",
            ["AgentSentinel:Limits:Intake:ReplenishmentPeriod"] = "01:00:00",
            ["AgentSentinel:Limits:MaxEventStreamsPerSession"] = "1",
        });
        _ = App.Server;
        AgentKey = await App.CreateKeyAsync("agent", [Scopes.Agent]);
        using (var agent = App.Client(AgentKey))
        {
            CancelledId = (await agent.CreateApprovalAsync()).Id();
            Assert.Equal(HttpStatusCode.OK, (await agent.PostJsonAsync($"/api/v1/approvals/{CancelledId}/cancel", null)).StatusCode);
        }
        ThrottledKey = await App.CreateKeyAsync("throttled agent", [Scopes.Agent]);
        using (var throttled = App.Client(ThrottledKey))
        {
            await throttled.CreateApprovalAsync();
            await throttled.CreateApprovalAsync();
        }
        var approverKey = await App.CreateKeyAsync("approver", [Scopes.Approver], "approver@example.com");
        LiveCookie = (await SignInAsync(approverKey)).Cookie;
        var (ended, csrf) = await SignInAsync(approverKey);
        using (var client = App.Client(null))
        {
            using var signOut = new HttpRequestMessage(HttpMethod.Delete, "/console/api/session");
            signOut.Headers.Add("Cookie", ended);
            signOut.Headers.Add("X-CSRF-Token", csrf);
            Assert.Equal(HttpStatusCode.NoContent, (await client.SendAsync(signOut, Http.Ct)).StatusCode);
        }
        EndedCookie = ended;
        BusyCookie = (await SignInAsync(approverKey)).Cookie;
        _busy = App.Client(null);
        _busy.DefaultRequestHeaders.Add("Cookie", BusyCookie);
        _busyStream = await _busy.GetAsync("/console/api/events", HttpCompletionOption.ResponseHeadersRead, Http.Ct);
        Assert.Equal(HttpStatusCode.OK, _busyStream.StatusCode);
    }

    private async Task<(string Cookie, string Csrf)> SignInAsync(string key)
    {
        using var client = App.Client(null);
        var response = await client.PostAsJsonAsync("/console/api/session", new { api_key = key }, Http.Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (response.Headers.GetValues("Set-Cookie").Single().Split(';')[0], (await response.Json()).Str("csrf_token")!);
    }

    public async ValueTask DisposeAsync()
    {
        _busyStream?.Dispose();
        _busy?.Dispose();
        await App.DisposeAsync();
    }
}

/// <summary>Every refusal keeps its status whatever the client accepts: a client asking for HTML, an event stream or
/// plain text gets the same 4xx (as a problem detail) as one that accepts anything, never a 500.</summary>
public sealed class RefusalStatusTests(RefusalFixture f) : IClassFixture<RefusalFixture>
{
    private sealed record Refusal(HttpStatusCode Status, Func<RefusalFixture, Task<HttpRequestMessage>> Build, string? Key = null);

    private static readonly Dictionary<string, Refusal> Refusals = new()
    {
        ["api 401 without a key"] = new(HttpStatusCode.Unauthorized, _ => Request(HttpMethod.Get, "/api/v1/approvals")),
        ["api 401 with an unknown key"] = new(HttpStatusCode.Unauthorized, _ => Request(HttpMethod.Get, "/api/v1/approvals"), "as_this_key_does_not_exist_0000000000"),
        ["api 403 agent key on the admin api"] = new(HttpStatusCode.Forbidden, _ => Request(HttpMethod.Get, "/api/v1/admin/api-keys"), "agent"),
        ["api 404 unknown request"] = new(HttpStatusCode.NotFound, _ => Request(HttpMethod.Get, $"/api/v1/approvals/{Guid.NewGuid()}"), "admin"),
        ["api 404 unknown path"] = new(HttpStatusCode.NotFound, _ => Request(HttpMethod.Get, "/api/v1/no-such-thing"), "admin"),
        ["api 405 wrong method"] = new(HttpStatusCode.MethodNotAllowed, _ => Request(HttpMethod.Delete, "/api/v1/approvals"), "admin"),
        ["api 409 cancel a cancelled request"] = new(HttpStatusCode.Conflict, f => Request(HttpMethod.Post, $"/api/v1/approvals/{f.CancelledId}/cancel"), "agent"),
        ["api 413 body too large"] = new(HttpStatusCode.RequestEntityTooLarge, _ => Request(HttpMethod.Post, "/api/v1/approvals",
            JsonContent.Create(new { action_name = "big", action_description = new string('x', 300_000) })), "fresh"),
        ["api 415 not json"] = new(HttpStatusCode.UnsupportedMediaType, _ => Request(HttpMethod.Post, "/api/v1/approvals",
            new StringContent("action_name=x", Encoding.UTF8, "text/plain")), "fresh"),
        ["api 429 intake"] = new(HttpStatusCode.TooManyRequests, _ => Request(HttpMethod.Post, "/api/v1/approvals",
            JsonContent.Create(new { action_name = "one_more" })), "throttled"),
        ["console 401 events without a session"] = new(HttpStatusCode.Unauthorized, _ => Request(HttpMethod.Get, "/console/api/events")),
        ["console 401 events after sign-out"] = new(HttpStatusCode.Unauthorized, f => Request(HttpMethod.Get, "/console/api/events", cookie: f.EndedCookie)),
        ["console 403 sign-out without the csrf token"] = new(HttpStatusCode.Forbidden, f => Request(HttpMethod.Delete, "/console/api/session", cookie: f.LiveCookie)),
        ["console 403 sign-in with an agent key"] = new(HttpStatusCode.Forbidden, f => Request(HttpMethod.Post, "/console/api/session", JsonContent.Create(new { api_key = f.AgentKey }))),
        ["console 404 unknown file"] = new(HttpStatusCode.NotFound, _ => Request(HttpMethod.Get, "/console/assets/nothing.js")),
        ["console 405 wrong method"] = new(HttpStatusCode.MethodNotAllowed, f => Request(HttpMethod.Put, "/console/api/session", cookie: f.LiveCookie)),
        ["console 415 sign-in as a form"] = new(HttpStatusCode.UnsupportedMediaType, f => Request(HttpMethod.Post, "/console/api/session",
            new FormUrlEncodedContent([new("api_key", f.AgentKey)]))),
        ["console 429 a second event stream"] = new(HttpStatusCode.TooManyRequests, f => Request(HttpMethod.Get, "/console/api/events", cookie: f.BusyCookie)),
    };

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var name in Refusals.Keys)
        {
            foreach (var accept in new[] { "text/html", "text/event-stream", "text/plain", "*/*" })
            {
                data.Add(name, accept);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Every_refusal_keeps_its_status_whatever_the_client_accepts(string refusal, string accept)
    {
        var (status, build, key) = Refusals[refusal];
        using var client = f.App.Client(key switch
        {
            null => null,
            "admin" => AgentSentinelApp.BootstrapAdminKey,
            "agent" => f.AgentKey,
            "throttled" => f.ThrottledKey,
            "fresh" => await f.App.CreateKeyAsync("fresh agent", [Scopes.Agent]),
            _ => key,
        });
        using var request = await build(f);
        request.Headers.Accept.Clear();
        request.Headers.Accept.Add(MediaTypeWithQualityHeaderValue.Parse(accept));
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Http.Ct);
        // The status first: an answer that is not the refusal may be an endless event stream.
        Assert.True(response.StatusCode == status, $"Expected {(int)status}, got {(int)response.StatusCode}");
        await response.AssertProblemAsync(status);
    }

    private static Task<HttpRequestMessage> Request(HttpMethod method, string url, HttpContent? content = null, string? cookie = null)
    {
        var request = new HttpRequestMessage(method, url) { Content = content };
        if (cookie is not null)
        {
            request.Headers.Add("Cookie", cookie);
        }
        return Task.FromResult(request);
    }
}
