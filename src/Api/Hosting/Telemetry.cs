using System.Diagnostics;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Jobs;
using AgentSentinel.Core.Telemetry;
using Hangfire;
using Hangfire.Client;
using Hangfire.Common;
using Hangfire.Server;
using Microsoft.Extensions.Options;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace AgentSentinel.Api.Hosting;

/// <summary>The <c>AgentSentinel:Metrics</c> configuration section.</summary>
public sealed class MetricsOptions
{
    public const string SectionName = "AgentSentinel:Metrics";

    /// <summary>Serve the Prometheus scrape endpoint <c>/metrics</c> (no authentication: keep it private).</summary>
    public bool Prometheus { get; set; }

    /// <summary>When set, <c>/metrics</c> answers only on connections to this local port (one the host also listens
    /// on, e.g. <c>http://0.0.0.0:9464</c> in <c>ASPNETCORE_URLS</c>, kept off the public network); elsewhere it is a 404.</summary>
    public int? Port { get; set; }

    /// <summary>Record traces even without <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, for an exporter the host adds itself (an
    /// in-process one in tests). Without either, no request starts an activity.</summary>
    public bool Traces { get; set; }
}

public sealed class MetricsOptionsValidator : IValidateOptions<MetricsOptions>
{
    public ValidateOptionsResult Validate(string? name, MetricsOptions options) =>
        options.Port is < 1 or > 65535
            ? ValidateOptionsResult.Fail($"AgentSentinel:Metrics:Port must be a TCP port from 1 to 65535, got {options.Port}.")
            : ValidateOptionsResult.Success;
}

/// <summary>OpenTelemetry: traces of ASP.NET Core, HttpClient, Npgsql and the product's jobs; metrics of ASP.NET Core,
/// HttpClient and the product (<see cref="ProductMetrics"/>). Exported over OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>
/// is set (the standard <c>OTEL_*</c> variables apply) and scraped at <c>/metrics</c> when
/// <c>AgentSentinel:Metrics:Prometheus</c> is true. With neither, nothing is recorded per request.</summary>
public static class Telemetry
{
    public const string MetricsPath = "/metrics";

    public static WebApplicationBuilder AddAgentSentinelTelemetry(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<MetricsOptions>().Bind(builder.Configuration.GetSection(MetricsOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<MetricsOptions>, MetricsOptionsValidator>();
        services.AddSingleton<IJobQueueProbe, HangfireQueueProbe>();
        // The gauges exist from the start, not from the first request that happens to need the service.
        services.AddHostedService<ProductMetricsStarter>();

        // Nothing is recorded per request unless something takes it: no activities without a trace exporter, no
        // request metrics without a metrics exporter (the profile of a poll showed the request activity, its tags and
        // the request-duration histogram in every answer, kept by nobody).
        var prometheus = builder.Configuration.GetValue($"{MetricsOptions.SectionName}:Prometheus", false);
        var otlp = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var traces = otlp || builder.Configuration.GetValue($"{MetricsOptions.SectionName}:Traces", false);
        if (!traces && !prometheus && !otlp)
        {
            return builder;
        }
        var otel = services.AddOpenTelemetry().ConfigureResource(r => r.AddService("agentsentinel"));
        if (traces)
        {
            otel.WithTracing(t => t
                .AddSource(ProductTraces.SourceName)
                .AddAspNetCoreInstrumentation(o => o.Filter = c => !c.Request.Path.StartsWithSegments(MetricsPath))
                .AddHttpClientInstrumentation()
                .AddNpgsql());
        }
        if (prometheus || otlp)
        {
            otel.WithMetrics(m =>
            {
                m.AddMeter(ProductMetrics.MeterName)
                    .AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation();
                if (prometheus)
                {
                    // Every scrape reads the current figures (the exporter caches a response for 300 ms by default).
                    m.AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0);
                }
            });
        }
        if (otlp)
        {
            otel.UseOtlpExporter();
        }
        return builder;
    }

    /// <summary>Serves <c>/metrics</c> when enabled, only on <c>AgentSentinel:Metrics:Port</c> when that is set.</summary>
    public static IApplicationBuilder UseAgentSentinelMetrics(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<MetricsOptions>>().Value;
        if (options.Prometheus)
        {
            app.UseOpenTelemetryPrometheusScrapingEndpoint(c =>
                c.Request.Path == MetricsPath && (options.Port is not { } port || c.Connection.LocalPort == port));
        }
        return app;
    }

    private sealed class ProductMetricsStarter(IServiceProvider services) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            _ = services.GetRequiredService<ProductMetrics>();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>Carries the trace into background jobs: the client stores the current span's id as a job parameter when a
/// job is created, and the server runs the job inside a span that is its child, so one trace follows a request from
/// the HTTP call through its jobs (and the jobs they enqueue) to the Slack or Bot Connector call.</summary>
public sealed class JobTraceFilter : IClientFilter, IServerFilter
{
    public const string Parameter = "traceparent";
    private const string ItemKey = "agentsentinel.activity";

    public void OnCreating(CreatingContext context)
    {
        if (Activity.Current is { IdFormat: ActivityIdFormat.W3C } current)
        {
            context.SetJobParameter(Parameter, current.Id);
        }
    }

    public void OnCreated(CreatedContext context)
    {
    }

    public void OnPerforming(PerformingContext context)
    {
        var parent = context.GetJobParameter<string>(Parameter, allowStale: true);
        ActivityContext.TryParse(parent, null, out var parentContext);
        var job = context.BackgroundJob.Job;
        var activity = ProductTraces.Source.StartActivity($"job {job.Type.Name}.{job.Method.Name}", ActivityKind.Consumer, parentContext);
        if (activity is not null)
        {
            activity.SetTag("job.id", context.BackgroundJob.Id);
            activity.SetTag("job.queue", job.Queue);
            context.Items[ItemKey] = activity;
        }
    }

    public void OnPerformed(PerformedContext context)
    {
        if (context.Items.TryGetValue(ItemKey, out var item) && item is Activity activity)
        {
            if (context.Exception is { } e && !context.ExceptionHandled)
            {
                activity.SetStatus(ActivityStatusCode.Error, e.GetType().Name);
            }
            activity.Dispose();
        }
    }
}

/// <summary>The job queue lag: how long the oldest enqueued job of each queue has waited, from the job storage.</summary>
public sealed class HangfireQueueProbe(IServiceProvider services, TimeProvider time) : IJobQueueProbe
{
    /// <summary>How many jobs at the head of a queue are looked at for the oldest.</summary>
    private const int Window = 100;

    public IEnumerable<(string Queue, TimeSpan Lag)> OldestWaiting()
    {
        var monitoring = services.GetRequiredService<JobStorage>().GetMonitoringApi();
        var now = time.GetUtcNow().UtcDateTime;
        foreach (var queue in JobQueues.All)
        {
            var oldest = monitoring.EnqueuedJobs(queue, 0, Window)
                .Select(j => j.Value?.EnqueuedAt)
                .OfType<DateTime>()
                .DefaultIfEmpty(now)
                .Min();
            var lag = now - DateTime.SpecifyKind(oldest, DateTimeKind.Utc);
            yield return (queue, lag < TimeSpan.Zero ? TimeSpan.Zero : lag);
        }
    }
}
