using System.Globalization;
using System.Text.Json;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Delegation;
using AgentSentinel.Core.Grants;

namespace AgentSentinel.Bot.Teams;

/// <summary>Every Teams card of the product, as static builders that tests can call directly.</summary>
public static class TeamsCards
{
    public const string Approve = "approve";
    public const string Reject = "reject";
    public const string RequestInfo = "request_info";
    public const string Refresh = "refresh";
    public const string NotesInput = "notes";
    public const string ApprovalIdField = "approval_id";
    /// <summary>The verb of the Reassign card's action, and its inputs.</summary>
    public const string Reassign = "reassign";
    public const string ReassignEmailInput = "reassign_email";
    public const string ReassignChannelInput = "reassign_channel";
    public const string ReassignNoteInput = "reassign_note";
    public const int MaxRefreshUsers = 60;

    public static TransitionKind? FromVerb(string? verb) => verb switch
    {
        Approve => TransitionKind.Approve,
        Reject => TransitionKind.Reject,
        RequestInfo => TransitionKind.RequestInfo,
        _ => null,
    };

    private static string Title(string wire) => CultureInfo.InvariantCulture.TextInfo.ToTitleCase(wire.Replace('_', ' '));

    private static string PriorityMark(Priority p) => p switch
    {
        Priority.Critical => "🔴",
        Priority.High => "🟠",
        Priority.Medium => "🟡",
        _ => "🟢",
    };

    private static string Utc(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);

