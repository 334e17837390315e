using System.Text.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Bot.Slack;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Grants;

namespace AgentSentinel.Bot.Tests;

/// <summary>The Slack layouts, built directly: escaping, limits, shape.</summary>
public sealed class SlackMessageTests
{
    private static ApprovalRequest Request(string? description = "Move funds", string? inputs = """{"amount": 10}""", ApprovalStatus status = ApprovalStatus.Pending) => new()
    {
        Id = Guid.CreateVersion7(),
        ActionName = "transfer_funds",
        ActionDescription = description,
        AgentId = "agent-1",
        RunId = "run-1",
        EstimatedCost = 15000.5m,
        RiskLevel = RiskLevel.High,
        Priority = Priority.Critical,
        ActionInputs = inputs,
        Context = """{"why": "rebalance"}""",
        CreatedAt = DateTimeOffset.UtcNow,
        ExpiresAt = DateTimeOffset.UtcNow.AddMinutes(10),
        Status = status,
        Version = 1,
        RouteName = "payments",
    };

    private static JsonNode Json(object value) => JsonNode.Parse(JsonSerializer.Serialize(value, SlackJson.Options))!;

    [Theory]
    [InlineData("<!channel>", "&lt;!channel&gt;")]
    [InlineData("<@U123>", "&lt;@U123&gt;")]
    [InlineData("<https://x|y>", "&lt;https://x|y&gt;")]
    [InlineData("a & b", "a &amp; b")]
    [InlineData("&lt;", "&amp;lt;")]
    public void Agent_text_is_escaped_exactly_once(string text, string escaped) => Assert.Equal(escaped, SlackText.Escape(text));

    [Fact]
    public void Truncation_never_splits_an_escape_and_stays_within_the_limit()
    {
        for (var limit = 2; limit < 40; limit++)
        {
            var result = SlackText.EscapeAndTruncate(new string('<', 50), limit);
            Assert.True(result.Length <= limit, $"{result.Length} > {limit}");
            Assert.EndsWith(SlackText.Ellipsis, result, StringComparison.Ordinal);
            Assert.Matches("^(&lt;)*…$", result);
        }
        Assert.Equal("short", SlackText.EscapeAndTruncate("short", 5));
    }

