using System.Net;
using System.Net.Http.Json;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace AgentSentinel.Console.Tests;

/// <summary>Bulk decisions in the inbox, in a real browser against the real server: the page reports the outcome of
/// each request of one submission.</summary>
public sealed class ConsoleBulkTests(ConsoleFixture f) : IClassFixture<ConsoleFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Selected_requests_are_approved_with_one_note_and_the_outcome_of_each_is_shown()
    {
        using (var admin = f.App.Client())
        {
            var routes = await admin.PutAsJsonAsync("/api/v1/admin/routes", new
            {
                routes = new object[]
                {
                    new { name = "restricted", match = new { actions = new[] { "restricted_*" } }, approvers = new[] { "bob@example.com" }, slack = new { channel = ConsoleFixture.SlackChannel } },
                    new { name = "default", slack = new { channel = ConsoleFixture.SlackChannel } },
                },
            }, Ct);
            Assert.Equal(HttpStatusCode.OK, routes.StatusCode);
        }
        var first = await f.CreateApprovalAsync("bulk_refund_one");
        var second = await f.CreateApprovalAsync("bulk_refund_two");
        var restricted = await f.CreateApprovalAsync("restricted_wipe");

        await using var c = await f.SignedInPageAsync(f.ApproverKey);
        var page = c.Page;
        await Expect(page.Locator($"tr[data-id='{restricted}']")).ToBeVisibleAsync();
        await Expect(page.Locator("#bulk-approve")).ToBeDisabledAsync();
        foreach (var name in new[] { "bulk_refund_one", "bulk_refund_two", "restricted_wipe" })
        {
            await page.GetByLabel($"Select {name}").CheckAsync();
        }
        await Expect(page.Locator("#bulk-count")).ToHaveTextAsync("3 selected");

        await page.Locator("#bulk-approve").ClickAsync();
        await Expect(page.Locator("#bulk-dialog")).ToBeVisibleAsync();
        // Someone else decides one of them while the dialog is open.
        using (var admin = f.App.Client(f.AdminKey))
        {
            (await admin.PostAsJsonAsync($"/api/v1/approvals/{second}/reject", new { reason = "duplicate refund" }, Ct)).EnsureSuccessStatusCode();
        }
        await page.GetByLabel("Notes for every request (optional)").FillAsync("Routine refunds, checked.");
        await page.GetByRole(AriaRole.Button, new() { Name = "Approve 3 requests" }).ClickAsync();

        var results = page.Locator("#bulk-results");
        await Expect(results).ToContainTextAsync("1 approved · 1 already decided · 1 not allowed");
        await Expect(results.Locator($"li[data-id='{first}']")).ToHaveTextAsync("bulk_refund_one: Approved");
        await Expect(results.Locator($"li[data-id='{second}']")).ToContainTextAsync("already rejected by admin@example.com");
        await Expect(results.Locator($"li[data-id='{restricted}']")).ToContainTextAsync("Not allowed: You are not one of the approvers");
        // The decided request leaves the pending inbox; the one the approver may not decide stays, unselected.
        await Expect(page.Locator($"tr[data-id='{first}']")).ToHaveCountAsync(0);
        await Expect(page.GetByLabel("Select restricted_wipe")).Not.ToBeCheckedAsync();
        await Expect(page.Locator("#bulk-count")).Not.ToContainTextAsync("selected");

        var stored = await f.GetApprovalAsync(first);
        Assert.Equal("approved", stored["status"]!.GetValue<string>());
        Assert.Equal(f.ApproverEmail, stored["decided_by_email"]!.GetValue<string>());
        Assert.Equal("console", stored["decided_via"]!.GetValue<string>());
        Assert.Equal("Routine refunds, checked.", stored["decision_notes"]!.GetValue<string>());
        Assert.Equal("pending", (await f.GetApprovalAsync(restricted))["status"]!.GetValue<string>());
        Assert.Equal("duplicate refund", (await f.GetApprovalAsync(second))["decision_notes"]!.GetValue<string>());
        Assert.Empty(c.Errors);
    }

    [Fact]
    public async Task A_bulk_rejection_without_a_reason_is_refused_in_the_dialog_and_nothing_changes()
    {
        var id = await f.CreateApprovalAsync("bulk_reason_needed");
        await using var c = await f.SignedInPageAsync(f.ApproverKey);
        var page = c.Page;
        await page.GetByLabel("Select bulk_reason_needed").CheckAsync();
        await page.Locator("#bulk-reject").ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Reject 1 request" }).ClickAsync();
        await Expect(page.Locator("#bulk-error")).ToContainTextAsync("reason");
        await Expect(page.Locator("#bulk-text")).ToHaveAttributeAsync("aria-invalid", "true");
        Assert.Equal("pending", (await f.GetApprovalAsync(id))["status"]!.GetValue<string>());
        Assert.Empty(c.Errors);
    }
}
