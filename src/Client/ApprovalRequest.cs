namespace AgentSentinel.Client;

/// <summary>What an agent asks a person to approve. Only <see cref="ActionName"/> is required; the more context you
/// give, the fewer questions approvers need to ask.</summary>
public sealed record ApprovalRequest
{
    /// <summary>The action the agent wants to take, e.g. <c>transfer_funds</c> (1 to 200 characters).</summary>
    public required string ActionName { get; init; }

    /// <summary>What exactly will happen, in words an approver understands
    /// (e.g. "Transfer 2,500 USD from ACC-1 to ACC-2").</summary>
    public string? Description { get; init; }

    /// <summary>The agent asking; defaults to <see cref="ApprovalClientOptions.AgentId"/>.</summary>
    public string? AgentId { get; init; }

    /// <summary>The agent run this request belongs to; defaults to <see cref="ApprovalClientOptions.RunId"/>.</summary>
    public string? RunId { get; init; }

    /// <summary>The task within the run.</summary>
    public string? TaskId { get; init; }

    /// <summary>The mission the task belongs to.</summary>
    public string? MissionId { get; init; }

    /// <summary>How urgent the request is; the server's default is <see cref="Client.Priority.Medium"/>.</summary>
    public Priority? Priority { get; init; }

    /// <summary>How much harm the action could do.</summary>
    public RiskLevel? RiskLevel { get; init; }

    /// <summary>The estimated cost of the action in US dollars.</summary>
    public decimal? EstimatedCostUsd { get; init; }

    /// <summary>How long a person has to decide. The deadline is fixed when the request is created and never moves;
    /// with no answer by then the request is <see cref="ApprovalStatus.Expired"/>. Rounded up to whole seconds.
    /// When <see langword="null"/>, <see cref="ApprovalPolicy.ApprovalTimeout"/> applies, and failing that the
    /// server policy's default for the request's priority.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>The inputs of the action, shown to approvers: any object that System.Text.Json serializes to a JSON
    /// object (an anonymous object, a record, a dictionary, a <see cref="System.Text.Json.Nodes.JsonObject"/>).
    /// Property names are written in snake_case unless
    /// <see cref="ApprovalClientOptions.SerializerOptions"/> says otherwise.</summary>
    public object? ActionInputs { get; init; }

    /// <summary>Anything else that helps an approver decide (the agent's intent, the conversation so far), serialized
    /// like <see cref="ActionInputs"/>.</summary>
    public object? Context { get; init; }

    /// <summary>An absolute http(s) address the server may call when the request is decided.</summary>
    public Uri? CallbackUrl { get; init; }

    /// <summary>Identifies this logical request. Sent as the <c>Idempotency-Key</c> header, so a create that is retried
    /// after a network error returns the original request instead of creating a second one. When
    /// <see langword="null"/>, a new GUID is used for each call. Set it yourself (e.g. <c>run-123-transfer-1</c>) to make
    /// a restarted agent find the request it made before. At most 200 printable ASCII characters.</summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>Who should decide, as the local policy sees it (<see cref="ApprovalPolicy.DefaultApprovers"/> combined
    /// with the server policy's). A custom <see cref="IApprovalHandler"/> uses it to choose whom to ask; the server
    /// decides approvers from its own routes and policy and does not read this list.</summary>
    public IReadOnlyList<string> Approvers { get; init; } = [];
}
