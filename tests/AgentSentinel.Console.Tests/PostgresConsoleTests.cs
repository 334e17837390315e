using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace AgentSentinel.Console.Tests;

public sealed class PostgresConsoleFixture : ConsoleFixture
{
    protected override StorageProvider Provider => StorageProvider.Postgres;
}

/// <summary>The console on PostgreSQL, where several server instances share one database: a request created through
/// another instance reaches the console through LISTEN/NOTIFY.</summary>
public sealed class PostgresConsoleTests(PostgresConsoleFixture f) : IClassFixture<PostgresConsoleFixture>
{
    [Fact]
    public async Task A_request_created_on_another_instance_appears_live_and_is_decided_in_the_console()
    {
        await using var c = await f.SignedInPageAsync(f.ApproverKey);
        var page = c.Page;
        await Expect(page.Locator("#live")).ToHaveTextAsync("Live");

        await using var other = new AgentSentinelApp(f.App.Storage);
        using var agent = other.Client(f.AgentKey);
        var created = await agent.PostAsync("/api/v1/approvals", System.Net.Http.Json.JsonContent.Create(new
        {
            action_name = "restart_database",
            agent_id = "ops-bot",
            action_description = "Restart the primary during the maintenance window",
            priority = "critical",
            timeout_seconds = 600,
        }), TestContext.Current.CancellationToken);
        created.EnsureSuccessStatusCode();
        var id = System.Text.Json.Nodes.JsonNode.Parse(await created.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!["id"]!.GetValue<string>();

        var row = page.Locator($"tr[data-id='{id}']");
        await Expect(row).ToBeVisibleAsync();
        await row.GetByRole(AriaRole.Link, new() { Name = "restart_database" }).ClickAsync();
        await page.GetByLabel("Reason (required)").FillAsync("Not during the sale.");
        await page.GetByRole(AriaRole.Button, new() { Name = "Reject", Exact = true }).ClickAsync();
        await Expect(page.Locator("#request-status")).ToHaveTextAsync("rejected");

        var poll = System.Text.Json.Nodes.JsonNode.Parse(await agent.GetStringAsync($"/api/v1/approvals/{id}/poll", TestContext.Current.CancellationToken))!;
        Assert.Equal("rejected", poll["status"]!.GetValue<string>());
        Assert.Equal(f.ApproverEmail, poll["decided_by_email"]!.GetValue<string>());
        Assert.Empty(c.Errors);
    }
}
