using AgentSentinel.Client.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentSentinel.Client;

/// <summary>
/// Runs an action only after a human approved it, when the policy says it needs approval: the .NET form of the Python
/// SDK's <c>@guarded_action</c>.
/// <code>
/// var receipt = await guard.GuardAsync(
///     "transfer_funds",
///     ct => transfers.ExecuteAsync(from, to, amount, ct),
///     new GuardOptions
///     {
///         CostUsd = 0.10m,
///         RequiresHumanApproval = true,
///         ApprovalDescription = "Transfer funds between customer accounts",
///     });
/// </code>
/// Approved: the request's signed receipt is verified with the server's keys and must approve exactly the arguments
/// in <see cref="GuardOptions.ActionInputs"/> as they are then (<see cref="ReceiptVerificationException"/>,
/// <see cref="ReceiptArgumentsMismatchException"/> otherwise); then the action runs and its result is returned. Rejected, expired, cancelled: the action does not run and
/// <see cref="ApprovalRejectedException"/>, <see cref="ApprovalExpiredException"/> or
/// <see cref="ApprovalCancelledException"/> is thrown, carrying the response. Any other failure (server unreachable,
/// a refused request) propagates as it is: the action never runs without an approval.
/// </summary>
public sealed class ActionGuard
{
    private readonly IApprovalHandler _handler;
    private readonly ApprovalClient? _client;
    private readonly ILogger _logger;

    /// <summary>A guard that asks the server, with the policy in the client's options
    /// (<see cref="ApprovalClientOptions.Policy"/>) combined with the server's.</summary>
    public ActionGuard(ApprovalClient client, ILogger<ActionGuard>? logger = null)
        : this(client, new PolicyEngine((client ?? throw new ArgumentNullException(nameof(client))).Options.Policy, client), client, logger)
    {
    }

