using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Api.WebConsole;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Storage;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace AgentSentinel.Console.Tests;

/// <summary>The console behind a real OpenID provider (OpenIddict, in this process), with key sign-in turned off.
/// The server's clock is one the tests move, and the provider stamps <c>auth_time</c> from the same clock.</summary>
public class OidcConsoleFixture : ConsoleFixture
{
    public const string DisplayName = "Test IdP";
    public const string ApproverRole = "sentinel-approver";
    public const string AdminRole = "sentinel-admin";
    public const int StepUpMinutes = 5;

    public TestOpenIdProvider OpenIdProvider { get; private set; } = null!;

    public Uri PublicBaseUrl { get; private set; } = null!;

    protected override FakeTimeProvider? CreateTime() => new(DateTimeOffset.UtcNow);

    protected override async Task<IReadOnlyDictionary<string, string?>> MoreSettingsAsync()
    {
        OpenIdProvider = await TestOpenIdProvider.StartAsync(Time!);
        ListenPort = TestOpenIdProvider.FreePort();
        PublicBaseUrl = new Uri($"http://127.0.0.1:{ListenPort}/");
        OpenIdProvider.ExpectedRedirectBase = PublicBaseUrl.ToString().TrimEnd('/');
        return new Dictionary<string, string?>
        {
            ["AgentSentinel:PublicBaseUrl"] = PublicBaseUrl.ToString().TrimEnd('/'),
            ["AgentSentinel:Console:ApiKeySignIn"] = "false",
            ["AgentSentinel:Console:Oidc:Authority"] = OpenIdProvider.Authority.ToString(),
            ["AgentSentinel:Console:Oidc:ClientId"] = TestOpenIdProvider.ClientId,
            ["AgentSentinel:Console:Oidc:DisplayName"] = DisplayName,
            ["AgentSentinel:Console:Oidc:ApproverRoles:0"] = ApproverRole,
            ["AgentSentinel:Console:Oidc:AdminRoles:0"] = AdminRole,
            // Critical requests need a sign-in at the provider within the last StepUpMinutes (step-up).
            ["AgentSentinel:Routing:Routes:0:Name"] = "critical-step-up",
            ["AgentSentinel:Routing:Routes:0:Match:Priorities:0"] = "critical",
            ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = SlackChannel,
            ["AgentSentinel:Routing:Routes:0:RequireRecentSignInMinutes"] = StepUpMinutes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["AgentSentinel:Routing:Routes:1:Name"] = "default",
            ["AgentSentinel:Routing:Routes:1:Slack:Channel"] = SlackChannel,
        };
    }

    /// <summary>Reads the provider's metadata and keys through the server once, so the first browser sign-in does not
    /// wait for the provider to make its keys and the server to fetch them.</summary>
    protected override async Task SeedAsync()
    {
        var options = App.Services.GetRequiredService<IOptionsMonitor<OpenIdConnectOptions>>().Get(OidcSignIn.SchemeName);
        // A saturated machine can starve the first read; the server's configuration manager retries on the next call.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var metadata = await options.ConfigurationManager!.GetConfigurationAsync(TestContext.Current.CancellationToken);
                Assert.NotEmpty(metadata.SigningKeys);
                return;
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                options.ConfigurationManager!.RequestRefresh();
            }
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await OpenIdProvider.DisposeAsync();
    }

    /// <summary>Opens <paramref name="path"/>, chooses "Sign in with Test IdP" and signs in at the provider as <paramref name="login"/>.</summary>
    public async Task SignInThroughProviderAsync(IPage page, string login, string path = "/")
    {
        await page.GotoAsync(path);
        await page.GetByRole(AriaRole.Link, new() { Name = $"Sign in with {DisplayName}" }).ClickAsync();
        await LogInAtProviderAsync(page, login);
    }

    /// <summary>Fills the provider's own sign-in form.</summary>
    public static async Task LogInAtProviderAsync(IPage page, string login)
    {
        await page.GetByLabel("Provider login").FillAsync(login);
        await page.GetByRole(AriaRole.Button, new() { Name = "Continue at the provider" }).ClickAsync();
    }
}

