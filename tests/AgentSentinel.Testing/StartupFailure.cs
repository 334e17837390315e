using AgentSentinel.Api.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Xunit;

namespace AgentSentinel.Testing;

/// <summary>Start-up refusals, seen through the host exactly as Program.cs builds it and started on a loopback port.
/// </summary>
/// <remarks>Not through <see cref="AgentSentinelApp"/>: the test host runs the entry point on a thread of its own, and
/// when start fails there the entry point disposes the host. The test host's own start then sometimes reads the disposed
/// host first and throws <see cref="ObjectDisposedException"/>, losing the refusal a test wants to read.</remarks>
public static class StartupFailure
{
    /// <summary>Starts the host on <paramref name="storage"/> with <paramref name="settings"/> over a minimal base (the
    /// storage, no job server, an initial admin key file in a new folder) and returns the options validation error that
    /// stopped it. Fails the test when the host starts or stops for another reason.</summary>
    public static async Task<OptionsValidationException> ValidationErrorAsync(TestStorage storage, IEnumerable<KeyValuePair<string, string?>> settings,
        CancellationToken ct)
    {
        var all = new Dictionary<string, string?>
        {
            ["AgentSentinel:Storage:Provider"] = storage.Provider.ToString(),
            ["AgentSentinel:Storage:ConnectionString"] = storage.ConnectionString,
            ["AgentSentinel:Jobs:RunServer"] = "false",
            ["AgentSentinel:Auth:InitialAdminKeyFile"] = Path.Combine(TestPaths.NewTempDirectory(), "admin.key"),
        };
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        builder.UseRepositoryConfiguration();
        builder.Configuration.AddInMemoryCollection(all);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddAgentSentinel();
        await using var app = builder.Build();
        app.MapAgentSentinel();
        var error = await Record.ExceptionAsync(() => app.StartAsync(ct));
        if (error is null)
        {
            await app.StopAsync(ct);
        }
        var validation = Unwrap(error);
        Assert.True(validation is not null, $"Expected a start-up error naming the setting, got {error?.ToString() ?? "a host that started"}");
        return validation;
    }

    /// <summary>The options validation error in <paramref name="error"/>, its inner errors, or an aggregate's.</summary>
    private static OptionsValidationException? Unwrap(Exception? error)
    {
        for (; error is not null; error = error.InnerException)
        {
            if (error is OptionsValidationException validation)
            {
                return validation;
            }
            if (error is AggregateException aggregate && aggregate.InnerExceptions.Select(Unwrap).FirstOrDefault(e => e is not null) is { } inner)
            {
                return inner;
            }
        }
        return null;
    }
}
