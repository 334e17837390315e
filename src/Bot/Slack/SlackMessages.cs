using System.Globalization;
using System.Text.Json;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Delegation;
using AgentSentinel.Core.Grants;
using AgentSentinel.Core.Storage;

namespace AgentSentinel.Bot.Slack;

/// <summary>Every Slack layout of the product, as static builders that tests can call directly.</summary>
public static class SlackMessages
{
    public const string MetadataEventType = "agentsentinel_approval";

    private const int InputsLimit = 2500;
    private const int ContextLimit = 1200;
    private const int DescriptionLimit = 2500;
    private const int NameLimit = 200;

    public static string PriorityEmoji(Priority priority) => priority switch
    {
        Priority.Critical => ":red_circle:",
        Priority.High => ":large_orange_circle:",
        Priority.Medium => ":large_yellow_circle:",
        _ => ":large_green_circle:",
    };

    public static string RiskEmoji(RiskLevel? risk) => risk switch
    {
        RiskLevel.Critical => ":rotating_light:",
        RiskLevel.High => ":warning:",
        RiskLevel.Medium => ":small_orange_diamond:",
        RiskLevel.Low => ":small_blue_diamond:",
        RiskLevel.Minimal => ":white_small_square:",
        _ => ":grey_question:",
    };

    private static string Title(string wire) => CultureInfo.InvariantCulture.TextInfo.ToTitleCase(wire.Replace('_', ' '));

