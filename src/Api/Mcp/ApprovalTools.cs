using System.Text.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Api.Apis;
using AgentSentinel.Api.Auth;
using AgentSentinel.Api.Contracts;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Api.Limits;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Notifications;
using AgentSentinel.Core.Policy;
using AgentSentinel.Core.Storage;
using AgentSentinel.Core.Telemetry;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace AgentSentinel.Api.Mcp;

/// <summary>The MCP tools. Each goes through the REST API's own code paths (creation, the long poll, ownership, the
/// policy check), and each result carries a sentence for the model and, as structured content, the same JSON object
/// the REST API returns for that call.</summary>
internal static class ApprovalTools
{
    /// <summary>Many MCP clients give up on a tool call after about 60 s, so a tool never waits longer than this.</summary>
    public const int MaxWaitSeconds = 55;
    public const int DefaultWaitSeconds = 50;
    public static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(5);

    public const string Instructions =
        "Agent Sentinel asks a person before you perform a sensitive action (payments, deletions, price changes, anything with real-world effects). "
        + "Call request_approval with the action and its exact inputs, and perform the action only when the status is 'approved'. "
        + "If the result is 'pending', call wait_for_decision with the approval_id until it is not; if it is 'info_requested', answer the approver's question with answer_question and wait again. "
        + "'rejected', 'expired' and 'cancelled' mean: do not perform the action. Use check_policy to ask whether an action needs approval at all.";

    private static readonly string[] RequestControlArguments = ["wait_seconds", "idempotency_key"];

