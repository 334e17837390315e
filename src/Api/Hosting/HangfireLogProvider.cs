using Hangfire.AspNetCore;
using Hangfire.Logging;

namespace AgentSentinel.Api.Hosting;

/// <summary>
/// Hangfire keeps its log provider in a process-wide static. Where several hosts share a process (integration tests,
/// a host restarted in place) the static may outlive the host whose logger factory it holds; this provider then
/// stops logging instead of throwing <see cref="ObjectDisposedException"/> into job creation.
/// </summary>
internal sealed class HangfireLogProvider(ILoggerFactory loggerFactory) : ILogProvider
{
    private readonly AspNetCoreLogProvider _inner = new(loggerFactory);

    public ILog GetLogger(string name)
    {
        try
        {
            return _inner.GetLogger(name);
        }
        catch (ObjectDisposedException)
        {
            return Silent.Instance;
        }
    }

    private sealed class Silent : ILog
    {
        public static readonly Silent Instance = new();

        public bool Log(Hangfire.Logging.LogLevel logLevel, Func<string>? messageFunc, Exception? exception = null) => false;
    }
}
