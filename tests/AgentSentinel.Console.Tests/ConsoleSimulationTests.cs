using System.Text.Json.Nodes;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace AgentSentinel.Console.Tests;

/// <summary>The routes editor shows how the requests of the last 30 days would have been treated under an edit before
/// it is saved, in a real browser against the real server.</summary>
public sealed class ConsoleSimulationTests(ConsoleFixture f) : IClassFixture<ConsoleFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_edited_route_table_is_compared_with_recent_requests_before_it_is_saved()
    {
        var refund = await f.CreateApprovalAsync("sim_refund", agent: "billing-agent");
        await f.CreateApprovalAsync("sim_report");

        await using var c = await f.SignedInPageAsync(f.AdminKey);
        var page = c.Page;
        await page.GetByRole(AriaRole.Link, new() { Name = "Administration" }).ClickAsync();
        var editor = page.Locator("#routes-json");
        await Expect(editor).ToBeVisibleAsync();
        await editor.FillAsync($$$"""
            [
              {"name": "payments", "match": {"actions": ["sim_refund"]}, "approvers": ["payer@example.com"], "slack": {"channel": "{{{ConsoleFixture.SlackChannel}}}"}},
              {"name": "default", "slack": {"channel": "{{{ConsoleFixture.SlackChannel}}}"}}
            ]
            """);
        await page.GetByRole(AriaRole.Button, new() { Name = "Save routes" }).ClickAsync();

        var comparison = page.Locator("#routes-simulation");
        await Expect(comparison).ToContainTextAsync("Last 30 days: 2 requests");
        await Expect(comparison.Locator("tr", new() { HasText = "Route payments" }).Locator("td")).ToHaveTextAsync(["0", "1"]);
        await Expect(comparison.Locator("tr", new() { HasText = "Route default" }).Locator("td")).ToHaveTextAsync(["2", "1"]);
        await Expect(comparison).ToContainTextAsync("1 request would have been treated differently: 1 route, 1 approvers.");
        await Expect(comparison.Locator($"li[data-id='{refund}']")).ToContainTextAsync("route: default → payments; approvers: none → payer@example.com");
        await Expect(page.Locator("#routes-errors")).ToContainTextAsync("again to apply");

        // Compared, not saved.
        using var adminApi = f.App.Client();
        Assert.Equal("default", JsonNode.Parse(await adminApi.GetStringAsync("/api/v1/admin/routes", Ct))!["routes"]![0]!["name"]!.GetValue<string>());

        await page.GetByRole(AriaRole.Button, new() { Name = "Save routes" }).ClickAsync();
        await Expect(page.Locator("#routes-errors")).ToContainTextAsync("Saved as version");
        await Expect(comparison).ToBeEmptyAsync();
        Assert.Equal("payments", JsonNode.Parse(await adminApi.GetStringAsync("/api/v1/admin/routes", Ct))!["routes"]![0]!["name"]!.GetValue<string>());
        Assert.Empty(c.Errors);
    }
}
