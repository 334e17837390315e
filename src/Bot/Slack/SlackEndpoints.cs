using System.Text;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Grants;
using AgentSentinel.Core.Storage;
using Hangfire;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.AspNetCore.WebUtilities;

namespace AgentSentinel.Bot.Slack;

/// <summary>
/// Slack's inbound endpoints. Every request must carry a valid signature with a fresh timestamp, or it is answered 401
/// and nothing happens; without a signing secret the endpoints answer 404 (off, never unchecked). Clicks are answered
/// well within Slack's 3 seconds: the modal is opened at once, messages are updated by background jobs.
/// Verifying a request and handling its payload are separate steps: Socket Mode envelopes (trusted because they came
/// over the authenticated socket) run through the same <c>Handle...</c> methods, see <see cref="SlackEnvelopeHandler"/>.
/// </summary>
public static class SlackEndpoints
{
    private const int MaxBodyBytes = 1024 * 1024;

    public static IEndpointRouteBuilder MapSlackEndpoints(this IEndpointRouteBuilder app)
    {
        var slack = app.MapGroup("/slack").WithTags("Slack").ExcludeFromDescription();
        slack.MapPost("/interactions", InteractionsAsync).WithName("SlackInteractions").WithMetadata(new VerifiedByPlatformMetadata("Slack signing secret"));
        slack.MapPost("/commands", CommandsAsync).WithName("SlackCommands").WithMetadata(new VerifiedByPlatformMetadata("Slack signing secret"));
        slack.MapPost("/events", EventsAsync).WithName("SlackEvents").WithMetadata(new VerifiedByPlatformMetadata("Slack signing secret"));
        return app;
    }