    /// <summary>A guard that asks <paramref name="handler"/> for decisions (a custom UI, or an
    /// <see cref="ApprovalClient"/>).</summary>
    /// <param name="handler">Gets the decisions.</param>
    /// <param name="policy">Decides when approval is needed; when <see langword="null"/>, only actions marked
    /// <see cref="GuardOptions.RequiresHumanApproval"/> are asked about.</param>
    /// <param name="client">The server client used to answer approvers' questions
    /// (<see cref="GuardOptions.AnswerInfoRequest"/>) and to withdraw requests the guard gives up on; may be
    /// <see langword="null"/> with a custom handler.</param>
    /// <param name="logger">Where to log decisions; nowhere when <see langword="null"/>.</param>
    public ActionGuard(IApprovalHandler handler, PolicyEngine? policy = null, ApprovalClient? client = null, ILogger<ActionGuard>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _handler = handler;
        Policy = policy ?? new PolicyEngine();
        _client = client ?? handler as ApprovalClient;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>The policy that decides when approval is needed.</summary>
    public PolicyEngine Policy { get; }

    /// <summary>Runs <paramref name="action"/> if it needs no approval or once it is approved, and returns its result.</summary>
    /// <param name="actionName">The action's name, as the policy and the approvers see it.</param>
    /// <param name="action">The action; it gets <paramref name="cancellationToken"/>.</param>
    /// <param name="options">Cost, description, whether to always ask, and the request's details.</param>
    /// <param name="cancellationToken">Stops waiting for the decision (the request is withdrawn) or the action.</param>
    /// <exception cref="ApprovalRejectedException">A person rejected the action.</exception>
    /// <exception cref="ApprovalExpiredException">Nobody decided in time.</exception>
    /// <exception cref="ApprovalCancelledException">The request was withdrawn.</exception>
    /// <exception cref="ApprovalInfoRequestedException">An approver asked a question that could not be answered.</exception>
    public async Task<T> GuardAsync<T>(string actionName, Func<CancellationToken, Task<T>> action, GuardOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(actionName);
        ArgumentNullException.ThrowIfNull(action);
        // Continuations stay on the caller's context, so the action runs where the caller would have run it.
        await EnsureApprovedAsync(actionName, options ?? new GuardOptions(), cancellationToken);
        return await action(cancellationToken);
    }

    /// <summary>Runs <paramref name="action"/> with <paramref name="inputs"/> if it needs no approval or once it is
    /// approved for exactly these inputs: they are sent as the request's <c>action_inputs</c> (replacing
    /// <see cref="GuardOptions.ActionInputs"/>), and the receipt must approve their hash as they are when the action is
    /// about to run (see <see cref="ApprovalClientOptions.VerifyReceipts"/>).</summary>
    /// <exception cref="ReceiptArgumentsMismatchException">The inputs changed after they were approved.</exception>
    public async Task<TResult> GuardAsync<TInputs, TResult>(string actionName, TInputs inputs, Func<TInputs, CancellationToken, Task<TResult>> action, GuardOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(actionName);
        ArgumentNullException.ThrowIfNull(action);
        await EnsureApprovedAsync(actionName, (options ?? new GuardOptions()) with { ActionInputs = inputs }, cancellationToken);
        return await action(inputs, cancellationToken);
    }

    /// <summary>Runs <paramref name="action"/> if it needs no approval or once it is approved; see
    /// <see cref="GuardAsync{T}"/>.</summary>
    public async Task GuardAsync(string actionName, Func<CancellationToken, Task> action, GuardOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(actionName);
        ArgumentNullException.ThrowIfNull(action);
        await EnsureApprovedAsync(actionName, options ?? new GuardOptions(), cancellationToken);
        await action(cancellationToken);
    }

    /// <summary>Returns when the action may run: approval is not needed, or it was approved (the response is
    /// returned then). Throws otherwise, like <see cref="GuardAsync{T}"/>.</summary>
    public async Task<ApprovalResponse?> EnsureApprovedAsync(string actionName, GuardOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(actionName);
        ArgumentNullException.ThrowIfNull(options);
        var defaults = _client?.Options;
        var agentId = options.AgentId ?? defaults?.AgentId;
        var runId = options.RunId ?? defaults?.RunId;

        PolicyDecision decision;
        if (options.RequiresHumanApproval)
        {
            var local = Policy.Policy;
            decision = new PolicyDecision(true, ["the action is marked as requiring human approval"], local.ApprovalTimeout, local.DefaultApprovers);
        }
        else
        {
            decision = await Policy.EvaluateAsync(
                new PolicyQuery(actionName)
                {
                    CostUsd = options.CostUsd,
                    AgentId = agentId,
                    RunId = runId,
                    RiskLevel = options.RiskLevel,
                    Priority = options.Priority,
                },
                cancellationToken).ConfigureAwait(false);
        }
        if (!decision.RequiresApproval)
        {
            Log.NotRequired(_logger, actionName);
            return null;
        }
        Log.Required(_logger, actionName, string.Join("; ", decision.Reasons));

        var request = new ApprovalRequest
        {
            ActionName = actionName,
            Description = options.ApprovalDescription,
            AgentId = agentId,
            RunId = runId,
            TaskId = options.TaskId,
            Priority = options.Priority,
            RiskLevel = options.RiskLevel,
            EstimatedCostUsd = options.CostUsd,
            Timeout = options.Timeout ?? decision.Timeout,
            ActionInputs = options.ActionInputs,
            Context = options.Context,
            IdempotencyKey = options.IdempotencyKey ?? Guid.NewGuid().ToString(),
            Approvers = decision.Approvers,
        };
        var response = await _handler.RequestApprovalAsync(request, cancellationToken).ConfigureAwait(false);
        while (response.Status == ApprovalStatus.InfoRequested && options.AnswerInfoRequest is { } answer && _client is not null)
        {
            var text = await answer(response, cancellationToken).ConfigureAwait(false);
            await _client.RespondToInfoRequestAsync(response.ApprovalId, text, cancellationToken).ConfigureAwait(false);
            response = await WaitOrWithdrawAsync(response.ApprovalId, cancellationToken).ConfigureAwait(false);
        }
        if (response.Status == ApprovalStatus.Approved)
        {
            if (_handler is ApprovalClient server && server.Options.VerifyReceipts)
            {
                // The arguments are hashed now, after the wait: changed since they were approved, they are refused.
                await server.VerifyApprovalAsync(response, actionName, options.ActionInputs, agentId, cancellationToken).ConfigureAwait(false);
            }
            return response;
        }
        Log.NotGranted(_logger, actionName, response.Status);
        if (response.Status == ApprovalStatus.InfoRequested && _client is not null)
        {
            // Nobody will answer the question: withdraw the request so it cannot be approved for an action that
            // will not run.
            await WithdrawQuietlyAsync(response.ApprovalId).ConfigureAwait(false);
        }
        throw response.Status switch
        {
            ApprovalStatus.Rejected => new ApprovalRejectedException(response),
            ApprovalStatus.Expired => new ApprovalExpiredException(response),
            ApprovalStatus.Cancelled => new ApprovalCancelledException(response),
            ApprovalStatus.InfoRequested => new ApprovalInfoRequestedException(response),
            _ => new ApprovalNotGrantedException(response),
        };
    }

    private async Task<ApprovalResponse> WaitOrWithdrawAsync(string approvalId, CancellationToken cancellationToken)
    {
        try
        {
            return await _client!.WaitForDecisionAsync(approvalId, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && _client!.Options.WithdrawOnCancellation)
        {
            await WithdrawQuietlyAsync(approvalId).ConfigureAwait(false);
            throw;
        }
    }

    private Task WithdrawQuietlyAsync(string approvalId) => _client!.WithdrawAsync(approvalId);
}
