using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using AgentSentinel.Client.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentSentinel.Client;

/// <summary>
/// Asks the Agent Sentinel server for a human decision and waits for it.
/// </summary>
/// <remarks>
/// <para><see cref="RequestApprovalAsync(ApprovalRequest, CancellationToken)"/> creates a request and returns as soon as
/// it is no longer pending: approved, rejected, expired, cancelled, or
/// <see cref="ApprovalStatus.InfoRequested"/> (answer with <see cref="RespondToInfoRequestAsync"/>, then call
/// <see cref="WaitForDecisionAsync"/>). The caller checks <see cref="ApprovalResponse.Status"/>; only
/// <see cref="ApprovalStatus.Approved"/> means go. Refusals by the server throw <see cref="ApprovalApiException"/>.</para>
/// <para>Waiting uses the server's long poll (<c>GET .../wait</c>), so a decision reaches the agent within milliseconds;
/// against a server without it the client polls. Transient failures (network errors, timeouts, 502/503/504/429) are
/// retried with exponential backoff, at most <see cref="ApprovalClientOptions.MaxRetries"/> times in a row, then
/// <see cref="AgentSentinelUnavailableException"/> is thrown. A create is retried with the same
/// <c>Idempotency-Key</c>, so a retry never makes a second request. If the server has not reported an outcome by the
/// request's deadline plus <see cref="ApprovalClientOptions.DeadlineGrace"/>,
/// <see cref="ApprovalWaitTimeoutException"/> is thrown.</para>
/// <para>One instance is safe to share between threads and is meant to live as long as the application.</para>
/// </remarks>
public sealed class ApprovalClient : IApprovalHandler, IDisposable
{
    /// <summary>The name of the <see cref="HttpClient"/> that <c>AddAgentSentinelClient</c> registers with
    /// <see cref="IHttpClientFactory"/>; use it to add handlers or change the primary handler.</summary>
    public const string HttpClientName = "AgentSentinel.Client";

    private const int MaxIdempotencyKeyLength = 200;

    private static readonly JsonSerializerOptions DefaultSerializerOptions = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    private static readonly ProductInfoHeaderValue UserAgent =
        new("AgentSentinel.Client", typeof(ApprovalClient).Assembly.GetName().Version?.ToString(3) ?? "0");

    private readonly Func<HttpClient> _http;
    private readonly HttpClient? _owned;
    private readonly Uri _base;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly JsonSerializerOptions _serializerOptions;
    private readonly ReceiptVerifier _receipts;
    private volatile bool _waitUnsupported;

    /// <summary>Creates a client with an <see cref="HttpClient"/> of its own (disposed with the client).</summary>
    /// <param name="options">Where the server is and the API key; validated here.</param>
    /// <param name="logger">Where to log retries and fallbacks; nowhere when <see langword="null"/>.</param>
    public ApprovalClient(ApprovalClientOptions options, ILogger<ApprovalClient>? logger = null)
        : this(options, null, null, logger, null)
    {
    }

    /// <summary>Creates a client that sends through the given <see cref="HttpClient"/> (not disposed with the client).
    /// Its <see cref="HttpClient.Timeout"/> must be longer than the long poll
    /// (<see cref="ApprovalClientOptions.LongPollTimeout"/> plus 5 s) or infinite: the client applies its own
    /// timeouts to every call.</summary>
    public ApprovalClient(HttpClient httpClient, ApprovalClientOptions options, ILogger<ApprovalClient>? logger = null)
        : this(options, httpClient ?? throw new ArgumentNullException(nameof(httpClient)), null, logger, null)
    {
    }

    /// <summary>Creates a client that takes an <see cref="HttpClient"/> from the factory for every call.</summary>
    internal ApprovalClient(ApprovalClientOptions options, IHttpClientFactory factory, ILogger? logger, TimeProvider? time)
        : this(options, null, () => factory.CreateClient(HttpClientName), logger, time)
    {
    }

