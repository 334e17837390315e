using System.Text.Json;

namespace AgentSentinel.Client;

/// <summary>How to reach the Agent Sentinel server and how patiently to wait for it.</summary>
public sealed class ApprovalClientOptions
{
    /// <summary>The server's address, e.g. <c>http://localhost:5000/</c>. Required.</summary>
    public Uri? BaseAddress { get; set; }

    /// <summary>An API key with the <c>agent</c> scope (<c>as_...</c>), sent as <c>Authorization: ApiKey &lt;key&gt;</c>.
    /// Required.</summary>
    public string? ApiKey { get; set; }

    /// <summary>The <c>agent_id</c> of requests that do not give one.</summary>
    public string? AgentId { get; set; }

    /// <summary>The <c>run_id</c> of requests that do not give one.</summary>
    public string? RunId { get; set; }

    /// <summary>How long one ordinary call may take before it counts as failed (and is retried). Default 10 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the server holds one long-poll <c>wait</c> call open (1 to 30 s). Default 25 s. The client
    /// waits for a decision with as many such calls as it takes.</summary>
    public TimeSpan LongPollTimeout { get; set; } = TimeSpan.FromSeconds(25);

    /// <summary>How often to poll a server that has no long-poll <c>wait</c> endpoint. Default 2 s.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How many times a call that failed for a transient reason (network error, timeout, 502, 503, 504, 429)
    /// is retried before <see cref="AgentSentinelUnavailableException"/> is thrown. While waiting for a decision this
    /// counts consecutive failures. Default 6, which with the default delays rides out about 13 s of outage.</summary>
    public int MaxRetries { get; set; } = 6;

    /// <summary>The delay before the first retry; it doubles with each retry (with some jitter) up to
    /// <see cref="RetryMaxDelay"/>. A <c>Retry-After</c> from the server is honoured up to that maximum. Default 250 ms.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The longest delay between two retries. Default 5 s.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long past a request's deadline the client keeps waiting for the server to report the outcome
    /// before it throws <see cref="ApprovalWaitTimeoutException"/>. Default 10 s.</summary>
    public TimeSpan DeadlineGrace { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>When the caller's <see cref="CancellationToken"/> ends a <c>RequestApprovalAsync</c> call after the
    /// request was created, cancel the request on the server too, so nobody approves an action that will not run.
    /// Default <see langword="true"/>.</summary>
    public bool WithdrawOnCancellation { get; set; } = true;

    /// <summary>Before <see cref="ActionGuard"/> runs an approved action, verify the request's signed receipt with the
    /// server's published keys (<c>/.well-known/jwks.json</c>) and check that it approves this action with exactly the
    /// arguments it is about to use; refuse otherwise (<see cref="ReceiptVerificationException"/>,
    /// <see cref="ReceiptArgumentsMismatchException"/>). Default <see langword="true"/>; turn off only against a server
    /// that issues no receipts.</summary>
    public bool VerifyReceipts { get; set; } = true;

    /// <summary>How <see cref="ApprovalRequest.ActionInputs"/> and <see cref="ApprovalRequest.Context"/> are
    /// serialized. Default: System.Text.Json with snake_case property names.</summary>
    public JsonSerializerOptions? SerializerOptions { get; set; }

    /// <summary>The local approval rules that guarded actions apply (see <see cref="PolicyEngine"/>), and the default
    /// timeout of requests.</summary>
    public ApprovalPolicy Policy { get; set; } = new();

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first setting that is wrong.</summary>
    public void Validate()
    {
        if (BaseAddress is null || !BaseAddress.IsAbsoluteUri || BaseAddress.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException(
                $"ApprovalClientOptions.BaseAddress must be the absolute http(s) address of the Agent Sentinel server (e.g. http://localhost:5000/), got '{BaseAddress}'.",
                nameof(BaseAddress));
        }
        if (string.IsNullOrWhiteSpace(ApiKey))
        {
            throw new ArgumentException("ApprovalClientOptions.ApiKey is required: an API key with the agent scope (as_...).", nameof(ApiKey));
        }
        if (ApiKey.Any(char.IsControl))
        {
            throw new ArgumentException("ApprovalClientOptions.ApiKey must not contain control characters.", nameof(ApiKey));
        }
        Positive(RequestTimeout, nameof(RequestTimeout));
        Positive(PollInterval, nameof(PollInterval));
        Positive(RetryBaseDelay, nameof(RetryBaseDelay));
        Positive(RetryMaxDelay, nameof(RetryMaxDelay));
        if (LongPollTimeout < TimeSpan.FromSeconds(1) || LongPollTimeout > TimeSpan.FromSeconds(30))
        {
            throw new ArgumentException($"ApprovalClientOptions.LongPollTimeout must be from 1 to 30 seconds, got {LongPollTimeout}.", nameof(LongPollTimeout));
        }
        if (MaxRetries < 0)
        {
            throw new ArgumentException($"ApprovalClientOptions.MaxRetries must not be negative, got {MaxRetries}.", nameof(MaxRetries));
        }
        if (DeadlineGrace < TimeSpan.Zero)
        {
            throw new ArgumentException($"ApprovalClientOptions.DeadlineGrace must not be negative, got {DeadlineGrace}.", nameof(DeadlineGrace));
        }
        ArgumentNullException.ThrowIfNull(Policy, nameof(Policy));
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentException($"ApprovalClientOptions.{name} must be positive, got {value}.", name);
        }
    }
}