    /// <summary>Reads and verifies the request; null (with the response already set) when it must go no further.</summary>
    private static async Task<byte[]?> VerifiedBodyAsync(HttpContext http)
    {
        var options = http.RequestServices.GetRequiredService<IOptionsMonitor<SlackOptions>>().CurrentValue;
        var logger = http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(SlackEndpoints));
        if (string.IsNullOrWhiteSpace(options.SigningSecret))
        {
            http.Response.StatusCode = StatusCodes.Status404NotFound;
            return null;
        }
        if (http.Request.ContentLength > MaxBodyBytes)
        {
            http.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
            return null;
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await http.Request.Body.ReadAsync(chunk, http.RequestAborted)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > MaxBodyBytes)
            {
                http.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
                return null;
            }
        }
        var body = buffer.ToArray();
        var now = http.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow();
        if (!SlackSignature.IsValid(options.SigningSecret, http.Request.Headers["X-Slack-Request-Timestamp"], http.Request.Headers["X-Slack-Signature"],
                body, now, options.SignatureTolerance))
        {
            SlackLog.Refused(logger, http.Request.Path, "missing, forged or stale signature");
            http.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return null;
        }
        return body;
    }

    private static Dictionary<string, string> Form(byte[] body)
    {
        var parsed = QueryHelpers.ParseQuery(Encoding.UTF8.GetString(body));
        return parsed.ToDictionary(kv => kv.Key, kv => kv.Value.ToString(), StringComparer.Ordinal);
    }

    // ---- interactions ----------------------------------------------------------------------------------------------

    public static async Task InteractionsAsync(HttpContext http)
    {
        var body = await VerifiedBodyAsync(http);
        if (body is null)
        {
            return;
        }
        JsonNode? payload = null;
        if (Form(body).TryGetValue("payload", out var json))
        {
            try
            {
                payload = JsonNode.Parse(json);
            }
            catch (System.Text.Json.JsonException)
            {
                payload = null;
            }
        }
        await HandleInteractionAsync(http, payload);
    }

    /// <summary>An interaction payload that is already trusted (a signed request, or a Socket Mode envelope); the answer
    /// is written to <paramref name="http"/>'s response.</summary>
    internal static async Task HandleInteractionAsync(HttpContext http, JsonNode? payload)
    {
        if (payload is null)
        {
            http.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        switch (Str(payload, "type"))
        {
            case "block_actions":
                await BlockActionsAsync(http, payload);
                return;
            case "view_submission":
                await ViewSubmissionAsync(http, payload);
                return;
            default:
                http.Response.StatusCode = StatusCodes.Status200OK;
                return;
        }
    }

    /// <summary>A button: check the person and the request under the one decision rule, then open the modal.</summary>
    private static async Task BlockActionsAsync(HttpContext http, JsonNode payload)
    {
        var services = http.RequestServices;
        var action = payload["actions"]?.AsArray().FirstOrDefault();
        var kind = SlackActions.FromAction(Str(action, "action_id"));
        var userId = Str(payload["user"], "id");
        var channel = Str(payload["channel"], "id") ?? Str(payload["container"], "channel_id");
        var triggerId = Str(payload, "trigger_id");
        http.Response.StatusCode = StatusCodes.Status200OK;
        var jobs = services.GetRequiredService<IBackgroundJobClient>();
        void Tell(string text)
        {
            if (channel is not null && userId is not null)
            {
                jobs.Enqueue<SlackDeliveryJobs>(j => j.PostEphemeralAsync(channel, userId, SlackText.Escape(text), CancellationToken.None));
            }
        }
        if (Str(action, "action_id") == SlackActions.RevokeGrant && userId is not null && Guid.TryParse(Str(action, "value"), out var grantId))
        {
            await RevokeGrantAsync(http, payload, userId, grantId, Tell);
            return;
        }
        if (Str(action, "action_id") == SlackActions.Reassign && userId is not null)
        {
            await SlackReassign.OpenAsync(http, payload, action, userId, triggerId, Tell);
            return;
        }
        if (kind is null || userId is null || triggerId is null || !Guid.TryParse(Str(action, "value"), out var approvalId))
        {
            return;
        }
        try
        {
            // Slack's trigger is valid for 3 seconds: keep the lookups well inside that.
            using var budget = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
            budget.CancelAfter(TimeSpan.FromSeconds(2.5));
            if (await ClickCheckAsync(services, payload, userId, approvalId, kind.Value, Tell, budget.Token) is not { } request)
            {
                return;
            }
            var grants = kind == TransitionKind.Approve ? await services.GetRequiredService<GrantService>().AllowanceAsync(request, budget.Token) : null;
            await OpenModalAsync(services, triggerId, SlackMessages.DecisionModal(kind.Value, request, grants), approvalId, Tell, budget.Token);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or SlackApiException)
        {
            SlackLog.ClickFailed(services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(SlackEndpoints)), e, approvalId.ToString());
            Tell(DecisionTexts.UnknownPerson(SlackDirectory.Platform, IdentityProblem.LookupFailed));
        }
    }

    /// <summary>Opens a modal for a click. When Slack does not open it (<c>views.open</c> rate limited, the trigger
    /// expired, no answer within the trigger's 3 seconds) the person is told privately why and that nothing changed;
    /// a rate limit names when to click again. The click is not retried: its trigger is valid only for 3 seconds.</summary>
    internal static async Task OpenModalAsync(IServiceProvider services, string triggerId, ModalView view, Guid approvalId, Action<string> tell, CancellationToken ct)
    {
        try
        {
            await services.GetRequiredService<ISlackApi>().OpenViewAsync(triggerId, view, ct);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or SlackApiException)
        {
            SlackLog.ModalFailed(services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(SlackEndpoints)), e, approvalId.ToString());
            tell(SlackText.ModalNotOpened(e is SlackRateLimitedException limited ? limited.RetryAfter : null));
        }
    }

    /// <summary>The checks of a click on a request's message before its modal opens: who clicked (as a decider), that
    /// the request exists, that they may decide it, and that its state allows <paramref name="kind"/>. Null, with the
    /// person told why privately, when one fails; the modal's submit is checked again.</summary>
    internal static async Task<ApprovalRequest?> ClickCheckAsync(IServiceProvider services, JsonNode payload, string userId, Guid approvalId, TransitionKind kind,
        Action<string> tell, CancellationToken ct)
    {
        var decider = await services.GetRequiredService<SlackDirectory>().DeciderAsync(userId, TeamOf(payload), Str(payload["user"], "name"), ct);
        if (!decider.IsKnown)
        {
            tell(DecisionTexts.UnknownPerson(SlackDirectory.Platform, decider.Problem));
            return null;
        }
        var request = await services.GetRequiredService<ApprovalService>().GetAsync(approvalId, ct);
        if (request is null)
        {
            tell(DecisionTexts.NotFound);
            return null;
        }
        if (DecisionRule.Refusal(request, decider) is { } refusal)
        {
            var publicBaseUrl = services.GetRequiredService<IOptions<Core.Configuration.AgentSentinelOptions>>().Value.PublicBaseUrl;
            tell(DecisionTexts.For(refusal, request, kind, SlackDirectory.Platform, decider.Problem, publicBaseUrl)!);
            return null;
        }
        if (request.IsTerminal || (kind == TransitionKind.RequestInfo && request.Status != ApprovalStatus.Pending))
        {
            tell(DecisionTexts.State(request, kind));
            return null;
        }
        return request;
    }

    /// <summary>"Revoke grant" on the message of the approval that gave it: the person is looked up as for a decision,
    /// and the one rule of <see cref="GrantService.MayRevoke"/> decides. The message is redrawn by the delivery engine
    /// (every surface's message of that approval), and the person is told the outcome privately.</summary>
    private static async Task RevokeGrantAsync(HttpContext http, JsonNode payload, string userId, Guid grantId, Action<string> tell)
    {
        var services = http.RequestServices;
        try
        {
            using var budget = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
            budget.CancelAfter(TimeSpan.FromSeconds(2.5));
            var decider = await services.GetRequiredService<SlackDirectory>().DeciderAsync(userId, TeamOf(payload), Str(payload["user"], "name"), budget.Token);
            if (!decider.IsKnown)
            {
                tell(DecisionTexts.UnknownPerson(SlackDirectory.Platform, decider.Problem));
                return;
            }
            var result = await services.GetRequiredService<GrantService>().RevokeAsync(grantId, decider, budget.Token);
            tell(result.Outcome switch
            {
                RevokeOutcome.Revoked => GrantTexts.Revoked(result.Grant!),
                RevokeOutcome.NotFound => GrantTexts.NotFound,
                RevokeOutcome.NotAllowed => GrantTexts.NotAllowedToRevoke,
                _ => GrantTexts.AlreadyRevoked(result.Grant),
            });
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or SlackApiException)
        {
            SlackLog.ClickFailed(services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(SlackEndpoints)), e, grantId.ToString());
            tell(DecisionTexts.UnknownPerson(SlackDirectory.Platform, IdentityProblem.LookupFailed));
        }
    }

    /// <summary>The workspace a payload came from; null when its parts disagree (then nobody is recognised).</summary>
    internal static string? TeamOf(JsonNode payload)
    {
        var team = Str(payload["team"], "id");
        var userTeam = Str(payload["user"], "team_id");
        return userTeam is null || userTeam == team ? team : null;
    }

    /// <summary>A modal's submit: the person is checked again, then the decision goes through the same race-safe
    /// transition and the same rule as every surface.</summary>
    private static async Task ViewSubmissionAsync(HttpContext http, JsonNode payload)
    {
        var services = http.RequestServices;
        var view = payload["view"];
        if (Str(view, "callback_id") is SlackActions.ReassignPersonModal or SlackActions.ReassignChannelModal)
        {
            await SlackReassign.SubmitAsync(http, payload, Str(view, "callback_id") == SlackActions.ReassignChannelModal);
            return;
        }
        var kind = SlackActions.FromModal(Str(view, "callback_id"));
        var userId = Str(payload["user"], "id");
        if (kind is null || userId is null || !Guid.TryParse(Str(view, "private_metadata"), out var approvalId))
        {
            http.Response.StatusCode = StatusCodes.Status200OK;
            return;
        }
        var decider = await services.GetRequiredService<SlackDirectory>().DeciderAsync(userId, TeamOf(payload), Str(payload["user"], "name"), http.RequestAborted);
        if (!decider.IsKnown)
        {
            await Errors(http, DecisionTexts.UnknownPerson(SlackDirectory.Platform, decider.Problem));
            return;
        }
        var text = Str(view?["state"]?["values"]?[SlackActions.TextBlock]?[SlackActions.TextInput], "value")?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            if (kind != TransitionKind.Approve)
            {
                await Errors(http, kind == TransitionKind.Reject ? "Please give a reason for the rejection." : "Please write the question for the agent.");
                return;
            }
            text = null;
        }
        var approvals = services.GetRequiredService<ApprovalService>();
        GrantOffer? grant = null;
        if (kind == TransitionKind.Approve)
        {
            var values = view?["state"]?["values"];
            string? Field(GrantField field)
            {
                var input = values?[SlackActions.GrantBlockOf(field)]?[SlackActions.GrantValue];
                return field == GrantField.Match ? Str(input?["selected_option"], "value") : Str(input, "value");
            }
            var (offer, refusal) = GrantForm.Read(Field(GrantField.Minutes), Field(GrantField.MaxUses), Field(GrantField.MaxTotalCost), Field(GrantField.Match));
            if (refusal is null && offer is not null && await approvals.GetAsync(approvalId, http.RequestAborted) is { } current)
            {
                refusal = await services.GetRequiredService<GrantService>().CheckAsync(current, offer, http.RequestAborted);
            }
            if (refusal is not null)
            {
                await Errors(http, refusal.Message, SlackActions.GrantBlockOf(refusal.Field));
                return;
            }
            grant = offer;
        }
        TransitionResult result;
        try
        {
            result = await approvals.DecideAsync(approvalId, kind.Value, decider, text, grant, http.RequestAborted);
        }
        catch (RequestValidationException e)
        {
            // The route changed between the check and the approval: nothing was decided.
            await Errors(http, e.Message, SlackActions.GrantBlockOf(GrantField.Minutes));
            return;
        }
        if (result.Applied)
        {
            http.Response.StatusCode = StatusCodes.Status200OK;
            return;
        }
        await Errors(http, DecisionTexts.For(result.Outcome, result.Request, kind.Value, SlackDirectory.Platform, decider.Problem)!);
    }

    /// <summary>Keeps the modal open with <paramref name="message"/> under the block it concerns (the text field by default).</summary>
    internal static Task Errors(HttpContext http, string message, string block = SlackActions.TextBlock)
    {
        http.Response.StatusCode = StatusCodes.Status200OK;
        return http.Response.WriteAsJsonAsync(new JsonObject
        {
            ["response_action"] = "errors",
            ["errors"] = new JsonObject { [block] = message },
        });
    }

    // ---- slash command -----------------------------------------------------------------------------------------------

    /// <summary><c>/approvals</c>: the pending requests this person may decide (their own and those of people they
    /// stand in for), privately, with their buttons; nothing (and why) for someone who is not a known approver.
    /// <c>/approvals away ...</c> and <c>/approvals back</c> set and end a delegation (<see cref="SlackAwayCommand"/>).</summary>
    public static async Task CommandsAsync(HttpContext http)
    {
        var body = await VerifiedBodyAsync(http);
        if (body is null)
        {
            return;
        }
        await HandleCommandAsync(http, Form(body));
    }

    /// <summary>A slash command that is already trusted (a signed request, or a Socket Mode envelope).</summary>
    internal static async Task HandleCommandAsync(HttpContext http, IReadOnlyDictionary<string, string> form)
    {
        if (!form.TryGetValue("user_id", out var userId) || string.IsNullOrEmpty(userId))
        {
            http.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        var services = http.RequestServices;
        var decider = await services.GetRequiredService<SlackDirectory>().DeciderAsync(userId, form.GetValueOrDefault("team_id"), form.GetValueOrDefault("user_name"), http.RequestAborted);
        http.Response.StatusCode = StatusCodes.Status200OK;
        if (!decider.IsKnown)
        {
            var note = DecisionTexts.NothingListed(SlackDirectory.Platform, decider.Problem);
            await http.Response.WriteAsync(System.Text.Json.JsonSerializer.Serialize(new
            {
                response_type = "ephemeral",
                text = note,
                blocks = SlackMessages.NotAnApproverNote(note),
            }, SlackJson.Options));
            return;
        }
        if (SlackAwayCommand.Handles(form.GetValueOrDefault("text") ?? ""))
        {
            var answer = await SlackAwayCommand.RunAsync(form["text"], decider, form.GetValueOrDefault("team_id"),
                services.GetRequiredService<SlackDirectory>(), services.GetRequiredService<Core.Delegation.DelegationService>(), http.RequestAborted);
            await http.Response.WriteAsync(System.Text.Json.JsonSerializer.Serialize(new { response_type = "ephemeral", text = answer }, SlackJson.Options));
            return;
        }
        var approvals = services.GetRequiredService<ApprovalService>();
        var store = services.GetRequiredService<IApprovalStore>();
        var mine = new List<ApprovalRequest>();
        ApprovalCursor? cursor = null;
        var scanned = 0;
        do
        {
            var page = await store.ListAsync(new ApprovalQuery { Status = ApprovalStatus.Pending, Limit = 200, After = cursor }, approvals.Now, http.RequestAborted);
            mine.AddRange(page.Items.Where(r => DecisionRule.MayDecide(r, decider)));
            cursor = page.Next;
            scanned += page.Items.Count;
        }
        while (cursor is not null && scanned < 2000);
        var shown = mine.OrderBy(r => r.ExpiresAt).Take(SlackMessages.PendingListSize).ToList();
        await http.Response.WriteAsync(System.Text.Json.JsonSerializer.Serialize(new
        {
            response_type = "ephemeral",
            text = $"{mine.Count} request(s) waiting for your decision",
            blocks = SlackMessages.PendingList(shown, mine.Count),
        }, SlackJson.Options));
    }

    // ---- events ------------------------------------------------------------------------------------------------------

    public static async Task EventsAsync(HttpContext http)
    {
        var body = await VerifiedBodyAsync(http);
        if (body is null)
        {
            return;
        }
        JsonNode? payload;
        try
        {
            payload = JsonNode.Parse(body);
        }
        catch (System.Text.Json.JsonException)
        {
            http.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        await HandleEventAsync(http, payload);
    }

    /// <summary>An event that is already trusted (a signed request, or a Socket Mode envelope).</summary>
    internal static async Task HandleEventAsync(HttpContext http, JsonNode? payload)
    {
        http.Response.StatusCode = StatusCodes.Status200OK;
        if (Str(payload, "type") == "url_verification")
        {
            await http.Response.WriteAsJsonAsync(new JsonObject { ["challenge"] = Str(payload, "challenge") ?? "" });
        }
    }

    internal static string? Str(JsonNode? node, string name)
    {
        try
        {
            return node?[name] is JsonValue value && value.TryGetValue<string>(out var s) ? s : null;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }
}
