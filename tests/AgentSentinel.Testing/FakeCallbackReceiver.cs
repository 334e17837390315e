using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace AgentSentinel.Testing;

/// <summary>An agent's callback endpoint on 127.0.0.1: records every request it receives (headers and raw body) and
/// answers 200, or, on demand, fails the next requests with a status code (a 3xx carries a Location header).</summary>
public sealed class FakeCallbackReceiver : IAsyncDisposable
{
    private readonly ConcurrentQueue<int> _failures = new();
    private WebApplication _app = null!;

    public sealed record Received(string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body, DateTimeOffset At)
    {
        public string? Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out var v) ? v : null;

        public string BodyText => System.Text.Encoding.UTF8.GetString(Body);
    }

    public ConcurrentQueue<Received> Requests { get; } = new();

    /// <summary>The base address, <c>http://127.0.0.1:{port}/</c>.</summary>
    public Uri BaseUrl { get; private set; } = null!;

    public int Port => BaseUrl.Port;

    /// <summary>How long the receiver waits before it answers (to make a sender time out).</summary>
    public TimeSpan AnswerDelay { get; set; }

    private FakeCallbackReceiver()
    {
    }

    public static async Task<FakeCallbackReceiver> StartAsync()
    {
        var receiver = new FakeCallbackReceiver();
        (receiver._app, receiver.BaseUrl) = await LoopbackHost.StartAsync(app => app.Run(receiver.HandleAsync));
        return receiver;
    }

    /// <summary>The next requests are answered with these status codes, in order, instead of 200.</summary>
    public void FailNext(params int[] statuses)
    {
        foreach (var s in statuses)
        {
            _failures.Enqueue(s);
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        Requests.Enqueue(new Received(
            context.Request.Path + context.Request.QueryString,
            context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString()),
            buffer.ToArray(),
            DateTimeOffset.UtcNow));
        if (AnswerDelay > TimeSpan.Zero)
        {
            await Task.Delay(AnswerDelay, context.RequestAborted);
        }
        if (_failures.TryDequeue(out var status))
        {
            context.Response.StatusCode = status;
            if (status is >= 300 and < 400)
            {
                context.Response.Headers.Location = BaseUrl + "redirected";
            }
            await context.Response.WriteAsync("not this time", context.RequestAborted);
            return;
        }
        context.Response.StatusCode = StatusCodes.Status200OK;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
