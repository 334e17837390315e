using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Bot.Teams;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Grants;
using AgentSentinel.Testing;

namespace AgentSentinel.Bot.Tests;

/// <summary>The Teams cards, built directly: escaping, and parsing with Microsoft's Adaptive Cards library.</summary>
public sealed class TeamsCardTests
{
    private static ApprovalRequest Request(ApprovalStatus status = ApprovalStatus.Pending) => new()
    {
        Id = Guid.CreateVersion7(),
        ActionName = "transfer_funds",
        ActionDescription = "Pay [here](https://evil.example) **now** <at>Everyone</at> @channel www.evil.example",
        AgentId = "billing-agent",
        RunId = "run-7",
        EstimatedCost = 1200.5m,
        RiskLevel = RiskLevel.Critical,
        Priority = Priority.Critical,
        ActionInputs = """{"to": "ACC-2", "url": "https://x.example"}""",
        Context = """{"why": "rebalance"}""",
        CreatedAt = DateTimeOffset.UtcNow,
        ExpiresAt = DateTimeOffset.UtcNow.AddMinutes(10),
        Status = status,
        DecidedAt = status.IsTerminal() ? DateTimeOffset.UtcNow : null,
        DecidedByEmail = status is ApprovalStatus.Approved or ApprovalStatus.Rejected ? "alice@example.com" : null,
        DecisionNotes = status is ApprovalStatus.Approved or ApprovalStatus.Rejected ? "ok [link](https://x)" : null,
        InfoRequestMessage = "Which account?",
        Version = 1,
        RouteName = "payments",
    };

    [Theory]
    [InlineData("[a](https://x)")]
    [InlineData("**bold**")]
    [InlineData("<at>Everyone</at>")]
    [InlineData("https://evil.example/path")]
    [InlineData("www.evil.example")]
    public void Agent_text_cannot_render_links_emphasis_or_mentions(string text)
    {
        var escaped = TeamsText.Escape(text);
        Assert.DoesNotContain("](", escaped, StringComparison.Ordinal);
        Assert.DoesNotContain("**", escaped, StringComparison.Ordinal);
        Assert.DoesNotContain("://", escaped, StringComparison.Ordinal);
        Assert.DoesNotContain("www.", escaped, StringComparison.Ordinal);
        Assert.DoesNotContain("<at>", escaped, StringComparison.Ordinal);
        // Nothing is lost to a reader: removing the escapes gives the text back.
        Assert.Equal(text, escaped.Replace("\\", "", StringComparison.Ordinal).Replace("\u2060", "", StringComparison.Ordinal));
    }

    private static FollowUp Escalation(ApprovalRequest r) => new(FollowUpKind.Escalation, 2, r.CreatedAt.AddMinutes(90),
        new Core.Routing.EscalationLevel { AfterMinutes = 90, Mention = ["cfo@example.com", "here", "**[boss](https://evil.example)**"] });

    [Fact]
    public void The_escalation_banner_names_the_level_and_its_people_as_plain_text()
    {
        var card = TeamsCards.RequestCard(Request(), null, [], escalation: Escalation(Request()));
        var banner = JsonSerializer.SerializeToNode(card, CardJson.Options)!["body"]!.AsArray().Single(e => (string?)e!["id"] == "escalation")!;
        var text = (string)banner["text"]!;
        Assert.StartsWith("🚨 Escalated (level 2): no decision after 1 h 30 min.", text, StringComparison.Ordinal);
        Assert.Contains("everyone in this channel", text, StringComparison.Ordinal);
        Assert.DoesNotContain("](", text, StringComparison.Ordinal);
        Assert.DoesNotContain("**", text, StringComparison.Ordinal);
        // "here" calls everyone only for critical requests.
        var quiet = TeamsCards.People(["cfo@example.com", "here"], Priority.High);
        Assert.DoesNotContain("everyone", quiet, StringComparison.Ordinal);
        Assert.Equal("cfo@\u2060example\\.\u2060com", quiet);
    }

