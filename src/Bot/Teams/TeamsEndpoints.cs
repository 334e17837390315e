using System.Text.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Delegation;
using AgentSentinel.Core.Grants;
using AgentSentinel.Core.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Bot.Teams;

/// <summary>
/// <c>POST /api/messages</c>, the bot's messaging endpoint. Only activities with a valid Bot Framework token get in
/// (every failure is exactly 401); without an app id the endpoint answers 404, never unchecked. Installs are recorded
/// so routes can name channels; <c>adaptiveCard/action</c> invokes decide through the same transition as every surface
/// and are answered with the card as it now stands.
/// </summary>
public static class TeamsEndpoints
{
    private const int MaxBodyBytes = 256 * 1024;

    public static IEndpointRouteBuilder MapTeamsEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/messages", MessagesAsync).WithName("TeamsMessages").WithTags("Teams").ExcludeFromDescription()
            .WithMetadata(new VerifiedByPlatformMetadata("Bot Framework JWT"));
        return app;
    }

    public static async Task MessagesAsync(HttpContext http)
    {
        var services = http.RequestServices;
        var options = services.GetRequiredService<IOptionsMonitor<TeamsOptions>>().CurrentValue;
        if (string.IsNullOrWhiteSpace(options.AppId))
        {
            http.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(TeamsEndpoints));
        // The token first: nobody without a valid one makes this server read (let alone parse) a body.
        var auth = services.GetRequiredService<BotFrameworkAuth>();
        var identity = await auth.ValidateTokenAsync(http.Request.Headers.Authorization.ToString(), http.RequestAborted);
        if (identity is null)
        {
            TeamsLog.Refused(logger);
            http.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }
        var body = await ReadBodyAsync(http);
        if (body is null)
        {
            http.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
            return;
        }
        JsonNode? activity;
        try
        {
            activity = JsonNode.Parse(body);
        }
        catch (JsonException)
        {
            activity = null;
        }
        if (activity is JsonObject && !BotFrameworkAuth.MatchesServiceUrl(identity, Str(activity, "serviceUrl")))
        {
            TeamsLog.Refused(logger);
            http.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }
        if (activity is not JsonObject)
        {
            http.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        var isInvoke = Str(activity, "type") == "invoke" && Str(activity, "name") == "adaptiveCard/action";
        var channelId = Str(activity, "channelId");
        var tenantId = TenantOf(activity);
        if (channelId != "msteams" || !options.IsAllowedTenant(tenantId))
        {
            // Another Bot Framework channel, or an organisation this server does not serve: nothing is recorded or decided.
            TeamsLog.ActivityOutsideAllowed(logger, Trim(channelId), Trim(tenantId));
            http.Response.StatusCode = StatusCodes.Status200OK;
            if (isInvoke)
            {
                var problem = channelId != "msteams" ? IdentityProblem.UnsupportedChannel : IdentityProblem.OtherOrganisation;
                await WriteAsync(http, CardResponse(TeamsCards.Notice(DecisionTexts.UnknownPerson(TeamsDirectory.Platform, problem))));
            }
            return;
        }
        switch (Str(activity, "type"))
        {
            case "conversationUpdate":
            case "installationUpdate":
                await InstallAsync(services, activity, http.RequestAborted);
                http.Response.StatusCode = StatusCodes.Status200OK;
                return;
            case "invoke" when isInvoke:
                var response = await InvokeAsync(services, activity, http.RequestAborted);
                http.Response.StatusCode = StatusCodes.Status200OK;
                await WriteAsync(http, response);
                return;
            default:
                await RememberAsync(services, activity, http.RequestAborted);
                http.Response.StatusCode = StatusCodes.Status200OK;
                return;
        }
    }

    private static Task WriteAsync(HttpContext http, JsonObject response) =>
        http.Response.WriteAsync(response.ToJsonString(CardJson.Options), http.RequestAborted);

    /// <summary>The tenant an activity comes from.</summary>
    private static string? TenantOf(JsonNode activity) => Str(activity["channelData"]?["tenant"], "id") ?? Str(activity["conversation"], "tenantId");

    private static string Trim(string? value) => value is null ? "(none)" : value.Length > 64 ? value[..64] : value;

    private static async Task<byte[]?> ReadBodyAsync(HttpContext http)
    {
        if (http.Request.ContentLength > MaxBodyBytes)
        {
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
                return null;
            }
        }
        return buffer.ToArray();
    }

    /// <summary>The bot was added to (or removed from) a team, a group chat or a personal chat.</summary>
    private static async Task InstallAsync(IServiceProvider services, JsonNode activity, CancellationToken ct)
    {
        var store = services.GetRequiredService<IChatConversationStore>();
        var now = services.GetRequiredService<TimeProvider>().GetUtcNow();
        var botId = Str(activity["recipient"], "id");
        var conversationId = Str(activity["conversation"], "id");
        var removed = Str(activity, "action") == "remove"
            || (activity["membersRemoved"]?.AsArray().Any(m => Str(m, "id") == botId) ?? false)
            || Str(activity["channelData"], "eventType") == "teamDeleted";
        if (removed && conversationId is not null)
        {
            await store.MarkRemovedAsync(Core.Approvals.Surface.Teams, Str(activity["channelData"]?["team"], "id") ?? conversationId, now, ct);
            return;
        }
        await RememberAsync(services, activity, ct);
    }

    /// <summary>Records where the bot is and how to reach it (any authenticated activity shows that).</summary>
    private static async Task RememberAsync(IServiceProvider services, JsonNode activity, CancellationToken ct)
    {
        var conversationId = Str(activity["conversation"], "id");
        var serviceUrl = Str(activity, "serviceUrl");
        if (conversationId is null || serviceUrl is null)
        {
            return;
        }
        var channelData = activity["channelData"];
        var teamId = Str(channelData?["team"], "id");
        var kind = Str(activity["conversation"], "conversationType") ?? (teamId is not null ? "channel" : "personal");
        await services.GetRequiredService<IChatConversationStore>().UpsertConversationAsync(new ChatConversation
        {
            Surface = Core.Approvals.Surface.Teams,
            ConversationId = conversationId.Split(";messageid=", 2)[0],
            Kind = kind,
            ChannelId = Str(channelData?["channel"], "id") ?? (kind == "channel" ? teamId : null),
            TeamId = teamId,
            TenantId = Str(channelData?["tenant"], "id") ?? Str(activity["conversation"], "tenantId"),
            ServiceUrl = serviceUrl,
            BotId = Str(activity["recipient"], "id"),
            UserId = kind == "personal" ? Str(activity["from"], "id") : null,
        }, services.GetRequiredService<TimeProvider>().GetUtcNow(), ct);
    }

    /// <summary>A card action: refresh, approve, reject or request info, under the one decision rule.</summary>
    private static async Task<JsonObject> InvokeAsync(IServiceProvider services, JsonNode activity, CancellationToken ct)
    {
        var action = activity["value"]?["action"];
        var verb = Str(action, "verb");
        var data = action?["data"];
        var approvals = services.GetRequiredService<ApprovalService>();
        var publicBaseUrl = services.GetRequiredService<IOptions<Core.Configuration.AgentSentinelOptions>>().Value.PublicBaseUrl;
        if (!Guid.TryParse(Str(data, TeamsCards.ApprovalIdField), out var approvalId))
        {
            return CardResponse(TeamsCards.Notice("This card does not belong to an approval request."));
        }
        var decider = await services.GetRequiredService<TeamsDirectory>().DeciderAsync(activity, ct);
        var request = await approvals.GetAsync(approvalId, ct);
        if (request is null)
        {
            return CardResponse(TeamsCards.Notice(DecisionTexts.NotFound));
        }
        var refreshUsers = TeamsCards.RefreshUsers(request.Approvers);
        var refusal = DecisionRule.Refusal(request, decider);
        var grantService = services.GetRequiredService<GrantService>();
        var grants = refusal is null && request.Status == ApprovalStatus.Pending ? await grantService.AllowanceAsync(request, ct) : null;
        var channels = await TeamsReassign.ChannelChoicesAsync(services.GetRequiredService<Core.Configuration.RuntimeSettings>(), ct);
        // The card answered to a click names the delegates of its approvers who are away, as the posted card does.
        var away = request.Status.IsOpen() ? await services.GetRequiredService<DelegationService>().AwayAsync(request.Approvers, ct) : [];
        if (verb == TeamsCards.Refresh)
        {
            // Someone who may not decide sees the card without the request's inputs and context.
            var given = request.Status == ApprovalStatus.Approved && request.GrantId is null ? await grantService.GetBySourceAsync(request.Id, ct) : null;
            return CardResponse(TeamsCards.RequestCard(request, publicBaseUrl, refreshUsers, withActions: refusal is null, withDetails: DecisionRule.MayDecide(request, decider),
                grants: grants, grant: given, now: grantService.Now, reassignChannels: channels, away: away));
        }
        if (verb == TeamsCards.Reassign)
        {
            return CardResponse(await TeamsReassign.InvokeAsync(services, request, decider, data, publicBaseUrl, refreshUsers, channels, ct));
        }
        var kind = TeamsCards.FromVerb(verb);
        if (kind is null)
        {
            return CardResponse(TeamsCards.RequestCard(request, publicBaseUrl, refreshUsers, withActions: refusal is null, notice: "Unknown action.", noticeIsError: true, withDetails: refusal is null, grants: grants, reassignChannels: channels, away: away));
        }
        if (refusal is not null)
        {
            var text = DecisionTexts.For(refusal.Value, request, kind.Value, TeamsDirectory.Platform, decider.Problem, publicBaseUrl)!;
            return CardResponse(TeamsCards.RequestCard(request, publicBaseUrl, refreshUsers, withActions: false, notice: TeamsText.Escape(text, 1000), noticeIsError: true, withDetails: DecisionRule.MayDecide(request, decider), away: away));
        }
        var notes = Str(data, TeamsCards.NotesInput)?.Trim();
        if (string.IsNullOrEmpty(notes))
        {
            notes = null;
        }
        if (notes is null && kind != TransitionKind.Approve)
        {
            var missing = kind == TransitionKind.Reject ? "A reason is required to reject: write it in Notes, then choose Reject again." : "Write your question in Notes, then choose Request info again.";
            return CardResponse(TeamsCards.RequestCard(request, publicBaseUrl, refreshUsers, withActions: true, notice: missing, noticeIsError: true, grants: grants, reassignChannels: channels, away: away));
        }
        GrantOffer? offer = null;
        if (kind == TransitionKind.Approve)
        {
            // The grant fields travel with every action of the card; only Approve reads them.
            var (read, wrong) = GrantForm.Read(Input(data, GrantField.Minutes), Input(data, GrantField.MaxUses), Input(data, GrantField.MaxTotalCost), Input(data, GrantField.Match));
            wrong ??= read is null ? null : await grantService.CheckAsync(request, read, ct);
            if (wrong is not null)
            {
                return CardResponse(TeamsCards.RequestCard(request, publicBaseUrl, refreshUsers, withActions: true, notice: TeamsText.Escape(wrong.Message, 1000), noticeIsError: true, grants: grants, reassignChannels: channels, away: away));
            }
            offer = read;
        }
        TransitionResult result;
        try
        {
            result = await approvals.DecideAsync(approvalId, kind.Value, decider, notes, offer, ct);
        }
        catch (RequestValidationException e)
        {
            // The route changed between the check and the approval: nothing was decided.
            return CardResponse(TeamsCards.RequestCard(request, publicBaseUrl, refreshUsers, withActions: true, notice: TeamsText.Escape(e.Message, 1000), noticeIsError: true, grants: grants, reassignChannels: channels, away: away));
        }
        if (result.Applied)
        {
            var done = kind switch
            {
                TransitionKind.Approve when result.VoteOnly => "Your approval was counted; the request needs more approvals before it is approved.",
                TransitionKind.Approve when result.Grant is not null => "You approved this request and gave a standing grant.",
                TransitionKind.Approve => "You approved this request.",
                TransitionKind.Reject => "You rejected this request.",
                _ => "Your question was sent to the agent.",
            };
            return CardResponse(TeamsCards.RequestCard(result.Request!, publicBaseUrl, refreshUsers, withActions: true, notice: done, grant: result.Grant, now: grantService.Now, reassignChannels: channels, away: away));
        }
        var current = result.Request ?? request;
        var refused = DecisionTexts.For(result.Outcome, current, kind.Value, TeamsDirectory.Platform, decider.Problem)!;
        return CardResponse(TeamsCards.RequestCard(current, publicBaseUrl, refreshUsers, withActions: false, notice: TeamsText.Escape(refused, 1000), noticeIsError: true, away: away));
    }

    /// <summary>A grant field of the card's data: Teams sends input values as strings (a number is read as written).</summary>
    private static string? Input(JsonNode? data, GrantField field) =>
        data?[TeamsCards.GrantInput(field)] is JsonValue value
            ? value.TryGetValue<string>(out var text) ? text : value.GetValueKind() == JsonValueKind.Number ? value.ToJsonString() : null
            : null;

    internal static JsonObject CardResponse(AdaptiveCard card) => new()
    {
        ["statusCode"] = 200,
        ["type"] = CardJson.ContentType,
        ["value"] = JsonSerializer.SerializeToNode(card, CardJson.Options),
    };

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