    private ApprovalClient(ApprovalClientOptions options, HttpClient? httpClient, Func<HttpClient>? factory, ILogger? logger, TimeProvider? time)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        if (httpClient is not null && httpClient.Timeout != Timeout.InfiniteTimeSpan && httpClient.Timeout < options.LongPollTimeout + TimeSpan.FromSeconds(5))
        {
            throw new ArgumentException(
                $"The HttpClient's Timeout ({httpClient.Timeout}) is shorter than the long poll ({options.LongPollTimeout}) plus 5 s; set it to Timeout.InfiniteTimeSpan (the client times each call itself).",
                nameof(httpClient));
        }
        if (factory is not null)
        {
            _http = factory;
        }
        else if (httpClient is not null)
        {
            _http = () => httpClient;
        }
        else
        {
            var owned = new HttpClient(new SocketsHttpHandler
            {
                PooledConnectionLifetime = TimeSpan.FromMinutes(2),
                ConnectTimeout = options.RequestTimeout,
            })
            {
                Timeout = Timeout.InfiniteTimeSpan,
            };
            _owned = owned;
            _http = () => owned;
        }
        var address = options.BaseAddress!.AbsoluteUri;
        _base = new Uri(address.EndsWith('/') ? address : address + "/");
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _serializerOptions = options.SerializerOptions ?? DefaultSerializerOptions;
        _receipts = new ReceiptVerifier(FetchJwksAsync);
    }

    /// <summary>The options the client was created with.</summary>
    internal ApprovalClientOptions Options { get; }

    // ---- asking and waiting ----------------------------------------------------------------------------------------

    /// <summary>Asks for approval and waits until the request is no longer pending. Returns the response whatever the
    /// outcome (approved, rejected, expired, cancelled, or info requested); check its
    /// <see cref="ApprovalResponse.Status"/>.</summary>
    /// <param name="request">What to approve.</param>
    /// <param name="cancellationToken">Stops waiting. When it fires after the request was created, the request is
    /// cancelled on the server too (see <see cref="ApprovalClientOptions.WithdrawOnCancellation"/>) and
    /// <see cref="OperationCanceledException"/> is thrown.</param>
    /// <exception cref="ApprovalApiException">The server refused the request (bad input, unknown key, ...).</exception>
    /// <exception cref="AgentSentinelUnavailableException">The server could not be reached after the retries.</exception>
    /// <exception cref="ApprovalWaitTimeoutException">No outcome from the server by the deadline plus the grace.</exception>
    public async Task<ApprovalResponse> RequestApprovalAsync(ApprovalRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        // A key of our own, so a create cancelled in flight can still be found (and withdrawn) by replaying it.
        request = request.IdempotencyKey is null ? request with { IdempotencyKey = Guid.NewGuid().ToString() } : request;
        ApprovalResponse created;
        try
        {
            created = await CreateApprovalAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && Options.WithdrawOnCancellation)
        {
            await WithdrawUnacknowledgedAsync(request).ConfigureAwait(false);
            throw;
        }
        if (created.Status != ApprovalStatus.Pending)
        {
            // A replayed idempotent create can find the request already answered.
            return created;
        }
        try
        {
            return await WaitCoreAsync(created.ApprovalId, Deadline.For(created, Options.DeadlineGrace, _time), created, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && Options.WithdrawOnCancellation)
        {
            await WithdrawAsync(created.ApprovalId).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Asks for approval and waits, with the Python SDK's parameters. See
    /// <see cref="RequestApprovalAsync(ApprovalRequest, CancellationToken)"/>.</summary>
    /// <param name="actionName">The action, e.g. <c>transfer_funds</c>.</param>
    /// <param name="description">What exactly will happen.</param>
    /// <param name="agentId">The agent asking (default <see cref="ApprovalClientOptions.AgentId"/>).</param>
    /// <param name="runId">The run (default <see cref="ApprovalClientOptions.RunId"/>).</param>
    /// <param name="taskId">The task within the run.</param>
    /// <param name="priority">How urgent the request is.</param>
    /// <param name="riskLevel">How much harm the action could do.</param>
    /// <param name="estimatedCostUsd">The estimated cost in US dollars.</param>
    /// <param name="timeout">How long a person has to decide.</param>
    /// <param name="actionInputs">The action's inputs (an object that serializes to a JSON object).</param>
    /// <param name="context">Anything else that helps the approver.</param>
    /// <param name="cancellationToken">Stops waiting (and withdraws the request).</param>
    public Task<ApprovalResponse> RequestApprovalAsync(
        string actionName,
        string? description = null,
        string? agentId = null,
        string? runId = null,
        string? taskId = null,
        Priority? priority = null,
        RiskLevel? riskLevel = null,
        decimal? estimatedCostUsd = null,
        TimeSpan? timeout = null,
        object? actionInputs = null,
        object? context = null,
        CancellationToken cancellationToken = default) =>
        RequestApprovalAsync(
            new ApprovalRequest
            {
                ActionName = actionName,
                Description = description,
                AgentId = agentId,
                RunId = runId,
                TaskId = taskId,
                Priority = priority,
                RiskLevel = riskLevel,
                EstimatedCostUsd = estimatedCostUsd,
                Timeout = timeout,
                ActionInputs = actionInputs,
                Context = context,
            },
            cancellationToken);

    /// <summary>The blocking form of <see cref="RequestApprovalAsync(ApprovalRequest, CancellationToken)"/>, for
    /// synchronous agents: blocks the calling thread until the request is no longer pending.</summary>
    public ApprovalResponse RequestApproval(ApprovalRequest request, CancellationToken cancellationToken = default) =>
        // On the thread pool, so that a caller's synchronization context cannot deadlock the wait.
        Task.Run(() => RequestApprovalAsync(request, cancellationToken), CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>The blocking form of
    /// <see cref="RequestApprovalAsync(string, string?, string?, string?, string?, Priority?, RiskLevel?, decimal?, TimeSpan?, object?, object?, CancellationToken)"/>.</summary>
    public ApprovalResponse RequestApproval(
        string actionName,
        string? description = null,
        string? agentId = null,
        string? runId = null,
        string? taskId = null,
        Priority? priority = null,
        RiskLevel? riskLevel = null,
        decimal? estimatedCostUsd = null,
        TimeSpan? timeout = null,
        object? actionInputs = null,
        object? context = null,
        CancellationToken cancellationToken = default) =>
        Task.Run(
            () => RequestApprovalAsync(actionName, description, agentId, runId, taskId, priority, riskLevel, estimatedCostUsd, timeout, actionInputs, context, cancellationToken),
            CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>Creates a request and returns at once (usually <see cref="ApprovalStatus.Pending"/>), without waiting.
    /// Follow it with <see cref="WaitForDecisionAsync"/>. Retried on transient failures with the request's
    /// <see cref="ApprovalRequest.IdempotencyKey"/> (a new GUID when unset), so it never creates two requests.</summary>
    public async Task<ApprovalResponse> CreateApprovalAsync(ApprovalRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var body = JsonSerializer.SerializeToUtf8Bytes(ToWire(request), ClientJson.Default.CreateApprovalWire);
        var key = request.IdempotencyKey ?? Guid.NewGuid().ToString();
        if (key.Length is 0 or > MaxIdempotencyKeyLength || key.Any(c => c is < (char)0x20 or > (char)0x7e))
        {
            throw new ArgumentException($"ApprovalRequest.IdempotencyKey must be 1 to {MaxIdempotencyKeyLength} printable ASCII characters.", nameof(request));
        }
        var raw = await SendAsync("create", () => CreateMessage(body, key), cancellationToken).ConfigureAwait(false);
        if (raw.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.OK))
        {
            throw Refused(raw);
        }
        var created = ToResponse(raw);
        Log.Created(_logger, created.ApprovalId, created.ActionName, created.ExpiresAt);
        return created;
    }

    /// <summary>Waits until a request is no longer pending and returns it, like
    /// <see cref="RequestApprovalAsync(ApprovalRequest, CancellationToken)"/> does after creating it. Use it after
    /// <see cref="RespondToInfoRequestAsync"/>, or to resume waiting for a request made earlier. Returns at once when
    /// the request is not pending.</summary>
    /// <param name="approvalId">The request's id.</param>
    /// <param name="cancellationToken">Stops waiting (the request itself is left as it is).</param>
    public Task<ApprovalResponse> WaitForDecisionAsync(string approvalId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(approvalId);
        return WaitCoreAsync(approvalId, null, null, cancellationToken);
    }

    // ---- other agent calls -----------------------------------------------------------------------------------------

    /// <summary>The current state of a request, without waiting (<c>GET .../poll</c>).</summary>
    public async Task<ApprovalResponse> GetApprovalAsync(string approvalId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(approvalId);
        var raw = await SendAsync("poll", () => new HttpRequestMessage(HttpMethod.Get, ApprovalUrl(approvalId, "poll")), cancellationToken).ConfigureAwait(false);
        return raw.IsSuccess ? ToResponse(raw) : throw Refused(raw);
    }

    /// <summary>Answers an approver's question (<see cref="ApprovalResponse.InfoRequestMessage"/>). The request goes
    /// back to <see cref="ApprovalStatus.Pending"/>; wait for the decision with <see cref="WaitForDecisionAsync"/>.</summary>
    /// <param name="approvalId">The request's id.</param>
    /// <param name="responseText">The answer, shown to the approvers.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="ApprovalApiException">409 when the request is not waiting for an answer.</exception>
    public async Task<ApprovalResponse> RespondToInfoRequestAsync(string approvalId, string responseText, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(approvalId);
        ArgumentException.ThrowIfNullOrWhiteSpace(responseText);
        var body = JsonSerializer.SerializeToUtf8Bytes(new RespondWire(responseText), ClientJson.Default.RespondWire);
        var raw = await SendAsync("respond", () => new HttpRequestMessage(HttpMethod.Post, ApprovalUrl(approvalId, "respond")) { Content = JsonBody(body) }, cancellationToken)
            .ConfigureAwait(false);
        if (raw.IsSuccess)
        {
            return ToResponse(raw);
        }
        if (raw.StatusCode == HttpStatusCode.Conflict && raw.Attempts > 1)
        {
            // An earlier attempt may have been applied before its answer was lost.
            var current = await GetApprovalAsync(approvalId, cancellationToken).ConfigureAwait(false);
            if (current.Status != ApprovalStatus.InfoRequested && current.InfoResponse == responseText)
            {
                return current;
            }
        }
        throw Refused(raw);
    }

    /// <summary>Withdraws a request that is still open (pending or waiting for an answer). Returns it with status
    /// <see cref="ApprovalStatus.Cancelled"/>.</summary>
    /// <exception cref="ApprovalApiException">409 when the request is already final
    /// (<see cref="ApprovalApiException.CurrentStatus"/> says how it ended).</exception>
    public async Task<ApprovalResponse> CancelApprovalAsync(string approvalId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(approvalId);
        var raw = await SendAsync("cancel", () => new HttpRequestMessage(HttpMethod.Post, ApprovalUrl(approvalId, "cancel")), cancellationToken).ConfigureAwait(false);
        if (raw.IsSuccess)
        {
            return ToResponse(raw);
        }
        if (raw.StatusCode == HttpStatusCode.Conflict && raw.Attempts > 1)
        {
            var current = await GetApprovalAsync(approvalId, cancellationToken).ConfigureAwait(false);
            if (current.Status == ApprovalStatus.Cancelled)
            {
                return current;
            }
        }
        throw Refused(raw);
    }

    /// <summary>Asks the server's policy whether an action needs approval (<c>POST /api/v1/approvals/check</c>).</summary>
    /// <param name="actionName">The action.</param>
    /// <param name="costUsd">Its estimated cost in US dollars.</param>
    /// <param name="agentId">The agent (default <see cref="ApprovalClientOptions.AgentId"/>).</param>
    /// <param name="runId">The run (default <see cref="ApprovalClientOptions.RunId"/>).</param>
    /// <param name="riskLevel">How much harm the action could do.</param>
    /// <param name="priority">How urgent a request would be (the suggested timeout depends on it).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async Task<PolicyCheckResult> CheckAsync(
        string actionName,
        decimal? costUsd = null,
        string? agentId = null,
        string? runId = null,
        RiskLevel? riskLevel = null,
        Priority? priority = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(actionName);
        var query = new StringBuilder("api/v1/approvals/check?action_name=").Append(Uri.EscapeDataString(actionName));
        AppendQuery(query, "cost_usd", costUsd?.ToString(CultureInfo.InvariantCulture));
        AppendQuery(query, "agent_id", agentId ?? Options.AgentId);
        AppendQuery(query, "run_id", runId ?? Options.RunId);
        AppendQuery(query, "risk_level", riskLevel?.ToWire());
        AppendQuery(query, "priority", priority?.ToWire());
        var url = Url(query.ToString());
        var raw = await SendAsync("check", () => new HttpRequestMessage(HttpMethod.Post, url), cancellationToken).ConfigureAwait(false);
        if (!raw.IsSuccess)
        {
            throw Refused(raw);
        }
        var wire = Deserialize(raw, ClientJson.Default.CheckWire, "a policy check");
        return new PolicyCheckResult
        {
            RequiresApproval = wire.RequiresApproval,
            Reasons = wire.Reasons ?? [],
            Timeout = TimeSpan.FromSeconds(wire.TimeoutSeconds),
            Approvers = wire.Approvers ?? [],
            PolicyVersion = wire.PolicyVersion,
        };
    }

    /// <summary>Approval statistics for requests created in a window (<c>GET /api/v1/approvals/stats</c>): pending
    /// total, decision times, approve/reject/expire rates, counts by priority and risk level.</summary>
    /// <param name="from">The start of the window; default 30 days before <paramref name="to"/>.</param>
    /// <param name="to">The end of the window; default now.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async Task<ApprovalStats> GetStatsAsync(DateTimeOffset? from = null, DateTimeOffset? to = null, CancellationToken cancellationToken = default)
    {
        var query = new StringBuilder("api/v1/approvals/stats?");
        AppendQuery(query, "from", from is { } f ? Timestamp(f) : null);
        AppendQuery(query, "to", to is { } t ? Timestamp(t) : null);
        var url = Url(query.ToString().TrimEnd('?'));
        var raw = await SendAsync("stats", () => new HttpRequestMessage(HttpMethod.Get, url), cancellationToken).ConfigureAwait(false);
        if (!raw.IsSuccess)
        {
            throw Refused(raw);
        }
        var wire = Deserialize(raw, ClientJson.Default.StatsWire, "statistics");
        var counts = new Dictionary<ApprovalStatus, long>();
        foreach (var (name, count) in wire.Counts ?? [])
        {
            if (WireNames.TryParseStatus(name, out var status))
            {
                counts[status] = count;
            }
        }
        return new ApprovalStats
        {
            From = wire.From,
            To = wire.To,
            PendingTotal = wire.PendingTotal,
            Total = wire.Total,
            Counts = counts,
            Approved = wire.Approved,
            Rejected = wire.Rejected,
            Expired = wire.Expired,
            Cancelled = wire.Cancelled,
            ApprovalRate = wire.ApprovalRate,
            RejectionRate = wire.RejectionRate,
            ExpiryRate = wire.ExpiryRate,
            CancellationRate = wire.CancellationRate,
            AverageDecisionTime = wire.AverageDecisionSeconds is { } avg ? TimeSpan.FromSeconds(avg) : null,
            MedianDecisionTime = wire.MedianDecisionSeconds is { } median ? TimeSpan.FromSeconds(median) : null,
            ByPriority = wire.ByPriority ?? [],
            ByRiskLevel = wire.ByRiskLevel ?? [],
        };
    }

    Task<ApprovalResponse> IApprovalHandler.RequestApprovalAsync(ApprovalRequest request, CancellationToken cancellationToken) =>
        RequestApprovalAsync(request, cancellationToken);

    // ---- receipts --------------------------------------------------------------------------------------------------

    /// <summary>Checks that <paramref name="response"/> carries a receipt, signed with a key the server lists at
    /// <c>/.well-known/jwks.json</c>, that approves exactly this request, this action and these arguments: the SHA-256 of
    /// the RFC 8785 canonical JSON of <paramref name="actionInputs"/> (serialized as the request's inputs are) must equal
    /// the receipt's <c>action_inputs_sha256</c>. <see cref="ActionGuard"/> calls it before every approved action.</summary>
    /// <param name="response">The approved response (from this client).</param>
    /// <param name="actionName">The action about to run.</param>
    /// <param name="actionInputs">The arguments it is about to run with (null: none).</param>
    /// <param name="agentId">The agent the request was made for, when the caller named one.</param>
    /// <param name="cancellationToken">Cancels fetching the keys.</param>
    /// <returns>The verified receipt.</returns>
    /// <exception cref="ReceiptArgumentsMismatchException">The arguments hash differently from the approved ones.</exception>
    /// <exception cref="ReceiptVerificationException">No receipt, a bad signature, an unknown key, or a receipt about
    /// another request, action, agent or outcome.</exception>
    public async Task<ApprovalReceipt> VerifyApprovalAsync(ApprovalResponse response, string actionName, object? actionInputs, string? agentId = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentException.ThrowIfNullOrWhiteSpace(actionName);
        var id = response.ApprovalId;
        var token = response.Receipt ?? throw ReceiptVerifier.Refused(id,
            "the server sent none (a server that issues no receipts needs ApprovalClientOptions.VerifyReceipts = false)");
        var receipt = await _receipts.VerifyAsync(id, token, cancellationToken).ConfigureAwait(false);
        if (receipt.ApprovalId != id)
        {
            throw ReceiptVerifier.Refused(id, $"it is the receipt of another request ({receipt.ApprovalId})");
        }
        if (receipt.Decision != "approved")
        {
            throw ReceiptVerifier.Refused(id, $"it states the decision '{receipt.Decision}', not approved");
        }
        if (receipt.ActionName != actionName)
        {
            throw ReceiptVerifier.Refused(id, $"it approves action '{receipt.ActionName}', not '{actionName}'");
        }
        if (agentId is not null && receipt.AgentId != agentId)
        {
            throw ReceiptVerifier.Refused(id, $"it approves agent '{receipt.AgentId}', not '{agentId}'");
        }
        var actual = InputsHash(id, actionInputs);
        if (receipt.ActionInputsSha256 != actual)
        {
            throw new ReceiptArgumentsMismatchException(id, receipt.ActionInputsSha256 ?? "(none)", actual);
        }
        return receipt;
    }

    /// <summary>SHA-256 of the RFC 8785 form of the inputs, serialized exactly as a request's inputs are sent.</summary>
    private string InputsHash(string approvalId, object? actionInputs)
    {
        try
        {
            return ToJsonObject(actionInputs, nameof(ApprovalRequest.ActionInputs)) is { } element ? Jcs.Sha256Hex(element) : Jcs.Sha256Hex((string?)null);
        }
        catch (Exception ex) when (ex is JcsException or ArgumentException or NotSupportedException or JsonException)
        {
            throw ReceiptVerifier.Refused(approvalId, $"the arguments cannot be hashed ({ex.Message})", ex);
        }
    }

    private async Task<string> FetchJwksAsync(CancellationToken ct)
    {
        var raw = await SendAsync("jwks", () => new HttpRequestMessage(HttpMethod.Get, Url(".well-known/jwks.json")), ct).ConfigureAwait(false);
        return raw.IsSuccess ? raw.Body : throw Refused(raw);
    }

    /// <summary>Disposes the <see cref="HttpClient"/> the client created for itself, if any.</summary>
    public void Dispose() => _owned?.Dispose();

    // ---- waiting ---------------------------------------------------------------------------------------------------

    private async Task<ApprovalResponse> WaitCoreAsync(string approvalId, Deadline? deadline, ApprovalResponse? last, CancellationToken ct)
    {
        var failures = 0;
        Exception? lastFailure = null;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var remaining = deadline?.Remaining(_time);
            if (remaining <= TimeSpan.Zero)
            {
                throw new ApprovalWaitTimeoutException(approvalId, last, lastFailure);
            }
            ApprovalResponse current;
            try
            {
                current = await WaitOnceAsync(approvalId, remaining, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsTransient(ex) && !ct.IsCancellationRequested)
            {
                failures++;
                lastFailure = ex;
                if (failures > Options.MaxRetries)
                {
                    throw new AgentSentinelUnavailableException(
                        $"Lost the Agent Sentinel server at {_base} while waiting for approval {approvalId} ({failures} failed attempts in a row: {ex.Message}). Resume with WaitForDecisionAsync(\"{approvalId}\").",
                        ex, failures, approvalId, last);
                }
                var delay = Backoff(failures, (ex as ServerBusyException)?.RetryAfter);
                if (remaining is { } r && delay > r)
                {
                    delay = r;
                }
                Log.Retrying(_logger, "wait", ex.Message, failures, Options.MaxRetries, (long)delay.TotalMilliseconds);
                await Task.Delay(delay, _time, ct).ConfigureAwait(false);
                continue;
            }
            failures = 0;
            last = current;
            deadline ??= Deadline.For(current, Options.DeadlineGrace, _time);
            if (current.Status != ApprovalStatus.Pending)
            {
                Log.Answered(_logger, approvalId, current.Status);
                return current;
            }
        }
    }

    /// <summary>One long poll, or one poll (and a pause) against a server without the long poll.</summary>
    private async Task<ApprovalResponse> WaitOnceAsync(string approvalId, TimeSpan? remaining, CancellationToken ct)
    {
        if (!_waitUnsupported)
        {
            var seconds = Options.LongPollTimeout.TotalSeconds;
            if (remaining is { } r && r.TotalSeconds < seconds)
            {
                seconds = r.TotalSeconds;
            }
            var whole = Math.Max(1, (int)Math.Ceiling(seconds));
            var raw = await SendOnceAsync(
                () => new HttpRequestMessage(HttpMethod.Get, ApprovalUrl(approvalId, "wait", $"?timeout_seconds={whole}")),
                TimeSpan.FromSeconds(whole) + Options.RequestTimeout,
                ct).ConfigureAwait(false);
            if (raw.IsSuccess)
            {
                return ToResponse(raw);
            }
            if (raw.StatusCode is not (HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed))
            {
                throw Refused(raw);
            }
            // A 404 means an unknown request, or a server without the long poll: a poll tells which.
            var polled = await PollOnceAsync(approvalId, ct).ConfigureAwait(false);
            _waitUnsupported = true;
            Log.PollingFallback(_logger, _base, (long)Options.PollInterval.TotalMilliseconds);
            return polled;
        }
        var response = await PollOnceAsync(approvalId, ct).ConfigureAwait(false);
        if (response.Status == ApprovalStatus.Pending)
        {
            var pause = remaining is { } left && left < Options.PollInterval ? left : Options.PollInterval;
            await Task.Delay(pause, _time, ct).ConfigureAwait(false);
        }
        return response;
    }

    private async Task<ApprovalResponse> PollOnceAsync(string approvalId, CancellationToken ct)
    {
        var raw = await SendOnceAsync(() => new HttpRequestMessage(HttpMethod.Get, ApprovalUrl(approvalId, "poll")), Options.RequestTimeout, ct).ConfigureAwait(false);
        return raw.IsSuccess ? ToResponse(raw) : throw Refused(raw);
    }

    /// <summary>Cancels a request whose caller stopped waiting; one attempt, never throws.</summary>
    /// <summary>The create was cancelled before its answer arrived, so the server may hold the request anyway: replay
    /// it with the same idempotency key (which returns the stored request, or makes it if the first never arrived) and
    /// withdraw it. Best effort, bounded by <see cref="ApprovalClientOptions.RequestTimeout"/>.</summary>
    private async Task WithdrawUnacknowledgedAsync(ApprovalRequest request)
    {
        using var timeout = new CancellationTokenSource(Options.RequestTimeout);
        try
        {
            var body = JsonSerializer.SerializeToUtf8Bytes(ToWire(request), ClientJson.Default.CreateApprovalWire);
            var raw = await SendOnceAsync(() => CreateMessage(body, request.IdempotencyKey!), Options.RequestTimeout, timeout.Token).ConfigureAwait(false);
            if (raw.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK && ToResponse(raw) is { Status: ApprovalStatus.Pending or ApprovalStatus.InfoRequested } held)
            {
                await WithdrawAsync(held.ApprovalId).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (IsTransient(ex) || ex is OperationCanceledException)
        {
            Log.WithdrawFailed(_logger, "(unacknowledged create)", ex.Message);
        }
    }

    private HttpRequestMessage CreateMessage(byte[] body, string idempotencyKey)
    {
        var message = new HttpRequestMessage(HttpMethod.Post, Url("api/v1/approvals")) { Content = JsonBody(body) };
        message.Headers.Add("Idempotency-Key", idempotencyKey);
        return message;
    }

    internal async Task WithdrawAsync(string approvalId)
    {
        try
        {
            var raw = await SendOnceAsync(() => new HttpRequestMessage(HttpMethod.Post, ApprovalUrl(approvalId, "cancel")), Options.RequestTimeout, CancellationToken.None)
                .ConfigureAwait(false);
            if (raw.IsSuccess)
            {
                Log.Withdrawn(_logger, approvalId);
            }
            else
            {
                Log.WithdrawFailed(_logger, approvalId, Refused(raw).Message);
            }
        }
        catch (Exception ex) when (IsTransient(ex))
        {
            Log.WithdrawFailed(_logger, approvalId, ex.Message);
        }
    }

    // ---- transport -------------------------------------------------------------------------------------------------

    /// <summary>Sends a call, retrying transient failures with backoff up to <see cref="ApprovalClientOptions.MaxRetries"/>
    /// times. Only for calls that are safe to repeat (reads, and writes the caller reconciles).</summary>
    private async Task<RawResponse> SendAsync(string operation, Func<HttpRequestMessage> build, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            Exception failure;
            try
            {
                var response = await SendOnceAsync(build, Options.RequestTimeout, ct).ConfigureAwait(false);
                return response with { Attempts = attempt };
            }
            catch (Exception ex) when (IsTransient(ex) && !ct.IsCancellationRequested)
            {
                failure = ex;
            }
            if (attempt > Options.MaxRetries)
            {
                throw new AgentSentinelUnavailableException(
                    $"The Agent Sentinel server at {_base} could not be reached ({operation}, {attempt} attempts): {failure.Message}", failure, attempt);
            }
            var delay = Backoff(attempt, (failure as ServerBusyException)?.RetryAfter);
            Log.Retrying(_logger, operation, failure.Message, attempt, Options.MaxRetries, (long)delay.TotalMilliseconds);
            await Task.Delay(delay, _time, ct).ConfigureAwait(false);
        }
    }

    /// <summary>One HTTP exchange within <paramref name="timeout"/>. Network failures, timeouts and transient statuses
    /// throw (<see cref="IsTransient"/>); every other answer is returned.</summary>
    private async Task<RawResponse> SendOnceAsync(Func<HttpRequestMessage> build, TimeSpan timeout, CancellationToken ct)
    {
        using var request = build();
        request.Headers.Authorization = new AuthenticationHeaderValue("ApiKey", Options.ApiKey);
        request.Headers.UserAgent.Add(UserAgent);
        using var timeoutSource = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeoutSource.Token);
        try
        {
            using var response = await _http().SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(linked.Token).ConfigureAwait(false);
            if (response.StatusCode is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout
                or HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout)
            {
                throw new ServerBusyException(response.StatusCode, RetryAfter(response));
            }
            return new RawResponse(response.StatusCode, body, 1);
        }
        catch (OperationCanceledException ex) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"No answer from {request.RequestUri?.GetLeftPart(UriPartial.Path)} within {timeout.TotalSeconds:0.#} s.", ex);
        }
    }

    private static bool IsTransient(Exception ex) => ex is HttpRequestException or TimeoutException or IOException;

    private TimeSpan Backoff(int failures, TimeSpan? retryAfter)
    {
        var max = Options.RetryMaxDelay.TotalMilliseconds;
        var ms = Math.Min(Options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(failures - 1, 30)), max);
        ms *= 0.8 + (0.4 * Random.Shared.NextDouble());
        if (retryAfter is { } after && after.TotalMilliseconds > ms)
        {
            ms = Math.Min(after.TotalMilliseconds, max);
        }
        return TimeSpan.FromMilliseconds(ms);
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta;
        }
        return header?.Date is { } date ? date - _time.GetUtcNow() : null;
    }

    private Uri Url(string relative) => new(_base, relative);

    private Uri ApprovalUrl(string approvalId, string action, string query = "") =>
        Url($"api/v1/approvals/{Uri.EscapeDataString(approvalId)}/{action}{query}");

    private static ByteArrayContent JsonBody(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        return content;
    }

    private static void AppendQuery(StringBuilder query, string name, string? value)
    {
        if (value is null)
        {
            return;
        }
        if (query[^1] != '?')
        {
            query.Append('&');
        }
        query.Append(name).Append('=').Append(Uri.EscapeDataString(value));
    }

    private static string Timestamp(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    // ---- JSON ------------------------------------------------------------------------------------------------------

    private CreateApprovalWire ToWire(ApprovalRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.ActionName))
        {
            throw new ArgumentException("ApprovalRequest.ActionName is required.", nameof(request));
        }
        int? timeoutSeconds = null;
        if ((request.Timeout ?? Options.Policy.ApprovalTimeout) is { } timeout)
        {
            if (timeout < TimeSpan.FromSeconds(1))
            {
                throw new ArgumentException($"ApprovalRequest.Timeout must be at least one second, got {timeout}.", nameof(request));
            }
            timeoutSeconds = (int)Math.Min(int.MaxValue, Math.Ceiling(timeout.TotalSeconds));
        }
        return new CreateApprovalWire(
            request.ActionName,
            request.Description,
            request.AgentId ?? Options.AgentId,
            request.RunId ?? Options.RunId,
            request.TaskId,
            request.MissionId,
            request.EstimatedCostUsd,
            request.RiskLevel?.ToWire(),
            request.Priority?.ToWire(),
            timeoutSeconds,
            ToJsonObject(request.ActionInputs, nameof(ApprovalRequest.ActionInputs)),
            ToJsonObject(request.Context, nameof(ApprovalRequest.Context)),
            request.CallbackUrl?.AbsoluteUri);
    }

    private JsonElement? ToJsonObject(object? value, string name)
    {
        if (value is null)
        {
            return null;
        }
        var element = value switch
        {
            JsonElement e => e,
            JsonDocument d => d.RootElement,
            _ => JsonSerializer.SerializeToElement(value, value.GetType(), _serializerOptions),
        };
        return element.ValueKind switch
        {
            JsonValueKind.Null or JsonValueKind.Undefined => null,
            JsonValueKind.Object => element,
            _ => throw new ArgumentException($"ApprovalRequest.{name} must serialize to a JSON object, not {element.ValueKind}.", name),
        };
    }

    private static ApprovalResponse ToResponse(RawResponse raw)
    {
        var wire = Deserialize(raw, ClientJson.Default.ApprovalWire, "an approval");
        if (wire.Id is null || !WireNames.TryParseStatus(wire.Status, out var status))
        {
            throw new AgentSentinelException($"The server's answer is not an approval with an id and a known status: {Excerpt(raw.Body)}");
        }
        return new ApprovalResponse
        {
            ApprovalId = wire.Id,
            Status = status,
            ActionName = wire.ActionName,
            ApproverEmail = wire.DecidedByEmail,
            ApproverNotes = wire.DecisionNotes,
            InfoRequestMessage = wire.InfoRequestMessage,
            InfoResponse = wire.InfoResponse,
            DecidedAt = wire.DecidedAt,
            DecidedVia = wire.DecidedVia,
            CreatedAt = wire.CreatedAt,
            ExpiresAt = wire.ExpiresAt,
            Receipt = wire.Receipt,
        };
    }

    private static T Deserialize<T>(RawResponse raw, JsonTypeInfo<T> type, string what)
    {
        try
        {
            return JsonSerializer.Deserialize(raw.Body, type)
                ?? throw new AgentSentinelException($"The server answered null where {what} was expected.");
        }
        catch (JsonException ex)
        {
            throw new AgentSentinelException($"The server's answer is not {what}: {Excerpt(raw.Body)}", ex);
        }
    }

    private static ApprovalApiException Refused(RawResponse raw)
    {
        string? title = null, detail = null;
        ApprovalStatus? current = null;
        try
        {
            using var doc = JsonDocument.Parse(raw.Body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
            {
                title = Text(doc.RootElement, "title");
                detail = Text(doc.RootElement, "detail");
                if (WireNames.TryParseStatus(Text(doc.RootElement, "current_status"), out var status))
                {
                    current = status;
                }
            }
        }
        catch (JsonException)
        {
            // Not a problem document (a proxy's error page, say): the body is kept as it is.
        }
        return new ApprovalApiException(raw.StatusCode, title, detail, current, raw.Body);

        static string? Text(JsonElement e, string name) =>
            e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
    }

    private static string Excerpt(string body) => body.Length <= 200 ? body : body[..200] + "...";

    private readonly record struct RawResponse(HttpStatusCode StatusCode, string Body, int Attempts)
    {
        public bool IsSuccess => (int)StatusCode is >= 200 and < 300;
    }

    /// <summary>The server answered with a status that means "try again later".</summary>
    private sealed class ServerBusyException(HttpStatusCode statusCode, TimeSpan? retryAfter)
        : HttpRequestException($"the server answered {(int)statusCode} {statusCode}", null, statusCode)
    {
        public TimeSpan? RetryAfter { get; } = retryAfter;
    }

    /// <summary>When the client stops waiting: the request's full timeout plus the grace, measured from when the client
    /// learned of it (so never before the server's own deadline, whatever the clocks say).</summary>
    private readonly record struct Deadline(long Start, TimeSpan Budget)
    {
        public static Deadline? For(ApprovalResponse response, TimeSpan grace, TimeProvider time) =>
            response.CreatedAt is { } created && response.ExpiresAt is { } expires
                ? new Deadline(time.GetTimestamp(), expires - created + grace)
                : null;

        public TimeSpan Remaining(TimeProvider time) => Budget - time.GetElapsedTime(Start);
    }
}