public sealed class OidcSignInTests(OidcConsoleFixture f) : IClassFixture<OidcConsoleFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ProviderUser User(string login, string[] roles, bool verified = true)
    {
        var user = new ProviderUser(login, "sub-" + login, $"{login}@corp.example.com", verified, roles, $"{login} Person");
        f.OpenIdProvider.AddUser(user);
        return user;
    }

    [Fact]
    public async Task An_approver_signs_in_through_the_provider_with_pkce_and_decides_as_their_verified_email()
    {
        var user = User("alice", [OidcConsoleFixture.ApproverRole]);
        var id = await f.CreateApprovalAsync("rotate_keys", "Rotate the payment API keys");
        await using var c = await f.NewPageAsync();
        var page = c.Page;

        await f.SignInThroughProviderAsync(page, user.Login, $"/approvals/{id}");

        // Back where the person was going, in the console's own session.
        await Expect(page).ToHaveURLAsync(new Uri(f.BaseUrl, $"/approvals/{id}").ToString());
        await Expect(page.Locator("#session-box")).ToContainTextAsync(user.Email);
        var authorize = f.OpenIdProvider.AuthorizationRequests.Last();
        Assert.Equal("code", authorize["response_type"]);
        Assert.Equal("S256", authorize["code_challenge_method"]);
        Assert.False(string.IsNullOrEmpty(authorize["code_challenge"]));
        Assert.Equal("openid profile email", authorize["scope"]);
        // The redirect URI is built from AgentSentinel:PublicBaseUrl.
        Assert.Equal(new Uri(f.PublicBaseUrl, "/signin-oidc").ToString(), authorize["redirect_uri"]);
        var cookies = await c.Context.CookiesAsync();
        var session = Assert.Single(cookies, k => k.Name == "agentsentinel_session");
        Assert.True(session.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, session.SameSite);

        await page.GetByLabel("Notes (optional)").FillAsync("Signed in with SSO.");
        await page.GetByRole(AriaRole.Button, new() { Name = "Approve", Exact = true }).ClickAsync();
        await Expect(page.Locator("#request-status")).ToHaveTextAsync("approved");

        var stored = await f.GetApprovalAsync(id);
        Assert.Equal(user.Email, stored["decided_by_email"]!.GetValue<string>());
        Assert.Equal("console", stored["decided_via"]!.GetValue<string>());
        var person = await f.App.Service<IConsolePeopleStore>().GetAsync(ConsolePerson.IdFor(f.OpenIdProvider.Authority.ToString(), user.Subject), Ct);
        Assert.NotNull(person);
        Assert.Equal([Scopes.Approver], person.Scopes);
        Assert.False(await page.GetByRole(AriaRole.Link, new() { Name = "Administration" }).IsVisibleAsync());
        Assert.Empty(c.Errors);
    }

    [Fact]
    public async Task An_admin_role_opens_administration()
    {
        var user = User("root-ops", [OidcConsoleFixture.AdminRole, "unrelated-role"]);
        await using var c = await f.NewPageAsync();
        await f.SignInThroughProviderAsync(c.Page, user.Login);
        await Expect(c.Page.GetByRole(AriaRole.Heading, new() { Name = "Inbox" })).ToBeVisibleAsync();
        await c.Page.GetByRole(AriaRole.Link, new() { Name = "Administration" }).ClickAsync();
        await Expect(c.Page).ToHaveURLAsync(new Uri(f.BaseUrl, "/admin").ToString());
        await Expect(c.Page.GetByRole(AriaRole.Heading, new() { Name = "Administration" })).ToBeVisibleAsync();
        Assert.Empty(c.Errors);
    }

    [Fact]
    public async Task A_person_with_neither_role_is_refused_with_a_clear_page_and_is_no_approver_anywhere()
    {
        var user = User("mallory", ["sales"]);
        await using var c = await f.NewPageAsync();
        await f.SignInThroughProviderAsync(c.Page, user.Login);

        await Expect(c.Page).ToHaveURLAsync(new Uri(f.BaseUrl, "/signin?refused=no-role").ToString());
        await Expect(c.Page.Locator("#signin-refused")).ToContainTextAsync("neither an approver nor an admin role");
        await Expect(c.Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" })).ToBeHiddenAsync();
        Assert.DoesNotContain(await c.Context.CookiesAsync(), k => k.Name == "agentsentinel_session");
        Assert.Null(await f.App.Service<IApproverDirectory>().FindByEmailAsync(user.Email, Ct));
    }

    [Fact]
    public async Task A_person_whose_provider_has_not_verified_the_email_is_refused()
    {
        var user = User("eve", [OidcConsoleFixture.AdminRole], verified: false);
        await using var c = await f.NewPageAsync();
        await f.SignInThroughProviderAsync(c.Page, user.Login);

        await Expect(c.Page).ToHaveURLAsync(new Uri(f.BaseUrl, "/signin?refused=unverified-email").ToString());
        await Expect(c.Page.Locator("#signin-refused")).ToContainTextAsync("has not confirmed your email address");
        Assert.DoesNotContain(await c.Context.CookiesAsync(), k => k.Name == "agentsentinel_session");
        Assert.Null(await f.App.Service<IApproverDirectory>().FindByEmailAsync(user.Email, Ct));
    }

    [Fact]
    public async Task Sign_out_ends_the_console_session_and_the_provider_session()
    {
        var user = User("bob", [OidcConsoleFixture.ApproverRole]);
        await using var c = await f.NewPageAsync();
        var page = c.Page;
        await f.SignInThroughProviderAsync(page, user.Login);
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Sign out" })).ToBeVisibleAsync();
        var logins = f.OpenIdProvider.Logins;

        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();

        await Expect(page).ToHaveURLAsync(new Uri(f.BaseUrl, "/signin?signed_out=1").ToString());
        await Expect(page.Locator("#signin-signed-out")).ToHaveTextAsync("You are signed out.");
        var endSession = f.OpenIdProvider.EndSessionRequests.Last();
        Assert.Equal(TestOpenIdProvider.ClientId, endSession["client_id"]);
        Assert.Equal(new Uri(f.PublicBaseUrl, "/signout-callback-oidc").ToString(), endSession["post_logout_redirect_uri"]);
        var response = await page.APIRequest.GetAsync("/console/api/session");
        Assert.Equal(401, response.Status);

        // The provider asks for the person again: its session ended too.
        await page.GetByRole(AriaRole.Link, new() { Name = $"Sign in with {OidcConsoleFixture.DisplayName}" }).ClickAsync();
        await Expect(page.GetByLabel("Provider login")).ToBeVisibleAsync();
        await OidcConsoleFixture.LogInAtProviderAsync(page, user.Login);
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Sign out" })).ToBeVisibleAsync();
        Assert.Equal(logins + 1, f.OpenIdProvider.Logins);
        Assert.Empty(c.Errors);
    }

    [Fact]
    public async Task Key_sign_in_is_hidden_and_refused_when_turned_off()
    {
        await using var c = await f.NewPageAsync();
        await c.Page.GotoAsync("/");
        await Expect(c.Page.GetByRole(AriaRole.Link, new() { Name = $"Sign in with {OidcConsoleFixture.DisplayName}" })).ToBeVisibleAsync();
        Assert.Equal(0, await c.Page.GetByLabel("API key").CountAsync());

        using var anonymous = f.App.Client(key: null);
        var refused = await anonymous.PostAsJsonAsync("/console/api/session", new { api_key = f.ApproverKey }, Ct);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        var problem = JsonNode.Parse(await refused.Content.ReadAsStringAsync(Ct))!;
        Assert.Contains("turned off", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains(OidcConsoleFixture.DisplayName, problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.DoesNotContain(refused.Headers, h => h.Key == "Set-Cookie");
        Assert.Empty(c.Errors);
    }

    [Fact]
    public async Task A_signed_in_person_is_an_approver_identity_for_chat()
    {
        var user = User("carol", [OidcConsoleFixture.ApproverRole]);
        var directory = f.App.Service<IApproverDirectory>();
        Assert.Null(await directory.FindByEmailAsync(user.Email, Ct));
        await using var c = await f.NewPageAsync();
        await f.SignInThroughProviderAsync(c.Page, user.Login);
        await Expect(c.Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" })).ToBeVisibleAsync();

        var identity = await directory.FindByEmailAsync(user.Email.ToUpperInvariant(), Ct);
        Assert.NotNull(identity);
        Assert.StartsWith(ConsolePerson.IdPrefix, identity.KeyId, StringComparison.Ordinal);
        Assert.False(identity.IsAdmin);
        Assert.Equal(user.Email, identity.Email);
    }

    [Fact]
    public async Task The_sign_in_call_refuses_a_malformed_step_up_age_and_sends_the_rest_to_the_provider()
    {
        using var anonymous = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = f.BaseUrl };
        var response = await anonymous.GetAsync("/console/oidc/signin?return=/inbox&max_age=soon", Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var redirect = await anonymous.GetAsync("/console/oidc/signin?return=//evil.example.com/", Ct);
        Assert.Equal(HttpStatusCode.Redirect, redirect.StatusCode);
        Assert.StartsWith(f.OpenIdProvider.Authority.ToString(), redirect.Headers.Location!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_critical_decision_after_the_step_up_window_sends_the_person_back_to_the_provider_then_completes()
    {
        var user = User("dave", [OidcConsoleFixture.ApproverRole]);
        await using var c = await f.NewPageAsync();
        var page = c.Page;
        await f.SignInThroughProviderAsync(page, user.Login);
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Sign out" })).ToBeVisibleAsync();
        var id = await f.CreateApprovalAsync("wire_transfer", "Wire 250,000 EUR to a new supplier", priority: "critical");
        var logins = f.OpenIdProvider.Logins;

        // The sign-in is now older than the route allows.
        f.Time!.Advance(TimeSpan.FromMinutes(OidcConsoleFixture.StepUpMinutes + 1));
        await page.GotoAsync($"/approvals/{id}");
        await page.GetByLabel("Notes (optional)").FillAsync("Called the supplier back.");
        await page.GetByRole(AriaRole.Button, new() { Name = "Approve", Exact = true }).ClickAsync();

        // The provider asks the person to sign in again before anything is decided.
        await Expect(page.GetByLabel("Provider login")).ToBeVisibleAsync();
        var authorize = f.OpenIdProvider.AuthorizationRequests.Last();
        Assert.Equal("login", authorize["prompt"]);
        Assert.Equal((OidcConsoleFixture.StepUpMinutes * 60).ToString(System.Globalization.CultureInfo.InvariantCulture), authorize["max_age"]);
        Assert.Equal("pending", (await f.GetApprovalAsync(id))["status"]!.GetValue<string>());

        await OidcConsoleFixture.LogInAtProviderAsync(page, user.Login);

        // Back on the request, the decision the person made completes.
        await Expect(page).ToHaveURLAsync(new Uri(f.BaseUrl, $"/approvals/{id}").ToString());
        await Expect(page.Locator("#request-status")).ToHaveTextAsync("approved");
        Assert.Equal(logins + 1, f.OpenIdProvider.Logins);
        var stored = await f.GetApprovalAsync(id);
        Assert.Equal(user.Email, stored["decided_by_email"]!.GetValue<string>());
        Assert.Equal("Called the supplier back.", stored["decision_notes"]!.GetValue<string>());

        // Within the window, the next critical decision needs no new sign-in.
        var next = await f.CreateApprovalAsync("wire_transfer", "Second wire", priority: "critical");
        await page.GotoAsync($"/approvals/{next}");
        await page.GetByLabel("Reason (required)").FillAsync("Not budgeted.");
        await page.GetByRole(AriaRole.Button, new() { Name = "Reject", Exact = true }).ClickAsync();
        await Expect(page.Locator("#request-status")).ToHaveTextAsync("rejected");
        Assert.Equal(logins + 1, f.OpenIdProvider.Logins);
        Assert.Empty(c.Errors);
    }
}