    /// <summary>The request's card. While the request is pending and <paramref name="withActions"/>, it carries a notes
    /// field and the three actions; otherwise the outcome. <paramref name="notice"/> is a line for the person who clicked.</summary>
    /// <param name="escalation">Set for the copy posted to an escalation level's channel: a banner naming the level and its people.</param>
    /// <param name="withDetails">False for someone who may not decide the request: the card leaves out its inputs and context.</param>
    /// <param name="grants">When it allows a grant, the pending card with actions also offers one (optional fields).</param>
    /// <param name="grant">The grant given with this request's approval, if any, described under the outcome.</param>
    /// <param name="away">The people named by the request (its approvers, the level's people) who are away now, with
    /// their delegates: while the request is open the card names each delegate beside the person.</param>
    /// <param name="reassignChannels">The Teams channels the Reassign card offers beside a person's email (see
    /// <see cref="TeamsReassign.ChannelChoicesAsync"/>); none for an email only.</param>
    public static AdaptiveCard RequestCard(ApprovalRequest r, string? publicBaseUrl, IReadOnlyList<string> refreshUserIds, bool withActions = true, string? notice = null, bool noticeIsError = false, FollowUp? escalation = null, bool withDetails = true,
        GrantAllowance? grants = null, Grant? grant = null, DateTimeOffset? now = null, IReadOnlyList<AwayNotice>? away = null, IReadOnlyList<Choice>? reassignChannels = null)
    {
        away = r.Status.IsOpen() ? away : null;
        var body = new List<CardElement>();
        if (notice is not null)
        {
            body.Add(new TextBlock(notice) { Id = "notice", Wrap = true, Weight = "Bolder", Color = noticeIsError ? "Attention" : "Good" });
        }
        if (escalation is not null)
        {
            var people = escalation.Level is { } level ? People(level.Mention, r.Priority, away) : "";
            body.Add(new TextBlock($"🚨 Escalated (level {escalation.Number}): no decision after {FollowUpPlan.Describe(escalation.DueAt - r.CreatedAt)}."
                + (people.Length > 0 ? $" {people}, please decide." : ""))
            {
                Id = "escalation", Wrap = true, Weight = "Bolder", Color = "Attention",
            });
        }
        if (r.ReassignedTo is { } handed && r.Status.IsOpen())
        {
            body.Add(new TextBlock(ReassignedNote(handed)) { Id = "reassigned", Wrap = true, Weight = "Bolder", Color = "Accent" });
        }
        if (AwayNote(r.Approvers.Except(escalation?.Level?.Mention ?? [], StringComparer.OrdinalIgnoreCase), away) is { Length: > 0 } awayNote)
        {
            body.Add(new TextBlock(awayNote) { Id = "away", Wrap = true, Color = "Accent" });
        }
        body.Add(new Container(
        [
            new TextBlock($"{PriorityMark(r.Priority)} Approval needed: {TeamsText.Escape(r.ActionName, 200)}")
            {
                Id = "title", Size = "Large", Weight = "Bolder", Wrap = true,
                Color = r.Priority == Priority.Critical || r.RiskLevel is RiskLevel.Critical ? "Attention" : r.Priority == Priority.High || r.RiskLevel is RiskLevel.High ? "Warning" : null,
            },
            new TextBlock($"{Title(r.Priority.ToWire())} priority · {(r.RiskLevel is { } risk ? Title(risk.ToWire()) + " risk" : "risk not given")}") { Id = "subtitle", IsSubtle = true, Wrap = true },
        ])
        {
            Id = "header",
            Style = r.Priority == Priority.Critical || r.RiskLevel is RiskLevel.Critical ? "attention" : r.Priority == Priority.High || r.RiskLevel is RiskLevel.High ? "warning" : "emphasis",
            Bleed = true,
        });
        if (!string.IsNullOrWhiteSpace(r.ActionDescription))
        {
            body.Add(new TextBlock(TeamsText.Escape(r.ActionDescription, 2000)) { Id = "description", Wrap = true });
        }
        var facts = new List<Fact>
        {
            new("Action", TeamsText.Escape(r.ActionName, 200)),
            // The agent id is what the request claims; the key is who made it.
            new("Agent", (r.AgentId is null ? "not given" : TeamsText.Escape(r.AgentId, 200))
                + (r.RequesterKeyName is null ? "" : " · key " + TeamsText.Escape(r.RequesterKeyName, 200))),
        };
        if (r.RunId is not null)
        {
            facts.Add(new Fact("Run", TeamsText.Escape(r.RunId, 200)));
        }
        facts.Add(new Fact("Estimated cost", r.EstimatedCost is { } cost ? "$" + cost.ToString("#,0.00####", CultureInfo.InvariantCulture) : "not given"));
        facts.Add(new Fact("Risk", r.RiskLevel is { } rl ? Title(rl.ToWire()) : "not given"));
        facts.Add(new Fact("Priority", Title(r.Priority.ToWire())));
        facts.Add(new Fact("Deadline", Utc(r.ExpiresAt)));
        body.Add(new FactSet(facts) { Id = "facts" });
        if (r.ActionInputs is not null && withDetails)
        {
            body.Add(new TextBlock("Inputs") { Id = "inputs_title", Weight = "Bolder" });
            body.Add(new TextBlock(TeamsText.Escape(Pretty(r.ActionInputs), 1500)) { Id = "inputs", Wrap = true, FontType = "Monospace", MaxLines = 20 });
        }
        if (r.Context is not null && withDetails)
        {
            body.Add(new TextBlock("Context") { Id = "context_title", Weight = "Bolder" });
            body.Add(new TextBlock(TeamsText.Escape(Pretty(r.Context), 800)) { Id = "context", Wrap = true, FontType = "Monospace", MaxLines = 12 });
        }
        if (r.Status == ApprovalStatus.Pending && r.InfoResponse is not null)
        {
            body.Add(new TextBlock($"The agent answered \"{TeamsText.Escape(r.InfoRequestMessage, 300)}\": {TeamsText.Escape(r.InfoResponse, 1500)}") { Id = "answer", Wrap = true });
        }
        if (QuorumTally.Of(r) is { } quorum)
        {
            body.Add(new TextBlock("🗳 " + TeamsText.Escape(quorum.Summary, 1000)) { Id = "quorum", Wrap = true, Weight = "Bolder" });
        }
        IReadOnlyList<AdaptiveAction>? actions = null;
        CardRefresh? refresh = null;
        var data = new Dictionary<string, string> { [ApprovalIdField] = r.Id.ToString() };
        if (r.Status == ApprovalStatus.Pending && withActions)
        {
            body.Add(new InputText { Id = NotesInput, Label = "Notes (required to reject or to ask a question)", Placeholder = "Why, or what you need to know", IsMultiline = true, MaxLength = 3000 });
            if (grants is { Allowed: true } allowance)
            {
                body.Add(GrantInputs(allowance));
            }
            actions =
            [
                new CardAction("Approve", Approve) { Data = data, Style = "positive", AssociatedInputs = "auto" },
                new CardAction("Reject", Reject) { Data = data, Style = "destructive", AssociatedInputs = "auto" },
                new CardAction("Request info", RequestInfo) { Data = data, AssociatedInputs = "auto" },
                ReassignAction(data, reassignChannels),
            ];
        }
        else if (r.Status == ApprovalStatus.InfoRequested && withActions)
        {
            // Still open while the agent answers: it can be handed on.
            actions = [ReassignAction(data, reassignChannels)];
        }
        if (r.Status != ApprovalStatus.Pending)
        {
            body.Add(new TextBlock(Outcome(r)) { Id = "outcome", Wrap = true, Weight = "Bolder", Color = r.Status == ApprovalStatus.Approved ? "Good" : r.Status == ApprovalStatus.InfoRequested ? "Accent" : "Attention" });
            if (grant is not null && r.Status == ApprovalStatus.Approved && escalation is null)
            {
                var ended = GrantTexts.Ended(grant, now ?? grant.CreatedAt);
                body.Add(new TextBlock($"🔁 {GrantTexts.StandingGrant} given by {TeamsText.Escape(grant.GrantedBy, 254)}: {TeamsText.Escape(GrantTexts.Scope(grant), 1500)}."
                    + (ended is null ? "" : " " + TeamsText.Escape(ended, 500)))
                {
                    Id = "grant", Wrap = true, IsSubtle = ended is not null,
                });
            }
        }
        if (r.Status is ApprovalStatus.Pending or ApprovalStatus.InfoRequested && refreshUserIds.Count > 0)
        {
            refresh = new CardRefresh(new CardAction("Refresh", Refresh) { Data = data }, [.. refreshUserIds.Take(MaxRefreshUsers)]);
        }
        var footer = $"Request {r.Id}" + (r.RouteName is null ? "" : $" · route {TeamsText.Escape(r.RouteName, 100)}");
        if (!string.IsNullOrWhiteSpace(publicBaseUrl))
        {
            footer += $" · [Open in the console]({publicBaseUrl.TrimEnd('/')}/approvals/{r.Id})";
        }
        body.Add(new TextBlock(footer) { Id = "footer", IsSubtle = true, Wrap = true, Size = "Small" });
        return new AdaptiveCard { Body = body, Actions = actions, Refresh = refresh, Msteams = new CardMsTeams("Full") };
    }