    /// <summary>The request's message: what is asked, by whom, and, while it is pending, the three buttons; once it is
    /// not, the outcome in their place.</summary>
    /// <param name="escalation">Set for the copy posted to an escalation level's channel: a banner naming the level and
    /// mentioning its people, and its own delivery key in the metadata.</param>
    /// <param name="grant">The grant given with this request's approval, if any: described under the outcome, with a
    /// Revoke button while it is active at <paramref name="now"/>.</param>
    /// <param name="away">The people named by the request (its approvers, the level's people) who are away now, with
    /// their delegates: while the request is open the message names each delegate beside the person.</param>
    public static SlackMessage RequestMessage(ApprovalRequest r, string channel, string? mention, string? publicBaseUrl, string? ts = null, FollowUp? escalation = null,
        Grant? grant = null, DateTimeOffset? now = null, string? deliveryKey = null, IReadOnlyList<AwayNotice>? away = null)
    {
        var id = r.Id.ToString();
        var title = $"{PriorityEmoji(r.Priority)} Approval needed: ";
        var blocks = new List<Block>
        {
            new HeaderBlock(TextObject.Plain(title + SlackText.Plain(r.ActionName, BlockKitLimits.HeaderText - title.Length))) { BlockId = "header" },
        };
        away = r.Status.IsOpen() ? away : null;
        var mentions = escalation?.Level is { } level ? Mentions(level.Mention, r.Priority, away) : "";
        var awayNote = AwayNote(r.Approvers.Except(escalation?.Level?.Mention ?? [], StringComparer.OrdinalIgnoreCase), away);
        if (escalation is not null)
        {
            blocks.Add(new SectionBlock
            {
                BlockId = "escalation",
                Text = TextObject.Markdown($":rotating_light: *Escalated (level {escalation.Number})*: no decision after {FollowUpPlan.Describe(escalation.DueAt - r.CreatedAt)}."
                    + (mentions.Length > 0 ? $" {mentions}, please decide." : "")),
            });
        }
        if (r.ReassignedTo is { } handed && r.Status.IsOpen())
        {
            blocks.Add(new SectionBlock { BlockId = "reassigned", Text = TextObject.Markdown(ReassignedNote(handed)) });
        }
        if (awayNote.Length > 0)
        {
            blocks.Add(new SectionBlock { BlockId = "away", Text = TextObject.Markdown(awayNote) });
        }
        if (!string.IsNullOrWhiteSpace(r.ActionDescription))
        {
            blocks.Add(new SectionBlock { BlockId = "description", Text = TextObject.Literal(SlackText.Plain(r.ActionDescription, DescriptionLimit)) });
        }
        var fields = new List<TextObject>
        {
            Field("Action", SlackText.Code(r.ActionName, NameLimit)),
            // The agent id is what the request claims; the key is who made it.
            Field("Agent", (r.AgentId is null ? "_not given_" : SlackText.Code(r.AgentId, NameLimit))
                + (r.RequesterKeyName is null ? "" : " · key " + SlackText.Code(r.RequesterKeyName, NameLimit))),
            Field("Priority", $"{PriorityEmoji(r.Priority)} {Title(r.Priority.ToWire())}"),
            Field("Risk", r.RiskLevel is { } risk ? $"{RiskEmoji(risk)} {Title(risk.ToWire())}" : "_not given_"),
            Field("Estimated cost", r.EstimatedCost is { } cost ? "$" + cost.ToString("#,0.00####", CultureInfo.InvariantCulture) : "_not given_"),
            Field("Deadline", SlackText.Date(r.ExpiresAt)),
        };
        if (r.RunId is not null)
        {
            fields.Add(Field("Run", SlackText.Code(r.RunId, NameLimit)));
        }
        if (r.TaskId is not null)
        {
            fields.Add(Field("Task", SlackText.Code(r.TaskId, NameLimit)));
        }
        if (r.MissionId is not null)
        {
            fields.Add(Field("Mission", SlackText.Code(r.MissionId, NameLimit)));
        }
        blocks.Add(new SectionBlock { BlockId = "fields", Fields = fields });

        var link = RequestUrl(publicBaseUrl, r.Id);
        if (r.ActionInputs is not null)
        {
            blocks.Add(new SectionBlock { BlockId = "inputs", Text = TextObject.Markdown(JsonSection("Inputs", r.ActionInputs, InputsLimit, link)) });
        }
        if (r.Context is not null)
        {
            blocks.Add(new SectionBlock { BlockId = "context", Text = TextObject.Markdown(JsonSection("Context", r.Context, ContextLimit, link)) });
        }
        if (r.Status == ApprovalStatus.Pending && r.InfoResponse is not null)
        {
            blocks.Add(new SectionBlock
            {
                BlockId = "answer",
                Text = TextObject.Literal($"The agent answered \"{SlackText.Plain(r.InfoRequestMessage, 300)}\":\n{SlackText.Plain(r.InfoResponse, 1500)}"),
            });
        }
        if (QuorumTally.Of(r) is { } quorum)
        {
            // Names come from chat profiles and the route's groups: shown inert, so none can mention or link.
            blocks.Add(new SectionBlock { BlockId = "quorum", Text = TextObject.Markdown(":ballot_box_with_ballot: " + SlackText.Inert(quorum.Summary, 1000)) });
        }
        if (r.Status == ApprovalStatus.Pending)
        {
            blocks.Add(new ActionsBlock(
            [
                new ButtonElement(TextObject.Plain("Approve"), SlackActions.Approve) { Value = id, Style = "primary" },
                new ButtonElement(TextObject.Plain("Reject"), SlackActions.Reject) { Value = id, Style = "danger" },
                new ButtonElement(TextObject.Plain("Request info"), SlackActions.RequestInfo) { Value = id },
                ReassignMenu(r.Id),
            ]) { BlockId = "decision" });
        }
        else
        {
            blocks.Add(new SectionBlock { BlockId = "outcome", Text = TextObject.Markdown(Outcome(r)) });
            if (r.Status == ApprovalStatus.InfoRequested)
            {
                // Still open while the agent answers: it can be handed on.
                blocks.Add(new ActionsBlock([ReassignMenu(r.Id)]) { BlockId = SlackActions.ReassignActionsBlock });
            }
            if (grant is not null && r.Status == ApprovalStatus.Approved && escalation is null)
            {
                blocks.AddRange(GrantBlocks(grant, now ?? grant.CreatedAt));
            }
        }
        var footer = $"Request `{id}`" + (r.RouteName is null ? "" : $" · route {SlackText.EscapeAndTruncate(r.RouteName, 100)}");
        if (link is not null)
        {
            footer += " · " + SlackText.Link(link, "Open in the console");
        }
        blocks.Add(new ContextBlock([TextObject.Markdown(footer)]) { BlockId = "footer" });

        var loud = escalation is not null ? (mentions.Length > 0 ? mentions + " " : "") + "Escalated: "
            : r.Priority == Priority.Critical && mention is "here" or "channel" ? $"<!{mention}> " : "";
        return new SlackMessage
        {
            Channel = channel,
            Ts = ts,
            Text = loud + $"{Title(r.Priority.ToWire())} approval needed: {SlackText.Inert(r.ActionName, NameLimit)}" + StatusSuffix(r)
                + (awayNote.Length > 0 ? " · " + awayNote : ""),
            Blocks = blocks,
            Metadata = ts is null ? Metadata(r.Id, deliveryKey ?? (escalation is null ? DeliveryKeys.Root : DeliveryKeys.Escalation(escalation.Number))) : null,
            UnfurlLinks = ts is null ? false : null,
            UnfurlMedia = ts is null ? false : null,
        };
    }

