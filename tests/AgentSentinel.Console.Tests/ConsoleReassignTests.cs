using System.Text.Json.Nodes;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace AgentSentinel.Console.Tests;

/// <summary>Reassignment from the request page in a real browser: the server's refusals are shown under the form and
/// change nothing; a hand-over to an approver makes them its one approver and the trail records it; a hand-over to a
/// Slack channel posts the request there.</summary>
public sealed class ConsoleReassignTests(ConsoleFixture f) : IClassFixture<ConsoleFixture>
{
    [Fact]
    public async Task An_approver_reassigns_a_request_to_another_approver_after_a_refused_target_and_is_then_refused_themselves()
    {
        var id = await f.CreateApprovalAsync("rotate_keys", "Rotate the payment gateway keys", "high", "high");
        await using var c = await f.SignedInPageAsync(f.ApproverKey, $"/approvals/{id}");
        var page = c.Page;
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Reassign" })).ToBeVisibleAsync();

        // Someone the server does not know as an approver: refused inline, nothing changes.
        await page.Locator("#reassign-kind").SelectOptionAsync("to_email");
        await page.GetByLabel("Approver (email)").FillAsync("mallory@example.com");
        await page.Locator("#reassign-submit").ClickAsync();
        await Expect(page.Locator("#reassign-error")).ToContainTextAsync("mallory@example.com is not an approver known to this server");
        await Expect(page.Locator("#reassign-target")).ToHaveAttributeAsync("aria-invalid", "true");
        var unchanged = await f.GetApprovalAsync(id);
        Assert.Null(unchanged["reassigned_to"]);
        Assert.DoesNotContain(unchanged["events"]!.AsArray(), e => (string?)e!["kind"] == "reassigned");

        await page.GetByLabel("Approver (email)").FillAsync("admin@example.com");
        await page.Locator("#reassign-note").FillAsync("The admin owns the gateway");
        await page.Locator("#reassign-submit").ClickAsync();
        await Expect(page.Locator("#reassigned-to")).ToHaveTextAsync("Reassigned to admin@example.com by approver@example.com: The admin owns the gateway");
        await Expect(page.Locator("#trail")).ToContainTextAsync("Reassigned");
        await Expect(page.Locator("main")).ToContainTextAsync("admin@example.com");
        var stored = await f.GetApprovalAsync(id);
        Assert.Equal("admin@example.com", (string?)stored["reassigned_to"]!["person_email"]);
        Assert.Equal(["admin@example.com"], stored["approvers"]!.AsArray().Select(a => (string?)a));
        var handed = stored["events"]!.AsArray().Single(e => (string?)e!["kind"] == "reassigned")!;
        Assert.Equal("console", (string?)handed["surface"]);
        Assert.Equal(f.ApproverEmail, (string?)handed["actor"]);

        // The approver handed it on: the server now refuses them, and says why.
        await page.Locator("#reassign-kind").SelectOptionAsync("slack_channel");
        await page.GetByLabel("Slack channel id").FillAsync("C0OPS");
        await page.Locator("#reassign-submit").ClickAsync();
        await Expect(page.Locator("#reassign-error")).ToContainTextAsync("not one of the approvers");
        Assert.Equal("admin@example.com", (string?)(await f.GetApprovalAsync(id))["reassigned_to"]!["person_email"]);
        Assert.Empty(c.Errors);
    }

    [Fact]
    public async Task An_approver_hands_a_request_to_a_slack_channel_where_it_is_posted()
    {
        var id = await f.CreateApprovalAsync("resize_cluster", "Scale the cluster to 12 nodes");
        await using var c = await f.SignedInPageAsync(f.ApproverKey, $"/approvals/{id}");
        var page = c.Page;
        await page.Locator("#reassign-kind").SelectOptionAsync("slack_channel");
        await page.GetByLabel("Slack channel id").FillAsync("#ops");
        await page.Locator("#reassign-submit").ClickAsync();
        await Expect(page.Locator("#reassign-error")).ToContainTextAsync("is not a Slack channel id");

        await page.GetByLabel("Slack channel id").FillAsync("C0OPS");
        await page.Locator("#reassign-submit").ClickAsync();
        await Expect(page.Locator("#reassigned-to")).ToContainTextAsync("Reassigned to Slack channel C0OPS by approver@example.com.");
        var copy = await f.Slack.WaitForAsync(s => s.Messages("C0OPS").FirstOrDefault(m => (string?)m["metadata"]?["event_payload"]?["approval_id"] == id),
            what: "the request posted in C0OPS");
        Assert.NotNull(copy["blocks"]!.AsArray().FirstOrDefault(b => (string?)b!["block_id"] == "decision"));
        Assert.Equal("pending", (string?)(await f.GetApprovalAsync(id))["status"]);
        Assert.Empty(c.Errors);
    }
}
