using System.Diagnostics;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace AgentSentinel.Api.Tests;

/// <summary>One trace follows a request from the HTTP call through its outbox entry (and its Hangfire job, when the
/// delivery is a job) to the Slack call.</summary>
[Collection(TelemetryCollection.Name)]
public sealed class TracingTests
{
    private static CancellationToken Ct => Http.Ct;

    [Fact]
    public async Task Without_an_exporter_nothing_is_traced_or_measured_per_request()
    {
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "untraced"));
        using var agent = app.Client(await app.CreateKeyAsync("untraced-agent", [Scopes.Agent]));
        await agent.CreateApprovalAsync(new { action_name = "transfer_funds", timeout_seconds = 300 });

        Assert.Null(app.Services.GetService<TracerProvider>());
        Assert.Null(app.Services.GetService<MeterProvider>());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task One_trace_runs_from_the_create_call_through_the_outbox_and_any_delivery_job_to_the_slack_call(bool chatFromDispatcher)
    {
        var spans = new List<Activity>();
        await using var slack = await FakeSlackServer.StartAsync();
        var settings = new Dictionary<string, string?>(slack.HostSettings())
        {
            ["AgentSentinel:Routing:Routes:0:Name"] = "default",
            ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = "C0TRACE",
            // No OTLP endpoint here: the in-memory exporter below takes the traces.
            ["AgentSentinel:Metrics:Traces"] = "true",
            // On (the default), the dispatcher posts at the channel's free turn; off, every post is a job of its own.
            ["AgentSentinel:Jobs:ChatFromDispatcher"] = chatFromDispatcher ? "true" : "false",
        };
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, chatFromDispatcher ? "tracing-dispatcher" : "tracing-job"), runJobServer: true, settings: settings,
            services: s => s.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(spans)));
        using var agent = app.Client(await app.CreateKeyAsync("trace-agent", [Scopes.Agent]));

        var id = (await agent.CreateApprovalAsync(new { action_name = "transfer_funds", timeout_seconds = 300 })).Id();

        var postUrl = new Uri(slack.BaseUrl, "chat.postMessage").ToString();
        Activity? slackCall = null;
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (slackCall is null && DateTimeOffset.UtcNow < deadline)
        {
            await Task.Delay(50, Ct);
            lock (spans)
            {
                slackCall = spans.FirstOrDefault(s => s.Kind == ActivityKind.Client && (s.GetTagItem("url.full") as string) == postUrl);
            }
        }
        Assert.NotNull(slackCall);
        Assert.Contains(slack.Calls, c => c.Method == "chat.postMessage" && c.Body.ToJsonString().Contains(id, StringComparison.Ordinal));

        // A span is exported when it ends: the job's (or the dispatch's) ends after its Slack call.
        List<Activity> trace = [];
        while (DateTimeOffset.UtcNow < deadline)
        {
            lock (spans)
            {
                trace = [.. spans.Where(s => s.TraceId == slackCall.TraceId)];
            }
            if (trace.Any(s => s.SpanId == slackCall.ParentSpanId))
            {
                break;
            }
            await Task.Delay(50, Ct);
        }
        // The root is the create call (the fake Slack server, in this process too, adds its own server span below the call).
        var create = Assert.Single(trace, s => s.ParentSpanId == default);
        Assert.Equal(ActivityKind.Server, create.Kind);
        Assert.Equal("POST", create.GetTagItem("http.request.method"));
        Assert.StartsWith("/api/v1/approvals", create.GetTagItem("http.route") as string, StringComparison.Ordinal);
        // The create call's outbox entry is dispatched in a span of its own, which posts itself or queues the delivery job.
        var dispatch = Assert.Single(trace, s => s.Source.Name == "AgentSentinel" && s.DisplayName == "outbox Created");
        Assert.Equal(create.SpanId, dispatch.ParentSpanId);
        var jobs = trace.Where(s => s.Source.Name == "AgentSentinel" && s.DisplayName == "job ChatDeliveryJobs.PostAsync").ToList();
        var poster = dispatch;
        if (chatFromDispatcher)
        {
            Assert.Empty(jobs);
        }
        else
        {
            poster = Assert.Single(jobs);
            Assert.Equal(dispatch.SpanId, poster.ParentSpanId);
        }
        // The Slack call is made inside the poster's span (directly or below the product's own spans).
        var ancestor = slackCall;
        while (ancestor is not null && ancestor.SpanId != poster.SpanId)
        {
            ancestor = trace.FirstOrDefault(s => s.SpanId == ancestor.ParentSpanId);
        }
        Assert.NotNull(ancestor);
    }
}