    /// <summary>"Reassign…": a card under the card with a person's email, the channels offered, a note, and the action
    /// that sends them. Whether the person may hand the request on, and to whom, is decided when it arrives.</summary>
    private static ShowCardAction ReassignAction(IReadOnlyDictionary<string, string> data, IReadOnlyList<Choice>? channels)
    {
        var body = new List<CardElement>
        {
            new TextBlock("Hand this request to another approver (they become its one approver) or post it to another channel.") { Id = "reassign_intro", Wrap = true },
            new InputText { Id = ReassignEmailInput, Label = "Person (their email)", Placeholder = "name@example.com", MaxLength = 254 },
        };
        if (channels is { Count: > 0 })
        {
            body.Add(new InputChoiceSet(channels) { Id = ReassignChannelInput, Label = "Or a channel", Style = "compact", Placeholder = "Choose a channel" });
        }
        body.Add(new InputText { Id = ReassignNoteInput, Label = "Note (optional)", Placeholder = "Why it goes there", IsMultiline = true, MaxLength = ReassignmentService.MaxNoteLength });
        return new ShowCardAction("Reassign…", new AdaptiveCard
        {
            Body = body,
            Actions = [new CardAction("Reassign", Reassign) { Data = data, AssociatedInputs = "auto" }],
        });
    }

    /// <summary>The input id of a grant field on the card.</summary>
    public static string GrantInput(GrantField field) => "grant_" + GrantForm.FieldName(field);

    /// <summary>The grant fields under the notes, all optional; Approve sends them with the notes (Reject and Request info
    /// ignore them).</summary>
    private static Container GrantInputs(GrantAllowance allowance) => new(
    [
        new TextBlock($"{GrantTexts.StandingGrant}: {GrantTexts.Offer}") { Id = "grant_intro", Wrap = true, Weight = "Bolder" },
        new InputNumber
        {
            Id = GrantInput(GrantField.Minutes), Label = $"For the next N minutes (at most {allowance.MaxMinutes})",
            Placeholder = "Empty for no grant", Min = 1, Max = allowance.MaxMinutes,
        },
        new InputNumber { Id = GrantInput(GrantField.MaxUses), Label = "At most K times", Placeholder = "Empty for no limit", Min = 1 },
        new InputNumber { Id = GrantInput(GrantField.MaxTotalCost), Label = "Up to a total estimated cost of ($)", Placeholder = "Empty for no limit", Min = 0 },
        new InputChoiceSet([new Choice(GrantTexts.MatchActionAndInputs, GrantForm.MatchActionAndInputs), new Choice(GrantTexts.MatchAction, GrantForm.MatchAction)])
        {
            Id = GrantInput(GrantField.Match), Label = "Match on", Style = "compact", Value = GrantForm.MatchActionAndInputs,
        },
    ])
    { Id = "grant_offer", Style = "emphasis" };

    /// <summary>The people an escalation level names, as text; <c>here</c>/<c>channel</c> (critical requests only)
    /// become "everyone in this channel"; a person who is away with their delegate.</summary>
    public static string People(IEnumerable<string> people, Priority priority, IReadOnlyList<AwayNotice>? away = null) => string.Join(", ", people
        .Where(p => !string.IsNullOrWhiteSpace(p) && (priority == Priority.Critical || p is not ("here" or "channel")))
        .Select(p => p is "here" or "channel" ? "everyone in this channel" : Person(p, away))
        .Distinct(StringComparer.Ordinal));

