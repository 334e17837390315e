using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;
using Microsoft.Playwright;

namespace AgentSentinel.Console.Tests;

/// <summary>One server (real pipeline on a loopback port, SQLite, job server, fake Slack) and one Chromium for a test
/// class; each test gets its own browser context, so its own cookies.</summary>
public class ConsoleFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";
    public const string SlackChannel = "C0CONSOLE";

    private IPlaywright? _playwright;

    public AgentSentinelApp App { get; private set; } = null!;
    public FakeSlackServer Slack { get; private set; } = null!;
    public Uri BaseUrl { get; private set; } = null!;
    public IBrowser? Browser { get; private set; }
    public string ApproverKey { get; private set; } = "";
    public string ApproverEmail => "approver@example.com";
    public string AdminKey { get; private set; } = "";
    public string AgentKey { get; private set; } = "";
    public HttpClient Agent { get; private set; } = null!;

    /// <summary>The server's clock when a fixture moves time itself; null for the real clock.</summary>
    public FakeTimeProvider? Time { get; private set; }

    /// <summary>The database behind the server.</summary>
    protected virtual StorageProvider Provider => StorageProvider.Sqlite;

    /// <summary>A fixture that needs history (the README's statistics) runs the server on a clock it moves.</summary>
    protected virtual FakeTimeProvider? CreateTime() => null;

    /// <summary>Settings added to (or replacing) the fixture's own, decided before the server starts.</summary>
    protected virtual Task<IReadOnlyDictionary<string, string?>> MoreSettingsAsync() =>
        Task.FromResult<IReadOnlyDictionary<string, string?>>(new Dictionary<string, string?>());

    /// <summary>The loopback port the server listens on; 0 for any free port.</summary>
    protected int ListenPort { get; set; }

    /// <summary>Runs after the server and keys are ready, before the browser starts.</summary>
    protected virtual Task SeedAsync() => Task.CompletedTask;

    public async ValueTask InitializeAsync()
    {
        Slack = await FakeSlackServer.StartAsync();
        Time = CreateTime();
        var settings = new Dictionary<string, string?>
        {
            ["AgentSentinel:PublicBaseUrl"] = "https://approvals.example.com",
            ["AgentSentinel:Slack:BotToken"] = FakeSlackServer.Token,
            ["AgentSentinel:Slack:SigningSecret"] = SlackRequests.SigningSecret,
            ["AgentSentinel:Slack:ApiBaseUrl"] = Slack.BaseUrl.ToString(),
            ["AgentSentinel:Slack:MinSecondsBetweenPostsPerChannel"] = "0.02",
            ["AgentSentinel:Routing:Routes:0:Name"] = "default",
            ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = SlackChannel,
        };
        foreach (var (key, value) in await MoreSettingsAsync())
        {
            settings[key] = value;
        }
        App = new AgentSentinelApp(await TestStorage.CreateAsync(Provider, "console"), Time, runJobServer: Time is null, settings: settings);
        BaseUrl = App.StartOnLoopback(ListenPort);
        ApproverKey = await App.CreateKeyAsync("Approver", [Scopes.Approver], ApproverEmail);
        AdminKey = await App.CreateKeyAsync("Admin", [Scopes.Admin], "admin@example.com");
        // The fixture's requests come from several agents (agent-7, filter-agent-..., treasury-agent, ...), all under this key.
        AgentKey = await App.CreateKeyAsync("Agent", [Scopes.Agent], agentIds: ["*"]);
        Agent = App.Client(AgentKey);
        await SeedAsync();

        if (!File.Exists(ChromiumPath))
        {
            if (Environment.GetEnvironmentVariable("CI") == "true")
            {
                throw new InvalidOperationException($"{ChromiumPath} is missing: .ci/run installs Debian's chromium package.");
            }
            return;
        }
        // Debian's Chromium only: Playwright must never fetch a browser of its own.
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Args = ["--no-sandbox"],
            Headless = true,
        });
        Assertions.SetDefaultExpectTimeout(15_000);
    }

    public virtual async ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }
        _playwright?.Dispose();
        Agent?.Dispose();
        await App.DisposeAsync();
        await Slack.DisposeAsync();
    }

    /// <summary>A fresh browser context (no cookies) with a page that records script errors and CSP refusals.</summary>
    public async Task<ConsolePage> NewPageAsync(int width = 1280, int height = 860)
    {
        if (Browser is null)
        {
            Assert.Skip($"{ChromiumPath} is not installed (install Debian's chromium package; CI installs it).");
        }
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = BaseUrl.ToString(),
            ViewportSize = new ViewportSize { Width = width, Height = height },
            ColorScheme = ColorScheme.Light,
        });
        var page = await context.NewPageAsync();
        var errors = new ConcurrentQueue<string>();
        page.Console += (_, message) =>
        {
            // A refused call (401 before sign-in, 400 for a missing reason) is logged by the browser as a failed
            // resource; that is the server answering, not the page failing. Script errors and CSP refusals count.
            if (message.Type == "error" && !message.Text.StartsWith("Failed to load resource", StringComparison.Ordinal))
            {
                errors.Enqueue(message.Text);
            }
        };
        page.PageError += (_, error) => errors.Enqueue(error);
        return new ConsolePage(context, page, errors);
    }

    /// <summary>Signs in through the sign-in form and waits for the inbox.</summary>
    public async Task<ConsolePage> SignedInPageAsync(string key, string path = "/")
    {
        var console = await NewPageAsync();
        await console.Page.GotoAsync(path);
        await console.Page.GetByLabel("API key").FillAsync(key);
        await console.Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(console.Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" })).ToBeVisibleAsync();
        return console;
    }

    /// <summary>Asks for a decision as the agent, through the agent API.</summary>
    public async Task<string> CreateApprovalAsync(string action, string? description = null, string priority = "medium", string? risk = null,
        int timeoutSeconds = 600, decimal? cost = null, string agent = "agent-7")
    {
        var response = await Agent.PostAsJsonAsync("/api/v1/approvals", new
        {
            action_name = action,
            action_description = description,
            agent_id = agent,
            run_id = "run-42",
            priority,
            risk_level = risk,
            timeout_seconds = timeoutSeconds,
            estimated_cost = cost,
            action_inputs = new { account = "ACME-001", amount = 1250.5, currency = "EUR" },
            context = new { reason = "monthly supplier payment", ticket = "OPS-118" },
        }, TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
        return json["id"]!.GetValue<string>();
    }

    public async Task<JsonNode> GetApprovalAsync(string id)
    {
        using var admin = App.Client();
        return JsonNode.Parse(await admin.GetStringAsync($"/api/v1/approvals/{id}", TestContext.Current.CancellationToken))!;
    }
}

/// <summary>A page in its own context, with the console errors it logged.</summary>
public sealed class ConsolePage(IBrowserContext context, IPage page, ConcurrentQueue<string> errors) : IAsyncDisposable
{
    public IBrowserContext Context => context;
    public IPage Page => page;
    public IReadOnlyCollection<string> Errors => errors;

    public async ValueTask DisposeAsync() => await context.DisposeAsync();
}
