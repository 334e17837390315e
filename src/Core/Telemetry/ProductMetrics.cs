using System.Diagnostics;
using System.Diagnostics.Metrics;
using AgentSentinel.Core.Approvals;

namespace AgentSentinel.Core.Telemetry;

/// <summary>The product's own metrics, on the meter <c>AgentSentinel</c> (plain System.Diagnostics.Metrics: any
/// listener can read them; the host exports them with OpenTelemetry). Counters and the histogram are recorded where
/// the thing happens; the gauges are read from the database (and the job storage) when someone collects.</summary>
public sealed class ProductMetrics
{
    public const string MeterName = "AgentSentinel";

    /// <summary>Bucket bounds of the time-to-decision histogram, in seconds: from seconds to a day.</summary>
    public static readonly IReadOnlyList<double> DecisionBuckets = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400];

    private readonly Counter<long> _created;
    private readonly Counter<long> _decisions;
    private readonly Histogram<double> _timeToDecision;
    private readonly Counter<long> _expired;
    private readonly UpDownCounter<long> _waits;
    private readonly UpDownCounter<long> _eventStreams;

    public ProductMetrics(IMeterFactory meters, OperationalReadings readings, IEnumerable<IJobQueueProbe> queues)
    {
        var meter = meters.Create(MeterName);
        _created = meter.CreateCounter<long>("agentsentinel.requests.created", "{request}", "Approval requests created, by priority, risk level and route.");
        _decisions = meter.CreateCounter<long>("agentsentinel.decisions", "{decision}", "Decisions applied (approved, rejected, info_requested), by outcome and the surface they came from.");
        _timeToDecision = meter.CreateHistogram("agentsentinel.decision.duration", "s", "Time from creation to an approval or rejection.",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DecisionBuckets });
        _expired = meter.CreateCounter<long>("agentsentinel.requests.expired", "{request}", "Requests that reached their deadline undecided.");
        _waits = meter.CreateUpDownCounter<long>("agentsentinel.wait.open", "{call}", "Long-poll wait calls (REST and MCP) open now.");
        _eventStreams = meter.CreateUpDownCounter<long>("agentsentinel.sse.open", "{connection}", "Console live-update (server-sent events) connections open now.");
        meter.CreateObservableGauge("agentsentinel.requests.pending", () => readings.Pending().Count, "{request}",
            "Requests open now (pending or waiting for info, deadline not passed).");
        meter.CreateObservableGauge("agentsentinel.requests.oldest_pending.age", () => readings.Pending().OldestAge.TotalSeconds, "s",
            "Age of the oldest open request (0 when none is open).");
        meter.CreateObservableGauge("agentsentinel.chat.deliveries", () => readings.ChatDeliveries()
            .Select(d => new Measurement<long>(d.Count, new("surface", d.Surface), new("state", d.State))), "{delivery}",
            "Chat deliveries (messages, updates and replies on Slack and Teams) by surface and state: claimed, posted, failed.");
        meter.CreateObservableGauge("agentsentinel.callbacks", () => readings.Callbacks()
            .Select(c => new Measurement<long>(c.Count, new KeyValuePair<string, object?>("state", c.State))), "{callback}",
            "Agent callbacks by state.");
        IJobQueueProbe[] probes = [.. queues];
        meter.CreateObservableGauge("agentsentinel.jobs.queue.lag", () => probes.SelectMany(p => p.OldestWaiting())
            .Select(q => new Measurement<double>(q.Lag.TotalSeconds, new KeyValuePair<string, object?>("queue", q.Queue))), "s",
            "How long the oldest job waiting in each queue has waited (0 when the queue is empty).");
    }

    public void RequestCreated(ApprovalRequest request) =>
        _created.Add(1, new("priority", request.Priority.ToWire()), new("risk", request.RiskLevel?.ToWire() ?? "none"), new("route", request.RouteName ?? "none"));

    /// <summary>Records an applied transition: decisions with their surface, the time to an approval or rejection,
    /// and expiries.</summary>
    public void TransitionApplied(ApprovalRequest request, TransitionKind kind, Actor actor)
    {
        switch (kind)
        {
            case TransitionKind.Approve or TransitionKind.Reject or TransitionKind.RequestInfo:
                _decisions.Add(1, new("outcome", request.Status.ToWire()), new("surface", actor.Surface.ToWire()));
                if (kind != TransitionKind.RequestInfo && request.DecidedAt is { } decidedAt)
                {
                    _timeToDecision.Record((decidedAt - request.CreatedAt).TotalSeconds, new KeyValuePair<string, object?>("outcome", request.Status.ToWire()));
                }
                break;
            case TransitionKind.Expire:
                _expired.Add(1);
                break;
        }
    }

    /// <summary>Counts an open wait call until the returned handle is disposed.</summary>
    public IDisposable TrackWait() => new Open(_waits);

    /// <summary>Counts an open live-update stream until the returned handle is disposed.</summary>
    public IDisposable TrackEventStream() => new Open(_eventStreams);

    private sealed class Open : IDisposable
    {
        private UpDownCounter<long>? _counter;

        public Open(UpDownCounter<long> counter)
        {
            _counter = counter;
            counter.Add(1);
        }

        public void Dispose() => Interlocked.Exchange(ref _counter, null)?.Add(-1);
    }
}

/// <summary>The traces the product adds to those of ASP.NET Core, HttpClient and Npgsql: one span per background job,
/// a child of the span that enqueued it.</summary>
public static class ProductTraces
{
    public const string SourceName = "AgentSentinel";

    public static readonly ActivitySource Source = new(SourceName);
}

/// <summary>How long the oldest job of each queue has waited; implemented by the host over its job storage.</summary>
public interface IJobQueueProbe
{
    IEnumerable<(string Queue, TimeSpan Lag)> OldestWaiting();
}