    /// <summary>A person a card names (escaped); when they are away, with until when and their delegate's email.</summary>
    public static string Person(string person, IReadOnlyList<AwayNotice>? away) =>
        AwayNotice.For(person, away) is { } a
            ? DelegationTexts.AwayPerson(TeamsText.Escape(person, 254), Utc(a.Until), TeamsText.Escape(a.DelegateEmail, 254))
            : TeamsText.Escape(person, 254);

    /// <summary>The line naming those of <paramref name="people"/> who are away, each with their delegate; empty when
    /// nobody is (a person named twice, by email and by another id, once).</summary>
    public static string AwayNote(IEnumerable<string> people, IReadOnlyList<AwayNotice>? away) =>
        AwayNotice.AwayAmong(people, away) is { Count: > 0 } named ? "🌴 " + string.Join(" · ", named.Select(p => Person(p, away))) : "";

    /// <summary>The reminder in the card's thread: how long is left, and which of its approvers are away with who
    /// decides for them.</summary>
    public static string ReminderReply(ApprovalRequest r, DateTimeOffset now, IReadOnlyList<AwayNotice>? away = null) =>
        $"⏰ **Reminder**: this request is still waiting for a decision. {FollowUpPlan.Describe(r.ExpiresAt - now)} left (deadline {Utc(r.ExpiresAt)})."
        + (AwayNote(r.Approvers, away) is { Length: > 0 } note ? " " + note : "");

    /// <summary>The note in the card's thread that the request went to the next level.</summary>
    public static string EscalatedReply(ApprovalRequest r, FollowUp escalation, IReadOnlyList<AwayNotice>? away = null) =>
        $"⏫ Escalated (level {escalation.Number}) after {FollowUpPlan.Describe(escalation.DueAt - r.CreatedAt)} without a decision"
        + (escalation.Level is { } level && People(level.Mention, r.Priority, away) is { Length: > 0 } people ? $": {people}" : "") + ".";

    /// <summary>Where the request went, who handed it on and why (every part escaped).</summary>
    public static string ReassignedNote(Reassignment r) => "↪ " + TeamsText.Escape(ReassignmentTexts.Handed(r), 1500);

    /// <summary>Who decided; a delegate's decision says whom it was made for ("bob on behalf of alice").</summary>
    public static string Who(ApprovalRequest r) =>
        TeamsText.Escape(r.DecidedByEmail ?? r.DecidedByUserId ?? "someone", 254)
        + (r.DecidedOnBehalfOf is { } person ? " on behalf of " + TeamsText.Escape(person, 254) : "");

    public static string Outcome(ApprovalRequest r) => r.Status switch
    {
        ApprovalStatus.Approved when r.GrantId is not null => $"✅ {GrantTexts.ApprovedByGrant} given by {Who(r)} at {Utc(r.DecidedAt!.Value)}"
            + (r.DecisionNotes is null ? "" : $": {TeamsText.Escape(r.DecisionNotes, 1000)}"),
        ApprovalStatus.Approved => $"✅ Approved by {Who(r)} at {Utc(r.DecidedAt!.Value)}" + (r.DecisionNotes is null ? "" : $": {TeamsText.Escape(r.DecisionNotes, 1000)}"),
        ApprovalStatus.Rejected => $"❌ Rejected by {Who(r)} at {Utc(r.DecidedAt!.Value)}" + (r.DecisionNotes is null ? "" : $": {TeamsText.Escape(r.DecisionNotes, 1000)}"),
        ApprovalStatus.Expired => $"⌛ Expired at {Utc(r.ExpiresAt)}: nobody decided in time, so the action will not run.",
        ApprovalStatus.Cancelled => $"🚫 Cancelled by the agent at {Utc(r.DecidedAt ?? r.UpdatedAt)}.",
        ApprovalStatus.InfoRequested => $"❓ Waiting for the agent's answer to: {TeamsText.Escape(r.InfoRequestMessage, 1000)}",
        _ => "",
    };

    public static AdaptiveCard Notice(string text) => new()
    {
        Body = [new TextBlock(text) { Id = "notice", Wrap = true, Weight = "Bolder", Color = "Attention" }],
        Msteams = new CardMsTeams("Full"),
    };

    private static string Pretty(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return JsonSerializer.Serialize(doc.RootElement, new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Route approvers Teams can refresh the card for: Teams user ids (29:...) and AAD object ids.</summary>
    public static IReadOnlyList<string> RefreshUsers(IEnumerable<string> approvers) =>
        [.. approvers.Where(a => a.StartsWith("29:", StringComparison.Ordinal) || Guid.TryParse(a, out _)).Take(MaxRefreshUsers)];
}