    public static IEnumerable<ApprovalTool> Create() =>
    [
        new(new Tool
            {
                Name = "request_approval",
                Title = "Ask a person to approve an action",
                Description = "Asks a person to approve an action before you perform it, and waits up to wait_seconds (default 50, at most 55) for the decision. "
                    + "Returns the decision when it comes in time; otherwise status 'pending' with the approval_id to pass to wait_for_decision. "
                    + "Perform the action only when the status is 'approved'. The same fields as POST /api/v1/approvals.",
                Annotations = new ToolAnnotations { ReadOnlyHint = false, DestructiveHint = false, IdempotentHint = false, OpenWorldHint = false },
                OutputSchema = ApprovalOutputSchema,
            },
            new ToolSchema()
                .String("action_name", "What you want to do, as a short identifier, e.g. transfer_funds.", ApprovalsApi.MaxNameLength, required: true)
                .String("action_description", "A sentence for the approver: what, why, and what happens if it goes wrong.", ApprovalsApi.MaxTextLength)
                .String("agent_id", "Your agent's id.", ApprovalsApi.MaxNameLength)
                .String("run_id", "The id of the current run.", ApprovalsApi.MaxNameLength)
                .String("task_id", "The id of the current task.", ApprovalsApi.MaxNameLength)
                .String("mission_id", "The id of the current mission.", ApprovalsApi.MaxNameLength)
                .Enum("priority", "How urgent the decision is (default medium).", WireNames.Priorities)
                .Enum("risk_level", "How risky the action is.", WireNames.RiskLevels)
                .Number("estimated_cost", "The estimated cost in USD.", 0m, 1_000_000_000_000m)
                .Integer("timeout_seconds", "How long the request stays open for a decision (default from the server policy); after that it is expired.", 1, int.MaxValue)
                .Object("action_inputs", "The exact arguments the action will run with, as a JSON object.")
                .Object("context", "Anything else that helps the approver decide, as a JSON object.")
                .Integer("wait_seconds", $"How long this call waits for the decision before answering 'pending' (0 to {MaxWaitSeconds}).", 0, MaxWaitSeconds, DefaultWaitSeconds)
                .String("idempotency_key", "A key of your choosing; a retried call with the same key and arguments returns the original request instead of creating a second one.", ApprovalsApi.MaxIdempotencyKeyLength),
            RequestApprovalAsync),
        new(new Tool
            {
                Name = "wait_for_decision",
                Title = "Wait for the decision on a request",
                Description = $"Waits up to wait_seconds (default {DefaultWaitSeconds}, at most {MaxWaitSeconds}) for the decision on one of your requests and returns it; "
                    + "status 'pending' means no decision yet: call it again.",
                Annotations = new ToolAnnotations { ReadOnlyHint = true, OpenWorldHint = false },
                OutputSchema = ApprovalOutputSchema,
            },
            new ToolSchema()
                .String("approval_id", "The id returned by request_approval.", 64, required: true)
                .Integer("wait_seconds", $"How long to wait for the decision (0 to {MaxWaitSeconds}).", 0, MaxWaitSeconds, DefaultWaitSeconds),
            WaitForDecisionAsync),
        new(new Tool
            {
                Name = "get_approval",
                Title = "Read a request",
                Description = "Returns one of your requests as it is now, with its audit trail (events, oldest first).",
                Annotations = new ToolAnnotations { ReadOnlyHint = true, OpenWorldHint = false },
                OutputSchema = ApprovalOutputSchema,
            },
            new ToolSchema().String("approval_id", "The id returned by request_approval.", 64, required: true),
            GetApprovalAsync),
        new(new Tool
            {
                Name = "answer_question",
                Title = "Answer an approver's question",
                Description = "Answers the question an approver asked on one of your requests (status 'info_requested'); the request is pending again. Then call wait_for_decision.",
                Annotations = new ToolAnnotations { ReadOnlyHint = false, DestructiveHint = false, OpenWorldHint = false },
                OutputSchema = ApprovalOutputSchema,
            },
            new ToolSchema()
                .String("approval_id", "The id returned by request_approval.", 64, required: true)
                .String("response", "Your answer to the approver's question.", ApprovalsApi.MaxTextLength, required: true),
            AnswerQuestionAsync),
        new(new Tool
            {
                Name = "cancel_approval",
                Title = "Withdraw a request",
                Description = "Withdraws one of your requests that is still open (you no longer need the action).",
                Annotations = new ToolAnnotations { ReadOnlyHint = false, DestructiveHint = true, IdempotentHint = false, OpenWorldHint = false },
                OutputSchema = ApprovalOutputSchema,
            },
            new ToolSchema().String("approval_id", "The id returned by request_approval.", 64, required: true),
            CancelApprovalAsync),
        new(new Tool
            {
                Name = "check_policy",
                Title = "Does this action need approval?",
                Description = "Asks the server policy whether an action needs a person's approval (and why), without creating a request.",
                Annotations = new ToolAnnotations { ReadOnlyHint = true, OpenWorldHint = false },
                OutputSchema = CheckOutputSchema,
            },
            new ToolSchema()
                .String("action_name", "The action, e.g. transfer_funds.", ApprovalsApi.MaxNameLength, required: true)
                .Number("cost_usd", "The estimated cost in USD.", 0m, 1_000_000_000_000m)
                .String("agent_id", "Your agent's id.", ApprovalsApi.MaxNameLength)
                .String("run_id", "The id of the current run.", ApprovalsApi.MaxNameLength)
                .Enum("risk_level", "How risky the action is.", WireNames.RiskLevels)
                .Enum("priority", "How urgent it is.", WireNames.Priorities),
            CheckPolicyAsync),
    ];

    // ---- handlers ------------------------------------------------------------------------------------------------

