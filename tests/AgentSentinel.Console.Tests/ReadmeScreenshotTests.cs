using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace AgentSentinel.Console.Tests;

/// <summary>Two weeks of history, made through the real API on a clock the fixture moves, then today's pending
/// requests: the data behind the README's screenshots.</summary>
public sealed class HistoryFixture : ConsoleFixture
{
    private static readonly string[] Priorities = ["critical", "high", "medium", "low"];
    private static readonly string[] Risks = ["critical", "high", "medium", "low", "minimal"];
    private static readonly (string Action, string Agent, string Description)[] Actions =
    [
        ("transfer_funds", "treasury-agent", "Pay a supplier invoice by SEPA transfer"),
        ("update_prices", "pricing-agent", "Adjust list prices after a cost change"),
        ("delete_records", "crm-cleaner", "Purge stale leads from the CRM"),
        ("send_campaign", "marketing-agent", "Send an email campaign to subscribers"),
        ("scale_cluster", "ops-agent", "Add nodes to the production cluster"),
    ];

    /// <summary>Decision delays in seconds, cycling through every histogram bucket.</summary>
    private static readonly int[] Delays = [25, 40, 150, 240, 420, 700, 1500, 2400, 5400, 9000, 30000];

    public DateTimeOffset Today { get; private set; }

    protected override FakeTimeProvider? CreateTime() =>
        new(new DateTimeOffset(DateTime.UtcNow.Date.AddDays(-13).AddHours(7), TimeSpan.Zero));

    protected override async Task SeedAsync()
    {
        var time = Time!;
        var random = new Random(2026);
        using var approver = App.Client(ApproverKey);
        var ct = TestContext.Current.CancellationToken;
        for (var day = 0; day < 13; day++)
        {
            time.SetUtcNow(new DateTimeOffset(DateTime.UtcNow.Date.AddDays(day - 13).AddHours(7), TimeSpan.Zero));
            var count = 3 + random.Next(6);
            for (var n = 0; n < count; n++)
            {
                var (action, agent, description) = Actions[random.Next(Actions.Length)];
                var outcome = random.Next(20);
                var id = await CreateApprovalAsync(action, description, Priorities[random.Next(Priorities.Length)], Risks[random.Next(Risks.Length)],
                    timeoutSeconds: outcome < 2 ? 600 : 36_000, cost: random.Next(3) == 0 ? null : random.Next(50, 50_000), agent: agent);
                if (outcome < 2)
                {
                    time.Advance(TimeSpan.FromSeconds(601)); // nobody answered: it expires
                    continue;
                }
                time.Advance(TimeSpan.FromSeconds(Delays[random.Next(Delays.Length)]));
                var response = outcome switch
                {
                    2 => await Agent.PostAsync($"/api/v1/approvals/{id}/cancel", null, ct),
                    < 6 => await approver.PostAsJsonAsync($"/api/v1/approvals/{id}/reject", new { reason = "Outside policy" }, ct),
                    _ => await approver.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { notes = "Looks right" }, ct),
                };
                response.EnsureSuccessStatusCode();
            }
        }
        time.SetUtcNow(DateTimeOffset.UtcNow);
        Today = time.GetUtcNow();
        await CreateApprovalAsync("transfer_funds", "Wire $48,000 to Northwind Traders for invoice NW-2291", "critical", "critical", timeoutSeconds: 900, cost: 48_000m, agent: "treasury-agent");
        await CreateApprovalAsync("update_prices", "Raise list prices of 12 SKUs by 4% ahead of the supplier increase", "high", "medium", timeoutSeconds: 3600, cost: 0m, agent: "pricing-agent");
        await CreateApprovalAsync("delete_records", "Purge 1,204 stale leads older than 3 years from the CRM", "medium", "high", timeoutSeconds: 7200, agent: "crm-cleaner");
        await CreateApprovalAsync("scale_cluster", "Add 6 nodes to prod-eu-1 for the Black Friday peak", "high", "high", timeoutSeconds: 1800, cost: 2_340m, agent: "ops-agent");
        await CreateApprovalAsync("send_campaign", "Send the November product newsletter to 18,000 subscribers", "low", "low", timeoutSeconds: 86_400, cost: 120m, agent: "marketing-agent");
    }
}

public sealed class ReadmeScreenshotTests(HistoryFixture f) : IClassFixture<HistoryFixture>
{
    [Fact]
    public async Task Screenshots_of_the_inbox_and_the_statistics_page_for_the_readme()
    {
        var images = Path.Combine(Repository.Root, "docs", "images");
        Directory.CreateDirectory(images);
        await using var c = await f.SignedInPageAsync(f.AdminKey);
        var page = c.Page;
        await Expect(page.Locator("tr.inbox-row")).ToHaveCountAsync(5);
        await Expect(page.Locator("tr.inbox-row").First).ToContainTextAsync("transfer_funds");
        await Expect(page.Locator("#live")).ToHaveTextAsync("Live");
        await page.Mouse.MoveAsync(0, 0);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(images, "console-inbox.png") });

        await page.GetByRole(AriaRole.Link, new() { Name = "Statistics" }).ClickAsync();
        using var api = f.App.Client();
        var from = new DateTimeOffset(f.Today.UtcDateTime.Date.AddDays(-29), TimeSpan.Zero).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        // The server's clock stands still at Today; the browser's window ends at its own (later) now.
        var to = f.Today.AddHours(1).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        var stats = JsonNode.Parse(await api.GetStringAsync($"/api/v1/approvals/stats?from={from}&to={to}", TestContext.Current.CancellationToken))!;
        Assert.True(stats["approved"]!.GetValue<long>() > 10, "the history has approvals");
        await Expect(page.Locator("#kpi-total")).ToHaveTextAsync(stats["total"]!.GetValue<long>().ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Expect(page.Locator("#chart-over-time rect").First).ToBeVisibleAsync();
        await Expect(page.Locator("#chart-decision-times rect").First).ToBeVisibleAsync();
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(images, "console-statistics.png"), FullPage = true });

        Assert.True(new FileInfo(Path.Combine(images, "console-inbox.png")).Length > 10_000);
        Assert.True(new FileInfo(Path.Combine(images, "console-statistics.png")).Length > 10_000);
        Assert.Empty(c.Errors);
    }
}