    private static string StatusSuffix(ApprovalRequest r) => r.Status == ApprovalStatus.Pending ? "" : $" ({r.Status.ToWire().Replace('_', ' ')})";

    public static MessageMetadata Metadata(Guid approvalId, string deliveryKey) =>
        new(MetadataEventType, new Dictionary<string, string> { ["approval_id"] = approvalId.ToString(), ["delivery_key"] = deliveryKey });

    private static TextObject Field(string name, string value) =>
        TextObject.Markdown($"*{name}*\n{value}");

    private static string JsonSection(string title, string json, int limit, string? link)
    {
        string pretty;
        using (var doc = JsonDocument.Parse(json))
        {
            pretty = JsonSerializer.Serialize(doc.RootElement, new JsonSerializerOptions { WriteIndented = true });
        }
        var header = $"*{title}*\n";
        var block = SlackText.CodeBlock(pretty, limit);
        if (block.EndsWith(SlackText.Ellipsis + "```", StringComparison.Ordinal))
        {
            header = $"*{title}* (truncated{(link is null ? "" : "; " + SlackText.Link(link, "see all"))})\n";
        }
        return header + block;
    }

    public static string? RequestUrl(string? publicBaseUrl, Guid id) =>
        string.IsNullOrWhiteSpace(publicBaseUrl) ? null : $"{publicBaseUrl.TrimEnd('/')}/approvals/{id}";

    /// <summary>Who decided: a Slack mention when the decision came from Slack, otherwise the email, escaped; a
    /// delegate's decision says whom it was made for ("bob on behalf of alice").</summary>
    public static string Who(ApprovalRequest r) =>
        (r.DecidedVia == Surface.Slack && r.DecidedByUserId is { } user && SlackIds.IsUserId(user)
            ? $"<@{user}>"
            : SlackText.Escape(r.DecidedByEmail ?? r.DecidedByUserId ?? "someone"))
        + (r.DecidedOnBehalfOf is { } person ? " on behalf of " + SlackText.Escape(person) : "");

    public static string Outcome(ApprovalRequest r) => r.Status switch
    {
        ApprovalStatus.Approved when r.GrantId is not null =>
            $":white_check_mark: *{GrantTexts.ApprovedByGrant}* given by {Who(r)} {SlackText.Date(r.DecidedAt!.Value)}"
            + (r.DecisionNotes is null ? "" : $"\n>{SlackText.EscapeAndTruncate(r.DecisionNotes, 2000)}"),
        ApprovalStatus.Approved => $":white_check_mark: *Approved* by {Who(r)} {SlackText.Date(r.DecidedAt!.Value)}"
            + (r.DecisionNotes is null ? "" : $"\n>{SlackText.EscapeAndTruncate(r.DecisionNotes, 2000)}"),
        ApprovalStatus.Rejected => $":x: *Rejected* by {Who(r)} {SlackText.Date(r.DecidedAt!.Value)}"
            + (r.DecisionNotes is null ? "" : $"\n>{SlackText.EscapeAndTruncate(r.DecisionNotes, 2000)}"),
        ApprovalStatus.Expired => $":hourglass: *Expired* {SlackText.Date(r.ExpiresAt)}: nobody decided in time, so the action will not run.",
        ApprovalStatus.Cancelled => $":no_entry_sign: *Cancelled* by the agent {SlackText.Date(r.DecidedAt ?? r.UpdatedAt)}.",
        ApprovalStatus.InfoRequested => $":question: *Waiting for the agent's answer* to:\n>{SlackText.EscapeAndTruncate(r.InfoRequestMessage, 2000)}\nThe buttons come back when it answers.",
        _ => "",
    };

    /// <summary>A reply in the request's thread.</summary>
    public static SlackMessage ThreadReply(string channel, string threadTs, Guid approvalId, string deliveryKey, string text) => new()
    {
        Channel = channel,
        ThreadTs = threadTs,
        Text = text,
        Blocks = [new SectionBlock { BlockId = "reply", Text = TextObject.Markdown(text) }],
        Metadata = Metadata(approvalId, deliveryKey),
        UnfurlLinks = false,
        UnfurlMedia = false,
    };