    private static async Task<CallToolResult> RequestApprovalAsync(ToolCall call)
    {
        var waitSeconds = WaitSeconds(call.Args);
        var idempotencyKey = call.Args.String("idempotency_key", ApprovalsApi.MaxIdempotencyKeyLength) ?? "";
        if (!ApprovalsApi.IsValidIdempotencyKey(idempotencyKey))
        {
            throw new ToolError($"'idempotency_key' must be at most {ApprovalsApi.MaxIdempotencyKeyLength} printable ASCII characters.");
        }
        // The request itself, without how long this call waits or the key: a retry that waits differently is the same request.
        using var body = JsonBody.Parse(ApprovalTool.Serialize(call.Arguments, except: RequestControlArguments));
        var read = ApprovalsApi.ReadNewApproval(body);
        var input = read with
        {
            AgentId = await ApprovalsApi.AgentIdAsync(read.AgentId, call.User, call.Service<IApiKeyStore>(), call.Ct),
            IdempotencyKey = idempotencyKey.Length == 0 ? null : idempotencyKey,
            RequestHash = "mcp:" + body.Hash,
        };
        // The same per-key budget as POST /api/v1/approvals: a key cannot create faster by switching to MCP.
        if (call.Service<KeyLimits>().TryCreate(call.User) is { } refused)
        {
            throw new ToolError(refused.Detail);
        }
        var service = call.Service<ApprovalService>();
        var created = await service.CreateAsync(input, call.User.ToActor(), call.Ct);
        var id = created.Request.Id.ToString();
        if (created.Outcome == CreateOutcome.IdempotencyKeyReused)
        {
            throw new ToolError($"The idempotency_key '{idempotencyKey}' was already used for a different request ({id}). Use a new key for a new request.");
        }
        var (request, problem, waitRefused) = await AwaitDecisionAsync(call, id, waitSeconds);
        if (problem is not null)
        {
            return ApprovalTool.Error(problem);
        }
        var prefix = created.Outcome == CreateOutcome.Replayed
            ? "This idempotency_key was used before with the same arguments: this is the original request; no new request was created. "
            : "";
        if (waitRefused is not null)
        {
            prefix += $"The request was made, but this call did not wait: {waitRefused.Detail} ";
        }
        return Result(call, ApprovalDto.From(request!), prefix);
    }

    private static async Task<CallToolResult> WaitForDecisionAsync(ToolCall call)
    {
        var id = call.Args.String("approval_id", 64, required: true)!;
        var waitSeconds = WaitSeconds(call.Args);
        var (request, problem, waitRefused) = await AwaitDecisionAsync(call, id, waitSeconds);
        if (waitRefused is not null)
        {
            throw new ToolError(waitRefused.Detail);
        }
        return problem is not null ? ApprovalTool.Error(problem) : Result(call, ApprovalDto.From(request!));
    }

    private static async Task<CallToolResult> GetApprovalAsync(ToolCall call)
    {
        var id = call.Args.String("approval_id", 64, required: true)!;
        var answer = await ApprovalsApi.GetAsync(id, call.User, call.Service<ApprovalService>(), call.Service<IApprovalStore>(), call.Ct);
        return answer.Result switch
        {
            JsonOk<ApprovalDetailDto> ok => Result(call, ok.Value),
            ProblemHttpResult p => ApprovalTool.Error(p),
            _ => throw new InvalidOperationException("Unexpected result."),
        };
    }

    private static async Task<CallToolResult> AnswerQuestionAsync(ToolCall call)
    {
        var id = call.Args.String("approval_id", 64, required: true)!;
        var response = call.Args.String("response", ApprovalsApi.MaxTextLength, required: true)!;
        var answer = await ApprovalsApi.RespondOwnAsync(id, response, call.User, call.Service<ApprovalService>(), call.Ct);
        return answer.Result switch
        {
            Ok<ApprovalDto> ok => Result(call, ok.Value!, "Your answer was sent to the approvers. "),
            ProblemHttpResult p => ApprovalTool.Error(p),
            _ => throw new InvalidOperationException("Unexpected result."),
        };
    }

    private static async Task<CallToolResult> CancelApprovalAsync(ToolCall call)
    {
        var id = call.Args.String("approval_id", 64, required: true)!;
        var answer = await ApprovalsApi.CancelOwnAsync(id, call.User, call.Service<ApprovalService>(), call.Ct);
        return answer.Result switch
        {
            Ok<ApprovalDto> ok => Result(call, ok.Value!),
            ProblemHttpResult p => ApprovalTool.Error(p),
            _ => throw new InvalidOperationException("Unexpected result."),
        };
    }

