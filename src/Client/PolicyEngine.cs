using System.Globalization;
using AgentSentinel.Client.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentSentinel.Client;

/// <summary>What a guarded action is about to do, for the policy to judge.</summary>
/// <param name="ActionName">The action's name.</param>
public sealed record PolicyQuery(string ActionName)
{
    /// <summary>The action's estimated cost in US dollars.</summary>
    public decimal? CostUsd { get; init; }

    /// <summary>The agent that runs the action.</summary>
    public string? AgentId { get; init; }

    /// <summary>The run the action belongs to.</summary>
    public string? RunId { get; init; }

    /// <summary>How much harm the action could do.</summary>
    public RiskLevel? RiskLevel { get; init; }

    /// <summary>How urgent a request for the action would be.</summary>
    public Priority? Priority { get; init; }
}

/// <summary>Whether an action needs approval, why, and with which timeout and approvers.</summary>
/// <param name="RequiresApproval"><see langword="true"/> when at least one rule applies.</param>
/// <param name="Reasons">One sentence per rule that applies, local rules first.</param>
/// <param name="Timeout">The timeout to give the request: the local default, or the server policy's suggestion;
/// <see langword="null"/> when neither is known.</param>
/// <param name="Approvers">The local default approvers followed by the server policy's.</param>
public sealed record PolicyDecision(bool RequiresApproval, IReadOnlyList<string> Reasons, TimeSpan? Timeout, IReadOnlyList<string> Approvers);

/// <summary>
/// Decides when a guarded action needs a human: the local <see cref="ApprovalPolicy"/> (actions that require approval,
/// a cost threshold, a default timeout, default approvers) combined with the server's policy. Configure it once at
/// start-up, like the Python SDK's <c>PolicyEngine.configure(...)</c>:
/// <code>
/// policy.Configure(
///     approvalRequiredActions: ["delete_user", "modify_prices", "transfer_funds"],
///     approvalCostThresholdUsd: 100m,
///     approvalTimeout: TimeSpan.FromMinutes(10),
///     approvalDefaultApprovers: ["security@company.com", "manager@company.com"]);
/// </code>
/// Thread-safe: <see cref="Configure(ApprovalPolicy)"/> swaps the whole policy at once.
/// </summary>
public sealed class PolicyEngine
{
    private readonly ApprovalClient? _server;
    private readonly ILogger _logger;
    private volatile ApprovalPolicy _policy;

    /// <summary>Creates an engine.</summary>
    /// <param name="policy">The local rules; none when <see langword="null"/>.</param>
    /// <param name="server">The server whose policy is also asked (when <see cref="ApprovalPolicy.UseServerPolicy"/>);
    /// <see langword="null"/> for local rules only.</param>
    /// <param name="logger">Where to log; nowhere when <see langword="null"/>.</param>
    public PolicyEngine(ApprovalPolicy? policy = null, ApprovalClient? server = null, ILogger<PolicyEngine>? logger = null)
    {
        _policy = policy ?? new ApprovalPolicy();
        _server = server;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>The local rules in force.</summary>
    public ApprovalPolicy Policy => _policy;

    /// <summary>Replaces the local rules.</summary>
    public void Configure(ApprovalPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        _policy = policy;
    }

    /// <summary>Replaces the local rules, in the shape of the Python SDK's <c>PolicyEngine.configure</c>. Settings left
    /// out are cleared; <see cref="ApprovalPolicy.UseServerPolicy"/> keeps its value.</summary>
    /// <param name="approvalRequiredActions">Actions (names or <c>*</c>/<c>?</c> patterns) that always need approval.</param>
    /// <param name="approvalCostThresholdUsd">Require approval when the estimated cost is at or above this.</param>
    /// <param name="approvalTimeout">The timeout of requests that do not set one.</param>
    /// <param name="approvalDefaultApprovers">Who should decide.</param>
    public void Configure(
        IEnumerable<string>? approvalRequiredActions = null,
        decimal? approvalCostThresholdUsd = null,
        TimeSpan? approvalTimeout = null,
        IEnumerable<string>? approvalDefaultApprovers = null)
    {
        Configure(new ApprovalPolicy
        {
            ApprovalRequiredActions = [.. approvalRequiredActions ?? []],
            ApprovalCostThresholdUsd = approvalCostThresholdUsd,
            ApprovalTimeout = approvalTimeout,
            DefaultApprovers = [.. approvalDefaultApprovers ?? []],
            UseServerPolicy = _policy.UseServerPolicy,
        });
    }

    /// <summary>Applies the local rules only.</summary>
    public PolicyDecision EvaluateLocal(PolicyQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var policy = _policy;
        var reasons = new List<string>();
        var listed = policy.ApprovalRequiredActions.FirstOrDefault(p => Glob.IsMatch(p, query.ActionName));
        if (listed is not null)
        {
            reasons.Add(string.Equals(listed, query.ActionName, StringComparison.OrdinalIgnoreCase)
                ? $"action '{query.ActionName}' is on the local list of actions that require approval"
                : $"action '{query.ActionName}' matches '{listed}', which requires approval");
        }
        if (policy.ApprovalCostThresholdUsd is { } threshold && query.CostUsd is { } cost && cost >= threshold)
        {
            reasons.Add(string.Create(CultureInfo.InvariantCulture, $"estimated cost {cost} USD is at or above the local threshold of {threshold} USD"));
        }
        return new PolicyDecision(reasons.Count > 0, reasons, policy.ApprovalTimeout, policy.DefaultApprovers);
    }

    /// <summary>Applies the local rules and, when configured, asks the server's policy; approval is required when
    /// either requires it. If the server cannot be asked, approval is required (the decision says why): an error
    /// never lets an action skip its approval.</summary>
    public async Task<PolicyDecision> EvaluateAsync(PolicyQuery query, CancellationToken cancellationToken = default)
    {
        var local = EvaluateLocal(query);
        if (_server is null || !_policy.UseServerPolicy)
        {
            return local;
        }
        PolicyCheckResult server;
        try
        {
            server = await _server.CheckAsync(query.ActionName, query.CostUsd, query.AgentId, query.RunId, query.RiskLevel, query.Priority, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (AgentSentinelException ex)
        {
            Log.ServerCheckFailed(_logger, query.ActionName, ex.Message);
            return local with
            {
                RequiresApproval = true,
                Reasons = [.. local.Reasons, $"the server policy could not be checked ({ex.Message})"],
            };
        }
        return new PolicyDecision(
            local.RequiresApproval || server.RequiresApproval,
            [.. local.Reasons, .. server.Reasons],
            local.Timeout ?? server.Timeout,
            [.. local.Approvers.Concat(server.Approvers).Distinct(StringComparer.OrdinalIgnoreCase)]);
    }
}