    /// <summary>How an escalation level calls people: Slack user ids as mentions, <c>here</c>/<c>channel</c> only for
    /// critical requests, anything else (an email) as plain text; a person who is away with their delegate.</summary>
    public static string Mentions(IEnumerable<string> people, Priority priority, IReadOnlyList<AwayNotice>? away = null) => string.Join(" ", people
        .Where(p => !string.IsNullOrWhiteSpace(p) && (priority == Priority.Critical || p is not ("here" or "channel")))
        .Select(p => p is "here" or "channel" ? $"<!{p}>" : Person(p, away)));

    /// <summary>A person a message names: a mention for a Slack user id, the email escaped otherwise; when they are
    /// away, with until when and their delegate (a mention when the delegation was set from Slack, so they are told).</summary>
    public static string Person(string person, IReadOnlyList<AwayNotice>? away)
    {
        var name = SlackIds.IsUserId(person) ? $"<@{person}>" : SlackText.EscapeAndTruncate(person, 254);
        if (AwayNotice.For(person, away) is not { } a)
        {
            return name;
        }
        var delegateName = a.DelegateSlackId is { } id && SlackIds.IsUserId(id) ? $"<@{id}>" : SlackText.EscapeAndTruncate(a.DelegateEmail, 254);
        return DelegationTexts.AwayPerson(name, SlackText.Date(a.Until), delegateName);
    }

    /// <summary>The line naming those of <paramref name="people"/> who are away, each with their delegate; empty when
    /// nobody is (a person named twice, by email and by Slack id, once).</summary>
    public static string AwayNote(IEnumerable<string> people, IReadOnlyList<AwayNotice>? away) =>
        AwayNotice.AwayAmong(people, away) is { Count: > 0 } named ? ":palm_tree: " + string.Join(" · ", named.Select(p => Person(p, away))) : "";

    /// <summary>The reminder in the request's thread: how long is left, and which of its approvers are away with who
    /// decides for them.</summary>
    public static string ReminderReply(ApprovalRequest r, DateTimeOffset now, IReadOnlyList<AwayNotice>? away = null) =>
        $":alarm_clock: *Reminder*: this request is still waiting for a decision. {FollowUpPlan.Describe(r.ExpiresAt - now)} left (deadline {SlackText.Date(r.ExpiresAt)})."
        + (AwayNote(r.Approvers, away) is { Length: > 0 } note ? "\n" + note : "");

    /// <summary>The note in the request's thread that it went to the next level.</summary>
    public static string EscalatedReply(ApprovalRequest r, FollowUp escalation, IReadOnlyList<AwayNotice>? away = null) =>
        $":arrow_double_up: Escalated (level {escalation.Number}) after {FollowUpPlan.Describe(escalation.DueAt - r.CreatedAt)} without a decision"
        + (escalation.Level?.Slack?.Channel is { } c && SlackIds.IsChannelId(c) ? $" to <#{c}>" : "")
        + (escalation.Level is { } level && Mentions(level.Mention, r.Priority, away) is { Length: > 0 } m ? $": {m}" : "") + ".";

    /// <summary>Where the request went, who handed it on and why: a channel or person mention where Slack ids are known,
    /// everything else escaped.</summary>
    public static string ReassignedNote(Reassignment r)
    {
        var target = r.SlackChannel is { } c && SlackIds.IsChannelId(c) ? $"<#{c}>"
            : r.PersonSlackId is { } u && SlackIds.IsUserId(u) ? $"<@{u}>"
            : SlackText.Escape(r.Target);
        var by = SlackText.Escape(Core.Delegation.DelegationTexts.OnBehalfOf(r.By, r.OnBehalfOf));
        return $":arrow_right_hook: *Reassigned* to {target} by {by}" + (r.Note is { Length: > 0 } note ? $":\n>{SlackText.EscapeAndTruncate(note, 1500)}" : ".");
    }

    public static string InfoRequestedReply(string? askedBy, string question) =>
        $":question: {askedBy ?? "An approver"} asked the agent:\n>{SlackText.EscapeAndTruncate(question, 2500)}";

    public static string InfoProvidedReply(string answer) =>
        $":speech_balloon: The agent answered:\n>{SlackText.Inert(answer, 2500)}\nThe request is pending again.";