    private static async Task<CallToolResult> CheckPolicyAsync(ToolCall call)
    {
        var args = call.Args;
        var check = new PolicyCheck(
            args.Name("action_name", ApprovalsApi.MaxNameLength, required: true)!,
            args.Decimal("cost_usd", 0m, 1_000_000_000_000m),
            args.Name("agent_id", ApprovalsApi.MaxNameLength),
            args.Name("run_id", ApprovalsApi.MaxNameLength),
            args.Enum<RiskLevel>("risk_level", WireNames.TryParseRisk, WireNames.RiskLevels),
            args.Enum<Priority>("priority", WireNames.TryParsePriority, WireNames.Priorities));
        var dto = await ApprovalsApi.CheckPolicyAsync(check, call.Service<RuntimeSettings>(), call.Ct);
        var text = dto.RequiresApproval
            ? $"'{dto.ActionName}' needs a person's approval: {string.Join("; ", dto.Reasons)}. Call request_approval before performing it."
            : $"'{dto.ActionName}' does not need approval under the server policy{(dto.Reasons.Count > 0 ? " (" + string.Join("; ", dto.Reasons) + ")" : "")}.";
        return ApprovalTool.Success(text, Structured(call, dto));
    }

    // ---- waiting ---------------------------------------------------------------------------------------------------

    private static int WaitSeconds(JsonBody args) => args.Integer("wait_seconds", 0, MaxWaitSeconds) ?? DefaultWaitSeconds;

    /// <summary>Waits through the REST long poll until the request is no longer pending or <paramref name="waitSeconds"/>
    /// have passed, sending MCP progress notifications meanwhile when the client asked for them. A wait holds one of
    /// the key's wait permits, shared with the REST long poll; when none is free the call reads the request without
    /// waiting and says why.</summary>
    private static async Task<(ApprovalRequest? Request, ProblemHttpResult? Problem, KeyLimits.Refusal? WaitRefused)> AwaitDecisionAsync(
        ToolCall call, string id, int waitSeconds)
    {
        KeyLimits.Refusal? refused = null;
        IDisposable? permit = null;
        if (waitSeconds > 0)
        {
            (permit, refused) = call.Service<KeyLimits>().TryWait(call.User);
            if (refused is not null)
            {
                waitSeconds = 0;
            }
        }
        using (permit)
        {
            var (request, problem) = await AwaitDecisionCoreAsync(call, id, waitSeconds);
            return (request, problem, refused);
        }
    }

    private static async Task<(ApprovalRequest? Request, ProblemHttpResult? Problem)> AwaitDecisionCoreAsync(ToolCall call, string id, int waitSeconds)
    {
        var time = call.Service<TimeProvider>();
        var service = call.Service<ApprovalService>();
        var waiter = call.Service<ApprovalWaiter>();
        using var open = call.Service<ProductMetrics>().TrackWait();
        var until = time.GetUtcNow().AddSeconds(waitSeconds);
        using var stopProgress = CancellationTokenSource.CreateLinkedTokenSource(call.Ct);
        var progress = call.Request.Params?.ProgressToken is { } token && waitSeconds > 0
            ? ReportProgressAsync(call, token, waitSeconds, time, stopProgress.Token)
            : Task.CompletedTask;
        try
        {
            while (true)
            {
                var (request, problem) = await ApprovalsApi.WaitForChangeAsync(id, until, call.User, service, waiter, call.Ct);
                if (problem is not null || request!.Status != ApprovalStatus.Pending || time.GetUtcNow() >= until)
                {
                    return (request, problem);
                }
            }
        }
        finally
        {
            await stopProgress.CancelAsync();
            await progress;
        }
    }

