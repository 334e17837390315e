namespace AgentSentinel.Testing;

/// <summary>
/// The assembly fixture of every test project (see tests/Directory.Build.props): once every test of the assembly has
/// run, it stops the test process's PostgreSQL server and removes its files, inside the test run. Left to the process
/// exit, that work (a server with hundreds of test databases) raced the test platform, which forces a process still
/// running 11 s after the last test to exit with code 1 ("Foreground threads were left running").
/// </summary>
public sealed class TestRunCleanup : IDisposable
{
    public void Dispose() => PostgresServer.StopShared();
}
