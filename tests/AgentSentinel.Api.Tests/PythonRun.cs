using System.Diagnostics;

namespace AgentSentinel.Api.Tests;

/// <summary>Runs a Python script to its end and returns what it printed (stdout then stderr); a non-zero exit fails the
/// test with that output.</summary>
internal static class PythonRun
{
    public static async Task<string> RunAsync(string python, IEnumerable<string> args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(python, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Http.Ct);
        var stderr = process.StandardError.ReadToEndAsync(Http.Ct);
        await process.WaitForExitAsync(Http.Ct).WaitAsync(timeout, Http.Ct);
        var output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, output);
        return output;
    }
}