    /// <summary>A progress notification at once and then every <see cref="ProgressInterval"/>: seconds waited out of
    /// <paramref name="waitSeconds"/>. A client that went away ends the notifications, not the call.</summary>
    private static async Task ReportProgressAsync(ToolCall call, ProgressToken token, int waitSeconds, TimeProvider time, CancellationToken ct)
    {
        var start = time.GetUtcNow();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var waited = Math.Min((int)Math.Round((time.GetUtcNow() - start).TotalSeconds), waitSeconds);
                await call.Request.Server.NotifyProgressAsync(token, new ProgressNotificationValue
                {
                    Progress = waited,
                    Total = waitSeconds,
                    Message = $"Waiting for a person to decide ({waited} of {waitSeconds} s).",
                }, cancellationToken: ct);
                await Task.Delay(ProgressInterval, time, ct);
            }
        }
        catch (OperationCanceledException)
        {
            // The wait is over.
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or McpException)
        {
            // The client stopped listening; the call itself goes on.
        }
    }

    // ---- results ---------------------------------------------------------------------------------------------------

    private static CallToolResult Result(ToolCall call, ApprovalDto dto, string prefix = "") =>
        ApprovalTool.Success(prefix + Describe(dto), Structured(call, dto));

    /// <summary>The object exactly as the REST API would write it (its JSON options: snake_case, timestamps).</summary>
    private static JsonElement Structured(ToolCall call, object dto) =>
        JsonSerializer.SerializeToElement(dto, dto.GetType(), call.Service<IOptions<JsonOptions>>().Value.SerializerOptions);

    /// <summary>What the agent should understand and do next, in one or two sentences.</summary>
    internal static string Describe(ApprovalDto a)
    {
        var action = $"'{a.ActionName}'";
        var who = a.DecidedByEmail ?? a.DecidedByUserId ?? "an approver";
        var at = a.DecidedAt is { } decidedAt ? ApiJson.Format(decidedAt) : "";
        _ = WireNames.TryParseStatus(a.Status, out var status);
        return status switch
        {
            ApprovalStatus.Approved =>
                $"Approved by {who} at {at}{(a.DecisionNotes is { Length: > 0 } n ? $" (notes: {n})" : "")}. You may now perform {action} with the inputs that were approved (approval_id {a.Id}).",
            ApprovalStatus.Rejected =>
                $"Rejected by {who} at {at}: {a.DecisionNotes ?? "no reason given"}. Do not perform {action}.",
            ApprovalStatus.Expired =>
                $"Expired: nobody decided before the deadline ({ApiJson.Format(a.ExpiresAt)}). Do not perform {action}; call request_approval again if it is still needed.",
            ApprovalStatus.Cancelled =>
                $"Cancelled at {at}. Do not perform {action}.",
            ApprovalStatus.InfoRequested =>
                $"An approver asked a question before deciding: \"{a.InfoRequestMessage}\". Answer it with answer_question (approval_id \"{a.Id}\"), then call wait_for_decision. Do not perform {action} yet.",
            _ =>
                $"Pending: no decision yet. Call wait_for_decision with approval_id \"{a.Id}\" to keep waiting (the request stays open until {ApiJson.Format(a.ExpiresAt)}). Do not perform {action} until it is approved.",
        };
    }

    private static JsonElement ApprovalOutputSchema { get; } = JsonSerializer.SerializeToElement(new JsonObject
    {
        ["type"] = "object",
        ["description"] = "The approval object, as the REST API returns it.",
        ["properties"] = new JsonObject
        {
            ["id"] = new JsonObject { ["type"] = "string" },
            ["approval_id"] = new JsonObject { ["type"] = "string" },
            ["status"] = new JsonObject { ["type"] = "string", ["enum"] = new JsonArray([.. WireNames.Statuses.Select(s => (JsonNode)s)]) },
            ["action_name"] = new JsonObject { ["type"] = "string" },
            ["expires_at"] = new JsonObject { ["type"] = "string" },
            ["decided_by_email"] = new JsonObject { ["type"] = new JsonArray("string", "null") },
            ["decision_notes"] = new JsonObject { ["type"] = new JsonArray("string", "null") },
            ["info_request_message"] = new JsonObject { ["type"] = new JsonArray("string", "null") },
        },
        ["required"] = new JsonArray("id", "approval_id", "status", "action_name", "expires_at"),
    });

    private static JsonElement CheckOutputSchema { get; } = JsonSerializer.SerializeToElement(new JsonObject
    {
        ["type"] = "object",
        ["description"] = "The policy answer, as POST /api/v1/approvals/check returns it.",
        ["properties"] = new JsonObject
        {
            ["requires_approval"] = new JsonObject { ["type"] = "boolean" },
            ["reasons"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "string" } },
            ["timeout_seconds"] = new JsonObject { ["type"] = "integer" },
        },
        ["required"] = new JsonArray("requires_approval", "reasons", "timeout_seconds"),
    });
}