    /// <summary>The grant given with a request's approval: what it approves, and a Revoke button while it is active
    /// (Slack asks to confirm first). Whether the person who clicks may revoke it is checked at the click.</summary>
    public static IEnumerable<Block> GrantBlocks(Grant grant, DateTimeOffset now)
    {
        var ended = GrantTexts.Ended(grant, now);
        yield return new SectionBlock
        {
            BlockId = SlackActions.GrantBlock,
            Text = TextObject.Markdown($":repeat: *{GrantTexts.StandingGrant}* given by {SlackText.Escape(grant.GrantedBy)}: {SlackText.Inert(GrantTexts.Scope(grant), 1500)}."
                + (ended is null ? "" : $"\n{SlackText.EscapeAndTruncate(ended, 500)}")),
        };
        if (ended is null)
        {
            yield return new ActionsBlock(
            [
                new ButtonElement(TextObject.Plain("Revoke grant"), SlackActions.RevokeGrant)
                {
                    Value = grant.Id.ToString(),
                    Style = "danger",
                    Confirm = new ConfirmDialog(TextObject.Plain("Revoke this grant?"), TextObject.Plain(GrantTexts.RevokeConfirm),
                        TextObject.Plain("Revoke"), TextObject.Plain("Keep it")) { Style = "danger" },
                },
            ]) { BlockId = SlackActions.GrantActionsBlock };
        }
    }

    /// <summary>The modal a button opens: notes optional for Approve; a reason or a question required otherwise. When
    /// <paramref name="grants"/> allows it, the approve modal also offers a standing grant (every field optional; no
    /// minutes, no grant).</summary>
    public static ModalView DecisionModal(TransitionKind kind, ApprovalRequest r, GrantAllowance? grants = null)
    {
        var (callback, title, submit, label, required, placeholder) = kind switch
        {
            TransitionKind.Approve => (SlackActions.ApproveModal, "Approve request", "Approve", "Notes (optional)", false, "Anything the agent or the audit trail should know"),
            TransitionKind.Reject => (SlackActions.RejectModal, "Reject request", "Reject", "Reason", true, "Why this must not happen"),
            _ => (SlackActions.RequestInfoModal, "Ask the agent", "Ask", "Question", true, "What do you need to know before deciding?"),
        };
        var blocks = new List<Block>
        {
            new SectionBlock
            {
                BlockId = "summary",
                Text = TextObject.Markdown($"{PriorityEmoji(r.Priority)} *{SlackText.Code(r.ActionName, NameLimit)}*\n{SlackText.Inert(r.ActionDescription, 2000)}"),
            },
            new InputBlock(TextObject.Plain(label), new PlainTextInput(SlackActions.TextInput)
            {
                Multiline = true,
                MaxLength = 3000,
                Placeholder = TextObject.Plain(placeholder),
            })
            {
                BlockId = SlackActions.TextBlock,
                Optional = required ? null : true,
            },
        };
        if (kind == TransitionKind.Approve && grants is { Allowed: true } allowance)
        {
            blocks.AddRange(GrantInputs(allowance));
        }
        return new ModalView(callback, TextObject.Plain(title), blocks)
        {
            Submit = TextObject.Plain(submit),
            Close = TextObject.Plain("Cancel"),
            PrivateMetadata = r.Id.ToString(),
        };
    }

    /// <summary>The "…" menu beside the decision buttons: hand the request to a person or to a channel. Each option
    /// opens <see cref="ReassignModal"/> with its picker; whether the person may do it is checked at the click and again
    /// at the submit.</summary>
    public static OverflowElement ReassignMenu(Guid approvalId) => new(SlackActions.Reassign,
    [
        new OptionObject(TextObject.Plain("Reassign to a person…"), SlackActions.ReassignPersonOption + approvalId),
        new OptionObject(TextObject.Plain("Reassign to a channel…"), SlackActions.ReassignChannelOption + approvalId),
    ]);