    public static TheoryData<string> Cards => new()
    {
        { "pending" }, { "approved" }, { "rejected" }, { "expired" }, { "cancelled" }, { "info_requested" }, { "notice" }, { "escalation" },
        { "grant_offered" }, { "grant_given" }, { "approved_by_grant" }, { "reassign_channels" },
    };

    private static Grant GrantOf(ApprovalRequest source) => new()
    {
        Id = Guid.CreateVersion7(),
        CreatedByEmail = "alice@example.com",
        CreatedByKeyId = "key-alice",
        AgentKeyId = "key-agent",
        ActionName = source.ActionName + " [x](https://evil.example)",
        InputsHash = GrantInputs.Hash(source.ActionInputs),
        ExpiresAt = source.CreatedAt.AddMinutes(30),
        MaxUses = 3,
        MaxTotalCost = 50m,
        SourceApprovalId = source.Id,
        CreatedAt = source.CreatedAt,
    };

    [Theory]
    [MemberData(nameof(Cards))]
    public async Task Every_card_parses_without_errors_with_the_adaptive_cards_library_at_version_1_5(string which)
    {
        var card = which switch
        {
            "notice" => TeamsCards.Notice("This approval request no longer exists."),
            "escalation" => TeamsCards.RequestCard(Request(), "https://approvals.example.com", [], escalation: Escalation(Request())),
            "grant_offered" => TeamsCards.RequestCard(Request() with { Priority = Priority.Medium, RiskLevel = RiskLevel.Low }, null, [], grants: new GrantAllowance(true, 60, null)),
            "grant_given" => TeamsCards.RequestCard(Request(ApprovalStatus.Approved), null, [], grant: GrantOf(Request()), now: DateTimeOffset.UtcNow),
            "approved_by_grant" => TeamsCards.RequestCard(Request(ApprovalStatus.Approved) with { GrantId = Guid.CreateVersion7() }, null, []),
            "reassign_channels" => TeamsCards.RequestCard(Request(), null, [], reassignChannels: [new Choice("Channel of route ops", "19:ops@thread.tacv2")]),
            _ => TeamsCards.RequestCard(Request(WireNames.ParseStatus(which)), "https://approvals.example.com",
                ["6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"], notice: which == "approved" ? "You approved this request." : null),
        };
        var json = JsonSerializer.Serialize(card, CardJson.Options);
        Assert.DoesNotContain("null", json, StringComparison.Ordinal);
        var result = await ParseWithLibraryAsync(json);
        Assert.Equal("1.5", (string?)result["version"]);
        Assert.Empty(result["errors"]!.AsArray());
        Assert.InRange((int)result["actions"]!, 0, 6);
        if (which is "pending" or "grant_offered" or "reassign_channels")
        {
            // Approve, Reject, Request info and Reassign… (a card under the card).
            Assert.Equal(4, (int)result["actions"]!);
        }
        if (which is "info_requested")
        {
            // Still open: only Reassign…
            Assert.Equal(1, (int)result["actions"]!);
        }
        if (which == "grant_given")
        {
            // The grant's action name came from an agent: it cannot render a link.
            Assert.DoesNotContain("](", JsonSerializer.SerializeToNode(card, CardJson.Options)!["body"]!.AsArray().Single(e => (string?)e!["id"] == "grant")!["text"]!.ToString(), StringComparison.Ordinal);
        }
    }

    internal static async Task<JsonObject> ParseWithLibraryAsync(string cardJson)
    {
        var root = Repository.Root;
        var validator = Path.Combine(root, "tests", "cards", "validate.js");
        if (!Directory.Exists(Path.Combine(root, "tests", "cards", "node_modules", "adaptivecards")))
        {
            Assert.True(!PostgresServer.IsCi, "tests/cards/node_modules is required when CI=true (npm ci --prefix tests/cards)");
            Assert.Skip("The Adaptive Cards library is not installed: run npm ci --prefix tests/cards");
        }
        var psi = new ProcessStartInfo("node", [validator]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(psi)!;
        await process.StandardInput.WriteAsync(cardJson);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(process.ExitCode == 0, error);
        return JsonNode.Parse(output)!.AsObject();
    }
}
