using System.Globalization;
using System.Security.Claims;
using AgentSentinel.Api.Auth;
using AgentSentinel.Api.Contracts;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Api.Limits;
using AgentSentinel.Api.WebConsole;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Callbacks;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Notifications;
using AgentSentinel.Core.Policy;
using AgentSentinel.Core.Storage;
using AgentSentinel.Core.Telemetry;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.Apis;

/// <summary>The agent intake API (wire-compatible with the Python <c>agentsentinel-sdk</c>) and the decision calls.</summary>
public static class ApprovalsApi
{
    internal const int MaxNameLength = 200;
    internal const int MaxTextLength = 10_000;
    internal const int MaxJsonObjectBytes = 64 * 1024;
    internal const int MaxIdempotencyKeyLength = 200;

    public static RouteGroupBuilder MapApprovalsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/approvals").WithTags("Approvals").RequireAuthorization(ApiPolicies.Any);

        api.MapPost("/", CreateAsync).WithName("CreateApproval").WithSummary("Ask for a human decision").RequireAuthorization(ApiPolicies.Agent)
            .RequireCreateLimit().ChecksConfigVersionAtCommit();
        api.MapGet("/", ListAsync).WithName("ListApprovals").WithSummary("List approval requests, newest first (keyset pagination)");
        api.MapGet("/stats", StatsAsync).WithName("GetApprovalStats").WithSummary("Statistics for a time window");
        api.MapPost("/check", CheckAsync).WithName("CheckPolicy").WithSummary("Does this action need approval under the server policy?");
        api.MapGet("/{id}", GetAsync).WithName("GetApproval").WithSummary("One request with its audit trail");
        api.MapGet("/{id}/poll", PollAsync).WithName("PollApproval").WithSummary("The current status of a request");
        api.MapGet("/{id}/wait", WaitAsync).WithName("WaitForApproval").WithSummary("Long poll: answers as soon as the request changes")
            .RequireWaitLimit();
        api.MapPost("/{id}/cancel", CancelAsync).WithName("CancelApproval").WithSummary("Withdraw a request").RequireAuthorization(ApiPolicies.Agent);
        api.MapPost("/{id}/respond", RespondAsync).WithName("RespondToInfoRequest").WithSummary("Answer an approver's question").RequireAuthorization(ApiPolicies.Agent);
        api.MapPost("/{id}/approve", ApproveAsync).WithName("Approve").WithSummary("Approve, with optional notes").RequireAuthorization(ApiPolicies.Approver);
        api.MapPost("/{id}/reject", RejectAsync).WithName("Reject").WithSummary("Reject, with a reason").RequireAuthorization(ApiPolicies.Approver);
        api.MapPost("/{id}/request-info", RequestInfoAsync).WithName("RequestInfo").WithSummary("Ask the agent a question").RequireAuthorization(ApiPolicies.Approver);
        return api;
    }

    // ---- agent calls ----------------------------------------------------------------------------------------------

    public static async Task<Results<Created<ApprovalDto>, Ok<ApprovalDto>, ProblemHttpResult>> CreateAsync(
        HttpContext http, ClaimsPrincipal user, ApprovalService service, IOptionsMonitor<CallbackOptions> callbacks, ICallbackStore callbackStore,
        IApiKeyStore keys, ConfigVersion config, CancellationToken ct)
    {
        var idempotencyKey = http.Request.Headers["Idempotency-Key"].ToString();
        if (!IsValidIdempotencyKey(idempotencyKey))
        {
            return Problems.BadRequest($"The Idempotency-Key header must be at most {MaxIdempotencyKeyLength} printable ASCII characters.", "Idempotency-Key");
        }
        using var body = await JsonBody.ReadAsync(http, allowEmpty: false);
        var read = ReadNewApproval(body);
        async Task<CreateResult> CreateAsAsync(ClaimsPrincipal caller)
        {
            var input = read with
            {
                AgentId = await AgentIdAsync(read.AgentId, caller, keys, ct),
                CallbackUrl = await CallbackUrlAsync(body.String("callback_url", 2048), caller.KeyId(), callbacks.CurrentValue, callbackStore, ct),
                IdempotencyKey = idempotencyKey.Length == 0 ? null : idempotencyKey,
            };
            return await service.CreateAsync(input, caller.ToActor(), ct);
        }
        CreateResult? result = null;
        try
        {
            result = await CreateAsAsync(user);
        }
        catch (Exception ex) when (ex is BodyException or RequestValidationException && ConfigVersion.Unverified is not null)
        {
            // A refusal made on copies taken at a version this request did not read (a key revoked or a policy changed
            // meanwhile may be what refused it) stands only once that version is confirmed; else the request is
            // checked again with fresh copies below, as when the insert finds the version moved.
            if (await config.ConfirmAsync(ct))
            {
                throw;
            }
        }
        if (result is null || result.Outcome == CreateOutcome.ConfigChanged)
        {
            // Keys or settings changed after this request was checked against the cached copies, and nothing was
            // stored: the caller, its agent id, the policy and the route are checked again against fresh ones, once
            // (this time the version is read first, so the insert does not depend on it).
            if (await ConfigVersionAtCommit.AuthenticateAgainAsync(http, ApiPolicies.Agent) is { } refused)
            {
                return refused;
            }
            result = await CreateAsAsync(http.User);
        }
        var dto = ApprovalDto.From(result.Request);
        switch (result.Outcome)
        {
            case CreateOutcome.Replayed:
                http.Response.Headers["Idempotent-Replayed"] = "true";
                return TypedResults.Ok(dto);
            case CreateOutcome.IdempotencyKeyReused:
                return Problems.Status(StatusCodes.Status422UnprocessableEntity, "Idempotency key reused",
                    $"The Idempotency-Key '{idempotencyKey}' was already used for a different request ({dto.Id}).");
            default:
                return TypedResults.Created($"/api/v1/approvals/{dto.Id}", dto);
        }
    }

    /// <summary>The agent id a request is made under: an admin may name any; an agent key only one of its own agent
    /// ids (its name when it names none), and a request that names none gets the key's first.</summary>
    internal static async Task<string?> AgentIdAsync(string? claimed, ClaimsPrincipal user, IApiKeyStore keys, CancellationToken ct)
    {
        if (user.IsAdmin())
        {
            return claimed;
        }
        var key = await keys.GetAsync(user.KeyId(), ct);
        if (key is null || key.RevokedAt is not null)
        {
            throw new BodyException(StatusCodes.Status403Forbidden, "This API key is not allowed to create requests.", "agent_id");
        }
        var allowed = string.Join(", ", key.AllowedAgentIds.Select(a => $"'{a}'"));
        if (claimed is null)
        {
            return key.DefaultAgentId
                ?? throw new BodyException(StatusCodes.Status400BadRequest,
                    $"agent_id is required: this API key may use the agent ids {allowed}, all of them patterns.", "agent_id");
        }
        return key.MayUseAgentId(claimed)
            ? claimed
            : throw new BodyException(StatusCodes.Status403Forbidden,
                $"This API key may not act as agent '{claimed}'. Its agent ids are {allowed}; an admin sets them with agent_ids when creating the key.", "agent_id");
    }

    /// <summary>An idempotency key may be empty (none), else at most <see cref="MaxIdempotencyKeyLength"/> printable ASCII characters.</summary>
    internal static bool IsValidIdempotencyKey(string key) => key.Length <= MaxIdempotencyKeyLength && key.All(c => c is >= (char)0x20 and <= (char)0x7e);

    /// <summary>The fields of a new request that every intake surface reads the same way (the body of
    /// <c>POST /api/v1/approvals</c>, the arguments of the MCP <c>request_approval</c> tool).</summary>
    internal static NewApproval ReadNewApproval(JsonBody body) => new()
    {
        ActionName = body.Name("action_name", MaxNameLength, required: true)!,
        ActionDescription = body.String("action_description", MaxTextLength),
        AgentId = body.Name("agent_id", MaxNameLength),
        RunId = body.Name("run_id", MaxNameLength),
        TaskId = body.Name("task_id", MaxNameLength),
        MissionId = body.Name("mission_id", MaxNameLength),
        EstimatedCost = body.Decimal("estimated_cost", 0m, 1_000_000_000_000m),
        RiskLevel = body.Enum<RiskLevel>("risk_level", WireNames.TryParseRisk, WireNames.RiskLevels),
        Priority = body.Enum<Priority>("priority", WireNames.TryParsePriority, WireNames.Priorities),
        TimeoutSeconds = body.Integer("timeout_seconds", 1, int.MaxValue),
        ActionInputs = HashableInputs(body.Object("action_inputs", MaxJsonObjectBytes)),
        Context = body.Object("context", MaxJsonObjectBytes),
        RequestHash = body.Hash,
    };

    /// <summary>Inputs a receipt can be bound to: RFC 8785 canonical JSON needs every number within the range of a double.</summary>
    private static string? HashableInputs(string? inputs) =>
        Core.Receipts.ActionInputsHash.Problem(inputs) is { } problem
            ? throw JsonBody.Invalid("action_inputs", $"'action_inputs' cannot be bound to a receipt: {problem}")
            : inputs;

    /// <summary>A callback URL the server may call (see <see cref="CallbackUrlPolicy"/>), and a secret to sign it with;
    /// anything else is refused before anything is stored.</summary>
    private static async Task<string?> CallbackUrlAsync(string? url, string keyId, CallbackOptions options, ICallbackStore store, CancellationToken ct)
    {
        if (url is null)
        {
            return null;
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw JsonBody.Invalid("callback_url", "'callback_url' must be an absolute https URL (http only for hosts this server lists exactly).");
        }
        if (CallbackUrlPolicy.Check(uri, options) is { } refusal)
        {
            throw JsonBody.Invalid("callback_url", refusal);
        }
        if (string.IsNullOrEmpty(options.SigningSecret) && await store.GetKeySecretAsync(keyId, ct) is null)
        {
            throw JsonBody.Invalid("callback_url",
                "Callbacks from this API key cannot be signed: it has no callback secret and the server has no AgentSentinel:Callbacks:SigningSecret. An admin can create one with POST /api/v1/admin/api-keys/{id}/callback-secret.");
        }
        return uri.AbsoluteUri;
    }

    public static async Task<Results<JsonOk<PollDto>, ProblemHttpResult>> PollAsync(string id, ClaimsPrincipal user, ApprovalService service, CancellationToken ct)
    {
        var (request, problem) = await LoadAsync(id, user, service, ct);
        return problem ?? (Results<JsonOk<PollDto>, ProblemHttpResult>)JsonOk.Of(PollDto.From(request!));
    }

    public static async Task<Results<JsonOk<ApprovalDetailDto>, ProblemHttpResult>> GetAsync(
        string id, ClaimsPrincipal user, ApprovalService service, IApprovalStore store, CancellationToken ct)
    {
        var (request, problem) = await LoadAsync(id, user, service, ct);
        if (problem is not null)
        {
            return problem;
        }
        var events = await store.GetEventsAsync(request!.Id, ct);
        return JsonOk.Of(new ApprovalDetailDto(ApprovalDto.From(request), [.. events.Select(EventDto.From)]));
    }

    /// <summary>Answers at once when the request is not pending (final, or waiting for the agent's answer); otherwise
    /// as soon as it changes (a decision, an info request, a cancellation, its deadline), or after
    /// <c>timeout_seconds</c> with its state.</summary>
    public static async Task<Results<JsonOk<PollDto>, ProblemHttpResult>> WaitAsync(
        string id, ClaimsPrincipal user, ApprovalService service, ApprovalWaiter waiter, TimeProvider time,
        IOptions<AgentSentinelOptions> options, ProductMetrics metrics, HttpContext http, CancellationToken ct)
    {
        using var open = metrics.TrackWait();
        var api = options.Value.Api;
        var timeoutText = http.Request.Query["timeout_seconds"].ToString();
        var timeoutSeconds = api.DefaultWaitSeconds;
        if (timeoutText.Length > 0
            && (!int.TryParse(timeoutText, NumberStyles.Integer, CultureInfo.InvariantCulture, out timeoutSeconds) || timeoutSeconds < 0 || timeoutSeconds > api.MaxWaitSeconds))
        {
            return Problems.BadRequest($"timeout_seconds must be a whole number from 0 to {api.MaxWaitSeconds}.", "timeout_seconds");
        }
        var (request, problem) = await WaitForChangeAsync(id, time.GetUtcNow().AddSeconds(timeoutSeconds), user, service, waiter, ct);
        return problem ?? (Results<JsonOk<PollDto>, ProblemHttpResult>)JsonOk.Of(PollDto.From(request!));
    }

    /// <summary>The long poll behind <c>/wait</c> (and the MCP wait): the request as soon as it is not pending or
    /// changes, or at its deadline or <paramref name="until"/>; a problem when the caller may not see it.</summary>
    internal static async Task<(ApprovalRequest? Request, ProblemHttpResult? Problem)> WaitForChangeAsync(
        string id, DateTimeOffset until, ClaimsPrincipal user, ApprovalService service, ApprovalWaiter waiter, CancellationToken ct)
    {
        if (!Guid.TryParse(id, out var guid))
        {
            return (null, MalformedId(id));
        }
        using var watch = waiter.Start(guid);
        var (request, problem) = await LoadAsync(id, user, service, ct);
        return problem is not null ? (null, problem) : (await watch.UntilChangedAsync(request!, until, ct), null);
    }

    public static async Task<Results<Ok<ApprovalDto>, ProblemHttpResult>> CancelAsync(
        string id, ClaimsPrincipal user, ApprovalService service, HttpContext http, CancellationToken ct)
    {
        using var body = await JsonBody.ReadAsync(http, allowEmpty: true);
        return await CancelOwnAsync(id, user, service, ct);
    }

    /// <summary>Cancels a request of the caller's own (an admin: any).</summary>
    internal static async Task<Results<Ok<ApprovalDto>, ProblemHttpResult>> CancelOwnAsync(string id, ClaimsPrincipal user, ApprovalService service, CancellationToken ct)
    {
        var (request, problem) = await LoadOwnAsync(id, user, service, ct);
        if (problem is not null)
        {
            return problem;
        }
        var result = await service.CancelAsync(request!.Id, user.ToActor(), ct);
        return result.Applied ? TypedResults.Ok(ApprovalDto.From(result.Request!)) : Problems.ForTransition(result, TransitionKind.Cancel);
    }

    public static async Task<Results<Ok<ApprovalDto>, ProblemHttpResult>> RespondAsync(
        string id, ClaimsPrincipal user, ApprovalService service, HttpContext http, CancellationToken ct)
    {
        using var body = await JsonBody.ReadAsync(http, allowEmpty: false);
        var response = body.String("response", MaxTextLength, required: true)!;
        return await RespondOwnAsync(id, response, user, service, ct);
    }

    /// <summary>Answers the question on a request of the caller's own (an admin: any).</summary>
    internal static async Task<Results<Ok<ApprovalDto>, ProblemHttpResult>> RespondOwnAsync(
        string id, string response, ClaimsPrincipal user, ApprovalService service, CancellationToken ct)
    {
        var (request, problem) = await LoadOwnAsync(id, user, service, ct);
        if (problem is not null)
        {
            return problem;
        }
        var result = await service.RespondAsync(request!.Id, user.ToActor(), response, ct);
        return result.Applied ? TypedResults.Ok(ApprovalDto.From(result.Request!)) : Problems.ForTransition(result, TransitionKind.Respond);
    }

    public static async Task<Results<Ok<CheckDto>, ProblemHttpResult>> CheckAsync(HttpContext http, RuntimeSettings settings, CancellationToken ct)
    {
        var query = http.Request.Query;
        var actionName = query["action_name"].ToString();
        if (string.IsNullOrWhiteSpace(actionName) || actionName.Length > MaxNameLength)
        {
            return Problems.BadRequest($"The query parameter action_name is required (1 to {MaxNameLength} characters).", "action_name");
        }
        decimal? cost = null;
        var costText = query["cost_usd"].ToString();
        if (costText.Length > 0)
        {
            if (!decimal.TryParse(costText, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) || parsed < 0)
            {
                return Problems.BadRequest($"cost_usd must be a non-negative number written with a '.' decimal point, got '{costText}'.", "cost_usd");
            }
            cost = parsed;
        }
        RiskLevel? risk = null;
        if (query["risk_level"].ToString() is { Length: > 0 } riskText)
        {
            if (!WireNames.TryParseRisk(riskText, out var r))
            {
                return Problems.BadRequest($"risk_level must be one of {string.Join(", ", WireNames.RiskLevels)}.", "risk_level");
            }
            risk = r;
        }
        Priority? priority = null;
        if (query["priority"].ToString() is { Length: > 0 } priorityText)
        {
            if (!WireNames.TryParsePriority(priorityText, out var p))
            {
                return Problems.BadRequest($"priority must be one of {string.Join(", ", WireNames.Priorities)}.", "priority");
            }
            priority = p;
        }
        var agentId = NullIfEmpty(query["agent_id"].ToString());
        var runId = NullIfEmpty(query["run_id"].ToString());
        foreach (var (field, value) in new[] { ("action_name", actionName), ("agent_id", agentId), ("run_id", runId) })
        {
            JsonBody.RefuseControlCharacters(field, value);
        }
        return TypedResults.Ok(await CheckPolicyAsync(new PolicyCheck(actionName, cost, agentId, runId, risk, priority), settings, ct));
    }

    /// <summary>The server policy's answer for one action (<c>/check</c> and the MCP <c>check_policy</c> tool).</summary>
    internal static async Task<CheckDto> CheckPolicyAsync(PolicyCheck check, RuntimeSettings settings, CancellationToken ct)
    {
        var (policy, version, _) = await settings.GetPolicyAsync(ct);
        var decision = PolicyEvaluator.Evaluate(policy, check);
        return new CheckDto(decision.RequiresApproval, decision.Reasons, decision.TimeoutSeconds, decision.Approvers,
            check.ActionName, check.CostUsd, check.AgentId, check.RunId, version);
    }

    public static async Task<Results<Ok<ApprovalPageDto>, ProblemHttpResult>> ListAsync(
        HttpContext http, ClaimsPrincipal user, ApprovalService service, CancellationToken ct)
    {
        var q = http.Request.Query;
        var query = new ApprovalQuery { RequesterKeyId = user.SeesAll() ? null : user.KeyId() };
        if (q["status"].ToString() is { Length: > 0 } s)
        {
            if (!WireNames.TryParseStatus(s, out var status))
            {
                return Problems.BadRequest($"status must be one of {string.Join(", ", WireNames.Statuses)}.", "status");
            }
            query = query with { Status = status };
        }
        if (q["priority"].ToString() is { Length: > 0 } p)
        {
            if (!WireNames.TryParsePriority(p, out var priority))
            {
                return Problems.BadRequest($"priority must be one of {string.Join(", ", WireNames.Priorities)}.", "priority");
            }
            query = query with { Priority = priority };
        }
        if (q["risk_level"].ToString() is { Length: > 0 } r)
        {
            if (!WireNames.TryParseRisk(r, out var risk))
            {
                return Problems.BadRequest($"risk_level must be one of {string.Join(", ", WireNames.RiskLevels)}.", "risk_level");
            }
            query = query with { RiskLevel = risk };
        }
        query = query with { AgentId = NullIfEmpty(q["agent_id"].ToString()), ActionName = NullIfEmpty(q["action_name"].ToString()) };
        if (q["cursor"].ToString() is { Length: > 0 } cursor)
        {
            if (!ApprovalCursor.TryParse(cursor, out var after))
            {
                return Problems.BadRequest("cursor must be the next_cursor value of a previous page.", "cursor");
            }
            query = query with { After = after };
        }
        if (q["limit"].ToString() is { Length: > 0 } limitText)
        {
            if (!int.TryParse(limitText, NumberStyles.Integer, CultureInfo.InvariantCulture, out var limit) || limit is < 1 or > 200)
            {
                return Problems.BadRequest("limit must be a whole number from 1 to 200.", "limit");
            }
            query = query with { Limit = limit };
        }
        var page = await service.ListAsync(query, ct);
        return TypedResults.Ok(new ApprovalPageDto([.. page.Items.Select(ApprovalDto.From)], page.Next?.ToString()));
    }

    public static async Task<Results<Ok<StatsDto>, ProblemHttpResult>> StatsAsync(HttpContext http, IApprovalStore store, ApprovalService service, CancellationToken ct)
    {
        var now = service.Now;
        var q = http.Request.Query;
        if (!TryTimestamp(q["to"].ToString(), now, out var to) || !TryTimestamp(q["from"].ToString(), to.AddDays(-30), out var from))
        {
            return Problems.BadRequest("from and to must be ISO-8601 timestamps, e.g. 2026-11-25T00:00:00Z.", "from");
        }
        if (from > to)
        {
            return Problems.BadRequest("from must not be after to.", "from");
        }
        if (LimitsExtensions.CheckStatsWindow(http, from, to) is { } tooLong)
        {
            return tooLong;
        }
        var stats = await store.GetStatsAsync(from, to, now, ct);
        return TypedResults.Ok(new StatsDto
        {
            From = from,
            To = to,
            PendingTotal = stats.PendingTotal,
            Total = stats.Total,
            Counts = new Dictionary<string, long>
            {
                ["pending"] = stats.Pending,
                ["info_requested"] = stats.InfoRequested,
                ["approved"] = stats.Approved,
                ["rejected"] = stats.Rejected,
                ["expired"] = stats.Expired,
                ["cancelled"] = stats.Cancelled,
            },
            Approved = stats.Approved,
            Rejected = stats.Rejected,
            Expired = stats.Expired,
            Cancelled = stats.Cancelled,
            ApprovalRate = stats.Rate(stats.Approved),
            RejectionRate = stats.Rate(stats.Rejected),
            ExpiryRate = stats.Rate(stats.Expired),
            CancellationRate = stats.Rate(stats.Cancelled),
            AverageDecisionSeconds = stats.AverageDecisionSeconds,
            MedianDecisionSeconds = stats.MedianDecisionSeconds,
            ByPriority = WithAllKeys(stats.ByPriority, WireNames.Priorities),
            ByRiskLevel = WithAllKeys(stats.ByRiskLevel, [.. WireNames.RiskLevels, "unspecified"]),
        });
    }

    private static Dictionary<string, long> WithAllKeys(IReadOnlyDictionary<string, long> counts, IEnumerable<string> keys) =>
        keys.ToDictionary(k => k, k => counts.TryGetValue(k, out var n) ? n : 0);

    internal static bool TryTimestamp(string text, DateTimeOffset fallback, out DateTimeOffset value)
    {
        if (text.Length == 0)
        {
            value = fallback;
            return true;
        }
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value);
    }

    // ---- approver calls ------------------------------------------------------------------------------------------

    public static Task<Results<Ok<ApprovalDto>, ProblemHttpResult>> ApproveAsync(string id, ClaimsPrincipal user, ApprovalService service, HttpContext http, CancellationToken ct) =>
        DecideAsync(id, TransitionKind.Approve, "notes", required: false, user, service, http, ct);

    public static Task<Results<Ok<ApprovalDto>, ProblemHttpResult>> RejectAsync(string id, ClaimsPrincipal user, ApprovalService service, HttpContext http, CancellationToken ct) =>
        DecideAsync(id, TransitionKind.Reject, "reason", required: true, user, service, http, ct);

    public static Task<Results<Ok<ApprovalDto>, ProblemHttpResult>> RequestInfoAsync(string id, ClaimsPrincipal user, ApprovalService service, HttpContext http, CancellationToken ct) =>
        DecideAsync(id, TransitionKind.RequestInfo, "question", required: true, user, service, http, ct);

    private static async Task<Results<Ok<ApprovalDto>, ProblemHttpResult>> DecideAsync(
        string id, TransitionKind kind, string field, bool required, ClaimsPrincipal user, ApprovalService service, HttpContext http, CancellationToken ct)
    {
        if (!Guid.TryParse(id, out var guid))
        {
            return MalformedId(id);
        }
        using var body = await JsonBody.ReadAsync(http, allowEmpty: !required);
        var text = body.String(field, MaxTextLength, required);
        if (string.IsNullOrWhiteSpace(text))
        {
            text = null;
        }
        var grant = kind == TransitionKind.Approve ? GrantsApi.ReadOffer(body) : null;
        var decider = user.ToDecider();
        var result = await service.DecideAsync(guid, kind, decider, text, grant, ct);
        if (result.Outcome == TransitionOutcome.RecentSignInRequired && result.Request is { } stepUp)
        {
            return RecentSignInProblem(http, stepUp, decider.Surface);
        }
        return result.Applied
            ? TypedResults.Ok(ApprovalDto.From(result.Request!) with { Grant = result.Grant is { } given ? GrantDto.From(given, service.Now) : null })
            : Problems.ForTransition(result, kind);
    }

    /// <summary>A decision on a step-up route without a recent enough sign-in. In the console, when the company identity
    /// provider is configured, the answer names the sign-in that asks the person to authenticate again and returns
    /// them to the request (<c>sign_in_url</c>); an API key is told to decide in the console.</summary>
    private static ProblemHttpResult RecentSignInProblem(HttpContext http, ApprovalRequest request, Surface surface)
    {
        var minutes = DecisionRule.RecentSignInMinutes(request) ?? 0;
        var publicBaseUrl = http.RequestServices.GetRequiredService<IOptions<AgentSentinelOptions>>().Value.PublicBaseUrl;
        var oidc = http.RequestServices.GetRequiredService<IOptionsMonitor<ConsoleOptions>>().CurrentValue.Oidc.Enabled;
        var console = surface == Surface.Console;
        var detail = console
            ? oidc
                ? DecisionTexts.RecentSignIn(request, "console")
                : "This request's route needs a recent sign-in through the company identity provider, which this server does not offer; nothing was changed. An admin must configure AgentSentinel:Console:Oidc or change the route."
            : DecisionTexts.RecentSignIn(request, "an API key", publicBaseUrl);
        var extensions = new Dictionary<string, object?> { ["recent_sign_in_minutes"] = minutes };
        if (console && oidc)
        {
            extensions["sign_in_url"] = $"{OidcSignIn.SignInPath}?return={Uri.EscapeDataString($"/approvals/{request.Id}")}&max_age={minutes}";
        }
        return TypedResults.Problem(detail, statusCode: StatusCodes.Status403Forbidden, title: "Recent sign-in required", extensions: extensions);
    }

    // ---- shared --------------------------------------------------------------------------------------------------

    /// <summary>Loads a request the caller may see: agents only their own (a stranger's id reads as not found).</summary>
    internal static async Task<(ApprovalRequest? Request, ProblemHttpResult? Problem)> LoadAsync(string id, ClaimsPrincipal user, ApprovalService service, CancellationToken ct)
    {
        if (!Guid.TryParse(id, out var guid))
        {
            return (null, MalformedId(id));
        }
        var request = await service.GetAsync(guid, ct);
        if (request is null || (!user.SeesAll() && request.RequesterKeyId != user.KeyId()))
        {
            return (null, Problems.NotFound(guid));
        }
        return (request, null);
    }

    /// <summary>Loads a request the caller may change as its agent: only the key that created it, or an admin.</summary>
    private static async Task<(ApprovalRequest? Request, ProblemHttpResult? Problem)> LoadOwnAsync(string id, ClaimsPrincipal user, ApprovalService service, CancellationToken ct)
    {
        var (request, problem) = await LoadAsync(id, user, service, ct);
        if (request is not null && !user.IsAdmin() && request.RequesterKeyId != user.KeyId())
        {
            return (null, Problems.Forbidden("Only the agent that created a request (or an admin) can cancel it or answer its questions."));
        }
        return (request, problem);
    }

    private static ProblemHttpResult MalformedId(string id) =>
        Problems.BadRequest($"'{(id.Length > 64 ? id[..64] + "..." : id)}' is not an approval id (a UUID such as 0193a1b2-...).", "id");

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
