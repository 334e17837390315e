using System.Collections.Concurrent;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace AgentSentinel.Bot.Delivery;

/// <summary>
/// The surfaces whose credentials the platform refused. While a surface is paused no delivery job calls its platform:
/// each one waits (rescheduled, keeping its claim) and nothing queued is lost. The pause is lifted by a probe of the
/// credentials (Slack <c>auth.test</c>, a fresh Bot Framework token), tried after a short backoff that grows to a minute,
/// from whichever comes first: a waiting job or the readiness check.
/// </summary>
public sealed class SurfacePause(TimeProvider time, ILogger<SurfacePause> logger)
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(60);

    private readonly ConcurrentDictionary<Surface, PauseState> _paused = new();
    private readonly ConcurrentDictionary<Surface, SemaphoreSlim> _probing = new();

    public sealed record PauseState(string Reason, DateTimeOffset Since, DateTimeOffset NextProbe, TimeSpan Backoff);

    public PauseState? StateOf(Surface surface) => _paused.TryGetValue(surface, out var state) ? state : null;

    public void Pause(Surface surface, string reason)
    {
        var now = time.GetUtcNow();
        var state = _paused.AddOrUpdate(surface,
            _ => new PauseState(reason, now, now + FirstBackoff, FirstBackoff),
            (_, old) => old with { Reason = reason });
        if (state.Since == now)
        {
            DeliveryLog.Paused(logger, surface.ToWire(), reason);
        }
    }

    /// <summary>Null when the surface delivers (after a successful probe, if one was due); otherwise how long a job
    /// should wait before it tries again.</summary>
    public async Task<TimeSpan?> HoldAsync(IChatTransport transport, CancellationToken ct)
    {
        if (StateOf(transport.Surface) is not { } state)
        {
            return null;
        }
        if (time.GetUtcNow() >= state.NextProbe)
        {
            await ProbeAsync(transport, ct);
        }
        return StateOf(transport.Surface) is { } still ? Max(still.NextProbe - time.GetUtcNow(), TimeSpan.FromSeconds(1)) : null;
    }

    /// <summary>Probes the credentials of a paused surface when a probe is due (one probe at a time).</summary>
    public async Task ProbeIfDueAsync(IChatTransport transport, CancellationToken ct)
    {
        if (StateOf(transport.Surface) is { } state && time.GetUtcNow() >= state.NextProbe)
        {
            await ProbeAsync(transport, ct);
        }
    }

    private async Task ProbeAsync(IChatTransport transport, CancellationToken ct)
    {
        var gate = _probing.GetOrAdd(transport.Surface, _ => new SemaphoreSlim(1, 1));
        if (!await gate.WaitAsync(0, ct))
        {
            return;
        }
        try
        {
            if (StateOf(transport.Surface) is not { } state || time.GetUtcNow() < state.NextProbe)
            {
                return;
            }
            try
            {
                await transport.ProbeAsync(ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested && (e is ChatDeliveryException || transport.Classify(e) is not null))
            {
                var reason = (e as ChatDeliveryException)?.Failure.Reason ?? transport.Classify(e)!.Reason;
                var backoff = Min(state.Backoff * 2, MaxBackoff);
                _paused[transport.Surface] = state with { Reason = reason, NextProbe = time.GetUtcNow() + backoff, Backoff = backoff };
                return;
            }
            if (_paused.TryRemove(transport.Surface, out var ended))
            {
                DeliveryLog.Resumed(logger, transport.Surface.ToWire(), time.GetUtcNow() - ended.Since);
            }
        }
        finally
        {
            gate.Release();
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}

/// <summary>Readiness of chat delivery: Degraded, with the platform's reason, while a surface is paused because its
/// credentials are refused; a due probe of the credentials runs first, so readiness turns Healthy as soon as they work.</summary>
public sealed class ChatDeliveryHealthCheck(IEnumerable<IChatTransport> transports, SurfacePause pause) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var enabled = transports.Where(t => t.Enabled).ToList();
        var paused = new List<string>();
        foreach (var transport in enabled)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(3));
            try
            {
                await pause.ProbeIfDueAsync(transport, timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The probe did not answer in time: the surface stays paused; the next check or job probes again.
            }
            if (pause.StateOf(transport.Surface) is { } state)
            {
                paused.Add($"{Name(transport.Surface)} delivery is paused since {state.Since:yyyy-MM-ddTHH:mm:ssZ}: the platform refused the app's credentials ({state.Reason}); queued messages wait and go out once the credentials work again");
            }
        }
        if (paused.Count > 0)
        {
            return HealthCheckResult.Degraded(string.Join("; ", paused) + ".");
        }
        return HealthCheckResult.Healthy(enabled.Count == 0 ? "no chat surface is on" : string.Join(" and ", enabled.Select(t => Name(t.Surface))) + " delivering");
    }

    private static string Name(Surface surface) => surface.ToString();
}
