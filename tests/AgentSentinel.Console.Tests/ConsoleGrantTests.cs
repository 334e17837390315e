using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace AgentSentinel.Console.Tests;

/// <summary>Standing grants in the console, in a real browser: the approve form offers a grant only where the
/// request's route allows one, a grant given there approves the agent's next matching request at once, the Grants page
/// lists it with Revoke for the person who gave it (and admins, not other approvers), and bad grant input is refused
/// with the server's reason and nothing changed.</summary>
public sealed class ConsoleGrantTests(ConsoleFixture f) : IClassFixture<ConsoleFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<JsonArray> GrantsAsync(string state = "all")
    {
        using var admin = f.App.Client();
        return (await admin.GetFromJsonAsync<JsonObject>($"/api/v1/grants?state={state}", Ct))!["items"]!.AsArray();
    }

    private async Task<string> CreateAsync(string action, string risk = "low", string priority = "medium", decimal cost = 20m)
    {
        var response = await f.Agent.PostAsJsonAsync("/api/v1/approvals", new
        {
            action_name = action,
            agent_id = "agent-7",
            priority,
            risk_level = risk,
            estimated_cost = cost,
            timeout_seconds = 600,
            action_inputs = new { account = "ACME-001" },
        }, Ct);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!.GetValue<string>();
    }

    [Fact]
    public async Task A_grant_given_in_the_approve_form_approves_the_next_request_and_its_giver_revokes_it()
    {
        var id = await CreateAsync("refund_small_order");
        await using var c = await f.SignedInPageAsync(f.ApproverKey, $"/approvals/{id}");
        var page = c.Page;
        page.Dialog += (_, dialog) => _ = dialog.AcceptAsync();
        await Expect(page.GetByRole(AriaRole.Group, new() { Name = "Standing grant (optional)" })).ToBeVisibleAsync();
        await Expect(page.Locator("#decide-approve-grant-hint")).ToContainTextAsync("At most 60 minutes");

        await page.GetByLabel("Notes (optional)").FillAsync("Small refunds are fine today.");
        await page.GetByLabel("For the next N minutes").FillAsync("30");
        await page.GetByLabel("At most K times").FillAsync("2");
        await page.GetByLabel("Up to a total cost of ($)").FillAsync("100");
        await page.GetByLabel("Same action name", new() { Exact = true }).CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Approve", Exact = true }).ClickAsync();
        await Expect(page.Locator("#request-status")).ToHaveTextAsync("approved");
        await Expect(page.Locator("#trail")).ToContainTextAsync("Gave a standing grant");

        // Other tests of this class may have given grants of their own: this one is found by the approval that gave it.
        var grant = Assert.Single(await GrantsAsync(), g => g!["source_approval_id"]!.GetValue<string>() == id)!;
        Assert.Equal(f.ApproverEmail, grant["created_by_email"]!.GetValue<string>());
        Assert.Equal("action", grant["match"]!.GetValue<string>());
        Assert.Equal(2, grant["max_uses"]!.GetValue<int>());
        Assert.Equal(100m, grant["max_total_cost"]!.GetValue<decimal>());
        var grantId = grant["id"]!.GetValue<string>();

        // The agent's next matching request is approved at once, by the grant.
        var next = await CreateAsync("refund_small_order");
        Assert.Equal("approved", (await f.GetApprovalAsync(next))["status"]!.GetValue<string>());
        await page.GotoAsync($"/approvals/{next}");
        await Expect(page.Locator("#decision-summary")).ToContainTextAsync("Approved by grant");
        await Expect(page.Locator("#decision-summary")).ToContainTextAsync(f.ApproverEmail);

        // The Grants page lists it, used once, with Revoke for the person who gave it.
        await page.GetByRole(AriaRole.Link, new() { Name = "Grants" }).ClickAsync();
        var row = page.Locator($"#grants-table tr[data-id='{grantId}']");
        await Expect(row).ToContainTextAsync("refund_small_order");
        await Expect(row).ToContainTextAsync("1 of 2");
        await row.GetByRole(AriaRole.Button, new() { Name = "Revoke" }).ClickAsync();
        await Expect(row).ToHaveCountAsync(0);
        Assert.Equal("revoked", Assert.Single(await GrantsAsync(), g => g!["id"]!.GetValue<string>() == grantId)!["state"]!.GetValue<string>());
        Assert.Equal("pending", (await f.GetApprovalAsync(await CreateAsync("refund_small_order")))["status"]!.GetValue<string>());
        Assert.Empty(c.Errors);
    }

    [Fact]
    public async Task Only_the_giver_and_admins_see_revoke_and_the_server_refuses_anyone_else()
    {
        var id = await CreateAsync("refund_gift_card");
        using (var approver = f.App.Client(f.ApproverKey))
        {
            (await approver.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { grant = new { minutes = 20, match = "action" } }, Ct)).EnsureSuccessStatusCode();
        }
        var grantId = (await GrantsAsync("active")).Single(g => g!["source_approval_id"]!.GetValue<string>() == id)!["id"]!.GetValue<string>();
        var otherKey = await f.App.CreateKeyAsync("Other approver", [Scopes.Approver], "other@example.com");

        await using (var other = await f.SignedInPageAsync(otherKey, "/grants"))
        {
            var row = other.Page.Locator($"#grants-table tr[data-id='{grantId}']");
            await Expect(row).ToContainTextAsync("refund_gift_card");
            await Expect(row.GetByRole(AriaRole.Button, new() { Name = "Revoke" })).ToHaveCountAsync(0);
            using var client = f.App.Client(otherKey);
            var refused = await client.PostAsync($"/api/v1/grants/{grantId}/revoke", null, Ct);
            Assert.Equal(System.Net.HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("Only the person who gave a grant, or an admin", await refused.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
            Assert.Empty(other.Errors);
        }
        await using var admin = await f.SignedInPageAsync(f.AdminKey, "/grants");
        await Expect(admin.Page.Locator($"#grants-table tr[data-id='{grantId}']").GetByRole(AriaRole.Button, new() { Name = "Revoke" })).ToBeVisibleAsync();
        Assert.Equal("active", (await GrantsAsync()).Single(g => g!["id"]!.GetValue<string>() == grantId)!["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task Bad_grant_input_shows_the_servers_reason_and_changes_nothing_and_critical_requests_offer_no_grant()
    {
        var id = await CreateAsync("refund_large_order");
        await using var c = await f.SignedInPageAsync(f.ApproverKey, $"/approvals/{id}");
        var page = c.Page;
        var before = (await GrantsAsync()).Count;
        await page.GetByLabel("For the next N minutes").FillAsync("500");
        await page.GetByRole(AriaRole.Button, new() { Name = "Approve", Exact = true }).ClickAsync();
        await Expect(page.Locator("#decide-approve-error")).ToContainTextAsync("between 1 and 60 minutes");
        await Expect(page.GetByLabel("For the next N minutes")).ToHaveAttributeAsync("aria-invalid", "true");
        await Expect(page.Locator("#request-status")).ToHaveTextAsync("pending");

        // Limits without a length are no grant at all: the server says what is missing.
        await page.GetByLabel("For the next N minutes").FillAsync("");
        await page.GetByLabel("At most K times").FillAsync("3");
        await page.GetByRole(AriaRole.Button, new() { Name = "Approve", Exact = true }).ClickAsync();
        await Expect(page.Locator("#decide-approve-error")).ToContainTextAsync("grant.minutes");
        Assert.Equal("pending", (await f.GetApprovalAsync(id))["status"]!.GetValue<string>());
        Assert.Equal(before, (await GrantsAsync()).Count);

        var critical = await CreateAsync("refund_everything", risk: "critical");
        await page.GotoAsync($"/approvals/{critical}");
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Approve", Exact = true })).ToBeVisibleAsync();
        await Expect(page.Locator("#decide-approve-grant")).ToHaveCountAsync(0);
        Assert.Empty(c.Errors);
    }
}
