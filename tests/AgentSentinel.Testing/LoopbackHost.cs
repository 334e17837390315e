using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentSentinel.Testing;

/// <summary>A small Kestrel server on 127.0.0.1 and a free port, for fakes of the services the product calls.</summary>
public static class LoopbackHost
{
    /// <summary>Builds the server, lets <paramref name="map"/> add its endpoints, starts it, and returns it with its
    /// base address (<c>http://127.0.0.1:{port}/</c>).</summary>
    public static async Task<(WebApplication App, Uri BaseUrl)> StartAsync(Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (app, new Uri(address.TrimEnd('/') + "/"));
    }

    /// <summary>Polls <paramref name="probe"/> every 25 ms until it returns a value; after <paramref name="timeout"/>
    /// (60 s by default: a busy two-core machine can take that long) throws a <see cref="TimeoutException"/> with <paramref name="describeTimeout"/>'s message.</summary>
    public static async Task<T> WaitForAsync<T>(Func<T?> probe, TimeSpan? timeout, Func<string> describeTimeout) where T : class
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            if (probe() is { } result)
            {
                return result;
            }
            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException(describeTimeout());
            }
            await Task.Delay(25);
        }
    }

    /// <summary>Polls an asynchronous <paramref name="probe"/> (such as an HTTP call) every 100 ms until it returns a
    /// value; after <paramref name="timeout"/> (60 s by default: a busy two-core machine can take that long) throws a <see cref="TimeoutException"/>.</summary>
    public static async Task<T> WaitForAsync<T>(Func<Task<T?>> probe, TimeSpan? timeout, Func<string> describeTimeout) where T : class
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            if (await probe() is { } result)
            {
                return result;
            }
            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException(describeTimeout());
            }
            await Task.Delay(100);
        }
    }
}
