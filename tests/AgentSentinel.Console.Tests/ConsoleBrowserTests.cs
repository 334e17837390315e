using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AgentSentinel.Core.Digest;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace AgentSentinel.Console.Tests;

/// <summary>The console in a real browser (Debian's Chromium) against the real server.</summary>
public sealed class ConsoleBrowserTests(ConsoleFixture f) : IClassFixture<ConsoleFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ILocator Row(IPage page, string id) => page.Locator($"tr[data-id='{id}']");

    [Fact]
    public async Task Root_shows_the_sign_in_page_with_a_strict_content_security_policy()
    {
        await using var c = await f.NewPageAsync();
        var response = await c.Page.GotoAsync("/");
        Assert.NotNull(response);
        var csp = await response.HeaderValueAsync("content-security-policy");
        Assert.Equal("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'", csp);
        Assert.Equal("nosniff", await response.HeaderValueAsync("x-content-type-options"));
        Assert.Equal("no-referrer", await response.HeaderValueAsync("referrer-policy"));
        await Expect(c.Page.GetByRole(AriaRole.Heading, new() { Name = "Sign in" })).ToBeVisibleAsync();
        await Expect(c.Page.GetByLabel("API key")).ToBeFocusedAsync();
        Assert.Empty(c.Errors);
    }

    [Fact]
    public async Task A_request_created_through_the_agent_api_appears_live_and_is_approved_with_notes()
    {
        await using var c = await f.SignedInPageAsync(f.ApproverKey);
        var page = c.Page;
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Inbox" })).ToBeVisibleAsync();
        await Expect(page.Locator("#live")).ToHaveTextAsync("Live");
        await page.EvaluateAsync("() => { window.__sameDocument = 'yes'; }");

        var id = await f.CreateApprovalAsync("pay_supplier", "Pay ACME's invoice 2026-118 by SEPA transfer", "high", "high", cost: 1250.50m);

        var row = Row(page, id);
        await Expect(row).ToBeVisibleAsync();
        await Expect(row).ToContainTextAsync("pay_supplier");
        // The agent id is a claim; the key that made the request is shown beside it.
        await Expect(row).ToContainTextAsync("agent-7 · key Agent");
        await Expect(row.Locator(".countdown")).ToContainTextAsync("left");
        Assert.Equal("yes", await page.EvaluateAsync<string>("() => window.__sameDocument")); // no reload happened

        await row.GetByRole(AriaRole.Link, new() { Name = "pay_supplier" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Uri(f.BaseUrl, $"/approvals/{id}").ToString());
        await Expect(page.Locator("#request-description")).ToHaveTextAsync("Pay ACME's invoice 2026-118 by SEPA transfer");
        await Expect(page.Locator("#request-inputs")).ToContainTextAsync("\"account\": \"ACME-001\"");
        await Expect(page.Locator("#request-context")).ToContainTextAsync("\"ticket\": \"OPS-118\"");
        await Expect(page.Locator("#trail")).ToContainTextAsync("Requested");
        await Expect(page.Locator("main")).ToContainTextAsync("agent-7 · key Agent");

        await page.GetByLabel("Notes (optional)").FillAsync("Checked against the PO, fine.");
        await page.GetByRole(AriaRole.Button, new() { Name = "Approve", Exact = true }).ClickAsync();
        await Expect(page.Locator("#request-status")).ToHaveTextAsync("approved");
        await Expect(page.Locator("#decision-summary")).ToContainTextAsync("approver@example.com");
        await Expect(page.Locator("#decision-summary")).ToContainTextAsync("Checked against the PO, fine.");
        await Expect(page.Locator("#trail")).ToContainTextAsync("console");

        var stored = await f.GetApprovalAsync(id);
        Assert.Equal("approved", stored["status"]!.GetValue<string>());
        Assert.Equal(f.ApproverEmail, stored["decided_by_email"]!.GetValue<string>());
        Assert.Equal("console", stored["decided_via"]!.GetValue<string>());
        Assert.Equal("Checked against the PO, fine.", stored["decision_notes"]!.GetValue<string>());

        // Like any other decision, the Slack message is updated.
        var update = await f.Slack.WaitForAsync(s => s.CallsTo("chat.update").FirstOrDefault(u =>
            u.Body.ToJsonString().Contains("Approved", StringComparison.Ordinal) && u.Body.ToJsonString().Contains(f.ApproverEmail, StringComparison.Ordinal)),
            what: "chat.update with the console's approval");
        Assert.Equal(ConsoleFixture.SlackChannel, update.Body["channel"]!.GetValue<string>());
        Assert.Empty(c.Errors);
    }

    [Fact]
    public async Task Rejecting_without_a_reason_shows_the_error_and_changes_nothing()
    {
        var id = await f.CreateApprovalAsync("delete_customer_records", "Delete 3 inactive accounts", "medium", "critical");
        await using var c = await f.SignedInPageAsync(f.ApproverKey, $"/approvals/{id}");
        var page = c.Page;
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "delete_customer_records" })).ToBeVisibleAsync();

        await page.GetByRole(AriaRole.Button, new() { Name = "Reject", Exact = true }).ClickAsync();
        var error = page.Locator("#decide-reject-error");
        await Expect(error).ToContainTextAsync("'reason' must not be empty.");
        await Expect(page.GetByLabel("Reason (required)")).ToHaveAttributeAsync("aria-invalid", "true");
        await Expect(page.Locator("#request-status")).ToHaveTextAsync("pending");
        Assert.Equal("pending", (await f.GetApprovalAsync(id))["status"]!.GetValue<string>());

        await page.GetByLabel("Reason (required)").FillAsync("Retention policy says keep them for a year.");
        await page.GetByRole(AriaRole.Button, new() { Name = "Reject", Exact = true }).ClickAsync();
        await Expect(page.Locator("#request-status")).ToHaveTextAsync("rejected");
        var stored = await f.GetApprovalAsync(id);
        Assert.Equal("rejected", stored["status"]!.GetValue<string>());
        Assert.Equal("Retention policy says keep them for a year.", stored["decision_notes"]!.GetValue<string>());
        Assert.Empty(c.Errors);
    }

    [Fact]
    public async Task Agent_text_with_script_and_img_onerror_is_shown_as_text_and_never_runs()
    {
        const string Hostile = "<script>window.__pwned = 'script'</script><img src=x onerror=\"window.__pwned = 'img'\"> & <b>bold</b>";
        var id = await f.CreateApprovalAsync("<img src=y onerror=\"window.__pwned='name'\">", Hostile, "critical", "high");
        await using var c = await f.SignedInPageAsync(f.ApproverKey);
        var page = c.Page;

        var row = Row(page, id);
        await Expect(row).ToBeVisibleAsync();
        await Expect(row.Locator(".row-desc")).ToHaveTextAsync(Hostile);
        Assert.Equal(0, await row.Locator("img, script, b").CountAsync());

        await page.GotoAsync($"/approvals/{id}");
        await Expect(page.Locator("#request-description")).ToHaveTextAsync(Hostile);
        await Expect(page.Locator("#request-title")).ToHaveTextAsync("<img src=y onerror=\"window.__pwned='name'\">");
        Assert.Equal(0, await page.Locator("main img, main script, main b").CountAsync());
        await page.WaitForTimeoutAsync(300); // an injected image would have failed to load and fired by now
        Assert.Equal("undefined", await page.EvaluateAsync<string>("() => typeof window.__pwned"));
        Assert.Empty(c.Errors);
    }

    [Fact]
    public async Task Keyboard_moves_with_j_and_k_and_approves_with_a()
    {
        // The inbox shows critical before low, whatever the order of arrival.
        var low = await f.CreateApprovalAsync("kb_low_" + Guid.NewGuid().ToString("N")[..6], "low one", "low");
        var critical = await f.CreateApprovalAsync("kb_critical_" + Guid.NewGuid().ToString("N")[..6], "critical one", "critical");
        await using var c = await f.SignedInPageAsync(f.ApproverKey);
        var page = c.Page;
        await Expect(Row(page, low)).ToBeVisibleAsync();
        await Expect(Row(page, critical)).ToBeVisibleAsync();
        var ids = await page.Locator("tr.inbox-row").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.id)");
        Assert.True(Array.IndexOf(ids, critical) < Array.IndexOf(ids, low), "critical is listed before low");

        await page.Locator("main").FocusAsync();
        var first = ids[0];
        await Expect(Row(page, first)).ToHaveAttributeAsync("aria-selected", "true");
        var target = Array.IndexOf(ids, low);
        for (var i = 0; i < target; i++)
        {
            await page.Keyboard.PressAsync("j");
        }
        await Expect(Row(page, low)).ToHaveAttributeAsync("aria-selected", "true");
        await page.Keyboard.PressAsync("k"); // up one (critical is above low, so there is a row there), and down again
        await Expect(Row(page, ids[target - 1])).ToHaveAttributeAsync("aria-selected", "true");
        await Expect(Row(page, low)).ToHaveAttributeAsync("aria-selected", "false");
        await page.Keyboard.PressAsync("j");
        await Expect(Row(page, low)).ToHaveAttributeAsync("aria-selected", "true");
        await Expect(Row(page, low)).ToBeFocusedAsync();

        await page.Keyboard.PressAsync("a");
        var dialog = page.GetByRole(AriaRole.Dialog);
        await Expect(dialog).ToBeVisibleAsync();
        await Expect(dialog.GetByLabel("Notes (optional)")).ToBeFocusedAsync();
        await page.Keyboard.TypeAsync("ok by keyboard");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Approve", Exact = true }).ClickAsync();
        await Expect(dialog).ToBeHiddenAsync();
        await Expect(Row(page, low)).ToBeHiddenAsync(); // it left the pending inbox

        var stored = await f.GetApprovalAsync(low);
        Assert.Equal("approved", stored["status"]!.GetValue<string>());
        Assert.Equal("ok by keyboard", stored["decision_notes"]!.GetValue<string>());
        Assert.Equal("pending", (await f.GetApprovalAsync(critical))["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Filters_narrow_the_inbox_and_survive_a_reload()
    {
        var agent = "filter-agent-" + Guid.NewGuid().ToString("N")[..6];
        var critical = await f.CreateApprovalAsync("filter_critical", "critical one", "critical", "low", agent: agent);
        var low = await f.CreateApprovalAsync("filter_low", "low one", "low", "low", agent: agent);
        await using var c = await f.SignedInPageAsync(f.ApproverKey);
        var page = c.Page;
        await page.GetByLabel("Agent").FillAsync(agent);
        await page.GetByLabel("Agent").PressAsync("Enter");
        await Expect(page.Locator("tr.inbox-row")).ToHaveCountAsync(2);
        await page.GetByLabel("Priority").SelectOptionAsync("critical");
        await Expect(page.Locator("tr.inbox-row")).ToHaveCountAsync(1);
        await Expect(Row(page, critical)).ToBeVisibleAsync();
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex($"priority=critical.*agent_id={agent}|agent_id={agent}.*priority=critical"));

        await page.ReloadAsync();
        await Expect(page.GetByLabel("Priority")).ToHaveValueAsync("critical");
        await Expect(page.Locator("tr.inbox-row")).ToHaveCountAsync(1);

        // Decided requests leave the pending inbox but show under "any status", which a reload keeps.
        using (var approver = f.App.Client(f.ApproverKey))
        {
            (await approver.PostAsJsonAsync($"/api/v1/approvals/{critical}/approve", new { notes = "ok" }, Ct)).EnsureSuccessStatusCode();
        }
        await Expect(page.Locator("tr.inbox-row")).ToHaveCountAsync(0);
        await Expect(page.GetByText("No requests match these filters")).ToBeVisibleAsync();
        await page.GetByLabel("Status").SelectOptionAsync("");
        await Expect(Row(page, critical)).ToContainTextAsync("approved");
        await page.ReloadAsync();
        await Expect(page.GetByLabel("Status")).ToHaveValueAsync("");
        await Expect(Row(page, critical)).ToContainTextAsync("approved");
        await Expect(Row(page, low)).ToHaveCountAsync(0);
        Assert.Empty(c.Errors);
    }

    [Fact]
    public async Task The_weekly_digest_is_shown_when_the_server_offers_it()
    {
        // The digest endpoint belongs to the digest feature; here the browser is given its exact wire shape: the
        // product's WeeklyDigest record serialized with the API's JSON settings.
        var monday = new DateTimeOffset(2026, 11, 16, 0, 0, 0, TimeSpan.Zero);
        var summary = new DigestSummary { Total = 12, Approved = 8, Rejected = 2, Expired = 1, Cancelled = 1, Decided = 10, ApprovalRate = 0.6667, RejectionRate = 0.1667, ExpiryRate = 0.0833, CancellationRate = 0.0833, MedianDecisionSeconds = 420, P90DecisionSeconds = 5400 };
        var digest = new WeeklyDigest
        {
            Week = "2026-W47", TimeZone = "UTC", From = monday, To = monday.AddDays(7), AsOf = monday.AddDays(7), Complete = true,
            Summary = summary,
            ByDay = [.. Enumerable.Range(0, 7).Select(i => new DigestDay(DateOnly.FromDateTime(monday.AddDays(i).UtcDateTime), monday.AddDays(i).DayOfWeek.ToString()[..3], i + 1))],
            ByPriority = new Dictionary<string, long> { ["critical"] = 2, ["high"] = 4, ["medium"] = 4, ["low"] = 2 },
            ByRiskLevel = new Dictionary<string, long> { ["high"] = 6, ["unspecified"] = 6 },
            SlowestRoutes = [new DigestRoute("payments", 5, 3600), new DigestRoute(null, 3, 60)],
            PendingTotal = 1,
            OldestPending = [new DigestPendingRequest(Guid.CreateVersion7(), "<img src=x onerror=\"window.__pwned=1\">", "agent-7", "high", null, "payments", monday, monday.AddDays(8), 90_000)],
            PreviousWeek = new DigestPreviousWeek("2026-W46", monday.AddDays(-7), monday, monday, summary with { Total = 10 }),
            Change = new DigestChange { Total = 2, TotalRatio = 0.2, ApprovalRate = -0.05 },
        };
        var options = new JsonSerializerOptions();
        Api.Infrastructure.ApiJson.Configure(options);
        var json = JsonSerializer.Serialize(digest, options);

        await using var c = await f.SignedInPageAsync(f.ApproverKey);
        var page = c.Page;
        string? asked = null;
        await page.RouteAsync("**/api/v1/approvals/digest?**", route =>
        {
            asked = route.Request.Url;
            return route.FulfillAsync(new() { Status = 200, ContentType = "application/json", Body = json });
        });
        await page.GetByRole(AriaRole.Link, new() { Name = "Statistics" }).ClickAsync();
        var section = page.Locator("#digest");
        await Expect(section).ToContainTextAsync("Weekly digest · 2026-W47");
        await Expect(page.Locator("#digest-total")).ToHaveTextAsync("12");
        await Expect(section).ToContainTextAsync("+2 vs 2026-W46");
        await Expect(section).ToContainTextAsync("-5.0 pts vs 2026-W46");
        await Expect(page.Locator("#digest-p90")).ToHaveTextAsync("1h 30m");
        await Expect(page.Locator("#chart-digest-days rect")).ToHaveCountAsync(7);
        await Expect(page.Locator("#digest-routes")).ToContainTextAsync("no route");
        await Expect(page.Locator("#digest-oldest a")).ToHaveTextAsync("<img src=x onerror=\"window.__pwned=1\">");
        Assert.Equal(0, await section.Locator("img").CountAsync());
        Assert.Matches(@"week=\d{4}-W\d{2}$", asked);
        Assert.Equal("undefined", await page.EvaluateAsync<string>("() => typeof window.__pwned"));
        Assert.Empty(c.Errors);
    }

    [Fact]
    public async Task An_agent_key_is_refused_at_sign_in()
    {
        await using var c = await f.NewPageAsync();
        await c.Page.GotoAsync("/");
        await c.Page.GetByLabel("API key").FillAsync(f.AgentKey);
        await c.Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(c.Page.Locator("#signin-error")).ToContainTextAsync("only the agent scope");
        await Expect(c.Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" })).ToHaveCountAsync(0);
        Assert.Empty(await c.Context.CookiesAsync());

        await c.Page.GetByLabel("API key").FillAsync("as_not_a_real_key_at_all_0000000000");
        await c.Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(c.Page.Locator("#signin-error")).ToContainTextAsync("not valid");
    }

    [Fact]
    public async Task Signing_out_ends_the_session()
    {
        await using var c = await f.SignedInPageAsync(f.ApproverKey);
        var cookie = Assert.Single(await c.Context.CookiesAsync(), k => k.Name == "agentsentinel_session");
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);

        await c.Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Expect(c.Page.GetByRole(AriaRole.Heading, new() { Name = "Sign in" })).ToBeVisibleAsync();

        // The old cookie no longer opens anything.
        using var stale = new HttpClient { BaseAddress = f.BaseUrl };
        stale.DefaultRequestHeaders.Add("Cookie", $"agentsentinel_session={cookie.Value}");
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await stale.GetAsync("/console/api/session", Ct)).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await stale.GetAsync("/api/v1/approvals", Ct)).StatusCode);
        await c.Page.GotoAsync("/inbox");
        await Expect(c.Page.GetByRole(AriaRole.Heading, new() { Name = "Sign in" })).ToBeVisibleAsync();
    }

    [Fact]
    public async Task A_chat_link_to_a_request_opens_it_after_sign_in()
    {
        var id = await f.CreateApprovalAsync("rotate_credentials", "Rotate the database password", "high");
        await using var c = await f.NewPageAsync();
        await c.Page.GotoAsync($"/approvals/{id}");
        await Expect(c.Page.GetByRole(AriaRole.Heading, new() { Name = "Sign in" })).ToBeVisibleAsync();
        await c.Page.GetByLabel("API key").FillAsync(f.ApproverKey);
        await c.Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(c.Page).ToHaveURLAsync(new Uri(f.BaseUrl, $"/approvals/{id}").ToString());
        await Expect(c.Page.GetByRole(AriaRole.Heading, new() { Name = "rotate_credentials" })).ToBeVisibleAsync();
    }

    [Fact]
    public async Task Administration_is_for_admins_who_create_a_key_shown_once()
    {
        await using (var approver = await f.SignedInPageAsync(f.ApproverKey))
        {
            await Expect(approver.Page.GetByRole(AriaRole.Link, new() { Name = "Administration" })).ToHaveCountAsync(0);
            await approver.Page.GotoAsync("/admin");
            await Expect(approver.Page.GetByText("Administration needs an admin key")).ToBeVisibleAsync();
        }

        await using var admin = await f.SignedInPageAsync(f.AdminKey);
        var page = admin.Page;
        await page.GetByRole(AriaRole.Link, new() { Name = "Administration" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "API keys" })).ToBeVisibleAsync();
        await page.GetByLabel("Name").FillAsync("Night shift");
        await page.GetByLabel("Email (who decides with it)").FillAsync("night@example.com");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create key" }).ClickAsync();
        var key = await page.Locator("#new-key").TextContentAsync();
        Assert.StartsWith("as_", key);
        await Expect(page.Locator("#keys-table")).ToContainTextAsync("Night shift");
        // The key works, and the list never shows it again.
        using var client = f.App.Client(key);
        Assert.True((await client.GetAsync("/api/v1/approvals", Ct)).IsSuccessStatusCode);
        await page.ReloadAsync();
        await Expect(page.Locator("#keys-table")).ToContainTextAsync("Night shift");
        await Expect(page.Locator("body")).Not.ToContainTextAsync(key!);

        // An agent key names the agent ids its requests may claim; the list shows them.
        await page.GetByLabel("Name").FillAsync("Billing bot");
        await page.GetByLabel("approver", new() { Exact = true }).UncheckAsync();
        await page.GetByLabel("agent", new() { Exact = true }).CheckAsync();
        await page.GetByLabel("Agent ids (agent keys)").FillAsync("billing-agent, billing-*");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create key" }).ClickAsync();
        var agentKey = await page.Locator("#new-key").TextContentAsync();
        await Expect(page.Locator("#keys-table tr", new() { HasText = "Billing bot" })).ToContainTextAsync("billing-agent, billing-*");
        using var billing = f.App.Client(agentKey);
        Assert.Equal(HttpStatusCode.Forbidden, (await billing.PostAsJsonAsync("/api/v1/approvals", new { action_name = "x", agent_id = "payroll" }, Ct)).StatusCode);

        // Invalid routes come back with the server's validation messages; nothing is saved.
        var editor = page.Locator("#routes-json");
        await Expect(editor).ToBeVisibleAsync();
        await editor.FillAsync("""[{"name": "", "slack": {"channel": ""}}]""");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save routes" }).ClickAsync();
        await Expect(page.Locator("#routes-errors [role=alert]")).ToContainTextAsync("not valid");
        using var adminApi = f.App.Client();
        var routes = JsonNode.Parse(await adminApi.GetStringAsync("/api/v1/admin/routes", Ct))!;
        Assert.Equal("default", routes["routes"]![0]!["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task Administration_lists_failed_chat_deliveries_and_retries_one()
    {
        f.Slack.AnswerNext("chat.postMessage", "channel_not_found");
        var id = await f.CreateApprovalAsync("retry_delivery", "a post Slack refuses once");
        using var adminApi = f.App.Client();
        await AgentSentinel.Testing.LoopbackHost.WaitForAsync(async () => (await adminApi.GetStringAsync("/api/v1/admin/deliveries?state=failed", Ct)).Contains(id, StringComparison.Ordinal) ? "failed" : null,
            TimeSpan.FromSeconds(30), () => "the failed delivery");

        await using var admin = await f.SignedInPageAsync(f.AdminKey);
        var page = admin.Page;
        await page.GetByRole(AriaRole.Link, new() { Name = "Administration" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Failed chat deliveries" })).ToBeVisibleAsync();
        var row = page.Locator("#deliveries-table tbody tr", new() { HasText = "retry_delivery" });
        await Expect(row).ToContainTextAsync("channel_not_found");
        await Expect(row).ToContainTextAsync(ConsoleFixture.SlackChannel);
        await row.GetByRole(AriaRole.Button, new() { NameRegex = new System.Text.RegularExpressions.Regex("^Retry") }).ClickAsync();

        await f.Slack.WaitForAsync(s => s.Messages(ConsoleFixture.SlackChannel).FirstOrDefault(m => (string?)m["metadata"]?["event_payload"]?["approval_id"] == id),
            TimeSpan.FromSeconds(30), "the retried post");
        await page.ReloadAsync();
        await Expect(page.Locator("#admin-deliveries")).Not.ToContainTextAsync("retry_delivery");
    }

    [Fact]
    public async Task The_statistics_page_shows_figures_and_charts()
    {
        var approved = await f.CreateApprovalAsync("stats_approve", "for the charts", "high", "medium");
        var rejected = await f.CreateApprovalAsync("stats_reject", "for the charts", "low", "low");
        using (var approver = f.App.Client(f.ApproverKey))
        {
            (await approver.PostAsJsonAsync($"/api/v1/approvals/{approved}/approve", new { notes = "fine" }, Ct)).EnsureSuccessStatusCode();
            (await approver.PostAsJsonAsync($"/api/v1/approvals/{rejected}/reject", new { reason = "no" }, Ct)).EnsureSuccessStatusCode();
        }
        await using var c = await f.SignedInPageAsync(f.ApproverKey);
        var page = c.Page;
        // A server without the digest endpoint answers 404: the page shows everything else and no digest section.
        await page.RouteAsync("**/api/v1/approvals/digest?**", route => route.FulfillAsync(new()
        {
            Status = 404, ContentType = "application/problem+json", Body = """{"status":404,"title":"Not found","detail":"No digest here."}""",
        }));
        await page.GetByRole(AriaRole.Link, new() { Name = "Statistics" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Statistics" })).ToBeVisibleAsync();

        using var api = f.App.Client();
        var stats = JsonNode.Parse(await api.GetStringAsync("/api/v1/approvals/stats", Ct))!;
        await Expect(page.Locator("#kpi-total")).ToHaveTextAsync(stats["total"]!.GetValue<long>().ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Expect(page.Locator("#chart-over-time rect").First).ToBeVisibleAsync();
        await Expect(page.Locator("#chart-decision-times rect").First).ToBeVisibleAsync();
        await Expect(page.Locator("#chart-rates")).ToBeVisibleAsync();
        await Expect(page.Locator("#chart-priority")).ToHaveAttributeAsync("aria-label", new System.Text.RegularExpressions.Regex("high [1-9]"));
        await Expect(page.Locator("#chart-risk")).ToBeVisibleAsync();
        await Expect(page.Locator("#digest")).ToHaveCountAsync(0);
        Assert.Empty(c.Errors);
    }
}