    [Fact]
    public void A_code_block_cannot_be_closed_by_agent_text()
    {
        var block = SlackText.CodeBlock("x```<!here>```y", 100);
        Assert.StartsWith("```", block, StringComparison.Ordinal);
        Assert.EndsWith("```", block, StringComparison.Ordinal);
        Assert.Equal(2, block.Split("```").Length - 1);
        Assert.DoesNotContain("<!here>", block, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://evil.example/login")]
    [InlineData("HTTP://EVIL.EXAMPLE")]
    [InlineData("slack://open?team=T1")]
    [InlineData("www.evil.example")]
    [InlineData("evil.example")]
    [InlineData("mailto:ops@evil.example")]
    [InlineData("ops@evil.example")]
    [InlineData("join #general now")]
    [InlineData("@here and @channel")]
    [InlineData("*bold* _italic_ ~struck~ `code` ```block```")]
    public void Agent_text_can_neither_link_nor_format_in_any_slack_text(string text)
    {
        var plain = SlackText.Plain(text, 500);
        var inert = SlackText.Inert(text, 500);
        var code = SlackText.Code(text, 500);
        foreach (var safe in new[] { plain, inert, code, SlackText.CodeBlock(text, 500) })
        {
            Assert.DoesNotContain("://", safe, StringComparison.Ordinal);
            Assert.DoesNotMatch(@"(?i)mailto:|www\.|[a-z0-9]\.[a-z]|[#@][a-z0-9]", safe);
        }
        Assert.DoesNotMatch("[*_~`]", inert);
        Assert.Equal(2, code.Count(c => c == '`'));
        // Nothing is lost to a reader: the text reads the same with the look-alikes and the invisible joiners.
        Assert.Equal(text.Replace("`", "ˋ", StringComparison.Ordinal), code[1..^1].Replace("\u2060", "", StringComparison.Ordinal).Replace('\u2024', '.'));
    }

    [Fact]
    public void Every_mrkdwn_text_is_verbatim_and_agent_prose_is_plain_text_without_emoji()
    {
        var message = Json(SlackMessages.RequestMessage(Request("Pay :rotating_light: now") with { InfoResponse = "Savings https://bank.example", InfoRequestMessage = "Which?" }, "C0PAY", null, null));
        var texts = message["blocks"]!.AsArray().SelectMany(b => (IEnumerable<JsonNode?>?)b!["fields"]?.AsArray() ?? (IEnumerable<JsonNode?>?)b!["elements"]?.AsArray() ?? [b!["text"]]).OfType<JsonNode>().ToList();
        Assert.All(texts.Where(t => (string?)t["type"] == "mrkdwn"), t => Assert.True((bool?)t["verbatim"]));
        var description = message["blocks"]!.AsArray().Single(b => (string?)b!["block_id"] == "description")!["text"]!;
        Assert.Equal("plain_text", (string?)description["type"]);
        Assert.False((bool?)description["emoji"]);
        var answer = message["blocks"]!.AsArray().Single(b => (string?)b!["block_id"] == "answer")!["text"]!;
        Assert.Equal("plain_text", (string?)answer["type"]);
        Assert.DoesNotContain("://", (string?)answer["text"], StringComparison.Ordinal);
    }

    [Fact]
    public void Hostile_agent_text_cannot_mention_or_link_anywhere_in_the_message()
    {
        const string hostile = "<!channel> <!here> <!subteam^S123> <@U123> <#C123> <https://evil.example|click me> &";
        var request = Request(hostile, $$"""{"note": "{{hostile.Replace("\"", "", StringComparison.Ordinal)}}"}""") with
        {
            ActionName = "<!channel>_delete",
            AgentId = "<@U999>",
            RunId = "<https://x|y>",
            Context = """{"c": "<!everyone>"}""",
            RouteName = "<!here>",
        };
        var json = JsonSerializer.Serialize(SlackMessages.RequestMessage(request, "C0PAY", null, "https://approvals.example.com"), SlackJson.Options);
        var raw = JsonNode.Parse(json)!.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        foreach (var forbidden in new[] { "<!channel>", "<!here>", "<!subteam", "<@U123>", "<@U999>", "<#C123>", "<https://evil", "<!everyone>", "<https://x|y>", "&amp;lt;" })
        {
            Assert.DoesNotContain(forbidden, raw, StringComparison.Ordinal);
        }
        Assert.Contains("&lt;!channel&gt;", raw, StringComparison.Ordinal);
        // The only link is the product's own, to the console.
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(raw, "<https?://"));
        Assert.Contains("<https://approvals.example.com/approvals/", raw, StringComparison.Ordinal);
    }

    [Fact]
    public void Escalation_mentions_people_by_id_calls_the_channel_only_for_critical_requests_and_escapes_the_rest()
    {
        var level = new Core.Routing.EscalationLevel { AfterMinutes = 30, Slack = new() { Channel = "C0LEADS" }, Mention = ["U0BOSS", "here", "<!channel>@evil", "cfo@example.com"] };
        var critical = Request() with { Priority = Priority.Critical };
        var escalation = new FollowUp(FollowUpKind.Escalation, 1, critical.CreatedAt.AddMinutes(30), level);
        Assert.Equal("<@U0BOSS> <!here> &lt;!channel&gt;@evil cfo@example.com", SlackMessages.Mentions(level.Mention, Priority.Critical));
        Assert.Equal("<@U0BOSS> &lt;!channel&gt;@evil cfo@example.com", SlackMessages.Mentions(level.Mention, Priority.High));

        var message = SlackMessages.RequestMessage(critical, "C0LEADS", "channel", null, escalation: escalation);
        Assert.StartsWith("<@U0BOSS> <!here> &lt;!channel&gt;@evil cfo@example.com Escalated: ", message.Text, StringComparison.Ordinal);
        Assert.Equal("escalation:1", message.Metadata!.EventPayload["delivery_key"]);
        var banner = Json(message)["blocks"]!.AsArray().Single(b => (string?)b!["block_id"] == "escalation")!["text"]!["text"]!.ToString();
        Assert.Contains("*Escalated (level 1)*: no decision after 30 min.", banner, StringComparison.Ordinal);

        var note = SlackMessages.EscalatedReply(critical, escalation);
        Assert.Equal(":arrow_double_up: Escalated (level 1) after 30 min without a decision to <#C0LEADS>: <@U0BOSS> <!here> &lt;!channel&gt;@evil cfo@example.com.", note);
        Assert.Contains("1 h 5 min left", SlackMessages.ReminderReply(critical with { ExpiresAt = critical.CreatedAt.AddMinutes(75) }, critical.CreatedAt.AddMinutes(10)), StringComparison.Ordinal);
    }

    [Fact]
    public void A_pending_request_has_three_buttons_carrying_its_id_and_critical_requests_mention_as_the_route_says()
    {
        var request = Request();
        var message = Json(SlackMessages.RequestMessage(request, "C0PAY", "here", null));
        var actions = message["blocks"]!.AsArray().Single(b => (string?)b!["type"] == "actions")!;
        var elements = actions["elements"]!.AsArray();
        Assert.Equal(["approve", "reject", "request_info", "reassign"], elements.Select(b => (string?)b!["action_id"]));
        Assert.Equal(["button", "button", "button", "overflow"], elements.Select(b => (string?)b!["type"]));
        // The "…" menu: two options, each carrying the request's id.
        var menu = elements[3]!;
        Assert.Equal([$"person:{request.Id}", $"channel:{request.Id}"], menu["options"]!.AsArray().Select(o => (string?)o!["value"]));
        Assert.Equal(["Reassign to a person…", "Reassign to a channel…"], menu["options"]!.AsArray().Select(o => (string?)o!["text"]!["text"]));
        var buttons = elements.Take(3).ToList();
        Assert.Equal(["approve", "reject", "request_info"], buttons.Select(b => (string?)b!["action_id"]));
        Assert.Equal(["primary", "danger", null], buttons.Select(b => (string?)b!["style"]));
        Assert.All(buttons, b => Assert.Equal(request.Id.ToString(), (string?)b!["value"]));
        Assert.StartsWith("<!here> ", (string?)message["text"], StringComparison.Ordinal);
        Assert.Equal(request.Id.ToString(), (string?)message["metadata"]!["event_payload"]!["approval_id"]);

        var notCritical = Json(SlackMessages.RequestMessage(request with { Priority = Priority.High }, "C0PAY", "here", null));
        Assert.DoesNotContain("<!here>", (string?)notCritical["text"], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ApprovalStatus.Approved, "Approved")]
    [InlineData(ApprovalStatus.Rejected, "Rejected")]
    [InlineData(ApprovalStatus.Expired, "Expired")]
    [InlineData(ApprovalStatus.Cancelled, "Cancelled")]
    [InlineData(ApprovalStatus.InfoRequested, "Waiting for the agent")]
    public void A_request_that_is_not_pending_shows_its_outcome_instead_of_buttons(ApprovalStatus status, string outcome)
    {
        var request = Request(status: status) with
        {
            DecidedAt = DateTimeOffset.UtcNow,
            DecidedByEmail = "alice@example.com",
            DecidedByUserId = "U0ALICE",
            DecidedVia = Surface.Slack,
            DecisionNotes = "ok <!channel>",
            InfoRequestMessage = "Which account?",
        };
        var message = Json(SlackMessages.RequestMessage(request, "C0PAY", null, null, "1764000000.000100"));
        var blocks = message["blocks"]!.AsArray();
        Assert.DoesNotContain(blocks, b => (string?)b!["type"] == "actions" && (string?)b["block_id"] != "reassign_actions");
        // While the agent answers, the request is still open and can be handed on; once closed, it cannot.
        Assert.Equal(status == ApprovalStatus.InfoRequested, blocks.Any(b => (string?)b!["block_id"] == "reassign_actions"));
        var text = (string?)blocks.Single(b => (string?)b!["block_id"] == "outcome")!["text"]!["text"];
        Assert.Contains(outcome, text, StringComparison.Ordinal);
        Assert.DoesNotContain("<!channel>", text, StringComparison.Ordinal);
        if (status is ApprovalStatus.Approved or ApprovalStatus.Rejected)
        {
            Assert.Contains("<@U0ALICE>", text, StringComparison.Ordinal);
        }
        Assert.Equal("1764000000.000100", (string?)message["ts"]);
        Assert.Null(message["metadata"]);
    }

    [Fact]
    public void Huge_requests_stay_within_every_block_kit_limit()
    {
        var big = new string('x', 50_000);
        var inputs = JsonSerializer.Serialize(Enumerable.Range(0, 500).ToDictionary(i => $"key{i}", i => new string('<', 100)));
        var request = Request(big, inputs) with
        {
            ActionName = new string('a', 200),
            AgentId = new string('b', 200),
            RunId = new string('c', 200),
            TaskId = new string('d', 200),
            MissionId = new string('e', 200),
            Context = inputs,
            InfoResponse = big,
            InfoRequestMessage = big,
            RouteName = new string('r', 100),
        };
        var json = JsonSerializer.Serialize(SlackMessages.RequestMessage(request, "C0PAY", "channel", "https://approvals.example.com"), SlackJson.Options);
        Assert.True(json.Length <= BlockKitLimits.MessageJson, $"{json.Length} characters");
        Assert.DoesNotContain("null", json, StringComparison.Ordinal);
        var blocks = JsonNode.Parse(json)!["blocks"]!.AsArray();
        Assert.InRange(blocks.Count, 1, BlockKitLimits.MessageBlocks);
        Assert.Equal(blocks.Count, blocks.Select(b => (string?)b!["block_id"]).Distinct().Count());
        foreach (var block in blocks)
        {
            switch ((string?)block!["type"])
            {
                case "header":
                    Assert.True(((string)block["text"]!["text"]!).Length <= BlockKitLimits.HeaderText);
                    break;
                case "section":
                    Assert.True(((string?)block["text"]?["text"] ?? "").Length <= BlockKitLimits.SectionText);
                    var fields = block["fields"]?.AsArray() ?? [];
                    Assert.True(fields.Count <= BlockKitLimits.SectionFields);
                    Assert.All(fields, f => Assert.True(((string)f!["text"]!).Length <= BlockKitLimits.FieldText));
                    break;
            }
        }
        Assert.Contains("truncated", json, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(TransitionKind.Approve, "decision_approve", true)]
    [InlineData(TransitionKind.Reject, "decision_reject", false)]
    [InlineData(TransitionKind.RequestInfo, "decision_request_info", false)]
    public void Modals_carry_the_request_id_and_require_text_except_to_approve(TransitionKind kind, string callback, bool optional)
    {
        var request = Request();
        var modal = Json(SlackMessages.DecisionModal(kind, request));
        Assert.Equal("modal", (string?)modal["type"]);
        Assert.Equal(callback, (string?)modal["callback_id"]);
        Assert.Equal(request.Id.ToString(), (string?)modal["private_metadata"]);
        Assert.True(((string)modal["title"]!["text"]!).Length <= BlockKitLimits.ModalTitle);
        var input = modal["blocks"]!.AsArray().Single(b => (string?)b!["type"] == "input")!;
        Assert.Equal("decision_text", (string?)input["block_id"]);
        Assert.Equal("text", (string?)input["element"]!["action_id"]);
        Assert.Equal(optional, (bool?)input["optional"] ?? false);
    }

    [Fact]
    public void The_pending_list_fits_in_one_message()
    {
        var requests = Enumerable.Range(0, SlackMessages.PendingListSize).Select(_ => Request()).ToList();
        var blocks = SlackMessages.PendingList(requests, 40);
        Assert.True(blocks.Count <= BlockKitLimits.MessageBlocks);
        Assert.Equal(blocks.Count, blocks.Select(b => b.BlockId).Distinct().Count());
    }

    [Fact]
    public void Signatures_are_checked_for_secret_body_and_age()
    {
        var body = "payload=%7B%7D"u8.ToArray();
        var now = DateTimeOffset.UtcNow;
        var ts = now.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var signature = SlackSignature.Compute("secret", ts, body);
        Assert.Matches("^v0=[0-9a-f]{64}$", signature);
        Assert.True(SlackSignature.IsValid("secret", ts, signature, body, now, TimeSpan.FromMinutes(5)));
        Assert.False(SlackSignature.IsValid("other", ts, signature, body, now, TimeSpan.FromMinutes(5)));
        Assert.False(SlackSignature.IsValid("secret", ts, signature, "payload=%7B1%7D"u8, now, TimeSpan.FromMinutes(5)));
        Assert.False(SlackSignature.IsValid("secret", ts, signature, body, now.AddMinutes(6), TimeSpan.FromMinutes(5)));
        Assert.False(SlackSignature.IsValid("secret", ts, signature.ToUpperInvariant(), body, now, TimeSpan.FromMinutes(5)));
        Assert.False(SlackSignature.IsValid("secret", null, signature, body, now, TimeSpan.FromMinutes(5)));
        Assert.False(SlackSignature.IsValid("", ts, SlackSignature.Compute("", ts, body), body, now, TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public void The_grant_block_cannot_link_or_mention_with_the_agents_action_name_and_loses_its_button_once_ended()
    {
        var source = Request(status: ApprovalStatus.Approved) with
        {
            ActionName = "<!channel> refund *now* https://evil.example",
            DecidedAt = DateTimeOffset.UtcNow,
            DecidedByEmail = "alice@example.com",
        };
        var grant = new Grant
        {
            Id = Guid.CreateVersion7(),
            CreatedByEmail = "alice@example.com",
            CreatedByKeyId = "key-alice",
            AgentKeyId = "key-agent",
            ActionName = source.ActionName,
            ExpiresAt = source.CreatedAt.AddMinutes(30),
            MaxUses = 2,
            SourceApprovalId = source.Id,
            CreatedAt = source.CreatedAt,
        };
        var message = Json(SlackMessages.RequestMessage(source, "C0PAY", null, null, grant: grant, now: source.CreatedAt.AddMinutes(1)));
        var blocks = message["blocks"]!.AsArray();
        var text = (string)blocks.Single(b => (string?)b!["block_id"] == "grant")!["text"]!["text"]!;
        Assert.DoesNotContain("<!channel>", text, StringComparison.Ordinal);
        Assert.DoesNotContain("https://evil.example", text, StringComparison.Ordinal);
        Assert.DoesNotContain("*now*", text, StringComparison.Ordinal);
        Assert.Contains("at most 2 times", text, StringComparison.Ordinal);
        Assert.Equal("revoke_grant", (string?)blocks.Single(b => (string?)b!["block_id"] == "grant_actions")!["elements"]![0]!["action_id"]);

        // Past its expiry the grant is described as ended, without a button.
        var expired = Json(SlackMessages.RequestMessage(source, "C0PAY", null, null, grant: grant, now: grant.ExpiresAt));
        Assert.Contains("Expired at", expired["blocks"]!.ToJsonString(), StringComparison.Ordinal);
        Assert.DoesNotContain("grant_actions", expired["blocks"]!.ToJsonString(), StringComparison.Ordinal);
        // A pending request never shows a grant.
        Assert.DoesNotContain("\"grant\"", Json(SlackMessages.RequestMessage(Request(), "C0PAY", null, null, grant: grant)).ToJsonString(), StringComparison.Ordinal);
    }
}