    /// <summary>The modal of "Reassign…": a picker (a workspace member, or a public or private channel) and an optional
    /// note. The approval id travels in <c>private_metadata</c>; the submission is answered with field errors when the
    /// hand-over is refused.</summary>
    public static ModalView ReassignModal(ApprovalRequest r, bool toChannel)
    {
        InputElement picker = toChannel
            ? new ConversationsSelectElement(SlackActions.ReassignTarget)
            {
                Placeholder = TextObject.Plain("Choose a channel"),
                Filter = new ConversationFilter(["public", "private"]) { ExcludeBotUsers = true },
            }
            : new UsersSelectElement(SlackActions.ReassignTarget) { Placeholder = TextObject.Plain("Choose a person") };
        var blocks = new List<Block>
        {
            new SectionBlock
            {
                BlockId = "summary",
                Text = TextObject.Markdown($"{PriorityEmoji(r.Priority)} *{SlackText.Code(r.ActionName, NameLimit)}*\n{SlackText.Inert(r.ActionDescription, 2000)}"),
            },
            new InputBlock(TextObject.Plain(toChannel ? "Channel" : "Person"), picker)
            {
                BlockId = SlackActions.ReassignTargetBlock,
                Hint = TextObject.Plain(toChannel
                    ? "The request is posted there (invite the app first); its approvers stay the same."
                    : "They become the request's one approver; they must be an approver known to this server."),
            },
            new InputBlock(TextObject.Plain("Note (optional)"), new PlainTextInput(SlackActions.TextInput)
            {
                Multiline = true,
                MaxLength = ReassignmentService.MaxNoteLength,
                Placeholder = TextObject.Plain("Why it goes there"),
            }) { BlockId = SlackActions.ReassignNoteBlock, Optional = true },
        };
        return new ModalView(toChannel ? SlackActions.ReassignChannelModal : SlackActions.ReassignPersonModal, TextObject.Plain("Reassign request"), blocks)
        {
            Submit = TextObject.Plain("Reassign"),
            Close = TextObject.Plain("Cancel"),
            PrivateMetadata = r.Id.ToString(),
        };
    }

    /// <summary>The grant fields of the approve modal, all optional.</summary>
    private static IEnumerable<Block> GrantInputs(GrantAllowance allowance)
    {
        yield return new DividerBlock { BlockId = "grant_divider" };
        yield return new SectionBlock { BlockId = "grant_intro", Text = TextObject.Markdown($"*{GrantTexts.StandingGrant}*\n{GrantTexts.Offer}") };
        yield return new InputBlock(TextObject.Plain("For the next N minutes"), new NumberInput(SlackActions.GrantValue, false)
        {
            MinValue = "1",
            MaxValue = allowance.MaxMinutes.ToString(CultureInfo.InvariantCulture),
            Placeholder = TextObject.Plain($"1 to {allowance.MaxMinutes}; empty for no grant"),
        })
        {
            BlockId = SlackActions.GrantBlockOf(GrantField.Minutes),
            Optional = true,
            Hint = TextObject.Plain($"At most {allowance.MaxMinutes} minutes for this request's route."),
        };
        yield return new InputBlock(TextObject.Plain("At most K times"), new NumberInput(SlackActions.GrantValue, false)
        {
            MinValue = "1",
            Placeholder = TextObject.Plain("Empty for no limit"),
        }) { BlockId = SlackActions.GrantBlockOf(GrantField.MaxUses), Optional = true };
        yield return new InputBlock(TextObject.Plain("Up to a total estimated cost of ($)"), new NumberInput(SlackActions.GrantValue, true)
        {
            MinValue = "0",
            Placeholder = TextObject.Plain("Empty for no limit"),
        }) { BlockId = SlackActions.GrantBlockOf(GrantField.MaxTotalCost), Optional = true };
        var sameInputs = new OptionObject(TextObject.Plain(GrantTexts.MatchActionAndInputs), GrantForm.MatchActionAndInputs);
        yield return new InputBlock(TextObject.Plain("Match on"), new RadioButtonsElement(SlackActions.GrantValue,
            [sameInputs, new OptionObject(TextObject.Plain(GrantTexts.MatchAction), GrantForm.MatchAction)])
        {
            InitialOption = sameInputs,
        }) { BlockId = SlackActions.GrantBlockOf(GrantField.Match), Optional = true };
    }

