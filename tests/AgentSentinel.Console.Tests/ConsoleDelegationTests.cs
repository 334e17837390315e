using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Delegation;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace AgentSentinel.Console.Tests;

/// <summary>The console's Away page in a real browser: a signed-in approver sets "away from/until, delegate" and ends
/// it through <c>/api/v1/me/delegation</c>, bad delegations (a past end, oneself, an unknown delegate, chains either
/// way) are refused with the API's own wording and nothing is stored, and the page lists who has delegated to the
/// person. The inbox shows a quorum request's progress in its row.</summary>
public sealed class ConsoleDelegationTests(ConsoleFixture f) : IClassFixture<ConsoleFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A value for a datetime-local field (the browser's own clock, which is this machine's).</summary>
    private static string Local(DateTime at) => at.ToString("yyyy-MM-dd'T'HH:mm", CultureInfo.InvariantCulture);

    private static string Instant(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private async Task<HttpClient> PersonAsync(string name, string email) =>
        f.App.Client(await f.App.CreateKeyAsync(name, [Scopes.Approver], email));

    private async Task<HttpStatusCode> MyDelegationStatusAsync()
    {
        using var me = f.App.Client(f.ApproverKey);
        return (await me.GetAsync("/api/v1/me/delegation", Ct)).StatusCode;
    }

    private static async Task SubmitAsync(IPage page, string delegateEmail, DateTime until, DateTime? from = null)
    {
        await page.GetByLabel("Delegate (the email of another approver)").FillAsync(delegateEmail);
        await page.GetByLabel("Away from (optional)").FillAsync(from is { } start ? Local(start) : "");
        await page.GetByLabel("Away until").FillAsync(Local(until));
        await page.Locator("#away-save").ClickAsync();
    }

    [Fact]
    public async Task An_approver_sets_and_ends_a_delegation_and_bad_ones_are_refused_with_the_api_wording()
    {
        using var bob = await PersonAsync("Bob", "bob@example.com");
        using var carol = await PersonAsync("Carol", "carol@example.com");
        using var dan = await PersonAsync("Dan", "dan@example.com");
        var now = DateTimeOffset.UtcNow;

        // Carol has delegated to this approver: the page lists her.
        Assert.Equal(HttpStatusCode.OK, (await carol.PutAsJsonAsync("/api/v1/me/delegation", new { delegate_email = f.ApproverEmail, ends_at = Instant(now.AddDays(2)) }, Ct)).StatusCode);
        await using var c = await f.SignedInPageAsync(f.ApproverKey);
        var page = c.Page;
        await page.GetByRole(AriaRole.Link, new() { Name = "Away" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Away", Exact = true })).ToBeVisibleAsync();
        await Expect(page.Locator("#away-summary")).ToContainTextAsync("You have no delegation");
        var toMe = page.Locator("#away-to-me-list li[data-email='carol@example.com']");
        await Expect(toMe).ToContainTextAsync("carol@example.com is away: you decide for them");

        // Standing in for Carol, the approver cannot hand her decisions on (a chain).
        var error = page.Locator("#away-error");
        await SubmitAsync(page, "bob@example.com", DateTime.Now.AddDays(1));
        await Expect(error).ToContainTextAsync("carol@example.com has delegated their decisions to you");
        await Expect(error).ToContainTextAsync("Delegations are not followed in chains");
        Assert.Equal(HttpStatusCode.NotFound, await MyDelegationStatusAsync());
        Assert.Equal(HttpStatusCode.NoContent, (await carol.DeleteAsync("/api/v1/me/delegation", Ct)).StatusCode);
        await page.ReloadAsync();
        await Expect(page.Locator("#away-to-me")).ToContainTextAsync("Nobody has delegated to you");

        // A past end, oneself and an unknown person are refused in the API's words.
        await SubmitAsync(page, "bob@example.com", DateTime.Now.AddDays(-1));
        await Expect(error).ToContainTextAsync("The end of the delegation (");
        await Expect(error).ToContainTextAsync("is not in the future; choose a later date.");
        await Expect(page.Locator("#away-until")).ToHaveAttributeAsync("aria-invalid", "true");
        await SubmitAsync(page, f.ApproverEmail.ToUpperInvariant(), DateTime.Now.AddDays(1));
        await Expect(error).ToHaveTextAsync(DelegationTexts.Self);
        await SubmitAsync(page, "nobody@example.com", DateTime.Now.AddDays(1));
        await Expect(error).ToHaveTextAsync(DelegationTexts.UnknownDelegate("nobody@example.com"));
        await Expect(page.Locator("#away-delegate")).ToHaveAttributeAsync("aria-invalid", "true");

        // A delegate who is away themselves would make a chain the other way.
        Assert.Equal(HttpStatusCode.OK, (await dan.PutAsJsonAsync("/api/v1/me/delegation", new { delegate_email = "carol@example.com", ends_at = Instant(now.AddDays(3)) }, Ct)).StatusCode);
        await SubmitAsync(page, "dan@example.com", DateTime.Now.AddDays(1));
        await Expect(error).ToContainTextAsync("dan@example.com is away themselves");
        Assert.Equal(HttpStatusCode.NotFound, await MyDelegationStatusAsync());

        // A good one: planned from tomorrow, then shown; Bob's own page lists this approver.
        await SubmitAsync(page, "bob@example.com", DateTime.Now.AddDays(4), from: DateTime.Now.AddDays(1));
        await Expect(error).ToBeEmptyAsync();
        await Expect(page.Locator("#away-summary")).ToContainTextAsync("Away planned.");
        await Expect(page.Locator("#away-summary")).ToContainTextAsync("bob@example.com decides for you");
        var stored = (await bob.GetFromJsonAsync<JsonObject>("/api/v1/me/delegation/to-me", Ct))!["items"]!.AsArray().Single()!;
        Assert.Equal(f.ApproverEmail, (string?)stored["delegator_email"]);
        Assert.False((bool)stored["active"]!);
        await using (var b = await f.SignedInPageAsync(await f.App.CreateKeyAsync("Bob console", [Scopes.Approver], "bob@example.com"), "/away"))
        {
            await Expect(b.Page.Locator($"#away-to-me-list li[data-email='{f.ApproverEmail}']")).ToContainTextAsync("will be away: you decide for them");
            Assert.Empty(b.Errors);
        }

        // Replaced by one that runs now, then ended.
        await SubmitAsync(page, "bob@example.com", DateTime.Now.AddDays(2));
        await Expect(page.Locator("#away-summary")).ToContainTextAsync("You are away.");
        Assert.Equal(HttpStatusCode.OK, await MyDelegationStatusAsync());
        await page.Locator("#away-end").ClickAsync();
        await Expect(page.Locator("#away-summary")).ToContainTextAsync("You have no delegation");
        Assert.Equal(HttpStatusCode.NotFound, await MyDelegationStatusAsync());
        Assert.Empty(c.Errors);
    }

    [Fact]
    public async Task The_inbox_row_of_a_quorum_request_shows_its_progress()
    {
        using var admin = f.App.Client();
        (await admin.PutAsJsonAsync("/api/v1/admin/routes", new
        {
            routes = new object[]
            {
                new { name = "two-keys", match = new { actions = new[] { "quorum_*" } }, approvers = new[] { f.ApproverEmail, "erin@example.com" },
                    quorum = new { approvals = 2 }, slack = new { channel = ConsoleFixture.SlackChannel } },
                new { name = "default", slack = new { channel = ConsoleFixture.SlackChannel } },
            },
        }, Ct)).EnsureSuccessStatusCode();
        var quorum = await f.CreateApprovalAsync("quorum_payout");
        var plain = await f.CreateApprovalAsync("plain_payout");
        using (var me = f.App.Client(f.ApproverKey))
        {
            Assert.Equal(HttpStatusCode.OK, (await me.PostAsJsonAsync($"/api/v1/approvals/{quorum}/approve", new { notes = "one of two" }, Ct)).StatusCode);
        }

        await using var c = await f.SignedInPageAsync(f.ApproverKey);
        var row = c.Page.Locator($"tr.inbox-row[data-id='{quorum}']");
        await Expect(row.Locator(".row-quorum")).ToHaveTextAsync("1 of 2 approvals");
        await Expect(row.Locator(".row-quorum")).ToHaveAttributeAsync("title", new System.Text.RegularExpressions.Regex("^1 of 2 approvals: .* ✓ · waiting for 1 more approval$"));
        await Expect(c.Page.Locator($"tr.inbox-row[data-id='{plain}'] .row-quorum")).ToHaveCountAsync(0);
        Assert.Empty(c.Errors);
    }
}
