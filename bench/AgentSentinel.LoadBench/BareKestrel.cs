using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AgentSentinel.LoadBench;

/// <summary>The limit the poll path is measured against: a Kestrel minimal API with nothing in its pipeline, answering
/// <c>GET /poll</c> with a fixed JSON body, on a free loopback port of this process.</summary>
internal sealed class BareKestrel(WebApplication app, Uri baseAddress) : IAsyncDisposable
{
    public Uri BaseAddress { get; } = baseAddress;

    public static async Task<BareKestrel> StartAsync(byte[] body)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var port = ServerProcess.FreePort();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        app.MapGet("/poll", () => Results.Bytes(body, "application/json"));
        await app.StartAsync();
        return new BareKestrel(app, new Uri($"http://127.0.0.1:{port}/"));
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