    /// <summary>The <c>/approvals</c> answer: the pending requests this person may decide, each with its buttons and,
    /// on a quorum request, its progress ("1 of 2 approvals: ...").</summary>
    public static IReadOnlyList<Block> PendingList(IReadOnlyList<ApprovalRequest> requests, int total)
    {
        if (requests.Count == 0)
        {
            return [new SectionBlock { BlockId = "empty", Text = TextObject.Markdown(":tada: Nothing is waiting for your decision.") }];
        }
        var blocks = new List<Block>
        {
            new SectionBlock { BlockId = "title", Text = TextObject.Markdown($"*{total} request(s) waiting for your decision*" + (total > requests.Count ? $" (showing the {requests.Count} closest to their deadline)" : "")) },
        };
        foreach (var r in requests)
        {
            var id = r.Id.ToString();
            blocks.Add(new DividerBlock { BlockId = $"d_{id}" });
            blocks.Add(new SectionBlock
            {
                BlockId = $"s_{id}",
                Text = TextObject.Markdown($"{PriorityEmoji(r.Priority)} *{SlackText.Code(r.ActionName, NameLimit)}* · {RiskEmoji(r.RiskLevel)} risk {(r.RiskLevel?.ToWire() ?? "not given")} · due {SlackText.Date(r.ExpiresAt)}"
                    + (QuorumTally.Of(r) is { } quorum ? $"\n:ballot_box_with_ballot: {SlackText.Inert(quorum.Summary, 500)}" : "")
                    + $"\n{SlackText.Inert(r.ActionDescription, 500)}"),
            });
            blocks.Add(new ActionsBlock(
            [
                new ButtonElement(TextObject.Plain("Approve"), SlackActions.Approve) { Value = id, Style = "primary" },
                new ButtonElement(TextObject.Plain("Reject"), SlackActions.Reject) { Value = id, Style = "danger" },
                new ButtonElement(TextObject.Plain("Request info"), SlackActions.RequestInfo) { Value = id },
            ]) { BlockId = $"a_{id}" });
        }
        return blocks;
    }

    /// <summary>How many requests fit in one <c>/approvals</c> answer (four blocks each, within 50 blocks).</summary>
    public const int PendingListSize = 12;

    /// <summary>The <c>/approvals</c> answer for someone who is not a known approver: why nothing is listed.</summary>
    public static IReadOnlyList<Block> NotAnApproverNote(string text) =>
        [new SectionBlock { BlockId = "not_an_approver", Text = TextObject.Markdown(":lock: " + SlackText.Escape(text)) }];

}

/// <summary>Action ids, callback ids and block ids used in Slack payloads.</summary>
public static class SlackActions
{
    public const string Approve = "approve";
    public const string Reject = "reject";
    public const string RequestInfo = "request_info";
    public const string ApproveModal = "decision_approve";
    public const string RejectModal = "decision_reject";
    public const string RequestInfoModal = "decision_request_info";
    public const string TextBlock = "decision_text";
    public const string TextInput = "text";
    public const string RevokeGrant = "revoke_grant";
    public const string GrantBlock = "grant";
    public const string GrantActionsBlock = "grant_actions";
    /// <summary>The action id of every grant field of the approve modal (each in its own block).</summary>
    public const string GrantValue = "value";

    /// <summary>The overflow menu of a request's message, its two options (each followed by the approval id), the
    /// modals they open and the blocks of those modals.</summary>
    public const string Reassign = "reassign";
    public const string ReassignPersonOption = "person:";
    public const string ReassignChannelOption = "channel:";
    public const string ReassignActionsBlock = "reassign_actions";
    public const string ReassignPersonModal = "reassign_person";
    public const string ReassignChannelModal = "reassign_channel";
    public const string ReassignTargetBlock = "reassign_target";
    public const string ReassignTarget = "target";
    public const string ReassignNoteBlock = "reassign_note";

    public static string GrantBlockOf(GrantField field) => "grant_" + GrantForm.FieldName(field);

    public static TransitionKind? FromAction(string? actionId) => actionId switch
    {
        Approve => TransitionKind.Approve,
        Reject => TransitionKind.Reject,
        RequestInfo => TransitionKind.RequestInfo,
        _ => null,
    };

    public static TransitionKind? FromModal(string? callbackId) => callbackId switch
    {
        ApproveModal => TransitionKind.Approve,
        RejectModal => TransitionKind.Reject,
        RequestInfoModal => TransitionKind.RequestInfo,
        _ => null,
    };
}

public static class SlackIds
{
    public static bool IsUserId(string value) =>
        value.Length is >= 3 and <= 30 && value[0] is 'U' or 'W' && value.All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c));

    public static bool IsChannelId(string value) =>
        value.Length is >= 3 and <= 30 && value[0] is 'C' or 'G' && value.All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c));
}
