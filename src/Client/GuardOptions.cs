namespace AgentSentinel.Client;

/// <summary>How <see cref="ActionGuard.GuardAsync{T}"/> treats one guarded action (the Python SDK's
/// <c>@guarded_action(...)</c> arguments).</summary>
public sealed record GuardOptions
{
    /// <summary>Always ask a human, whatever the policy says. When <see langword="false"/> (the default) the
    /// <see cref="PolicyEngine"/> decides; it can never waive an approval the policy requires.</summary>
    public bool RequiresHumanApproval { get; init; }

    /// <summary>What the approver is told the action does.</summary>
    public string? ApprovalDescription { get; init; }

    /// <summary>The estimated cost of the action in US dollars (checked against the cost threshold).</summary>
    public decimal? CostUsd { get; init; }

    /// <summary>How urgent the request is.</summary>
    public Priority? Priority { get; init; }

    /// <summary>How much harm the action could do.</summary>
    public RiskLevel? RiskLevel { get; init; }

    /// <summary>How long a person has to decide; default the policy's timeout.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>The action's inputs, shown to the approver.</summary>
    public object? ActionInputs { get; init; }

    /// <summary>Anything else that helps the approver decide.</summary>
    public object? Context { get; init; }

    /// <summary>The agent (default <see cref="ApprovalClientOptions.AgentId"/>).</summary>
    public string? AgentId { get; init; }

    /// <summary>The run (default <see cref="ApprovalClientOptions.RunId"/>).</summary>
    public string? RunId { get; init; }

    /// <summary>The task within the run.</summary>
    public string? TaskId { get; init; }

    /// <summary>Identifies this logical request across retries and restarts (see
    /// <see cref="ApprovalRequest.IdempotencyKey"/>); a new GUID when unset.</summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>Answers an approver's question (given the response, whose
    /// <see cref="ApprovalResponse.InfoRequestMessage"/> is the question) so the guard can keep waiting for the
    /// decision. Without it, a question withdraws the request and throws <see cref="ApprovalInfoRequestedException"/>.
    /// Needs the server (an <see cref="ApprovalClient"/>); a custom <see cref="IApprovalHandler"/> handles questions
    /// itself.</summary>
    public Func<ApprovalResponse, CancellationToken, Task<string>>? AnswerInfoRequest { get; init; }
}
